// Lab 12 public grader, the ring itself: ShmRing between forked processes.
#include <sys/resource.h>  // setrlimit, RLIMIT_AS
#include <sys/socket.h>    // socketpair, recv
#include <unistd.h>        // ftruncate, sysconf

#include <cstdlib>  // setenv

#include <fstream>  // std::ifstream

#include <atomic>      // std::atomic
#include <functional>  // std::function
#include <optional>    // std::optional
#include <random>      // std::mt19937_64
#include <thread>      // std::thread

#include "common.hpp"
#include "ipclab/names.hpp"  // names::posix

GRADER_LAB("lab12", "POSIX shared-memory ring buffer");

using lab12_test::fill;
using lab12_test::mismatch;
using lab12_test::SharedCounters;
using lab12_test::ShmRing;
using lab12_test::Status;

// ---- basics -----------------------------------------------------------------------------

GRADED_TEST(Ring, CreateChecksCapacityAndName, 1, "README §The API — create()") {
  EXPECT_THROW(ShmRing::create("r", 3000), ipclab::UsageError) << "3000 is not a power of two";
  EXPECT_THROW(ShmRing::create("r", 32), ipclab::UsageError) << "32 is below kMinCapacity";
  EXPECT_NO_THROW(ShmRing::create("m", lab12_test::lab::kMinCapacity))
      << "kMinCapacity (64) is a valid capacity";
  ShmRing::remove("m");
  {
    ShmRing r = ShmRing::create("r", 1024);
    EXPECT_EQ(r.capacity(), 1024u);
    EXPECT_EQ(r.max_message(), 1024u / 2 - 8);
    try {
      ShmRing::create("r", 1024);
      ADD_FAILURE() << "creating an existing ring must fail with EEXIST";
    } catch (const ipclab::SysError& e) {
      EXPECT_EQ(e.code(), std::errc::file_exists) << e.what();
    }
  }
  EXPECT_TRUE(ShmRing::remove("r"));
}

GRADED_TEST(Ring, MessagesOfEverySizeComeBackWhole, 3,
            "README §Pitfalls 2 — commit() publishes, reserve() does not") {
  ShmRing r = ShmRing::create("r", 1024);
  ShmRing c = ShmRing::open("r", grader::deadline(5s));
  std::vector<std::byte> buf(r.max_message()), got;
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8},
                           std::size_t{9}, std::size_t{16}, std::size_t{100}, r.max_message()}) {
    fill({buf.data(), size}, size);
    ASSERT_TRUE(r.push({buf.data(), size}, grader::deadline(1s)))
        << "push of " << size << " bytes timed out";
    ASSERT_EQ(c.pop(got, grader::deadline(1s)), Status::kMessage)
        << "after a push of " << size << " bytes";
    EXPECT_EQ(mismatch(got, size, size), "");
  }
  EXPECT_THROW((void)r.reserve(r.max_message() + 1, grader::deadline(1s)), ipclab::UsageError);
  EXPECT_EQ(c.pop(got, grader::deadline(50ms)), Status::kTimeout)
      << "an empty ring has nothing to pop";
  // Reserved is not published: until commit() a consumer must not see the message.
  auto slot = r.reserve(40, grader::deadline(1s));
  ASSERT_TRUE(slot.has_value());
  EXPECT_EQ(c.pop(got, grader::deadline(50ms)), Status::kTimeout)
      << "a reserved message became visible before commit(): the index is published before "
         "the data is written (README §Pitfalls 2)";
  fill(*slot, 40);
  r.commit();
  ASSERT_EQ(c.pop(got, grader::deadline(1s)), Status::kMessage);
  EXPECT_EQ(mismatch(got, 40, 40), "");
  r.close();
  EXPECT_EQ(c.pop(got, grader::deadline(1s)), Status::kClosed)
      << "a closed, empty ring says kClosed";
  ShmRing::remove("r");
}

