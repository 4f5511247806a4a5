// Lab 07 public grader, the program: producer_consumer in both modes, its verdict and
// statistics, usage errors, and the crash path (a producer process SIGKILLed while it holds
// the robust mutex).
#include <signal.h>  // SIGKILL

#include "common.hpp"
#include "ipclab/process.hpp"  // child_pids, process_state

using lab07_test::Shape;

namespace {
const std::vector<std::string> kYield = {"IPCLAB_LAB07_YIELD=1"};
}

GRADED_TEST(Program, LabsCommandEveryItemExactlyOnce, 4,
            "README §Pitfalls 1 — wait in a while loop, not an if") {
  const Shape s{3, 2, 10, 1000};
  grader::repeat(3, [&](int, std::uint64_t) {
    auto r =
        grader::run(lab07_test::program_args(s, "threads"), {.timeout = 15'000ms, .env = kYield});
    lab07_test::expect_good_run(r, s);
  });
}

GRADED_TEST(Program, QuietPrintsOnlyStatisticsAndVerdict, 1) {
  auto r = grader::run({"producer_consumer", "--quiet", "--items=500"});
  grader::expect_exit(r, 0);
  EXPECT_EQ(r.out.find(" item "), std::string::npos) << "--quiet must not print item lines";
  EXPECT_NE(r.out.find("Statistics:"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("items consumed:  500"), std::string::npos) << r.describe();
  EXPECT_TRUE(r.out.ends_with("PASS: All items produced and consumed correctly\n")) << r.describe();
}

GRADED_TEST(Program, BadOptionsAreUsageErrors, 1) {
  for (const auto& bad :
       std::vector<std::vector<std::string>>{{"producer_consumer", "--buffer-size=0"},
                                             {"producer_consumer", "--producers=0"},
                                             {"producer_consumer", "--mode=fibers"}}) {
    auto r = grader::run(bad);
    grader::expect_exit(r, 2);
    EXPECT_NE(r.err.find("error: "), std::string::npos) << r.describe();
  }
}

GRADED_TEST(Processes, EveryItemExactlyOnceAcrossProcesses, 5,
            "README §Pitfalls 7 — PTHREAD_PROCESS_SHARED on the mutex and both condvars") {
  const std::vector<Shape> shapes = {{3, 2, 10, 1000}, {4, 4, 1, 1500}, {1, 1, 1, 800}};
  grader::repeat(2, [&](int, std::uint64_t) {
    for (const auto& s : shapes) {
      auto r = grader::run(lab07_test::program_args(s, "processes"),
                           {.timeout = 15'000ms, .env = kYield});
      lab07_test::expect_good_run(r, s);
      EXPECT_NE(r.out.find("lock recoveries: 0"), std::string::npos) << r.describe();
      if (HasFailure()) break;
    }
  });
}

GRADED_TEST(Processes, ProducerKilledHoldingLockDoesNotWedge, 8,
            "README §Pitfalls 6 — a robust mutex: EOWNERDEAD, repair, pthread_mutex_consistent") {
  grader::repeat(2, [&](int, std::uint64_t) {
    const Shape s{3, 2, 4, 600};
    // Producer 2 stops itself (SIGSTOP) inside its 40th push, holding the lock.
    grader::Process p(lab07_test::program_args(s, "processes"),
                      {.env = {"IPCLAB_LAB07_STOP_IN_PUSH=2:40"}});
    pid_t stopped = 0;
    ASSERT_TRUE(grader::wait_until(
        [&] {
          for (pid_t c : ipclab::child_pids(p.pid()))
            if (ipclab::process_state(c) == 'T') stopped = c;
          return stopped != 0 || !p.running();
        },
        10'000ms))
        << "no worker stopped inside push(): does push() call test_point(kPushLocked)?";
    ASSERT_NE(stopped, 0) << "producer_consumer ended before a producer stopped inside push():\n"
                          << p.finish().describe();
    // Everyone else is now stuck on the lock the stopped producer holds. Kill it there.
    ASSERT_EQ(::kill(stopped, SIGKILL), 0);
    auto r = p.finish(20'000ms);
    grader::expect_finished(r);
    ASSERT_FALSE(r.timed_out) << "the other workers are wedged on the dead producer's lock";
    grader::expect_exit(r, 1);
    EXPECT_NE(r.out.find("INCOMPLETE: producer 2 was killed by signal 9"), std::string::npos)
        << r.describe();
    EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.describe();
    // Every item the lines say was produced was consumed exactly once, and nothing else.
    const auto lines = lab07_test::parse_lines(r.out);
    EXPECT_EQ(lines.produced.size(), lines.consumed.size()) << r.describe();
    for (const auto& [item, n] : lines.produced) {
      EXPECT_EQ(n, 1) << "item " << item << " produced " << n << "x";
      auto it = lines.consumed.find(item);
      EXPECT_TRUE(it != lines.consumed.end() && it->second == 1)
          << "item " << item << " was produced but consumed "
          << (it == lines.consumed.end() ? 0 : it->second) << "x";
    }
    EXPECT_GE(lines.produced.size(), 39u);  // the survivors went on after the kill
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(lock recoveries: (\d+))")))
        << r.describe();
    EXPECT_EQ(std::stoi(m[1]), 1) << "exactly one locker must repair the buffer\n" << r.describe();
  });
}

GRADED_TEST(Processes, SignalsEndEveryWorkerAndLeaveNothing, 3) {
  const Shape s{3, 2, 4, 10'000'000};
  for (const int sig : {SIGTERM, SIGINT, SIGKILL}) {
    grader::Process p(lab07_test::program_args(s, "processes", true));
    std::vector<pid_t> workers;
    ASSERT_TRUE(grader::wait_until(
        [&] {
          workers = ipclab::child_pids(p.pid());
          return workers.size() == 5 || !p.running();
        },
        10'000ms))
        << "the 5 workers never started";
    ASSERT_EQ(workers.size(), 5u) << p.finish().describe();
    ASSERT_EQ(::kill(p.pid(), sig), 0);
    // wait, not finish: finish would kill the process group, workers included, for us.
    const bool ended = p.wait(10'000ms).has_value();
    // Every worker is gone (or a zombie the test's reaper collects), none parked in a futex.
    const bool workers_gone = grader::wait_until(
        [&] {
          for (pid_t w : workers) {
            const char st = ipclab::process_state(w);
            if (st != 0 && st != 'Z') return false;
          }
          return true;
        },
        10'000ms);
    auto r = p.finish(1'000ms);
    ASSERT_TRUE(ended) << "signal " << sig << ": the program did not end\n" << r.describe();
    EXPECT_TRUE(workers_gone) << "signal " << sig << ": workers outlived producer_consumer";
    if (sig == SIGKILL) {
      EXPECT_TRUE(r.status.signaled()) << r.describe();
    } else {
      grader::expect_exit(r, 1);
      EXPECT_NE(r.out.find(fmt::format("INCOMPLETE: stopped by signal {}", sig)), std::string::npos)
          << r.describe();
    }
    for (pid_t z : grader::zombie_children()) (void)ipclab::try_wait(z);
  }
}

GRADED_TEST(Processes, BadStopHookLeavesNoSharedMemory, 1) {
  auto r = grader::run(lab07_test::program_args({3, 2, 4, 100}, "processes", true),
                       {.env = {"IPCLAB_LAB07_STOP_IN_PUSH=garbage"}});
  grader::expect_exit(r, 2);
  EXPECT_NE(r.err.find("error: IPCLAB_LAB07_STOP_IN_PUSH"), std::string::npos) << r.describe();
  // The leak guard fails the test if the buffer's shm object is left behind.
}
