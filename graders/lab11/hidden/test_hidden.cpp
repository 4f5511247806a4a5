// Lab 11 hidden grader: more shapes (including more processes than cores), the join/exit
// race at the end of the last round, a set removed under the waiters (or between a timed-out
// wait and the look at ALIVE/JOINED), a system error that is not a broken barrier, creation
// rules.
#include <dlfcn.h>    // dlsym, RTLD_NEXT
#include <signal.h>   // SIGKILL, SIGSTOP, SIGCONT
#include <sys/sem.h>  // semctl, GETALL, IPC_RMID
#include <time.h>     // nanosleep

#include <algorithm>  // std::ranges::count
#include <cerrno>     // errno, EACCES
#include <cstdarg>    // va_list
#include <utility>    // std::exchange

#include "../public/common.hpp"

using lab11_test::Group;
using lab11_test::no_lap_run;
using lab11_test::rounds_body;
namespace lab = ipclab::lab11;

GRADED_TEST(HiddenOrder, ManyShapesNoLap, 8,
            "README §Pitfalls 1/2 — lapping shows up with some shapes and not others") {
  grader::repeat(2, [](int, std::uint64_t seed) {
    for (const auto& [n, rounds] : {std::pair{3, 300}, std::pair{5, 150}, std::pair{13, 60}}) {
      no_lap_run(n, rounds, seed | 1);
      if (::testing::Test::HasFailure()) return;
    }
  });
}

GRADED_TEST(HiddenOrder, SingleParticipantNeverBlocks, 1) { no_lap_run(1, 100, 1); }

