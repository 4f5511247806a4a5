// Lab 11 hidden grader: more shapes (including more processes than cores), the join/exit
// race at the end of the last round, a set removed under the waiters, creation rules.
#include <signal.h>  // SIGKILL

#include "../public/common.hpp"

using lab11_test::describe_code;
using lab11_test::Group;
using lab11_test::kBroken;
using lab11_test::no_lap_run;
using lab11_test::rounds_body;
namespace l11 = ipclab::lab11;

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
  for (int i = 1; i < n; ++i) g.fork_participant(rounds_body(rounds), true);
  ASSERT_TRUE(grader::wait_until([&] { return g.entered(1) == n - 1; }, 10'000ms));
  // A measurement window: let the waiters time out a few poll periods with n-1 joined.
  ::usleep(static_cast<useconds_t>(6 * 50'000));
  g.fork_participant(rounds_body(rounds), true);
  const ipclab::Deadline deadline(grader::scaled(10'000ms));
  for (int me = 1; me <= n; ++me) {
    auto st = g.wait(me, deadline);
    ASSERT_TRUE(st.has_value()) << "participant " << me << " hung";
    EXPECT_TRUE(st->exited() && st->exit_code() == 0)
        << "participant " << me << " " << describe_code(*st)
        << " although nobody died (participant " << n << " only joined late)";
  }
  EXPECT_EQ(lab11_test::check_sequence(g.log(), n, rounds), "");
}

GRADED_TEST(HiddenBroken, SetRemovedUnderWaitersReportsBroken, 3,
            "README §Pitfalls 3 — EIDRM/EINVAL from semtimedop: the barrier is gone") {
  const int n = 3;
  Group g(n);
  for (int i = 1; i < n; ++i) g.fork_participant(rounds_body(5), false);
  ASSERT_TRUE(grader::wait_until([&] { return g.entered(1) == n - 1; }, 10'000ms));
  EXPECT_TRUE(g.barrier().remove());
  const ipclab::Deadline bound(grader::scaled(2'000ms));
  for (int me = 1; me < n; ++me) {
    auto st = g.wait(me, bound);
    ASSERT_TRUE(st.has_value()) << "participant " << me << " hangs on a removed set";
    EXPECT_TRUE(st->exited() && st->exit_code() == kBroken)
        << "participant " << me << " " << describe_code(*st);
  }
}

GRADED_TEST(HiddenSet, CreateRules, 2, "README §The API — create() makes a NEW set, n in range") {
  const key_t key = ipclab::names::sysv_key(l11::kKeyName);
  EXPECT_THROW((void)l11::SysvBarrier::create(key, 0), ipclab::UsageError);
  auto b = l11::SysvBarrier::create(key, 2);
  try {
    (void)l11::SysvBarrier::create(key, 2);
    ADD_FAILURE() << "a second create() on the same key should fail with EEXIST";
  } catch (const ipclab::SysError& e) {
    EXPECT_EQ(e.code(), std::errc::file_exists) << e.what();
  }
  auto o = l11::SysvBarrier::open(key, 2);
  EXPECT_EQ(o.id(), b.id());
  EXPECT_TRUE(b.remove());
  EXPECT_THROW((void)l11::SysvBarrier::open(key, 2), ipclab::OperationFailed);
}
