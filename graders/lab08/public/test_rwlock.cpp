// Lab 08 public grader: exclusion, concurrency of readers, what each policy promises,
// try/timed locks, no busy-waiting, and the test_myrwlock program.
#include <string>  // std::string

#include "common.hpp"

namespace lab = ipclab::lab08;

GRADER_LAB("lab08", "Reader-writer lock");

using grader::ms;
using lab::policy_name;
using lab::ReadGuard;
using lab::WriteGuard;
using lab08_test::Call;
using lab08_test::kAllPolicies;
using lab08_test::Policy;
using lab08_test::Room;
using lab08_test::RwLock;

namespace {

std::int64_t elapsed_ms_since(std::int64_t t0) { return (ipclab::now_ns() - t0) / 1'000'000; }

/// A reader that enters, reports itself inside, and stays until `go` (or `want` readers
/// are inside at once, if want > 0); returns false if that never happened by the deadline.
std::function<bool()> reader_until(std::shared_ptr<Room> room,
                                   std::shared_ptr<std::atomic<bool>> go, int want = 0) {
  return [room, go, want] {
    room->lock.lock_read();
    room->reader_in();
    bool ok = true;
    if (want > 0) {
      ok = grader::wait_until([&] { return room->max_readers.load() >= want; }, 5'000ms);
    } else {
      ok = grader::wait_until([&] { return go->load(); }, 10'000ms);
    }
    room->reader_out();
    room->lock.unlock_read();
    return ok;
  };
}

}  // namespace

// ---- the basics ---------------------------------------------------------------------------

GRADED_TEST(Basics, GuardsLockAndUnlock, 1, "README §The API") {
  for (Policy p : kAllPolicies) {
    RwLock lock(p);
    {
      ReadGuard a(lock);
      ReadGuard b(lock);  // two readers at once
      EXPECT_FALSE(lock.try_lock_write()) << policy_name(p) << ": a writer got in with readers";
    }
    {
      WriteGuard w(lock);
      EXPECT_FALSE(lock.try_lock_read()) << policy_name(p) << ": a reader got in with a writer";
    }
    EXPECT_TRUE(lock.try_lock_write()) << policy_name(p) << ": the guards did not release";
    lock.unlock_write();
  }
}

GRADED_TEST(Try, TryLocksNeverBlock, 3, "README §Pitfalls 5 — try_lock_* never waits") {
  for (Policy p : kAllPolicies) {
    auto room = std::make_shared<Room>(p);
    RwLock& lock = room->lock;
    // Each try call runs on a thread of its own, so a try call that blocks fails the test
    // instead of hanging it.
    auto attempt = [&](std::function<bool()> fn, bool expected, const char* what) {
      Call c(std::move(fn));
      ASSERT_TRUE(c.wait_done(2'000ms)) << policy_name(p) << ": " << what << " blocked";
      EXPECT_EQ(c.result(), expected) << policy_name(p) << ": " << what;
    };
    ASSERT_TRUE(lock.try_lock_write()) << policy_name(p) << ": try_lock_write on a free lock";
    attempt([&] { return lock.try_lock_read(); }, false, "try_lock_read while a writer holds");
    attempt([&] { return lock.try_lock_write(); }, false, "try_lock_write while a writer holds");
    lock.unlock_write();
    ASSERT_TRUE(lock.try_lock_read()) << policy_name(p) << ": try_lock_read on a free lock";
    attempt([&] { return lock.try_lock_write(); }, false, "try_lock_write while a reader holds");
    attempt([&] { return lock.try_lock_read(); }, true,
            "try_lock_read while a reader holds (no writer waiting)");
    lock.unlock_read();
    lock.unlock_read();
    EXPECT_TRUE(lock.try_lock_write()) << policy_name(p) << ": lock not free after releases";
    lock.unlock_write();
  }
}

// ---- mutual exclusion and sharing ---------------------------------------------------------

GRADED_TEST(Exclusion, ReadersHoldTheLockTogether, 3,
            "README §Pitfalls 4 — readers must share the lock") {
  for (Policy p : kAllPolicies) {
    constexpr int kReaders = 5;
    auto room = std::make_shared<Room>(p);
    auto go = std::make_shared<std::atomic<bool>>(false);
    std::vector<std::unique_ptr<Call>> readers;
    for (int i = 0; i < kReaders; ++i)
      readers.push_back(std::make_unique<Call>(reader_until(room, go, kReaders)));
    for (auto& r : readers) {
      ASSERT_TRUE(r->wait_done(10'000ms))
          << policy_name(p) << ": readers did not all get in at once (max inside together: "
          << room->max_readers.load() << " of " << kReaders << ")";
      EXPECT_TRUE(r->result()) << policy_name(p) << ": max readers inside at once was "
                               << room->max_readers.load() << ", expected " << kReaders;
    }
    EXPECT_EQ(room->max_readers.load(), kReaders) << policy_name(p) << ": measured overlap";
  }
}

GRADED_TEST(Exclusion, WriterAloneUnderYields, 8,
            "README §Pitfalls 1 and 3 — every count under the mutex; re-check in a while loop") {
  // Yields at the hook points make every interleaving likely; every acquisition is checked.
  const std::vector<lab08_test::StressShape> shapes = {
      {Policy::reader, 4, 2, 300}, {Policy::writer, 4, 2, 300}, {Policy::fair, 4, 2, 300},
      {Policy::reader, 8, 3, 150}, {Policy::writer, 8, 3, 150}, {Policy::fair, 8, 3, 150}};
  grader::repeat(3, [&](int, std::uint64_t seed) {
    for (const auto& shape : shapes) {
      const std::string problem = lab08_test::run_stress(shape, seed);
      ASSERT_EQ(problem, "");
    }
  });
}

GRADED_TEST(Wakeup, WriterReleaseWakesEveryReader, 6,
            "README §Pitfalls 2 — a writer's release must wake all readers (broadcast)") {
  grader::repeat(3, [&](int, std::uint64_t) {
    for (Policy p : kAllPolicies) {
      constexpr int kReaders = 5;
      auto room = std::make_shared<Room>(p);
      auto go = std::make_shared<std::atomic<bool>>(false);
      ASSERT_TRUE(room->lock.try_lock_write());
      std::vector<std::unique_ptr<Call>> readers;
      for (int i = 0; i < kReaders; ++i) {
        readers.push_back(std::make_unique<Call>(reader_until(room, go, kReaders)));
        ASSERT_TRUE(readers.back()->wait_blocked())
            << policy_name(p) << ": a reader did not block while a writer held the lock";
      }
      room->lock.unlock_write();
      for (auto& r : readers) {
        ASSERT_TRUE(r->wait_done(5'000ms) && r->result())
            << policy_name(p) << ": " << kReaders
            << " readers waited behind a writer; after its release only "
            << room->max_readers.load() << " got in together (the others were never woken)";
      }
    }
  });
}

// ---- what each policy promises ------------------------------------------------------------

GRADED_TEST(Policy, ReaderPolicyStarvesWaitingWriter, 4,
            "README §Policies — reader preference: readers pass a waiting writer") {
  RwLock lock(Policy::reader);
  ASSERT_TRUE(lock.try_lock_read());
  auto entered = std::make_shared<std::atomic<bool>>(false);
  Call writer([&lock, entered] {
    lock.lock_write();
    entered->store(true);
    lock.unlock_write();
    return true;
  });
  ASSERT_TRUE(writer.wait_blocked()) << "the writer did not block behind a reader";
  // A relay of overlapping readers: each new one enters before the previous leaves, so the
  // lock is never free. Reader preference lets every one in; the writer must stay out.
  constexpr int kRelay = 40;
  for (int i = 0; i < kRelay; ++i) {
    ASSERT_TRUE(lock.try_lock_read_for(grader::scaled(2'000ms)))
        << "reader " << i + 2 << " of the relay could not get in while a writer waited: "
        << "that is not reader preference";
    lock.unlock_read();  // the previous reader leaves; the new one still holds it
    ASSERT_FALSE(entered->load()) << "the writer got in while readers held the lock";
  }
  EXPECT_FALSE(writer.done()) << "the writer finished while readers kept the lock";
  lock.unlock_read();  // the relay ends: now the writer must get in
  EXPECT_TRUE(writer.wait_done()) << "the writer never got in after the last reader left";
}

GRADED_TEST(Policy, WriterAndFairStopNewReadersForWaitingWriter, 4,
            "README §Policies — a waiting writer holds back new readers (writer, fair)") {
  for (Policy p : {Policy::writer, Policy::fair}) {
    auto room = std::make_shared<Room>(p);
    RwLock& lock = room->lock;
    ASSERT_TRUE(lock.try_lock_read());
    auto reader2_in_when_writer_entered = std::make_shared<std::atomic<int>>(-1);
    Call writer([room, reader2_in_when_writer_entered] {
      room->lock.lock_write();
      room->writer_in();
      reader2_in_when_writer_entered->store(room->readers_inside.load());
      room->writer_out();
      room->lock.unlock_write();
      return true;
    });
    ASSERT_TRUE(writer.wait_blocked()) << policy_name(p) << ": the writer did not block";
    Call try_reader([&lock] { return lock.try_lock_read(); });
    ASSERT_TRUE(try_reader.wait_done(2'000ms));
    EXPECT_FALSE(try_reader.result())
        << policy_name(p) << ": try_lock_read succeeded while a writer was waiting";
    if (try_reader.result()) lock.unlock_read();
    auto go = std::make_shared<std::atomic<bool>>(true);
    Call reader2(reader_until(room, go));
    EXPECT_TRUE(reader2.wait_blocked())
        << policy_name(p) << ": a new reader got in ahead of the waiting writer";
    lock.unlock_read();  // the first reader leaves: the writer goes next, then reader 2
    ASSERT_TRUE(writer.wait_done()) << policy_name(p) << ": the writer never got in";
    EXPECT_EQ(reader2_in_when_writer_entered->load(), 0) << policy_name(p);
    EXPECT_TRUE(reader2.wait_done() && reader2.result())
        << policy_name(p) << ": the held-back reader never got in after the writer";
    EXPECT_EQ(room->violations.load(), 0) << policy_name(p) << ": exclusion violated";
  }
}

GRADED_TEST(Policy, WriterAndFairBoundWriterWaitUnderReaderFlood, 4,
            "README §Policies — a writer's wait is bounded under writer and fair policies") {
  for (Policy p : {Policy::writer, Policy::fair}) {
    auto room = std::make_shared<Room>(p);
    auto stop = std::make_shared<std::atomic<bool>>(false);
    std::vector<std::unique_ptr<Call>> flood;
    for (int i = 0; i < 6; ++i) {
      flood.push_back(std::make_unique<Call>([room, stop] {
        while (!stop->load()) {
          room->lock.lock_read();
          room->reader_in();
          room->reads++;
          std::this_thread::sleep_for(1ms);  // long enough that readers always overlap
          room->reader_out();
          room->lock.unlock_read();
        }
        return true;
      }));
    }
    ASSERT_TRUE(grader::wait_until([&] { return room->max_readers.load() > 1; }))
        << policy_name(p) << ": the reader flood never overlapped";
    std::int64_t worst = 0;
    for (int i = 0; i < 20; ++i) {
      const long reads_before = room->reads.load();
      // The flood must make progress between writes (it is a flood, not a pause).
      ASSERT_TRUE(grader::wait_until([&] { return room->reads.load() > reads_before + 3; }))
          << policy_name(p) << ": readers stopped getting in";
      const auto t0 = ipclab::now_ns();
      ASSERT_TRUE(room->lock.try_lock_write_for(grader::scaled(3'000ms)))
          << policy_name(p) << ": write " << i << " waited more than "
          << grader::scaled(3'000ms).count() << " ms under a reader flood";
      worst = std::max(worst, elapsed_ms_since(t0));
      room->writer_in();
      room->writer_out();
      room->lock.unlock_write();
    }
    stop->store(true);
    for (auto& f : flood) ASSERT_TRUE(f->wait_done()) << policy_name(p);
    EXPECT_EQ(room->violations.load(), 0) << policy_name(p) << ": exclusion violated";
    EXPECT_GT(room->max_readers.load(), 1) << policy_name(p) << ": readers never overlapped";
    fmt::print("  {}: 20 writes under a 6-reader flood, worst wait {} ms\n", policy_name(p), worst);
  }
}

GRADED_TEST(Policy, FairAlternatesReadAndWritePhases, 5,
            "README §Policies — phase-fair: waiting readers enter right after a writer") {
  auto room = std::make_shared<Room>(Policy::fair);
  RwLock& lock = room->lock;
  auto readers_go = std::make_shared<std::atomic<bool>>(false);
  auto writer_go = std::make_shared<std::atomic<bool>>(false);
  auto late_reader_done_when_writer_in = std::make_shared<std::atomic<int>>(-1);
  ASSERT_TRUE(lock.try_lock_write());  // write phase 1
  Call ra(reader_until(room, readers_go));
  ASSERT_TRUE(ra.wait_blocked());
  Call rb(reader_until(room, readers_go));
  ASSERT_TRUE(rb.wait_blocked());
  Call w2([room, writer_go, late_reader_done_when_writer_in] {
    room->lock.lock_write();
    room->writer_in();
    late_reader_done_when_writer_in->store(room->reads.load());
    const bool ok = grader::wait_until([&] { return writer_go->load(); }, 10'000ms);
    room->writer_out();
    room->lock.unlock_write();
    return ok;
  });
  ASSERT_TRUE(w2.wait_blocked()) << "a second writer did not block behind the first";
  lock.unlock_write();  // end of write phase 1: both waiting readers enter, before w2
  ASSERT_TRUE(grader::wait_until([&] { return room->readers_inside.load() == 2; }))
      << "after the writer released, the 2 readers that waited behind it did not both get "
         "in (inside: "
      << room->readers_inside.load() << "); a phase-fair lock lets them in before the next writer";
  EXPECT_FALSE(w2.done()) << "the waiting writer got in ahead of the readers that waited first";
  // A reader arriving now must wait: a writer is waiting (it goes in the next read phase).
  Call rc([room] {
    room->lock.lock_read();
    room->reads++;
    room->lock.unlock_read();
    return true;
  });
  EXPECT_TRUE(rc.wait_blocked())
      << "a reader arriving while a writer waited joined the current read phase";
  readers_go->store(true);  // the read phase ends: w2 goes next, and rc after it
  ASSERT_TRUE(ra.wait_done() && rb.wait_done());
  ASSERT_TRUE(grader::wait_until([&] { return late_reader_done_when_writer_in->load() >= 0; }))
      << "the waiting writer did not get in once the read phase ended";
  EXPECT_EQ(late_reader_done_when_writer_in->load(), 0)
      << "the late reader got in before the writer that was waiting ahead of it";
  writer_go->store(true);
  ASSERT_TRUE(w2.wait_done() && w2.result());
  EXPECT_TRUE(rc.wait_done()) << "the late reader never got in after the writer";
  EXPECT_EQ(room->violations.load(), 0);
}

// ---- timed locks --------------------------------------------------------------------------

GRADED_TEST(Timed, TimedLockGivesUpAtTheDeadlineNotBefore, 3,
            "README §Pitfalls 6 — a timed wait returns false at its deadline") {
  for (Policy p : kAllPolicies) {
    RwLock lock(p);
    auto timed = [&](std::function<bool()> fn, const char* what) {
      const auto t0 = ipclab::now_ns();
      Call c(std::move(fn));
      ASSERT_TRUE(c.wait_done(5'000ms)) << policy_name(p) << ": " << what << " never returned";
      const auto took = elapsed_ms_since(t0);
      EXPECT_FALSE(c.result()) << policy_name(p) << ": " << what << " got the lock";
      EXPECT_GE(took, 145) << policy_name(p) << ": " << what << " gave up after " << took
                           << " ms, before its 150 ms deadline";
    };
    ASSERT_TRUE(lock.try_lock_read());
    timed([&] { return lock.try_lock_write_for(150ms); }, "try_lock_write_for(150ms) vs a reader");
    lock.unlock_read();
    ASSERT_TRUE(lock.try_lock_write());
    timed([&] { return lock.try_lock_read_for(150ms); }, "try_lock_read_for(150ms) vs a writer");
    timed([&] { return lock.try_lock_write_for(150ms); }, "try_lock_write_for(150ms) vs a writer");
    lock.unlock_write();
    EXPECT_TRUE(lock.try_lock_write()) << policy_name(p) << ": a timed-out waiter left a trace";
    lock.unlock_write();
    EXPECT_TRUE(lock.try_lock_read()) << policy_name(p) << ": a timed-out waiter left a trace";
    lock.unlock_read();
  }
}

GRADED_TEST(Timed, TimedLockSucceedsWhenReleasedInTime, 2, "README §Pitfalls 6") {
  for (Policy p : kAllPolicies) {
    RwLock lock(p);
    ASSERT_TRUE(lock.try_lock_read());
    Call w([&lock] {
      if (!lock.try_lock_write_for(grader::scaled(10'000ms))) return false;
      lock.unlock_write();
      return true;
    });
    ASSERT_TRUE(w.wait_blocked()) << policy_name(p);
    lock.unlock_read();
    ASSERT_TRUE(w.wait_done(5'000ms)) << policy_name(p) << ": the timed writer was not woken";
    EXPECT_TRUE(w.result()) << policy_name(p) << ": try_lock_write_for failed on a released lock";
    ASSERT_TRUE(lock.try_lock_write());
    Call r([&lock] {
      if (!lock.try_lock_read_for(grader::scaled(10'000ms))) return false;
      lock.unlock_read();
      return true;
    });
    ASSERT_TRUE(r.wait_blocked()) << policy_name(p);
    lock.unlock_write();
    ASSERT_TRUE(r.wait_done(5'000ms)) << policy_name(p) << ": the timed reader was not woken";
    EXPECT_TRUE(r.result()) << policy_name(p);
  }
}

GRADED_TEST(Timed, WriterGivingUpLetsHeldBackReadersIn, 4,
            "README §Pitfalls 6 — a writer that times out must stop counting as waiting and "
            "wake the readers it held back") {
  for (Policy p : {Policy::writer, Policy::fair}) {
    auto room = std::make_shared<Room>(p);
    RwLock& lock = room->lock;
    ASSERT_TRUE(lock.try_lock_read());  // reader 1 holds the lock throughout
    Call w([&lock] { return lock.try_lock_write_for(400ms); });
    ASSERT_TRUE(w.wait_blocked()) << policy_name(p);
    auto go = std::make_shared<std::atomic<bool>>(true);
    Call r2(reader_until(room, go));  // held back by the waiting writer...
    ASSERT_TRUE(w.wait_done(5'000ms)) << policy_name(p) << ": the timed writer never gave up";
    EXPECT_FALSE(w.result()) << policy_name(p) << ": the writer got in past a reader";
    // ...and must get in once the writer gave up, while reader 1 still holds the lock.
    EXPECT_TRUE(r2.wait_done(3'000ms) && r2.result())
        << policy_name(p) << ": after the waiting writer timed out, a reader it held back "
        << "stayed blocked although only readers held the lock";
    lock.unlock_read();
    EXPECT_TRUE(lock.try_lock_write()) << policy_name(p) << ": lock not free afterwards";
  }
}

// ---- no busy-waiting ------------------------------------------------------------------------

GRADED_TEST(NoBusyWait, BlockedThreadsUseNoCpu, 3,
            "README §Pitfalls 7 — block on a condition variable, never spin or poll") {
  RwLock lock(Policy::fair);
  ASSERT_TRUE(lock.try_lock_write());
  Call r([&lock] {
    lock.lock_read();
    lock.unlock_read();
    return true;
  });
  Call w([&lock] {
    lock.lock_write();
    lock.unlock_write();
    return true;
  });
  ASSERT_TRUE(r.wait_blocked()) << "a reader behind a writer is not asleep (state "
                                << lab08_test::thread_state(r.tid()) << ")";
  ASSERT_TRUE(w.wait_blocked()) << "a writer behind a writer is not asleep";
  const double r0 = lab08_test::thread_cpu_seconds(r.tid());
  const double w0 = lab08_test::thread_cpu_seconds(w.tid());
  std::this_thread::sleep_for(400ms);  // the measurement window, not a wait for an event
  const double rc = lab08_test::thread_cpu_seconds(r.tid()) - r0;
  const double wc = lab08_test::thread_cpu_seconds(w.tid()) - w0;
  EXPECT_LT(rc, 0.05) << "a blocked reader used " << rc << " s of CPU in 0.4 s";
  EXPECT_LT(wc, 0.05) << "a blocked writer used " << wc << " s of CPU in 0.4 s";
  lock.unlock_write();
  EXPECT_TRUE(r.wait_done() && w.wait_done()) << "the blocked threads never finished";
}

// ---- the program ---------------------------------------------------------------------------

GRADED_TEST(Program, WriterAndFairPoliciesPass, 3, "README §Program") {
  for (const char* p : {"writer", "fair"}) {
    const auto bound = std::to_string(grader::scaled(3'000ms).count());
    auto r = grader::run({"test_myrwlock", "--readers=10", "--writers=3", "--duration=1s",
                          std::string("--policy=") + p, "--starvation-ms=" + bound},
                         {.timeout = 8'000ms});
    grader::expect_exit(r, 0);
    for (const char* needle : {"acquisitions: ", "max reader wait: ", "max writer wait: ",
                               "No starvation detected: PASS"})
      EXPECT_NE(r.out.find(needle), std::string::npos) << "missing \"" << needle << "\"\n"
                                                       << r.describe();
  }
}

GRADED_TEST(Program, ReaderPolicyReportsStarvation, 2,
            "README §Program — under reader preference a writer starves") {
  auto r = grader::run({"test_myrwlock", "--readers=10", "--writers=1", "--duration=1500ms",
                        "--policy=reader", "--starvation-ms=500", "--read-hold-us=2000"},
                       {.timeout = 8'000ms});
  grader::expect_exit(r, 1);
  EXPECT_NE(r.out.find("Starvation detected: a writer waited"), std::string::npos) << r.describe();
}

GRADED_TEST(Program, BadArgumentsAreUsageErrors, 1, "README §Program") {
  for (std::vector<std::string> argv : {std::vector<std::string>{"test_myrwlock", "--policy=x"},
                                        {"test_myrwlock", "--duration=soon"},
                                        {"test_myrwlock", "--readers=-1"}}) {
    auto r = grader::run(argv);
    grader::expect_exit(r, 2);
    EXPECT_NE(r.err.find("error: "), std::string::npos) << r.describe();
  }
}