GRADED_TEST(Ring, WrapAroundInOneProcessKeepsEveryByte, 3,
            "README §Pitfalls 1 — a record never wraps: skip to the start, and tell the reader") {
  // A 256-byte ring, push/pop in lock step and in bursts, sizes at and around every
  // boundary: the record header, the 8-byte padding, the end of the area.
  ShmRing r = ShmRing::create("r", 256);
  ShmRing c = ShmRing::open("r", grader::deadline(5s));
  std::mt19937_64 rng(grader::seed());
  std::vector<std::byte> buf(r.max_message()), got;
  std::uint64_t sent = 0, taken = 0;
  std::vector<std::size_t> sizes;
  for (int round = 0; round < 20000; ++round) {
    const int burst = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < burst; ++i) {
      const std::size_t size = rng() % (r.max_message() + 1);
      fill({buf.data(), size}, sent);
      if (!r.push({buf.data(), size}, grader::deadline(0ms))) break;  // full: drain first
      sizes.push_back(size);
      ++sent;
    }
    while (taken < sent) {
      std::span<const std::byte> msg;
      ASSERT_EQ(c.peek(msg, grader::deadline(1s)), Status::kMessage)
          << "message " << taken << " of " << sent;
      const std::string why = mismatch(msg, taken, sizes[taken]);
      c.release();
      ASSERT_EQ(why, "") << "after " << taken << " messages through a 256-byte ring";
      ++taken;
      if (rng() % 3 == 0) break;  // sometimes leave some behind
    }
  }
  EXPECT_GT(sent, 20000u);
  ShmRing::remove("r");
}

// ---- one handle, two threads --------------------------------------------------------------

