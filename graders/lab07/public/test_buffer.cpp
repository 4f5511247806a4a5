// Lab 07 public grader, the library: BoundedBuffer<T> with threads (FIFO, close, every item
// exactly once under injected yields, no busy-waiting) and the shared-memory variant
// (two handles, a robust mutex whose owner is SIGKILLed inside push()).
#include <signal.h>        // kill, SIGCONT
#include <sys/resource.h>  // setrlimit, RLIMIT_AS

#include <fstream>     // std::ifstream
#include <functional>  // std::function
#include <set>         // std::multiset

#include "common.hpp"
#include "ipclab/error.hpp"  // UsageError, SysError
#include "ipclab/io.hpp"     // read_file
#include "ipclab/names.hpp"  // names::posix
#include "ipclab/shm.hpp"    // PosixShm

namespace lab = ipclab::lab07;

GRADER_LAB("lab07", "Producer-consumer: bounded buffer with mutex + condition variables");

using lab::BoundedBuffer;
using lab::SharedBoundedBuffer;
using lab::SharedRing;
using lab07_test::Shape;

// ---- single-threaded contract -----------------------------------------------------------

GRADED_TEST(Buffer, FifoOrderAndCapacity, 2, "README §The API") {
  BoundedBuffer<std::string> b(3);
  EXPECT_EQ(b.capacity(), 3u);
  EXPECT_TRUE(b.push("a"));
  EXPECT_TRUE(b.push("b"));
  EXPECT_TRUE(b.push("c"));
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b.pop(), "a");
  EXPECT_TRUE(b.push("d"));
  EXPECT_EQ(b.pop(), "b");
  EXPECT_EQ(b.pop(), "c");
  EXPECT_EQ(b.pop(), "d");
  EXPECT_EQ(b.size(), 0u);
  EXPECT_THROW(BoundedBuffer<int>(0), ipclab::UsageError);
}

GRADED_TEST(Buffer, CloseRejectsPushesAndDrains, 3,
            "README §Pitfalls 4 — after close(), consumers drain what is left, then see the end") {
  BoundedBuffer<int> b(8);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(b.push(i));
  b.close();
  EXPECT_TRUE(b.closed());
  EXPECT_FALSE(b.push(6)) << "push() after close() must return false";
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(b.pop(), i) << "items pushed before close() are lost";
  EXPECT_EQ(b.pop(), std::nullopt);
  EXPECT_EQ(b.pop(), std::nullopt) << "the end must be sticky";
  b.close();  // idempotent
  EXPECT_EQ(b.size(), 0u);
}

// ---- blocking, waking, no busy-waiting -----------------------------------------------------

