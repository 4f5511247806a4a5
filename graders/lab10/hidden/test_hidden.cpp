// Lab 10 hidden grader: races made visible with the test hook (IPCLAB_TEST_YIELD=1) and
// repetitions, a one-slot pool as a mutex, several holders killed at once, a dead owner
// that is still a zombie, one reaped while it is looked at, and a live owner of another user
// (kill(pid, 0) gives EPERM).
#include <grp.h>        // setgroups
#include <signal.h>     // SIGKILL
#include <stdlib.h>     // setenv
#include <sys/prctl.h>  // prctl, PR_SET_PDEATHSIG
#include <sys/wait.h>   // waitid, waitpid, WNOWAIT
#include <unistd.h>     // setresuid, setresgid, geteuid, pause, fork

#include <array>     // std::array
#include <atomic>    // std::atomic
#include <cerrno>    // errno, EPERM
#include <chrono>    // 10s
#include <cstring>   // std::strerror
#include <latch>     // std::latch
#include <optional>  // std::optional
#include <string>    // std::string
#include <thread>    // std::thread
#include <vector>    // std::vector

#include "../public/common.hpp"
#include "ipclab/io.hpp"       // read_file
#include "ipclab/process.hpp"  // process_state

using lab10_test::acquired_line;
using lab10_test::kForever;
using lab10_test::ok_timeout;
using lab10_test::start_manager;
using lab10_test::start_worker;
using lab10_test::stop_manager;
using lab10_test::View;
namespace lab = ipclab::lab10;
using namespace std::chrono_literals;