GRADED_TEST(Ring, OneHandleServesAProducerThreadAndAConsumerThread, 3,
            "README §The API — one handle may produce in one thread and consume in another") {
  // One mapping seen by two threads: the only way ThreadSanitizer (tools/run-tests --only
  // tsan) can check the ring's memory orders, since it cannot see across processes or
  // across two mappings of one object. A release or acquire weakened to relaxed on head
  // or tail lets one thread touch a message's bytes with nothing ordering that after the
  // other's: a data race TSan reports (on x86 the plain build cannot see it).
  constexpr std::size_t kCap = 512;
  constexpr std::uint64_t kCount = 20'000;
  const std::uint64_t seed = grader::seed();
  ShmRing ring = ShmRing::create("o", kCap);
  const std::size_t hi = ring.max_message();
  std::string consumer_error;
  std::atomic<std::uint64_t> taken{0};  // for the messages; orders nothing
  std::thread consumer([&] {
    try {
      for (;; taken.fetch_add(1, std::memory_order_relaxed)) {
        std::span<const std::byte> msg;
        const Status st = ring.peek(msg, grader::deadline(20s));
        if (st == Status::kClosed) return;
        if (st == Status::kTimeout)
          throw std::runtime_error(fmt::format("no message for 20 s after {}", taken.load()));
        // Message 0 fills half the ring; the rest are random sizes.
        const std::uint64_t seq = taken.load();
        const std::size_t size = seq == 0 ? hi : ipclab::lab12::message_size(seed, seq, 0, hi);
        const std::string why = mismatch(msg, seq, size);  // read in place
        ring.release();
        if (!why.empty()) throw std::runtime_error(why);
      }
    } catch (const std::exception& e) {
      consumer_error = e.what();
    }
  });
  std::vector<std::byte> buf(hi);
  // A half-ring message, then drained: what the producer writes next overwrites its bytes
  // from the room wait_drained() saw (tail read with acquire), without reading tail again.
  // Polled with an expired deadline, so that nothing but tail orders the two threads.
  fill(buf, 0);
  bool pushed = ring.push(buf, grader::deadline(5s));
  EXPECT_TRUE(pushed) << "push into an empty ring";
  pushed = pushed &&
           grader::wait_until([&] { return ring.wait_drained(grader::deadline(0ms)); }, 20'000ms);
  EXPECT_TRUE(pushed) << "the consumer thread did not take message 0 (wait_drained never said "
                         "drained)";
  for (std::uint64_t seq = 1; pushed && seq < kCount; ++seq) {
    const std::size_t size = ipclab::lab12::message_size(seed, seq, 0, hi);
    auto slot = ring.reserve(size, grader::deadline(20s));
    pushed = slot.has_value();
    EXPECT_TRUE(pushed) << "reserve for message " << seq << " timed out (the consumer took "
                        << taken.load() << ")";
    if (!pushed) break;
    fill(*slot, seq);
    ring.commit();
  }
  ring.close();
  consumer.join();
  EXPECT_EQ(consumer_error, "") << "the consumer thread, after " << taken.load() << " messages";
  EXPECT_TRUE(!pushed || taken.load() == kCount)
      << "the consumer saw kClosed after " << taken.load() << " of " << kCount << " messages";
  ShmRing::remove("o");
}

// ---- across processes -------------------------------------------------------------------

GRADED_TEST(Ring, MillionRandomSizeMessagesByteExact, 10,
            "README §Pitfalls 1 and 2 — wrap-around, and the index published before the data") {
  // 1M messages of 0..600 bytes (and now and then the ring's maximum) through a 4 KiB ring:
  // it wraps every few messages, and the producer is faster, so it often finds it full.
  lab12_test::stream("r", 4096, 1'000'000, 0, 600, 1, grader::seed(), 60s);
}

GRADED_TEST(Ring, ThreeConsumersGetEachMessageExactlyOnce, 8,
            "README §Pitfalls 5 — consumers must take a message under one lock, then release") {
  grader::repeat(3, [](int, std::uint64_t seed) {
    lab12_test::stream("r", 8192, 200'000, 16, 700, 3, seed, 60s);
  });
}

GRADED_TEST(Ring, ProducerBlocksWhenFullAndNothingIsOverwritten, 5,
            "README §Pitfalls 3 — full means head - tail + record > capacity; then sleep") {
  SharedCounters counters;
  ShmRing ring = ShmRing::create("r", 4096);
  constexpr std::uint64_t kCount = 200;
  grader::Child producer(
      [&] {
        std::vector<std::byte> buf(1000);
        for (std::uint64_t seq = 0; seq < kCount; ++seq) {
          fill(buf, seq);
          if (!ring.push(buf, grader::deadline(30s))) throw std::runtime_error("push timed out");
          counters.progress(0).store(seq + 1);
        }
      },
      "producer");
  // Nobody consumes: the producer must stop once 4 records of 1008 bytes fill 4096 bytes.
  ASSERT_TRUE(grader::wait_until(
      [&] { return counters.progress(0).load() >= 4 || producer.exited(); }, 10'000ms))
      << "the producer did not even fill the ring: " << counters.progress(0).load() << " pushed";
  ASSERT_FALSE(producer.exited()) << "the producer ended without anyone consuming ("
                                  << counters.progress(0).load()
                                  << " pushed): " << producer.finish().describe();
  const double cpu0 = grader::cpu_seconds(producer.pid());
  const std::uint64_t sleeps0 = lab12_test::sleeps_begun(producer.pid());
  grader::wait_until([] { return false; }, 500ms);  // an observation window, not a sleep-and-hope
  const double cpu = grader::cpu_seconds(producer.pid()) - cpu0;
  const std::uint64_t sleeps = lab12_test::sleeps_begun(producer.pid()) - sleeps0;
  EXPECT_EQ(counters.progress(0).load(), 4u)
      << "a 4096-byte ring holds 4 messages of 1000 bytes (8-byte header + 1000 = 1008 each); "
         "with nobody consuming the producer pushed "
      << counters.progress(0).load() << ": it overwrote unread messages";
  EXPECT_LT(cpu, 0.1) << "the producer blocked on a full ring used " << cpu
                      << " s of CPU in 0.5 s: it spins instead of sleeping (README §Waiting)";
  EXPECT_LE(sleeps, 25u) << "the producer blocked on a full ring went to sleep " << sleeps
                         << " times in 0.5 s: it must sleep until woken or its deadline, not "
                            "poll with short sleeps (README §Waiting)";
  // Now consume: every message intact, in order, and the producer finishes.
  ShmRing c = ShmRing::open("r", grader::deadline(5s));
  std::vector<std::byte> got;
  for (std::uint64_t seq = 0; seq < kCount; ++seq) {
    ASSERT_EQ(c.pop(got, grader::deadline(10s)), Status::kMessage)
        << "message " << seq << ": the producer was not woken when room was freed?";
    ASSERT_EQ(mismatch(got, seq, 1000), "");
  }
  const auto done = producer.finish(10s);
  ASSERT_FALSE(done.timed_out) << "the producer did not finish after everything was consumed";
  EXPECT_TRUE(done.passed()) << done.describe();
  // A full ring and a short deadline: reserve() gives up with nullopt.
  std::vector<std::byte> buf(1000);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ring.push(buf, grader::deadline(1s)));
  EXPECT_FALSE(ring.reserve(1000, grader::deadline(100ms)).has_value())
      << "a full ring: reserve must time out";
  ShmRing::remove("r");
}

GRADED_TEST(Ring, TailIsPublishedAQuarterOfTheRingAtATime, 2,
            "README §Hints — release(): publish tail when a quarter of the ring was consumed") {
  // 64 KiB of 256-byte records (248-byte messages): 256 fill the ring. A consumer that has
  // taken exactly a quarter (64) is far from caught up, yet must have published tail: a
  // producer waiting for room would otherwise wait until the consumer drains the ring.
  constexpr std::size_t kCap = 65536, kMsg = 248, kRecords = kCap / (kMsg + 8);
  ShmRing ring = ShmRing::create("q", kCap);
  std::vector<std::byte> buf(kMsg), got;
  std::uint64_t pushed = 0;
  while (pushed < kRecords) {
    fill(buf, pushed);
    ASSERT_TRUE(ring.push(buf, grader::deadline(5s))) << "push " << pushed << " of " << kRecords;
    ++pushed;
  }
  ASSERT_FALSE(ring.push(buf, grader::deadline(50ms)))
      << kRecords << " records of " << kMsg + 8 << " bytes fill " << kCap << " bytes";
  ShmRing c = ShmRing::open("q", grader::deadline(5s));
  for (std::uint64_t seq = 0; seq < kRecords / 4; ++seq) {
    ASSERT_EQ(c.pop(got, grader::deadline(5s)), Status::kMessage) << "message " << seq;
    ASSERT_EQ(mismatch(got, seq, kMsg), "");
  }
  // The quarter is free, and the producer must see it: all of it.
  for (std::uint64_t i = 0; i < kRecords / 4; ++i, ++pushed) {
    fill(buf, pushed);
    ASSERT_TRUE(ring.push(buf, grader::deadline(2s)))
        << "the consumer took " << kRecords / 4 << " of " << kRecords
        << " records (a quarter of the ring), but push " << i + 1
        << " into the room they left found the ring full: release() must publish tail once a "
           "quarter of the ring was consumed, not only when the consumer has caught up";
  }
  EXPECT_FALSE(ring.push(buf, grader::deadline(50ms))) << "more room than the quarter freed";
  for (std::uint64_t seq = kRecords / 4; seq < pushed; ++seq) {
    ASSERT_EQ(c.pop(got, grader::deadline(5s)), Status::kMessage) << "message " << seq;
    ASSERT_EQ(mismatch(got, seq, kMsg), "") << "message " << seq;
  }
  ShmRing::remove("q");
}

GRADED_TEST(Ring, ConsumerSleepsOnEmptyAndIsWoken, 5,
            "README §Waiting — spin briefly, then sleep; wake only registered sleepers") {
  SharedCounters counters;
  ShmRing ring = ShmRing::create("r", 4096);
  grader::Child consumer(
      [&] {
        ShmRing c = ShmRing::open("r", grader::deadline(10s));
        std::vector<std::byte> got;
        for (std::uint64_t seq = 0;; ++seq) {
          counters.progress(1).store(seq + 1);  // seq + 1: "waiting for message seq"
          const Status st = c.pop(got, grader::deadline(30s));
          if (st == Status::kClosed) return;
          if (st != Status::kMessage) throw std::runtime_error("consumer: pop timed out");
          const std::string why = mismatch(got, seq, 100);
          if (!why.empty()) throw std::runtime_error(why);
        }
      },
      "consumer");
  std::vector<std::byte> buf(100);
  for (std::uint64_t seq = 0; seq < 5; ++seq) {
    ASSERT_TRUE(
        grader::wait_until([&] { return counters.progress(1).load() == seq + 1; }, 10'000ms))
        << "the consumer did not get to message " << seq << ": "
        << (consumer.exited() ? consumer.finish().describe() : "it is still running");
    // It is waiting for message `seq` on an empty ring: after its spin phase, ~0 CPU.
    grader::wait_until([] { return false; }, 100ms);
    const double cpu0 = grader::cpu_seconds(consumer.pid());
    grader::wait_until([] { return false; }, 400ms);
    const double cpu = grader::cpu_seconds(consumer.pid()) - cpu0;
    EXPECT_LT(cpu, 0.08) << "a consumer waiting on an empty ring used " << cpu
                         << " s of CPU in 0.4 s: it spins instead of sleeping";
    fill(buf, seq);
    ASSERT_TRUE(ring.push(buf, grader::deadline(1s)));
  }
  ring.close();
  const auto done = consumer.finish(10s);
  ASSERT_FALSE(done.timed_out) << "the consumer did not see close(): close() must wake sleepers";
  EXPECT_TRUE(done.passed()) << done.describe();
  ShmRing::remove("r");
}

// ---- a wake-up in the last window before futex_wait ------------------------------------

namespace {

/// Holds a child process just before its futex_wait system call, through futex.hpp's test
/// hook (IPCLAB_LAB12_FUTEX_HOLD): the child announces each futex_wait with the time left to
/// its deadline and waits for the test's answer. The test lets short waits (a nap) go at
/// once and holds the first long one: the sleeper has then registered, read the futex word
/// and found nothing ready, and the kernel has not yet compared the word.
class FutexHold {
 public:
  FutexHold() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      ipclab::throw_errno("socketpair");
    test_.reset(sv[0]);
    child_.reset(sv[1]);
  }
  /// In the child, before it uses the ring: turns the hook on.
  void arm_child() {
    test_.reset();
    ::setenv("IPCLAB_LAB12_FUTEX_HOLD", std::to_string(child_.get()).c_str(), 1);
  }
  /// In the test, after the fork: true once the child is held in a futex_wait whose deadline
  /// is more than a second away; false if none came within `timeout` (a ring that sleeps
  /// some other way, e.g. on a semaphore, or a child that ended).
  bool hold_long_wait(grader::Timeout timeout) {
    child_.reset();
    return grader::wait_until(
        [&] {
          std::int64_t left = 0;
          while (::recv(test_.get(), &left, sizeof left, MSG_DONTWAIT | MSG_WAITALL) ==
                 static_cast<long>(sizeof left)) {
            if (left > 1'000'000'000) return true;
            const char go = 1;  // a short wait: let it go
            (void)::send(test_.get(), &go, 1, MSG_NOSIGNAL);
          }
          return false;
        },
        timeout);
  }
  /// Lets the held wait go on, and every later one at once (the socket's end).
  void release_all() { test_.reset(); }

 private:
  ipclab::Fd test_, child_;
};

constexpr const char* kLostWakeUp =
    "held just before its futex_wait (registered as a sleeper, the futex word read, nothing "
    "ready), it was woken: the other side published and called futex_wake. Released, it "
    "did not return in 10 s although its own deadline was 30 s away: a lost wake-up. The "
    "waker must change the futex word (seq += 1) before futex_wake, so that a futex_wait "
    "that has not started yet finds another value and returns at once (README §Pitfalls 4)";

/// A 4 KiB ring "w"; `sleeper` runs in a child with the hook on and must come to wait (30 s
/// deadline) and then end; the test holds its first long futex_wait, runs `wake` (which
/// publishes what the child waits for, and wakes it), releases it, and expects it to end
/// within 10 s. `who` and `what`: the child's name and what it waits for, for a message.
void expect_held_sleeper_woken(const char* who, const char* what,
                               const std::function<void(ShmRing&)>& sleeper,
                               const std::function<void(ShmRing&)>& wake) {
  ShmRing ring = ShmRing::create("w", 4096);
  struct Remove {
    ~Remove() { ShmRing::remove("w"); }
  } remove;
  FutexHold hold;
  grader::Child child(
      [&] {
        hold.arm_child();
        sleeper(ring);
      },
      who);
  const bool held = hold.hold_long_wait(5'000ms);
  ASSERT_FALSE(child.exited()) << "the " << who
                               << " ended before the test woke it: " << child.finish().describe();
  wake(ring);
  if (::testing::Test::HasFatalFailure()) return;
  hold.release_all();
  if (!grader::wait_until([&] { return child.exited(); }, 10'000ms)) {
    child.kill();
    FAIL() << "the " << who << ", waiting for " << what << ", "
           << (held ? kLostWakeUp : "did not go on within 10 s");
  }
  const auto done = child.finish(10s);
  EXPECT_TRUE(done.passed()) << done.describe();
}

}  // namespace

GRADED_TEST(Ring, ConsumerAboutToSleepIsNotMissed, 2,
            "README §Pitfalls 4 — the waker changes the futex word, then wakes") {
  expect_held_sleeper_woken(
      "consumer", "a message on an empty ring",
      [](ShmRing&) {
        ShmRing c = ShmRing::open("w", grader::deadline(10s));
        std::vector<std::byte> got;
        if (c.pop(got, grader::deadline(30s)) != Status::kMessage)
          throw std::runtime_error("consumer: pop timed out (30 s)");
        const std::string why = mismatch(got, 0, 100);
        if (!why.empty()) throw std::runtime_error(why);
      },
      [](ShmRing& ring) {
        std::vector<std::byte> buf(100);
        fill(buf, 0);
        ASSERT_TRUE(ring.push(buf, grader::deadline(1s)));
      });
}

GRADED_TEST(Ring, ProducerAboutToSleepIsNotMissed, 2,
            "README §Pitfalls 4 — the waker changes the futex word, then wakes") {
  std::optional<ShmRing> c;
  expect_held_sleeper_woken(
      "producer", "room in a full ring",
      [](ShmRing& ring) {
        std::vector<std::byte> buf(1000);
        for (std::uint64_t seq = 0; seq < 5; ++seq) {  // 4 fill the ring: the 5th waits
          fill(buf, seq);
          if (!ring.push(buf, grader::deadline(30s)))
            throw std::runtime_error(fmt::format("producer: push {} timed out (30 s)", seq));
        }
      },
      [&](ShmRing&) {
        c = ShmRing::open("w", grader::deadline(5s));
        std::vector<std::byte> got;
        for (std::uint64_t seq = 0; seq < 4; ++seq) {
          ASSERT_EQ(c->pop(got, grader::deadline(5s)), Status::kMessage) << "message " << seq;
          ASSERT_EQ(mismatch(got, seq, 1000), "");
        }
      });
  if (!c || ::testing::Test::HasFailure()) return;
  std::vector<std::byte> got;
  ASSERT_EQ(c->pop(got, grader::deadline(1s)), Status::kMessage) << "message 4";
  EXPECT_EQ(mismatch(got, 4, 1000), "");
}

GRADED_TEST(Ring, RemoveUnlinksEveryObject, 3,
            "README §Pitfalls 6 — every name the ring made goes with remove()") {
  {
    ShmRing r = ShmRing::create("r", 4096);
    EXPECT_NE(lab12_test::objects_now(), "") << "create() made no named object?";
    EXPECT_TRUE(ShmRing::remove("r"));
    EXPECT_EQ(lab12_test::objects_now(), "") << "left after remove() while still mapped";
    // Still mapped: the ring keeps working for those who hold it.
    std::vector<std::byte> one(10), got;
    EXPECT_TRUE(r.push(one, grader::deadline(1s)));
  }
  EXPECT_FALSE(ShmRing::remove("r")) << "remove() of a ring that is gone must say false";
  EXPECT_THROW((void)ShmRing::open("r", grader::deadline(100ms)), ipclab::OperationFailed)
      << "open() of a removed ring must time out with OperationFailed";
}

GRADED_TEST(Ring, AHandleGoneWhileHoldingFreesTheConsumersLock, 2,
            "README §The API — a handle destroyed while it holds a peeked message releases the "
            "consumers' lock; one that holds nothing leaves it alone") {
  ShmRing r = ShmRing::create("r", 1024);
  std::vector<std::byte> buf(40);
  for (std::uint64_t seq = 0; seq < 3; ++seq) {
    fill(buf, seq);
    ASSERT_TRUE(r.push(buf, grader::deadline(1s)));
  }
  ShmRing a = ShmRing::open("r", grader::deadline(5s));
  ShmRing b = ShmRing::open("r", grader::deadline(5s));
  ShmRing c = ShmRing::open("r", grader::deadline(5s));
  std::span<const std::byte> held, msg;
  ASSERT_EQ(a.peek(held, grader::deadline(1s)), Status::kMessage);
  { ShmRing idle = std::move(b); }  // held nothing: a still holds its message, and the lock
  EXPECT_EQ(c.peek(msg, grader::deadline(100ms)), Status::kTimeout)
      << "a consumer took a message while another held one: destroying a handle that held "
         "nothing released the consumers' lock";
  if (::testing::Test::HasFailure()) c.release();
  { ShmRing gone = std::move(a); }  // gone while holding: its lock must be released
  ASSERT_EQ(c.peek(msg, grader::deadline(5s)), Status::kMessage)
      << "a consumer handle destroyed while it held a peeked message kept the consumers' "
         "lock: the other consumers wait forever";
  c.release();
  ShmRing::remove("r");
}

GRADED_TEST(Ring, CreateThatCannotMapLeavesNothing, 1,
            "README §The API — create(): a create() that fails leaves no object behind") {
  // A 64 MiB ring in a process whose address space cannot take it (RLIMIT_AS 16 MiB above
  // what it uses): the object is made (a tmpfs file is sparse) but mmap fails with ENOMEM.
  grader::Child child(
      [] {
        std::ifstream statm("/proc/self/statm");
        std::uint64_t pages = 0;
        statm >> pages;
        const auto limit = static_cast<rlim_t>(pages * ::sysconf(_SC_PAGESIZE) + (16 << 20));
        const rlimit rl{limit, limit};
        if (::setrlimit(RLIMIT_AS, &rl) != 0) throw std::runtime_error("setrlimit(RLIMIT_AS)");
        try {
          ShmRing::create("big", std::size_t{64} << 20);
          throw std::runtime_error(
              "create() of a 64 MiB ring with 16 MiB of address space left "
              "worked");
        } catch (const ipclab::SysError&) {
        }
        const std::string left = lab12_test::objects_now();
        if (!left.empty())
          throw std::runtime_error("create() failed to map the object it made, and left it: " +
                                   left);
      },
      "creator");
  const auto done = child.finish(10s);
  EXPECT_TRUE(done.passed()) << done.describe();
  ShmRing::remove("big");
}

GRADED_TEST(Ring, OpenChecksBothMagicAndSize, 2,
            "README §Tasks 1 — open() waits for the magic, and the object must be the size the "
            "header says") {
  const std::string full = ipclab::names::posix("r");
  {  // the right size for a 4 KiB ring, all zeros: no magic, nothing to open
    auto obj = ipclab::PosixShm::create(full, 4096 + 4096);
    EXPECT_THROW((void)ShmRing::open("r", grader::deadline(200ms)), ipclab::OperationFailed)
        << "open() of an object with no magic must wait, then time out with OperationFailed";
    ipclab::PosixShm::unlink(full);
  }
  {  // a real ring whose object then grew: its header no longer describes it
    ShmRing r = ShmRing::create("r", 4096);
    auto obj = ipclab::PosixShm::open(full);
    ASSERT_EQ(::ftruncate(obj.fd(), static_cast<off_t>(obj.size() + 4096)), 0);
    EXPECT_THROW((void)ShmRing::open("r", grader::deadline(200ms)), ipclab::OperationFailed)
        << "open() of a ring whose object is not the size its header says must not accept it";
  }
  ShmRing::remove("r");
}
