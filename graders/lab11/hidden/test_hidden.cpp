// Lab 11 hidden grader: more shapes (including more processes than cores), the join/exit
// race at the end of the last round, a set removed under the waiters, creation rules.
#include <signal.h>  // SIGKILL

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