namespace {

/// Removes the test's own pool (one made with Pool::create, no pool_manager) when the
/// scope ends, even when an ASSERT leaves early.
struct RemovePoolAtEnd {
  RemovePoolAtEnd() = default;
  RemovePoolAtEnd(const RemovePoolAtEnd&) = delete;
  RemovePoolAtEnd& operator=(const RemovePoolAtEnd&) = delete;
  ~RemovePoolAtEnd() {
    try {
      lab::Pool::remove();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "Pool::remove(): " << e.what();
    }
  }
};

/// Makes this process (a Child) one of user and group `id`, with no supplementary groups:
/// a process of another user, that the test's other processes may not signal. The change
/// of credentials clears the parent-death signal, which is set again.
void become_user(uid_t id) {
  ASSERT_EQ(::setgroups(0, nullptr), 0) << "setgroups: " << std::strerror(errno);
  ASSERT_EQ(::setresgid(id, id, id), 0) << "setresgid(" << id << "): " << std::strerror(errno);
  ASSERT_EQ(::setresuid(id, id, id), 0) << "setresuid(" << id << "): " << std::strerror(errno);
  ASSERT_EQ(::prctl(PR_SET_PDEATHSIG, SIGKILL), 0) << std::strerror(errno);
}

/// The Uid: line of /proc/PID/status (real, effective, saved, fs uid), "" if it is gone.
std::string uids_of(pid_t pid) {
  try {
    const std::string status = ipclab::read_file(fmt::format("/proc/{}/status", pid));
    const auto at = status.find("\nUid:");
    if (at == std::string::npos) return {};
    const auto from = status.find_first_not_of(" \t", at + 5);
    return status.substr(from, status.find('\n', from) - from);
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace

GRADED_TEST(Hidden, RacingWorkersNeverShareASlot, 8,
            "README §Pitfalls 2 — check-then-write on a slot is a race; use a CAS or a lock") {
  grader::repeat(4, [](int, std::uint64_t seed) {
    auto m = start_manager(3);
    if (!m) return;
    EXPECT_TRUE(lab10_test::run_crowd(3, 30, 3, true, seed));
    grader::expect_exit(stop_manager(*m), 0);
  });
}

GRADED_TEST(Hidden, OneSlotPoolIsAMutex, 4,
            "README §Pitfalls 2 — claim a slot atomically; §Pitfalls 4 — free before post") {
  grader::repeat(2, [](int, std::uint64_t seed) {
    auto m = start_manager(1);
    if (!m) return;
    EXPECT_TRUE(lab10_test::run_crowd(1, 20, 2, true, seed));
    grader::expect_exit(stop_manager(*m), 0);
  });
}

GRADED_TEST(Hidden, AllHoldersKilledWaitersGetIn, 6,
            "README §Pitfalls 5 — post once per reclaimed slot, or waiters starve") {
  grader::repeat(2, [](int, std::uint64_t) {
    auto m = start_manager(3);
    if (!m) return;
    auto view = View::open();
    ASSERT_TRUE(view);
    std::vector<grader::Process> holders, waiters;
    for (unsigned id = 1; id <= 3; ++id) {
      holders.push_back(start_worker(id, kForever, ok_timeout(), true));
      ASSERT_TRUE(holders.back().wait_for_output(acquired_line(id), 10'000ms))
          << holders.back().out() << holders.back().err();
    }
    for (unsigned id = 4; id <= 7; ++id)
      waiters.push_back(start_worker(id, "20", ok_timeout(), true));
    for (auto& h : holders) h.kill();
    ASSERT_TRUE(grader::wait_until(
        [&] {
          for (auto& w : waiters)
            if (!w.exited()) return false;
          return true;
        },
        10'000ms))
        << "waiters still blocked after every holder was SIGKILLed: " << view->describe();
    for (unsigned i = 0; i < waiters.size(); ++i) {
      auto r = waiters[i].finish(5'000ms);
      grader::expect_exit(r, 0);
    }
    EXPECT_TRUE(grader::wait_until([&] { return view->sem_value() == 3; }, 3'000ms))
        << "after three holders died and four waiters came and went: " << view->describe();
    EXPECT_EQ(view->h().reclaimed.load(), 3U) << view->describe();
    EXPECT_EQ(view->h().holders.load(), 0) << view->describe();
    EXPECT_LE(view->h().high_water.load(), 3) << view->describe();
    grader::expect_exit(stop_manager(*m), 0);
  });
}

GRADED_TEST(Hidden, ZombieOwnerIsReclaimed, 3,
            "README §Pitfalls 7 — kill(pid, 0) succeeds on a zombie") {
  auto m = start_manager(1);
  if (!m) return;
  auto view = View::open();
  ASSERT_TRUE(view);
  auto a = start_worker(1, kForever, ok_timeout());
  ASSERT_TRUE(a.wait_for_output(acquired_line(1), 10'000ms)) << a.out() << a.err();
  a.signal(SIGKILL);  // dead, but not reaped: a zombie child of this test
  ASSERT_TRUE(grader::wait_until([&] { return ipclab::process_state(a.pid()) == 'Z'; }, 5'000ms));
  EXPECT_TRUE(
      grader::wait_until([&] { return view->sem_value() == 1 && !view->holds(a.pid()); }, 3'000ms))
      << "worker 1 (pid " << a.pid() << ") is a zombie: it will never release. "
      << view->describe();
  a.kill();
  grader::expect_exit(stop_manager(*m), 0);
}

GRADED_TEST(Hidden, LiveHoldersAreNeverReclaimed, 3,
            "README §Pitfalls 7 — only a dead owner's slot is reclaimed") {
  auto m = start_manager(2);
  if (!m) return;
  auto view = View::open();
  ASSERT_TRUE(view);
  auto a = start_worker(1, "1500", ok_timeout());
  ASSERT_TRUE(a.wait_for_output(acquired_line(1), 10'000ms)) << a.out() << a.err();
  // The manager makes ~15 passes while worker 1 holds; its slot must stay its own.
  auto r = a.finish(10'000ms);
  grader::expect_exit(r, 0);
  EXPECT_EQ(view->h().reclaimed.load(), 0U) << view->describe();
  EXPECT_EQ(view->sem_value(), 2) << view->describe();
  grader::expect_exit(stop_manager(*m), 0);
}

GRADED_TEST(Hidden, AChildReapedDuringTheLookIsNotAlive, 1,
            "README §Pitfalls 7 — a process whose /proc entry is gone (process_state 0) is not "
            "alive, even when kill(pid, 0) found it a moment before") {
  // A child that has exited (a zombie) is reaped by another thread while process_alive()
  // looks at it. kill(pid, 0) may still find the zombie, and /proc then no longer has it:
  // at no instant of the call was the process alive. The reaper waits a little longer each
  // round, so that some round reaps between the two looks (whatever the two cost here).
  constexpr int kRounds = 2000;  // about 1 ms each
  for (int i = 0; i < kRounds; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    ASSERT_GT(pid, 0) << std::strerror(errno);
    siginfo_t si{};
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOWAIT), 0)
        << std::strerror(errno);  // it has exited; not reaped yet
    std::atomic<bool> go{false};
    const auto delay = std::chrono::nanoseconds(250 * (i % 100));  // 0 to 25 µs
    std::thread reaper([&] {
      while (!go.load(std::memory_order_acquire)) {
      }
      const auto until = std::chrono::steady_clock::now() + delay;
      while (std::chrono::steady_clock::now() < until) {
      }
      ::waitpid(pid, nullptr, 0);
    });
    go.store(true, std::memory_order_release);
    const bool alive = lab::Pool::process_alive(pid);
    reaper.join();
    if (alive) {
      ADD_FAILURE() << "round " << i + 1 << ": process_alive(" << pid
                    << ") was true for a child that had exited before the call and was reaped "
                       "during it. If kill(pid, 0) succeeds (the zombie) and /proc/"
                    << pid
                    << "/stat is gone a moment later (process_state() returns 0), the process "
                       "is gone: not alive";
      break;
    }
  }
}

GRADED_TEST(Hidden, HolderOfAnotherUserIsAlive, 2,
            "README §Pitfalls 7 — kill(pid, 0) fails with EPERM for a live process of another "
            "user: it exists, it is alive") {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root: the holder and the reclaimer run as two other users (65534 "
                    "and 65533); the course's grader runs as root";
  constexpr uid_t kHolderUid = 65534;     // nobody
  constexpr uid_t kReclaimerUid = 65533;  // another user again: it may not signal the holder
  constexpr unsigned kN = 2;
  auto pool = lab::Pool::create(kN);
  const RemovePoolAtEnd remove_at_end;
  auto view = View::open();
  ASSERT_TRUE(view);
  // The holder: a live process of another user, waiting until the test kills it.
  grader::Child holder(
      [] {
        become_user(kHolderUid);
        for (;;) ::pause();
      },
      "holder (uid 65534)");
  const std::string want = fmt::format("{0}\t{0}\t{0}\t{0}", kHolderUid);
  ASSERT_TRUE(grader::wait_until([&] { return holder.exited() || uids_of(holder.pid()) == want; }));
  ASSERT_FALSE(holder.exited()) << holder.finish().describe();
  const pid_t holder_pid = holder.pid();
  const auto slot = pool.acquire(holder_pid, 1, ipclab::Deadline(grader::scaled(5'000ms)));
  ASSERT_TRUE(slot) << "a pool of " << kN << " with no holder: acquire() timed out";
  // The reclaimer runs as a third user: its kill(holder, 0) fails with EPERM.
  grader::Child reclaimer(
      [&] {
        become_user(kReclaimerUid);
        errno = 0;
        ASSERT_EQ(::kill(holder_pid, 0), -1) << "the test's setup: user " << kReclaimerUid
                                             << " may signal user " << kHolderUid << "'s process";
        ASSERT_EQ(errno, EPERM) << std::strerror(errno);
        EXPECT_TRUE(lab::Pool::process_alive(holder_pid))
            << "pid " << holder_pid << " is a live process of user " << kHolderUid
            << "; kill(pid, 0) from user " << kReclaimerUid
            << " fails with EPERM, which says that it exists: process_alive must be true";
        const auto freed = pool.reclaim_dead();
        EXPECT_TRUE(freed.empty())
            << "reclaim_dead() as user " << kReclaimerUid << " freed " << freed.size()
            << " slot(s), slot " << *slot << " held by the live pid " << holder_pid << " of user "
            << kHolderUid << " among them: " << view->describe();
      },
      "reclaimer (uid 65533)");
  const auto r = reclaimer.finish(10'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(view->owner(*slot), holder_pid)
      << "a live holder's slot was taken: " << view->describe();
  EXPECT_EQ(view->sem_value(), static_cast<int>(kN) - 1) << view->describe();
  EXPECT_EQ(view->h().reclaimed.load(), 0U) << view->describe();
  if (view->owner(*slot) == holder_pid) pool.release(*slot, holder_pid);
  holder.kill();
}

GRADED_TEST(Hidden, TwoReclaimersPostOncePerSlot, 4,
            "README §Pitfalls 6 — free a dead owner's slot with a CAS; post only if it won") {
  // The test hook in this process too: the reclaimers below stop between their look at a
  // slot and their claim of it. (Set before the first call of any Pool function.)
  ASSERT_EQ(::setenv("IPCLAB_TEST_YIELD", "1", 1), 0);
  grader::repeat(6, [](int, std::uint64_t) {
    constexpr unsigned kN = 3;
    // No pool_manager: the pool is this test's, so nobody else reclaims.
    auto pool = lab::Pool::create(kN);
    const RemovePoolAtEnd remove_at_end;
    auto view = View::open();
    ASSERT_TRUE(view);
    std::vector<grader::Process> holders;
    for (unsigned id = 1; id <= kN; ++id) {
      holders.push_back(start_worker(id, kForever, ok_timeout()));
      ASSERT_TRUE(holders.back().wait_for_output(acquired_line(id), 10'000ms))
          << holders.back().out() << holders.back().err();
    }
    for (auto& h : holders) h.kill();  // SIGKILL and reaped: three dead owners
    ASSERT_EQ(view->sem_value(), 0) << view->describe();
    // Four reclaimers start together and each makes one pass over the same dead owners.
    constexpr int kReclaimers = 4;
    std::latch go(kReclaimers);
    std::atomic<unsigned> freed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kReclaimers; ++t)
      threads.emplace_back([&] {
        go.arrive_and_wait();
        freed.fetch_add(static_cast<unsigned>(pool.reclaim_dead().size()));
      });
    for (auto& t : threads) t.join();
    EXPECT_EQ(freed.load(), kN) << "four concurrent reclaim_dead() passes over " << kN
                                << " dead owners must free each slot once in all: "
                                << view->describe();
    EXPECT_EQ(view->sem_value(), static_cast<int>(kN))
        << "the semaphore must be posted once per dead owner's slot: " << view->describe();
    EXPECT_EQ(view->h().reclaimed.load(), kN) << view->describe();
    EXPECT_EQ(view->h().holders.load(), 0) << view->describe();
    EXPECT_TRUE(view->owners().empty()) << view->describe();
  });
}

GRADED_TEST(Hidden, HighWaterCountsEveryHolderOfARace, 3,
            "README §Pitfalls 10 — retry the CAS while the mark is below your count") {
  // Six threads of this process claim at once, with the test hook between each one's look
  // at the mark and its CAS: the one that counted 6 often sees its CAS fail because one
  // that counted less stored first. With all six holding, the mark must read 6.
  ASSERT_EQ(::setenv("IPCLAB_TEST_YIELD", "1", 1), 0);
  grader::repeat(150, [](int, std::uint64_t) {
    constexpr unsigned kN = 6;
    auto pool = lab::Pool::create(kN);
    const RemovePoolAtEnd remove_at_end;
    auto view = View::open();
    ASSERT_TRUE(view);
    std::latch start(kN);
    std::latch holding(kN);
    std::latch checked(1);
    std::vector<std::string> errors(kN);
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < kN; ++i) {
      threads.emplace_back([&, i] {
        std::optional<unsigned> slot;
        try {
          start.arrive_and_wait();
          slot = pool.acquire(::getpid(), i + 1, ipclab::Deadline(10s));
          if (!slot) errors[i] = "acquire() timed out in a pool with a free slot for each";
        } catch (const std::exception& e) {
          errors[i] = std::string("acquire(): ") + e.what();
        }
        holding.count_down();
        checked.wait();
        try {
          if (slot) pool.release(*slot, ::getpid());
        } catch (const std::exception& e) {
          errors[i] = std::string("release(): ") + e.what();
        }
      });
    }
    holding.wait();
    const std::string state = view->describe();
    const std::int32_t holders = view->h().holders.load();
    const std::int32_t high_water = view->h().high_water.load();
    checked.count_down();
    for (auto& t : threads) t.join();
    for (unsigned i = 0; i < kN; ++i) EXPECT_EQ(errors[i], "") << "thread " << i + 1;
    EXPECT_EQ(holders, static_cast<std::int32_t>(kN)) << state;
    EXPECT_EQ(high_water, static_cast<std::int32_t>(kN))
        << "six threads held at once, but the high-water mark says " << high_water
        << ": a raise was lost when its CAS failed and was not retried\n"
        << state;
  });
}

GRADED_TEST(Hidden, SlotDataPassesFromHolderToHolder, 3,
            "README §Pitfalls 2 — the claim is an acq_rel CAS, the release a release CAS") {
  // A connection's state is written by its holder and read by the next one: four threads
  // of this process take turns on two slots, each checking what the previous holder of its
  // slot left (two words that must agree) and leaving its own. Two holders of one slot
  // would tear it. The claim's acquire and the release's release order these plain
  // accesses; the ThreadSanitizer run of this test (make test's tsan step) reports a data
  // race when either is relaxed, which a plain x86 build cannot show.
  ASSERT_EQ(::setenv("IPCLAB_TEST_YIELD", "1", 1), 0);
  constexpr unsigned kSlots = 2;
  constexpr unsigned kThreads = 4;
  constexpr int kRounds = 150;
  auto pool = lab::Pool::create(kSlots);
  const RemovePoolAtEnd remove_at_end;
  struct State {
    std::uint64_t serial = 0;
    std::uint64_t check = ~std::uint64_t{0};  // always ~serial
  };
  std::array<State, kSlots> state{};
  std::vector<std::string> errors(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      try {
        for (int r = 0; r < kRounds && errors[i].empty(); ++r) {
          const auto slot = pool.acquire(::getpid(), i + 1, ipclab::Deadline(10s));
          if (!slot) {
            errors[i] = "acquire() timed out";
            break;
          }
          State& s = state.at(*slot);
          if (s.check != ~s.serial)
            errors[i] = fmt::format("slot {} holds serial {} with check {:#x}: two holders at once",
                                    *slot, s.serial, s.check);
          s.serial = s.serial + 1;
          s.check = ~s.serial;
          pool.release(*slot, ::getpid());
        }
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (unsigned i = 0; i < kThreads; ++i) EXPECT_EQ(errors[i], "") << "thread " << i + 1;
  std::uint64_t total = 0;
  for (const State& s : state) total += s.serial;
  EXPECT_EQ(total, std::uint64_t{kThreads} * kRounds) << "every turn leaves one more serial";
}