GRADED_TEST(HiddenBroken, LateJoinerIsNotADeath, 4,
            "README §Pitfalls 4 — compare ALIVE with JOINED, not with n") {
  // Three participants wait in round 1 for several poll periods before the fourth even
  // starts: nobody has died, so nobody may report `barrier broken`.
  const int n = 4;
  const int rounds = 20;
  Group g(n);
  for (int i = 1; i < n; ++i) g.start(rounds_body(rounds), true);
  ASSERT_TRUE(grader::wait_until([&] { return g.entered(1) == n - 1; }, 10'000ms));
  // A measurement window: let the waiters time out a few poll periods with n-1 joined.
  ::usleep(static_cast<useconds_t>(6 * 50'000));
  g.start(rounds_body(rounds), true);
  const ipclab::Deadline deadline = grader::deadline(10'000ms);
  for (int me = 1; me <= n; ++me) {
    const auto end = g.finish(me, deadline);
    ASSERT_FALSE(end.timed_out) << "participant " << me << " hung";
    EXPECT_TRUE(end.passed()) << end.describe() << "\nalthough nobody died (participant " << n
                              << " only joined late)";
  }
  EXPECT_EQ(lab11_test::check_sequence(g.log(), n, rounds), "");
}

GRADED_TEST(HiddenBroken, SetRemovedUnderWaitersReportsBroken, 3,
            "README §Pitfalls 3 — EIDRM/EINVAL from semtimedop: the barrier is gone") {
  const int n = 3;
  Group g(n);
  for (int i = 1; i < n; ++i) g.start(lab11_test::until_broken(rounds_body(5)), false);
  ASSERT_TRUE(grader::wait_until([&] { return g.entered(1) == n - 1; }, 10'000ms));
  EXPECT_TRUE(g.barrier().remove());
  const ipclab::Deadline bound = grader::deadline(2'000ms);
  for (int me = 1; me < n; ++me) {
    const auto end = g.finish(me, bound);
    ASSERT_FALSE(end.timed_out) << "participant " << me << " hangs on a removed set";
    EXPECT_TRUE(end.passed()) << end.describe();
  }
}

GRADED_TEST(HiddenBroken, DeathNoticedWithinAFewPeriods, 2,
            "README §Pitfalls 3 — wait in semtimedop periods of kPollPeriod (50 ms)") {
  // Three participants block in round 1; the fourth joins, then dies at once. Each waiter
  // must report it within 10 poll periods (0.5 s; participant 1 is timed): one period, plus
  // scheduling on a loaded machine. (A period of a second passes the 2 s bound of the
  // public tests, but leaves a dead barrier unnoticed 20 times longer than promised.)
  const int n = 4;
  Group g(n);
  for (int i = 1; i < n; ++i) g.start(lab11_test::until_broken(rounds_body(1)), false);
  g.start(
      [](lab::SysvBarrier&, int me, int log_fd) {
        lab11_test::log_line(log_fd, fmt::format("victim {} joined\n", me));
        for (;;) ::pause();
      },
      false);
  ASSERT_TRUE(grader::wait_until(
      [&] {
        const auto lines = g.log();
        return g.entered(1) == n - 1 &&
               std::ranges::count(lines, fmt::format("victim {} joined", n)) == 1;
      },
      10'000ms))
      << "the waiters never all reached round 1, or the victim never joined";
  ::kill(g.pid(n), SIGKILL);
  const std::int64_t killed = ipclab::now_ns();
  const ipclab::Deadline bound = grader::deadline(2'000ms);
  const auto first = g.finish(1, bound);  // they all report within the same period
  const double ms = static_cast<double>(ipclab::now_ns() - killed) / 1e6;
  ASSERT_FALSE(first.timed_out) << "participant 1 still waits 2 s after participant " << n
                                << " died";
  EXPECT_TRUE(first.passed()) << first.describe();
  EXPECT_LT(ms, static_cast<double>(grader::scaled(500ms).count()))
      << "participant 1 reported the death " << ms << " ms after it: more than 10 periods of "
      << "kPollPeriod (50 ms)";
  for (int me = 2; me < n; ++me) EXPECT_TRUE(g.finish(me, bound).passed());
}

// semctl() with a hook, for the tests below: this executable's semctl is the one the lab's
// library calls. Armed in a participant (a forked child), its next look at the set (a
// command that reads it: GETALL, GETVAL, IPC_STAT, ...) first does what the test asked:
// remove the set, fail with EACCES, or wait until the other participants have exited
// (saying so in the sequence log first). Unarmed, it is glibc's.
namespace {

enum class Look { kAsIs, kRemoveFirst, kFailEacces, kAfterOthersLeft };
Look next_look = Look::kAsIs;  // this process's: each participant arms its own
int look_log_fd = -1;          // kAfterOthersLeft writes "looking" here

}  // namespace

extern "C" int semctl(int semid, int semnum, int cmd, ...) noexcept {
  union Arg {  // semctl's fourth argument (semctl(2)), passed on as it came
    int val;
    semid_ds* buf;
    unsigned short* array;
  } arg{};
  if (cmd == SETVAL || cmd == GETALL || cmd == SETALL || cmd == IPC_STAT || cmd == IPC_SET ||
      cmd == IPC_INFO || cmd == SEM_INFO || cmd == SEM_STAT) {
    va_list ap;
    va_start(ap, cmd);
    arg = va_arg(ap, Arg);
    va_end(ap);
  }
  using Fn = int (*)(int, int, int, ...);
  static const auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "semctl"));
  const bool looks = cmd == GETALL || cmd == GETVAL || cmd == GETNCNT || cmd == GETZCNT ||
                     cmd == GETPID || cmd == IPC_STAT || cmd == SEM_STAT;
  switch (looks ? std::exchange(next_look, Look::kAsIs) : Look::kAsIs) {
    case Look::kAsIs:
      break;
    case Look::kRemoveFirst:
      real(semid, 0, IPC_RMID);
      break;
    case Look::kFailEacces:
      errno = EACCES;
      return -1;
    case Look::kAfterOthersLeft: {
      lab11_test::log_line(look_log_fd, "looking\n");
      const ipclab::Deadline by(grader::scaled(5'000ms));
      while (real(semid, lab::kAlive, GETVAL) > 1 && !by.expired()) {
        const timespec ms{0, 1'000'000};
        ::nanosleep(&ms, nullptr);
      }
      break;
    }
  }
  return real(semid, semnum, cmd, arg);
}

GRADED_TEST(HiddenBroken, SetRemovedBeforeTheLookReportsBroken, 2,
            "README §Pitfalls 3 — EIDRM/EINVAL from semctl(GETALL) too: the set is gone") {
  // One of two participants waits; the other never comes. When a poll period runs out,
  // the set vanishes just before the waiter reads ALIVE and JOINED (as when the
  // coordinator removes it at that moment): that look fails with EINVAL.
  Group g(2);
  g.start(lab11_test::until_broken([](lab::SysvBarrier& b, int, int) {
            next_look = Look::kRemoveFirst;
            b.wait();
          }),
          false);
  const auto end = g.finish(1, grader::deadline(2'000ms));
  ASSERT_FALSE(end.timed_out) << "the participant hangs on a set removed while it looked";
  EXPECT_TRUE(end.passed()) << end.describe()
                            << "\n(the set was removed between a timed-out semtimedop and the "
                               "semctl that reads ALIVE/JOINED: that semctl fails with EINVAL)";
}

GRADED_TEST(HiddenBroken, OtherSemctlErrorIsASysError, 1,
            "README §Pitfalls 3 — any other failure is a SysError with its errno, not `barrier "
            "broken`") {
  // The look at ALIVE/JOINED fails with EACCES (the set's mode was changed): nobody died
  // and the set is there, so this is a system error, not a broken barrier.
  Group g(2);
  g.start(
      [](lab::SysvBarrier& b, int, int) {
        next_look = Look::kFailEacces;
        try {
          b.wait();
          ADD_FAILURE() << "wait() returned with one of two participants there";
        } catch (const lab::BarrierBroken& e) {
          ADD_FAILURE() << "semctl failed with EACCES and wait() threw BarrierBroken (`" << e.what()
                        << "`): nobody died and the set exists; throw SysError";
        } catch (const ipclab::SysError& e) {
          EXPECT_EQ(e.code(), std::errc::permission_denied) << e.what();
        }
      },
      false);
  const auto end = g.finish(1, grader::deadline(2'000ms));
  ASSERT_FALSE(end.timed_out) << "the participant still waits after its semctl failed";
  EXPECT_TRUE(end.passed()) << end.describe();
}

GRADED_TEST(HiddenBroken, LastRoundLeaverIsNotADeath, 2,
            "README §Pitfalls 4 — before reporting a death, retry the wait once with "
            "IPC_NOWAIT") {
  // Two participants, one round. Participant 1 arrives first and is stopped (SIGSTOP) in
  // phase 1. Participant 2 arrives, passes phase 1, steps into phase 2 and times out
  // there; its look at ALIVE/JOINED is held until participant 1, continued, has finished
  // the round and exited. ALIVE < JOINED then, but nobody died: the retry of the wait
  // succeeds, and wait() returns.
  Group g(2);
  g.start(rounds_body(1), false);
  ASSERT_TRUE(grader::wait_until(
      [&] { return g.entered(1) == 1 && ipclab::SysvSemSet(g.id()).get(lab::kArrive) == 1; },
      10'000ms))
      << "participant 1 never arrived";
  ::kill(g.pid(1), SIGSTOP);
  g.start(
      [](lab::SysvBarrier& b, int me, int log_fd) {
        look_log_fd = log_fd;
        next_look = Look::kAfterOthersLeft;
        rounds_body(1)(b, me, log_fd);
      },
      false);
  const bool looked = grader::wait_until(
      [&] { return std::ranges::count(g.log(), std::string("looking")) == 1; }, 10'000ms);
  ::kill(g.pid(1), SIGCONT);
  ASSERT_TRUE(looked) << "participant 2 never looked at ALIVE/JOINED after a timed-out wait in "
                         "phase 2 (its wait cannot complete while participant 1 is stopped)";
  const ipclab::Deadline bound = grader::deadline(10'000ms);
  for (int me = 1; me <= 2; ++me) {
    const auto end = g.finish(me, bound);
    ASSERT_FALSE(end.timed_out) << "participant " << me << " hung";
    EXPECT_TRUE(end.passed()) << end.describe()
                              << "\n(participant 1 finished the round and exited while "
                                 "participant 2 waited: a legitimate exit, not a death)";
  }
}

GRADED_TEST(HiddenSet, CreateRules, 2, "README §The API — create() makes a NEW set, n in range") {
  const key_t key = ipclab::names::sysv_key(lab::kKeyName);
  EXPECT_THROW((void)lab::SysvBarrier::create(key, 0), ipclab::UsageError);
  auto b = lab::SysvBarrier::create(key, 2);
  try {
    (void)lab::SysvBarrier::create(key, 2);
    ADD_FAILURE() << "a second create() on the same key should fail with EEXIST";
  } catch (const ipclab::SysError& e) {
    EXPECT_EQ(e.code(), std::errc::file_exists) << e.what();
  }
  auto o = lab::SysvBarrier::open(key, 2);
  EXPECT_EQ(o.id(), b.id());
  EXPECT_TRUE(b.remove());
  EXPECT_THROW((void)lab::SysvBarrier::open(key, 2), ipclab::OperationFailed);
}