GRADED_TEST(Close, WakesEveryBlockedConsumer, 4,
            "README §Pitfalls 3 — close() must wake every waiter (notify_all on both)") {
  grader::repeat(3, [&](int, std::uint64_t) {
    BoundedBuffer<std::uint64_t> b(4);
    constexpr int kConsumers = 6;
    std::vector<std::atomic<pid_t>> tids(kConsumers);
    std::atomic<int> ended{0}, got_item{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < kConsumers; ++i)
      ts.emplace_back([&, i] {
        tids[i] = lab07_test::gettid();
        if (b.pop()) got_item.fetch_add(1);
        ended.fetch_add(1);
      });
    for (auto& tid : tids) {
      ASSERT_TRUE(grader::wait_until([&] { return tid.load() != 0; }));
      ASSERT_TRUE(lab07_test::wait_blocked(tid.load()))
          << "a consumer of an empty buffer did not block (state "
          << lab07_test::thread_state(tid.load()) << ")";
    }
    b.close();
    if (!grader::wait_until([&] { return ended.load() == kConsumers; }, 5'000ms))
      grader::abandon_test(
          fmt::format("{} consumers blocked on an empty buffer; after close() {} are still blocked "
                      "(close() must wake all of them)",
                      kConsumers, kConsumers - ended.load()));
    for (auto& t : ts) t.join();
    EXPECT_EQ(got_item.load(), 0) << "pop() on a closed, empty buffer returned an item";
  });
}

GRADED_TEST(Close, WakesEveryBlockedProducer, 3,
            "README §Pitfalls 3 — close() must wake every waiter (notify_all on both)") {
  BoundedBuffer<std::uint64_t> b(1);
  ASSERT_TRUE(b.push(100));
  constexpr int kProducers = 4;
  std::vector<std::atomic<pid_t>> tids(kProducers);
  std::atomic<int> ended{0}, accepted{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < kProducers; ++i)
    ts.emplace_back([&, i] {
      tids[i] = lab07_test::gettid();
      if (b.push(static_cast<std::uint64_t>(i))) accepted.fetch_add(1);
      ended.fetch_add(1);
    });
  for (auto& tid : tids) {
    ASSERT_TRUE(grader::wait_until([&] { return tid.load() != 0; }));
    ASSERT_TRUE(lab07_test::wait_blocked(tid.load()))
        << "a producer of a full buffer did not block";
  }
  b.close();
  if (!grader::wait_until([&] { return ended.load() == kProducers; }, 5'000ms))
    grader::abandon_test(
        fmt::format("after close(), {} producers are still blocked on a full buffer",
                    kProducers - ended.load()));
  for (auto& t : ts) t.join();
  EXPECT_EQ(accepted.load(), 0) << "push() into a closed buffer returned true";
  EXPECT_EQ(b.pop(), 100u) << "the item pushed before close() was lost";
  EXPECT_EQ(b.pop(), std::nullopt);
}

GRADED_TEST(NoBusyWait, ConsumerBlockedOnEmptyUsesNoCpu, 3,
            "README §Pitfalls 5 — wait on the condition variable, never spin or poll") {
  BoundedBuffer<std::uint64_t> b(4);
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::optional<std::uint64_t> got;
  std::thread t([&] {
    tid = lab07_test::gettid();
    got = b.pop();
    done = true;
  });
  ASSERT_TRUE(grader::wait_until([&] { return tid.load() != 0; }));
  if (!lab07_test::wait_blocked(tid.load())) {
    b.close();
    t.join();
    FAIL() << "the consumer never went to sleep (state " << lab07_test::thread_state(tid.load())
           << "): it spins instead of waiting";
  }
  const auto ticks = lab07_test::ticks_over_window(tid.load());
  EXPECT_FALSE(done.load()) << "pop() on an empty, open buffer returned";
  EXPECT_LE(ticks, 3u) << "a consumer blocked on an empty buffer used " << ticks
                       << " clock ticks of CPU in 0.5 s: it is busy-waiting";
  ASSERT_TRUE(b.push(42));
  if (!grader::wait_until([&] { return done.load(); }, 5'000ms))
    grader::abandon_test("push() did not wake the consumer blocked on the empty buffer");
  t.join();
  EXPECT_EQ(got, 42u);
}

GRADED_TEST(NoBusyWait, ProducerBlockedOnFullUsesNoCpu, 3,
            "README §Pitfalls 5 — wait on the condition variable, never spin or poll") {
  BoundedBuffer<std::uint64_t> b(2);
  ASSERT_TRUE(b.push(1));
  ASSERT_TRUE(b.push(2));
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread t([&] {
    tid = lab07_test::gettid();
    b.push(3);
    done = true;
  });
  ASSERT_TRUE(grader::wait_until([&] { return tid.load() != 0; }));
  if (!lab07_test::wait_blocked(tid.load())) {
    b.close();
    t.join();
    FAIL() << "the producer never went to sleep: it spins instead of waiting";
  }
  const auto ticks = lab07_test::ticks_over_window(tid.load());
  EXPECT_FALSE(done.load()) << "push() on a full, open buffer returned";
  EXPECT_LE(ticks, 3u) << "a producer blocked on a full buffer used " << ticks
                       << " clock ticks of CPU in 0.5 s: it is busy-waiting";
  EXPECT_EQ(b.pop(), 1u);
  if (!grader::wait_until([&] { return done.load(); }, 5'000ms))
    grader::abandon_test("pop() did not wake the producer blocked on the full buffer");
  t.join();
  EXPECT_EQ(b.pop(), 2u);
  EXPECT_EQ(b.pop(), 3u);
}

// ---- every item exactly once, under injected yields ----------------------------------------

GRADED_TEST(ExactlyOnce, SmallShapesWithYields, 4,
            "README §Pitfalls 1 — wait in a while loop, not an if") {
  lab::set_test_yield(true);
  const std::vector<Shape> shapes = {{1, 1, 1, 2000}, {1, 1, 10, 3000}, {2, 2, 1, 2000}};
  grader::repeat(4, [&](int, std::uint64_t) {
    for (const auto& s : shapes) {
      BoundedBuffer<std::uint64_t> b(s.capacity);
      {
        const std::string problems = lab07_test::run_shape(b, s);
        EXPECT_TRUE(problems.empty()) << problems;
      }
    }
  });
}

GRADED_TEST(ExactlyOnce, ManyThreadsTinyBufferWithYields, 6,
            "README §Pitfalls 1 — wait in a while loop: another thread may take the item first") {
  lab::set_test_yield(true);
  // More threads than the machine has cores, and buffers of 1 and 2 slots: every wakeup
  // races with a thread that did not have to wait.
  const std::vector<Shape> shapes = {
      {8, 8, 1, 4000}, {2, 12, 1, 4000}, {12, 2, 2, 4000}, {8, 8, 4, 4000}};
  grader::repeat(4, [&](int, std::uint64_t) {
    for (const auto& s : shapes) {
      BoundedBuffer<std::uint64_t> b(s.capacity);
      {
        const std::string problems = lab07_test::run_shape(b, s);
        EXPECT_TRUE(problems.empty()) << problems;
      }
    }
  });
}

// ---- the shared-memory variant ------------------------------------------------------------

namespace {
/// Unlinks a shared buffer's name when the test ends, however it ends.
struct UnlinkOnExit {
  std::string n;
  explicit UnlinkOnExit(std::string name) : n(std::move(name)) {}
  UnlinkOnExit(const UnlinkOnExit&) = delete;
  UnlinkOnExit& operator=(const UnlinkOnExit&) = delete;
  ~UnlinkOnExit() { SharedBoundedBuffer::unlink(n); }
};

/// A child process takes `buf`'s lock, changes the ring with `damage` and is SIGKILLed
/// holding the lock: the next locker gets EOWNERDEAD. (Call it while no thread runs: fork.)
void owner_dies_holding_lock(SharedBoundedBuffer& buf,
                             const std::function<void(SharedRing*)>& damage, const char* who) {
  grader::Child owner(
      [&] {
        ASSERT_EQ(pthread_mutex_lock(&buf.ring()->mutex), 0);
        damage(buf.ring());
        (void)::raise(SIGKILL);
      },
      who);
  (void)owner.finish();
}

/// Runs `calls` (the first to take a lock whose owner died) in a thread: an exception is a
/// failure, and calls still blocked after 5 s end the test with `wedged`.
void after_owner_died(const std::function<void()>& calls, const std::string& wedged) {
  std::atomic<bool> done{false};
  std::thread t([&] {
    try {
      calls();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "a call after the lock owner died threw: " << e.what();
    }
    done = true;
  });
  if (!grader::wait_until([&] { return done.load(); }, 5'000ms)) grader::abandon_test(wedged);
  t.join();
}
}  // namespace

GRADED_TEST(Shared, TwoHandlesShareOneFifo, 3, "README §The API — SharedBoundedBuffer") {
  const std::string name = ipclab::names::posix("lab07.fifo");
  const UnlinkOnExit unlink{name};
  auto a = SharedBoundedBuffer::create(name, 4);
  auto b = SharedBoundedBuffer::open(name);
  EXPECT_EQ(b.capacity(), 4u);
  for (std::uint64_t i = 1; i <= 4; ++i) EXPECT_TRUE(a.push(i * 10));
  EXPECT_EQ(b.size(), 4u);
  for (std::uint64_t i = 1; i <= 4; ++i) EXPECT_EQ(b.pop(), i * 10);
  EXPECT_TRUE(a.push(7));
  b.close();
  EXPECT_TRUE(a.closed());
  EXPECT_FALSE(a.push(8));
  EXPECT_EQ(a.pop(), 7u);
  EXPECT_EQ(a.pop(), std::nullopt);
  EXPECT_THROW(SharedBoundedBuffer::create(name, 4), ipclab::SysError) << "create must be O_EXCL";
  EXPECT_THROW(SharedBoundedBuffer::open(ipclab::names::posix("lab07.nosuch")), ipclab::SysError);
}

GRADED_TEST(Shared, OwnerKilledInsidePushIsRecovered, 6,
            "README §Pitfalls 6 — on EOWNERDEAD repair the ring, then pthread_mutex_consistent") {
  const std::string name = ipclab::names::posix("lab07.robust");
  const UnlinkOnExit unlink{name};
  auto buf = SharedBoundedBuffer::create(name, 4);
  ASSERT_TRUE(buf.push(11));
  ASSERT_TRUE(buf.push(22));
  // A child process (this test has no threads now, so fork is safe) stops itself inside its
  // push, holding the lock, and is SIGKILLed there.
  grader::Child owner(
      [&] {
        lab::arm_stop_in_push(1);
        buf.push(33);
      },
      "producer stopped in push()");
  ASSERT_TRUE(grader::wait_until([&] {
    return ipclab::process_state(owner.pid()) == 'T' || owner.exited();
  })) << "the child neither stopped inside push() nor ended";
  if (owner.exited()) {
    FAIL() << "the child was expected to stop inside push() at test_point(kPushLocked); "
           << owner.finish().describe();
  }
  EXPECT_EQ(buf.ring()->in_progress, 1u)
      << "push() must set in_progress before test_point(kPushLocked)";
  owner.kill();
  // The next locker (a consumer here) gets EOWNERDEAD and must repair, not wedge or throw.
  std::optional<std::uint64_t> a, b;
  after_owner_died(
      [&] {
        a = buf.pop();
        b = buf.pop();
      },
      "pop() after the lock owner was killed is still blocked: the mutex is "
      "wedged (is it PTHREAD_MUTEX_ROBUST? do you handle EOWNERDEAD?)");
  EXPECT_EQ(a, 11u);
  EXPECT_EQ(b, 22u);
  EXPECT_EQ(buf.recoveries(), 1u) << "exactly one locker must have repaired the buffer";
  EXPECT_EQ(buf.size(), 0u) << "the dead producer's unfinished item must be discarded";
  EXPECT_EQ(buf.ring()->in_progress, 0u);
  // Still a working buffer (pthread_mutex_consistent was called, else ENOTRECOVERABLE).
  EXPECT_NO_THROW({
    EXPECT_TRUE(buf.push(44));
    EXPECT_EQ(buf.pop(), 44u);
    buf.close();
  });
}

GRADED_TEST(Shared, CloseWakesEveryBlockedProducerAndConsumer, 3,
            "README §Pitfalls 3 — close() must wake every waiter (broadcast on both)") {
  const std::string name = ipclab::names::posix("lab07.close");
  const UnlinkOnExit unlink{name};
  auto full = SharedBoundedBuffer::create(name, 1);
  auto empty = SharedBoundedBuffer::create(name + "e", 1);
  const UnlinkOnExit unlink_empty{name + "e"};
  ASSERT_TRUE(full.push(100));
  constexpr int kEach = 3;
  std::vector<std::atomic<pid_t>> tids(2 * kEach);
  std::atomic<int> ended{0}, wrong{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 2 * kEach; ++i)
    ts.emplace_back([&, i] {
      tids[i] = lab07_test::gettid();
      const bool bad = i < kEach ? full.push(1) : empty.pop().has_value();
      if (bad) wrong.fetch_add(1);
      ended.fetch_add(1);
    });
  for (auto& tid : tids) {
    ASSERT_TRUE(grader::wait_until([&] { return tid.load() != 0; }));
    ASSERT_TRUE(lab07_test::wait_blocked(tid.load()))
        << "a thread of a full or empty buffer did not block";
  }
  full.close();
  empty.close();
  if (!grader::wait_until([&] { return ended.load() == 2 * kEach; }, 5'000ms))
    grader::abandon_test(fmt::format(
        "{} producers blocked on a full shared buffer and {} consumers on an empty one; after "
        "close() {} are still blocked (close() must broadcast both conditions)",
        kEach, kEach, 2 * kEach - ended.load()));
  for (auto& t : ts) t.join();
  EXPECT_EQ(wrong.load(), 0) << "a push() into or a pop() from a closed buffer succeeded";
  EXPECT_EQ(full.pop(), 100u) << "the item pushed before close() was lost";
}

namespace {
/// Whether process `pid` sleeps in a futex wait (a condition variable or a mutex).
bool in_futex_wait(pid_t pid) {
  std::ifstream wchan(fmt::format("/proc/{}/wchan", pid));
  std::string w;
  std::getline(wchan, w);
  return ipclab::process_state(pid) == 'S' && w.find("futex") != std::string::npos;
}
}  // namespace

GRADED_TEST(Shared, ProducerKilledAfterItsWakeUpLetsTheOtherIn, 4,
            "README §Pitfalls 6 — the dead owner may have been woken for the others: after "
            "EOWNERDEAD, repair and wake every waiter") {
  const std::string name = ipclab::names::posix("lab07.woken");
  const UnlinkOnExit unlink{name};
  auto buf = SharedBoundedBuffer::create(name, 1);
  ASSERT_TRUE(buf.push(11));
  // Two producers (processes; no thread runs yet, so fork is safe) block on the full buffer.
  // Each stops itself inside its next push(), holding the lock, once it gets room.
  std::vector<grader::Child> producers;
  for (std::uint64_t v : {21U, 22U})
    producers.emplace_back(
        [&buf, v] {
          lab::arm_stop_in_push(1);
          buf.push(v);
        },
        fmt::format("producer of {}", v));
  for (auto& p : producers)
    ASSERT_TRUE(grader::wait_until([&] { return in_futex_wait(p.pid()); }))
        << p.name() << " did not block on the full buffer";
  // One pop makes room for one: the producer it wakes stops inside push() and is killed there.
  EXPECT_EQ(buf.pop(), 11u);
  std::size_t woken = 2;
  ASSERT_TRUE(grader::wait_until([&] {
    for (std::size_t i = 0; i < 2; ++i)
      if (ipclab::process_state(producers[i].pid()) == 'T') woken = i;
    return woken < 2;
  })) << "pop() from a full buffer woke no blocked producer";
  auto& other = producers[1 - woken];
  producers[woken].kill();
  // The next locker repairs the ring; the other producer, still blocked, must be woken for the
  // room the dead one never used.
  std::size_t size = 99;
  after_owner_died([&] { size = buf.size(); },
                   "size() after the lock owner was killed is still blocked: the mutex is wedged");
  EXPECT_EQ(size, 0u) << "the dead producer's unfinished item must be discarded";
  if (!grader::wait_until(
          [&] { return ipclab::process_state(other.pid()) == 'T' || other.exited(); }, 5'000ms)) {
    other.kill();
    FAIL() << "the buffer has room again, but the other blocked producer was never woken: after "
              "repairing, wake every waiter of not_full (the dead one took the only wake-up)";
  }
  ::kill(other.pid(), SIGCONT);  // it finishes its push
  const auto r = other.finish();
  EXPECT_TRUE(r.passed()) << "the other producer's push() did not complete: " << r.describe();
  EXPECT_EQ(buf.pop(), woken == 0 ? 22u : 21u);
  EXPECT_EQ(buf.ring()->in_progress, 0u)
      << "a push that completed must clear in_progress (else the next repair drops an item)";
}

GRADED_TEST(Shared, CloserKilledHoldingTheLockWakesEveryWaiter, 2,
            "README §Pitfalls 6 — the dead owner may have been inside close(), the buffer "
            "marked closed and nobody woken yet: the repair broadcasts both conditions") {
  const std::string name = ipclab::names::posix("lab07.closer");
  const UnlinkOnExit unlink_full{name}, unlink_empty{name + "e"};
  auto full = SharedBoundedBuffer::create(name, 1);
  auto empty = SharedBoundedBuffer::create(name + "e", 1);
  ASSERT_TRUE(full.push(100));
  // Two producers block on the full buffer, two consumers on the empty one (processes: no
  // thread runs yet, so fork is safe). Each must end once it sees the buffer closed.
  std::vector<grader::Child> waiters;
  for (int i = 0; i < 2; ++i) {
    waiters.emplace_back([&full] { EXPECT_FALSE(full.push(1)) << "a push into a closed buffer"; },
                         fmt::format("producer {} on the full buffer", i));
    waiters.emplace_back([&empty] { EXPECT_EQ(empty.pop(), std::nullopt); },
                         fmt::format("consumer {} on the empty buffer", i));
  }
  for (auto& w : waiters)
    ASSERT_TRUE(grader::wait_until([&] { return in_futex_wait(w.pid()); }))
        << w.name() << " did not block";
  // A closer dies inside close(): it holds the lock, has marked the buffer closed, and has
  // not broadcast yet. The next locker gets EOWNERDEAD.
  for (auto* buf : {&full, &empty})
    owner_dies_holding_lock(
        *buf, [](SharedRing* r) { r->closed = 1; }, "a closer killed inside close()");
  bool both_closed = false;
  after_owner_died([&] { both_closed = full.closed() && empty.closed(); },
                   "closed() after the closer was killed is still blocked: wedged");
  EXPECT_TRUE(both_closed);
  EXPECT_EQ(full.recoveries() + empty.recoveries(), 2u) << "one repair per buffer";
  for (auto& w : waiters) {
    const auto r = w.finish(5'000ms);
    EXPECT_TRUE(r.passed())
        << r.describe()
        << "\n(the repair must broadcast both conditions: every waiter re-checks and sees the "
           "buffer closed; one wake-up each leaves the other waiter asleep)";
  }
  EXPECT_EQ(full.pop(), 100u) << "the item pushed before the close was lost";
}

GRADED_TEST(Shared, RepairPutsHeadAndCountBackInRange, 2,
            "README §Pitfalls 6 — the repair restores head < capacity and count <= capacity "
            "(README §The API: what consistent means)") {
  const std::string name = ipclab::names::posix("lab07.clamp");
  const UnlinkOnExit unlink{name};
  auto buf = SharedBoundedBuffer::create(name, 4);
  for (std::uint64_t v : {11U, 22U, 33U, 44U}) ASSERT_TRUE(buf.push(v));
  // The owner dies mid-update: head advanced one past the last slot (not wrapped yet), count
  // one over the capacity.
  owner_dies_holding_lock(
      buf,
      [](SharedRing* r) {
        r->head = r->capacity;
        r->count = r->capacity + 1;
      },
      "an owner killed with head == capacity and count == capacity + 1");
  std::size_t size = 99;
  after_owner_died([&] { size = buf.size(); },
                   "size() after the lock owner was killed is still blocked: the mutex is wedged");
  EXPECT_EQ(buf.recoveries(), 1u);
  EXPECT_LT(buf.ring()->head, 4u) << "the repair must bring head back below the capacity";
  EXPECT_EQ(size, 4u) << "the repair must clamp count to the capacity";
  std::multiset<std::uint64_t> got;
  for (int i = 0; i < 4; ++i)
    if (auto v = buf.pop()) got.insert(*v);
  EXPECT_EQ(got, (std::multiset<std::uint64_t>{11, 22, 33, 44}))
      << "after the repair the four slots must be the buffer's four items";
  EXPECT_EQ(buf.size(), 0u);
}

GRADED_TEST(Shared, RingFieldsFollowTheLayout, 1,
            "README §The API — SharedBoundedBuffer: the SharedRing layout, as the header "
            "documents each field") {
  const std::string name = ipclab::names::posix("lab07.layout");
  const UnlinkOnExit unlink{name};
  auto buf = SharedBoundedBuffer::create(name, 4);
  const SharedRing* r = buf.ring();
  EXPECT_EQ(r->magic, SharedRing::kMagic);
  EXPECT_EQ(r->capacity, 4u);
  EXPECT_EQ(r->head + r->count + r->closed + r->in_progress + r->recoveries, 0u)
      << "a new buffer: head, count, closed, in_progress and recoveries 0";
  for (std::uint64_t v : {11U, 22U, 33U}) ASSERT_TRUE(buf.push(v));
  ASSERT_EQ(buf.pop(), 11u);
  EXPECT_EQ(r->head, 1u) << "head: the index of the oldest item";
  EXPECT_EQ(r->count, 2u);
  EXPECT_EQ(r->slots[1], 22u);
  EXPECT_EQ(r->slots[2], 33u);
  EXPECT_EQ(r->closed, 0u);
  buf.close();
  EXPECT_EQ(r->closed, 1u) << "closed: 0 open, 1 closed";
}

GRADED_TEST(Shared, CreateThatFailsLeavesNoObject, 1,
            "README §The API — SharedBoundedBuffer: create() that fails after making the "
            "object (it cannot be mapped) unlinks it again") {
  const std::string name = ipclab::names::posix("lab07.unmappable");
  const UnlinkOnExit unlink{name};
  grader::Child creator(
      [&] {
        // 128 MiB of slots: the object can be sized, not mapped with only 32 MiB of
        // address space left to this process.
        const std::string status = ipclab::read_file("/proc/self/status");
        const auto at = status.find("VmSize:");
        ASSERT_NE(at, std::string::npos);
        const rlim_t in_use = std::stoull(status.substr(at + 7)) << 10;  // kB
        const rlimit as{in_use + (rlim_t{32} << 20), in_use + (rlim_t{32} << 20)};
        ASSERT_EQ(::setrlimit(RLIMIT_AS, &as), 0);
        EXPECT_THROW((void)SharedBoundedBuffer::create(name, std::size_t{16} << 20),
                     ipclab::SysError);
      },
      "create() of a buffer it cannot map");
  const auto r = creator.finish(10'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_THROW((void)ipclab::PosixShm::open(name), ipclab::SysError)
      << "a create() that failed left its shm object " << name << " behind";
}

GRADED_TEST(Shared, OpenRefusesWhatIsNotABuffer, 2,
            "README §The API — SharedBoundedBuffer: open() checks the size and the magic") {
  const std::string name = ipclab::names::posix("lab07.damaged");
  const UnlinkOnExit unlink{name};
  const auto refused = [&](const char* what) {
    try {
      (void)SharedBoundedBuffer::open(name);
      ADD_FAILURE() << "open() of " << what << " must throw OperationFailed, not succeed";
    } catch (const ipclab::OperationFailed&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "open() of " << what << " must throw OperationFailed, not: " << e.what();
    }
  };
  {  // too small to hold even the header
    auto obj = ipclab::PosixShm::create(name, 8);
    refused("an 8-byte object");
    SharedBoundedBuffer::unlink(name);
  }
  auto buf = SharedBoundedBuffer::create(name, 4);
  SharedRing* r = buf.ring();
  r->magic = 0;
  refused("a buffer with no magic");
  r->magic = SharedRing::kMagic;
  r->capacity = 0;
  refused("a buffer of capacity 0");
  r->capacity = 8;  // the object holds 4 slots
  refused("a buffer whose capacity is more than its object holds");
  r->capacity = 4;
  EXPECT_NO_THROW((void)SharedBoundedBuffer::open(name)) << "the buffer repaired opens again";
  buf.close();
  SharedBoundedBuffer::unlink(name);
  auto one = SharedBoundedBuffer::create(name, 1);  // the smallest buffer there is
  EXPECT_NO_THROW((void)SharedBoundedBuffer::open(name)) << "a buffer of one slot must open";
}
