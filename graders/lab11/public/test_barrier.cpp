// Lab 11 public grader: a reusable System V semaphore barrier — rounds in order (no lap),
// a dead participant reported as `barrier broken` within a bound, no busy waiting, and the
// semaphore set removed.
#include <signal.h>  // SIGKILL, SIGTERM, SIGINT

#include <regex>   // std::regex
#include <thread>  // std::this_thread::sleep_for

#include "common.hpp"

GRADER_LAB("lab11", "System V semaphore barrier");

using grader::expect_exit;
using lab11_test::check_sequence;
using lab11_test::expect_set_gone;
using lab11_test::Group;
using lab11_test::no_lap_run;
using lab11_test::rounds_body;
using lab11_test::until_broken;
namespace lab = ipclab::lab11;

namespace {

/// The set id in barrier_test's first line ("... semaphore set id N, ..."), or -1.
int set_id_of(const std::string& out) {
  const auto at = out.find("semaphore set id ");
  return at == std::string::npos ? -1 : std::atoi(out.c_str() + at + 17);
}

/// How long the others may take to report a dead participant: the README promises one
/// poll period (50 ms) plus scheduling; the grader allows 40 periods, stretched under
/// sanitizers, so a loaded machine never fails a correct solution.
constexpr auto kBrokenBound = 2'000ms;

/// A participant that joins, does `rounds` rounds and then stays alive without ever
/// reaching the barrier again (the victim, until the test kills it).
lab11_test::Body victim_body(int rounds) {
  return [rounds](lab::SysvBarrier& b, int me, int log_fd) {
    rounds_body(rounds)(b, me, log_fd);
    lab11_test::log_line(log_fd, fmt::format("victim {} waiting to be killed\n", me));
    for (;;) ::pause();
  };
}

/// True once the victim has joined and done its rounds (a process killed before join()
/// never was a participant: no barrier can tell it from a slow starter).
bool victim_ready(const Group& g) {
  for (const auto& line : g.log())
    if (line.rfind("victim ", 0) == 0) return true;
  return false;
}

/// n participants; the last is a victim that stops after `victim_rounds` rounds; the
/// others run forever. Once they are all blocked in round victim_rounds + 1, the victim is
/// SIGKILLed; every other participant must report barrier broken within the bound.
void broken_after_kill(int n, int victim_rounds) {
  Group g(n);
  for (int i = 1; i < n; ++i) g.start(until_broken(rounds_body(1'000'000)), false);
  g.start(victim_body(victim_rounds), false);
  const int next = victim_rounds + 1;
  ASSERT_TRUE(
      grader::wait_until([&] { return g.entered(next) == n - 1 && victim_ready(g); }, 10'000ms))
      << "the " << n - 1 << " other participants never all reached round " << next
      << " (they reached it " << g.entered(next) << " times), or the victim never got to "
      << "its pause after " << victim_rounds << " rounds";
  // They are blocked now (the victim never arrives); the victim dies.
  ::kill(g.pid(n), SIGKILL);
  const ipclab::Deadline bound = grader::deadline(kBrokenBound);
  for (int me = 1; me < n; ++me) {
    const auto end = g.finish(me, bound);
    ASSERT_FALSE(end.timed_out) << "participant " << me << " of " << n
                                << " still blocked in wait() "
                                << grader::scaled(kBrokenBound).count() << " ms after participant "
                                << n << " was SIGKILLed in round " << next
                                << ": the barrier hangs instead of reporting "
                                << "`barrier broken`";
    EXPECT_TRUE(end.passed()) << end.describe();
  }
}

}  // namespace

// ---- the program --------------------------------------------------------------------

GRADED_TEST(Program, FiveProcessesThreeRoundsPass, 4,
            "README §Pitfalls 1 — every arrival of a round comes before any departure") {
  auto r = grader::run({"barrier_test", "--processes=5", "--iterations=3"}, {.timeout = 10'000ms});
  grader::expect_finished(r);
  expect_exit(r, 0);
  EXPECT_NE(r.out.find("All processes synchronized correctly. PASS\n"), std::string::npos)
      << r.describe();
  // The transcript: each process reached and passed each round; in stdout order, no
  // `Passed barrier k` before the fifth `Reached barrier k`.
  const std::regex line_re(R"(\[P([1-5])\] (Reached|Passed) barrier ([1-3]))");
  std::map<int, int> reached;
  std::map<int, int> passed;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) continue;
    const int round = std::stoi(m[3]);
    if (m[2] == "Reached") {
      ++reached[round];
    } else {
      EXPECT_EQ(reached[round], 5) << "`" << line << "` printed when only " << reached[round]
                                   << " processes had reached round " << round << ":\n"
                                   << r.out;
      ++passed[round];
    }
  }
  for (int round = 1; round <= 3; ++round) {
    EXPECT_EQ(reached[round], 5) << "`Reached barrier " << round << "` lines:\n" << r.out;
    EXPECT_EQ(passed[round], 5) << "`Passed barrier " << round << "` lines:\n" << r.out;
  }
  const int id = set_id_of(r.out);
  ASSERT_GE(id, 0) << "no `semaphore set id N` in the first line:\n" << r.out;
  expect_set_gone(id, "after barrier_test ended");
}

GRADED_TEST(Program, EightProcessesTwoHundredRoundsWithJitter, 5,
            "README §Pitfalls 1 — one phase lets a fast process lap a slow one") {
  grader::repeat(3, [](int, std::uint64_t) {
    auto r = grader::run(
        {"barrier_test", "--processes=8", "--iterations=200", "--quiet", "--timeout=20000"},
        {.timeout = 20'000ms, .env = {"IPCLAB_BARRIER_JITTER=1"}});
    grader::expect_finished(r);
    expect_exit(r, 0);
    EXPECT_NE(r.out.find("All processes synchronized correctly. PASS\n"), std::string::npos)
        << r.describe();
  });
}

GRADED_TEST(Program, KilledParticipantFailsWithBarrierBroken, 5,
            "README §Pitfalls 3 — a dead participant must not leave the others hanging") {
  auto r = grader::run(
      {"barrier_test", "--processes=5", "--iterations=5", "--kill-one-at=3", "--timeout=60000"},
      {.timeout = 10'000ms});
  grader::expect_finished(r);  // barrier_test's own --timeout is 60 s: a hang ends here
  expect_exit(r, 1);
  EXPECT_NE(r.out.find("Process 2: barrier broken (round 3)"), std::string::npos)
      << "the survivors should print `Process N: barrier broken (round 3)`\n"
      << r.describe();
  EXPECT_NE(r.out.find("FAIL: barrier broken"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("error: barrier broken"), std::string::npos) << r.describe();
  const int id = set_id_of(r.out);
  ASSERT_GE(id, 0) << r.describe();
  expect_set_gone(id, "after a failed run");
}

GRADED_TEST(Program, SigtermWhileBlockedRemovesTheSet, 3,
            "README §Pitfalls 5 — the set is removed on SIGINT/SIGTERM too") {
  for (const int sig : {SIGTERM, SIGINT}) {
    grader::Process p({"barrier_test", "--processes=4", "--iterations=3", "--stall-one-at=2"});
    ASSERT_TRUE(grader::wait_until(
        [&] {
          const auto out = p.out();
          int n = 0;
          for (auto at = out.find("] Reached barrier 2\n"); at != std::string::npos;
               at = out.find("] Reached barrier 2\n", at + 1))
            ++n;
          return n == 3 || !p.running();
        },
        10'000ms))
        << "the 3 others never reached round 2:\n"
        << p.out() << p.err();
    const int id = set_id_of(p.out());
    ASSERT_TRUE(lab11_test::set_exists(id)) << "no semaphore set while running:\n" << p.out();
    p.signal(sig);
    auto r = p.finish(5'000ms);
    grader::expect_finished(r);
    expect_exit(r, 1);
    EXPECT_NE(r.out.find("FAIL: interrupted by SIG"), std::string::npos) << r.describe();
    expect_set_gone(id, fmt::format("after SIG{}", sigabbrev_np(sig)));
  }
}

GRADED_TEST(Program, BadArgumentsExit2, 1) {
  for (const auto& arg : {"--processes=0", "--iterations=0", "--kill-one-at=-1", "--bogus"}) {
    auto r = grader::run({"barrier_test", arg});
    expect_exit(r, 2);
  }
}

// ---- the library: order ---------------------------------------------------------------

GRADED_TEST(Order, EightProcessesTwoHundredRoundsNoLap, 12,
            "README §Pitfalls 1 — one phase lets a fast process lap a slow one") {
  grader::repeat(3, [](int, std::uint64_t seed) { no_lap_run(8, 200, seed | 1); });
}

GRADED_TEST(Order, TwoProcessesManyRoundsNoLap, 5,
            "README §Pitfalls 1/2 — reuse: the counts must be right again after each round") {
  grader::repeat(3, [](int, std::uint64_t seed) { no_lap_run(2, 500, seed | 1); });
}

// ---- the library: a dead participant ------------------------------------------------

GRADED_TEST(Broken, SigkillWhileOthersWaitReportsBroken, 10,
            "README §Pitfalls 3 — ALIVE with SEM_UNDO, semtimedop periods, the check") {
  grader::repeat(3, [](int i, std::uint64_t) { broken_after_kill(4, i); });
}

GRADED_TEST(Broken, SigkillAtRandomMomentsReportsBroken, 6,
            "README §Pitfalls 3/4 — the victim may die in any phase of a round") {
  grader::repeat(4, [](int, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const int n = 5;
    Group g(n);
    for (int i = 0; i < n; ++i) g.start(until_broken(rounds_body(1'000'000, seed | 1)), true);
    // Let them run some rounds, then kill one wherever it happens to be.
    const int until = 2 + static_cast<int>(rng() % 40);
    ASSERT_TRUE(grader::wait_until([&] { return g.entered(until) >= 1; }, 10'000ms))
        << "the participants never got to round " << until;
    const int victim = 1 + static_cast<int>(rng() % n);
    ::kill(g.pid(victim), SIGKILL);
    const ipclab::Deadline bound = grader::deadline(kBrokenBound);
    for (int me = 1; me <= n; ++me) {
      if (me == victim) continue;
      const auto end = g.finish(me, bound);
      ASSERT_FALSE(end.timed_out) << "participant " << me << " still running "
                                  << grader::scaled(kBrokenBound).count()
                                  << " ms after participant " << victim
                                  << " was SIGKILLed near round " << until
                                  << ": the barrier hangs instead of reporting `barrier broken`";
      EXPECT_TRUE(end.passed()) << end.describe();
    }
  });
}

// ---- the library: blocked waiters sleep ----------------------------------------------

GRADED_TEST(Blocking, WaitersUseNoCpu, 6,
            "README §Pitfalls 6 — poll with semtimedop, never with IPC_NOWAIT in a loop") {
  const int n = 3;
  Group g(n);
  for (int i = 1; i < n; ++i) g.start(until_broken(rounds_body(1'000'000)), false);
  g.start(victim_body(1), false);
  ASSERT_TRUE(
      grader::wait_until([&] { return g.entered(2) == n - 1 && victim_ready(g); }, 10'000ms))
      << "the waiters never reached round 2";
  std::vector<double> before;
  for (int me = 1; me < n; ++me) before.push_back(grader::cpu_seconds(g.pid(me)));
  // A measurement window, not a wait for a condition: CPU used while blocked.
  std::this_thread::sleep_for(1'000ms);
  for (int me = 1; me < n; ++me) {
    const double used = grader::cpu_seconds(g.pid(me)) - before[static_cast<std::size_t>(me - 1)];
    EXPECT_LT(used, 0.1) << "participant " << me << " used " << used
                         << " s of CPU in 1 s while blocked at the barrier: busy waiting";
  }
  ::kill(g.pid(n), SIGKILL);  // and they must still notice a death
  const ipclab::Deadline bound = grader::deadline(kBrokenBound);
  for (int me = 1; me < n; ++me) {
    const auto end = g.finish(me, bound);
    ASSERT_FALSE(end.timed_out) << "participant " << me << " hangs after the victim died";
    EXPECT_TRUE(end.passed()) << end.describe();
  }
}

// ---- the set ------------------------------------------------------------------------

GRADED_TEST(Set, OneSetRemovedByRemove, 3,
            "README §Pitfalls 5 — IPC_RMID: a set outlives every process") {
  int id = -1;
  {
    auto b = lab::SysvBarrier::create(ipclab::names::sysv_key(lab::kKeyName), 3);
    id = b.id();
    ASSERT_TRUE(lab11_test::set_exists(id));
    EXPECT_EQ(ipclab::SysvSemSet(id).get(lab::kAlive), 0);
    EXPECT_EQ(ipclab::SysvSemSet(id).get(lab::kJoined), 0);
    EXPECT_TRUE(b.remove());
    EXPECT_FALSE(b.remove()) << "remove() of a removed set should return false";
  }
  expect_set_gone(id, "after remove()");
}

GRADED_TEST(Set, SizeIsCheckedAtBothEnds, 1,
            "README §The API — n participants, 1..kMaxParticipants (a semaphore's value is a "
            "short)") {
  const key_t key = ipclab::names::sysv_key(lab::kKeyName);
  EXPECT_THROW(lab::SysvBarrier::create(key, 0), ipclab::UsageError);
  EXPECT_THROW(lab::SysvBarrier::create(key, lab::kMaxParticipants + 1), ipclab::UsageError);
  EXPECT_THROW(lab::SysvBarrier::open(key, lab::kMaxParticipants + 1), ipclab::UsageError);
  auto b = lab::SysvBarrier::create(key, lab::kMaxParticipants);
  EXPECT_NO_THROW(lab::SysvBarrier::open(key, lab::kMaxParticipants))
      << "a barrier of exactly kMaxParticipants is allowed";
  EXPECT_TRUE(b.remove());
}
