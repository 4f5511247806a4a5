// The harness proves its own promises: runs misbehaving_grader and checks that each
// misbehaviour is reported, scored 0, cleaned up, and does not stop the other tests; that
// timeouts are scaled exactly once (by the type system, and at run time); and that
// grader::Child brings back what happened in the child.
#include <signal.h>        // kill, raise
#include <sys/resource.h>  // getrusage
#include <unistd.h>        // pause, fork, setsid

#include <cstdlib>     // setenv
#include <filesystem>  // std::filesystem
#include <fstream>     // std::ifstream
#include <map>         // std::map
#include <regex>       // std::regex
#include <string>      // std::string
#include <thread>      // std::thread

#include <gtest/gtest.h>

#include "grader/grader.hpp"
#include "grader/linearizability.hpp"
#include "ipclab/clock.hpp"  // Stopwatch
#include "ipclab/inventory.hpp"
#include "ipclab/io.hpp"    // read_file
#include "ipclab/json.hpp"  // utf8_escaped
#include "ipclab/names.hpp"
#include "ipclab/process.hpp"

using namespace std::chrono_literals;

namespace {

// ---- scaling happens once: a scaled duration is refused by every harness verb -------------
//
// A grader that scales twice does not compile: grader::scaled() returns a ScaledMs, and the
// Timeout that verbs take has a deleted constructor from it. These say so (drop that
// constructor from grader.hpp and they fail).
template <typename T>
concept WaitUntilTakes = requires(T t) {
  grader::wait_until([] { return true; }, t);
};
template <typename T>
concept RunOptionsTake = requires(T t) {
  grader::RunOptions{.timeout = t};
};
template <typename T>
concept ProcessWaitTakes = requires(grader::Process& p, T t) {
  p.wait(t);
  p.finish(t);
  p.wait_for_output("x", t);
};
template <typename T>
concept ChildFinishTakes = requires(grader::Child& c, std::vector<grader::Child>& cs, T t) {
  c.finish(t);
  grader::join(cs, t);
};
template <typename T>
concept DeadlineTakes = requires(T t) {
  grader::deadline(t);
  grader::scaled(t);
};
static_assert(WaitUntilTakes<grader::ms> && RunOptionsTake<grader::ms> &&
              ProcessWaitTakes<grader::ms> && ChildFinishTakes<grader::ms> &&
              DeadlineTakes<grader::ms>);
static_assert(WaitUntilTakes<std::chrono::seconds> && RunOptionsTake<std::chrono::seconds>);
static_assert(!WaitUntilTakes<grader::ScaledMs>, "wait_until accepts a scaled timeout");
static_assert(!RunOptionsTake<grader::ScaledMs>, "RunOptions::timeout accepts a scaled timeout");
static_assert(!ProcessWaitTakes<grader::ScaledMs>, "Process accepts a scaled timeout");
static_assert(!ChildFinishTakes<grader::ScaledMs>, "Child or join accept a scaled timeout");
static_assert(!DeadlineTakes<grader::ScaledMs>, "deadline() or scaled() accept a scaled timeout");

struct Outcome {
  std::string status;
  int score = -1;
  int max_score = -1;
  std::string output;
};

/// The per-test fields of the driver's JSON, read with a regex (the format is ours and
/// flat); the output string, which may be 128 KiB, by a scan (std::regex recurses per byte).
std::map<std::string, Outcome> parse(const std::string& json) {
  std::map<std::string, Outcome> out;
  const std::regex test(
      R"re(\{"name": "([^"]+)", "score": (\d+), "max_score": (\d+), "status": "(\w+)", "output": ")re");
  for (std::sregex_iterator it(json.begin(), json.end(), test), end; it != end; ++it) {
    const auto from = static_cast<std::size_t>(it->position() + it->length());
    std::size_t to = from;
    while (to < json.size() && json[to] != '"') to += json[to] == '\\' ? 2 : 1;
    out[(*it)[1]] = {(*it)[4], std::stoi((*it)[2]), std::stoi((*it)[3]),
                     json.substr(from, to - from)};
  }
  return out;
}

class Harness : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::temp_directory_path() /
                           ("ipclab-harness-test-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*dir_);
    ::setenv("SELFTEST_DIR", dir_->c_str(), 1);
    result_ = new grader::RunResult(grader::run(
        {MISBEHAVING_GRADER, "--per-test-timeout=2", "--json=" + *dir_ + "/r.json",
         "--gtest_output=xml:" + *dir_ + "/r.xml"},
        // A small file size limit: the flooding tests reach it sooner.
        {.timeout = std::chrono::milliseconds(60'000), .env = {"IPCLAB_FILE_SIZE_LIMIT_MIB=8"}}));
    rusage ru{};
    ::getrusage(RUSAGE_CHILDREN, &ru);
    peak_rss_ = static_cast<std::size_t>(ru.ru_maxrss) << 10;
    json_ = new std::string(ipclab::read_file(*dir_ + "/r.json"));
    tests_ = new std::map<std::string, Outcome>(parse(*json_));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete result_;
    delete json_;
    delete tests_;
  }
  /// EXPECTs that the misbehaving grader's test `name` passed, showing its output if not.
  static void expect_passed(const std::string& name) {
    EXPECT_EQ(test(name).status, "passed") << test(name).output;
  }
  static const Outcome& test(const std::string& name) {
    static const Outcome none{"missing", -1, -1, ""};
    auto it = tests_->find(name);
    return it == tests_->end() ? none : it->second;
  }
  static std::string* dir_;
  static grader::RunResult* result_;
  static std::string* json_;
  static std::map<std::string, Outcome>* tests_;
  /// The largest peak resident memory of the grader and its reaped processes so far.
  static std::size_t peak_rss_;
};
std::size_t Harness::peak_rss_ = 0;
std::string* Harness::dir_ = nullptr;
grader::RunResult* Harness::result_ = nullptr;
std::string* Harness::json_ = nullptr;
std::map<std::string, Outcome>* Harness::tests_ = nullptr;

TEST_F(Harness, RunsEveryTestAndExitsNonZero) {
  EXPECT_FALSE(result_->timed_out) << result_->describe();
  EXPECT_EQ(result_->exit_code(), 1) << result_->describe();
  EXPECT_EQ(tests_->size(), 17u) << *json_;
}

TEST_F(Harness, SummaryLineCountsPointsAndOutcomes) {
  // Max excludes the skipped test: 2 + 3 + 1 * 14 = 19. Passes (2), LeavesAnOrphanBehind
  // (1: the orphan is the driver's to kill), the two runner tests, the scaling test and the
  // two bounds tests (1 each) score.
  EXPECT_NE(result_->out.find(
                "selftest: 8/19 points (7 passed, 6 failed, 2 timeouts, 1 crashed, 1 skipped)"),
            std::string::npos)
      << result_->out;
}

TEST_F(Harness, PassAndFailScored) {
  EXPECT_EQ(test("Self.Passes").status, "passed");
  EXPECT_EQ(test("Self.Passes").score, 2);
  EXPECT_EQ(test("Self.Fails").status, "failed");
  EXPECT_EQ(test("Self.Fails").score, 0);
  EXPECT_EQ(test("Self.Fails").max_score, 3);
}

TEST_F(Harness, ReportsAreValidUtf8WhateverTheTestPrinted) {
  const std::string xml = ipclab::read_file(*dir_ + "/r.xml");
  EXPECT_EQ(ipclab::utf8_escaped(*json_), *json_) << "results JSON is not valid UTF-8";
  EXPECT_EQ(ipclab::utf8_escaped(xml), xml) << "JUnit XML is not valid UTF-8";
  EXPECT_EQ(xml.find('\x1b'), std::string::npos) << "a control character XML forbids";
  // The bytes are kept, escaped (the mini parser above leaves JSON escapes as they are).
  EXPECT_NE(test("Self.Fails").output.find("raw bytes: \\\\xff\\\\xfe"), std::string::npos)
      << test("Self.Fails").output;
}

TEST_F(Harness, HintPrintedOnlyOnFailure) {
  EXPECT_NE(result_->out.find("hint: README §Pitfalls 9 — this hint must be printed"),
            std::string::npos)
      << result_->out;
  EXPECT_NE(test("Self.Fails").output.find("reproduce: IPCLAB_SEED="), std::string::npos);
}

TEST_F(Harness, ReproduceLineNamesTheBuildDirectoryInUse) {
  // MISBEHAVING_GRADER is BUILD/graders/harness/misbehaving_grader: BUILD is what to name.
  std::filesystem::path build = std::filesystem::path(MISBEHAVING_GRADER).parent_path();
  while (!std::filesystem::is_directory(build / "meson-private")) build = build.parent_path();
  EXPECT_NE(test("Self.Fails").output.find(" meson test -C " + build.filename().string() + " "),
            std::string::npos)
      << test("Self.Fails").output;
}

TEST_F(Harness, ChildFailureBecomesTheTestsFailure) {
  const auto& t = test("Self.ChildFailureFailsTheTest");
  EXPECT_EQ(t.status, "failed");
  EXPECT_NE(t.output.find("child process 'checker' failed"), std::string::npos) << t.output;
  EXPECT_NE(t.output.find("checked in the child"), std::string::npos) << t.output;
}

TEST_F(Harness, AbandonedTestIsAFailureWithItsReason) {
  const auto& t = test("Self.AbandonsAStuckThread");
  EXPECT_EQ(t.status, "failed");
  EXPECT_NE(t.output.find("a thread is stuck for good"), std::string::npos) << t.output;
}

TEST_F(Harness, EveryVerbScalesOnce) { expect_passed("Self.EveryVerbScalesItsTimeoutOnce"); }

/// At IPCLAB_TIMEOUT_SCALE=4: each verb waits 4 x its timeout, not 16 x, and the watchdog
/// is stretched the same way (1.5 s becomes 6 s), so it still outlasts the test's waits.
TEST(Scaling, VerbsAndWatchdogScaleOnceAtScaleFour) {
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("ipclab-harness-scale-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ::setenv("SELFTEST_DIR", dir.c_str(), 1);
  const auto r =
      grader::run({MISBEHAVING_GRADER, "--per-test-timeout=1.5", "--json=" + dir + "/r.json",
                   "--gtest_filter=Self.EveryVerbScalesItsTimeoutOnce:Self.Hangs"},
                  {.timeout = 60'000ms, .env = {"IPCLAB_TIMEOUT_SCALE=4"}});
  const auto tests = parse(ipclab::read_file(dir + "/r.json"));
  std::filesystem::remove_all(dir);
  ASSERT_EQ(tests.size(), 2u) << r.describe();
  EXPECT_EQ(tests.at("Self.EveryVerbScalesItsTimeoutOnce").status, "passed")
      << tests.at("Self.EveryVerbScalesItsTimeoutOnce").output;
  EXPECT_EQ(tests.at("Self.Hangs").status, "timeout");
  EXPECT_NE(tests.at("Self.Hangs").output.find("still running after 6s"), std::string::npos)
      << tests.at("Self.Hangs").output;
}

/// --gtest_fail_fast (what tools/mutate runs): the tests after the first failure are not run.
TEST(FailFast, StopsAtTheFirstFailureAndExitsOne) {
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("ipclab-harness-failfast-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ::setenv("SELFTEST_DIR", dir.c_str(), 1);
  const auto r = grader::run({MISBEHAVING_GRADER, "--gtest_fail_fast", "--json=" + dir + "/r.json",
                              "--gtest_filter=Self.Passes:Self.Fails:Self.Skips:Self.Crashes"},
                             {.timeout = 60'000ms});
  const auto tests = parse(ipclab::read_file(dir + "/r.json"));
  std::filesystem::remove_all(dir);
  EXPECT_EQ(r.exit_code(), 1) << r.describe();
  ASSERT_EQ(tests.size(), 2u) << r.describe();
  EXPECT_EQ(tests.at("Self.Passes").status, "passed");
  EXPECT_EQ(tests.at("Self.Fails").status, "failed");
  EXPECT_NE(r.out.find("stopped at the first failure; 2 of 4 tests not run"), std::string::npos)
      << r.out;
}

// ---- grader::Child: a function of the test in a child process -----------------------------

TEST(Child, ThatPassesReportsNothing) {
  grader::Child c([] { EXPECT_EQ(2 + 2, 4); }, "adder");
  const auto r = c.finish(10s);
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_EQ(r.describe(), "");
  EXPECT_EQ(r.name, "adder");
}

TEST(Child, ExpectFailuresComeBackAsText) {
  grader::Child c([] {
    EXPECT_EQ(1 + 1, 3) << "first";
    EXPECT_TRUE(false) << "second";
  });
  const auto r = c.finish(10s);
  EXPECT_FALSE(r.passed());
  EXPECT_TRUE(r.status.exited() && r.status.exit_code() == 1) << r.status.describe();
  EXPECT_NE(r.failures.find("harness_tests.cpp:"), std::string::npos) << r.failures;
  EXPECT_NE(r.failures.find("first"), std::string::npos) << r.failures;
  EXPECT_NE(r.failures.find("second"), std::string::npos) << r.failures;
  EXPECT_NE(r.describe().find("child process 'child' failed:"), std::string::npos) << r.describe();
}

TEST(Child, AssertEndsTheBody) {
  grader::Child c([] {
    ASSERT_TRUE(false) << "stop here";
    ADD_FAILURE() << "ran on after ASSERT";
  });
  const auto r = c.finish(10s);
  EXPECT_NE(r.failures.find("stop here"), std::string::npos) << r.failures;
  EXPECT_EQ(r.failures.find("ran on"), std::string::npos) << r.failures;
}

TEST(Child, FailureInAnotherThreadOfTheChildIsCaught) {
  grader::Child c([] { std::thread([] { ADD_FAILURE() << "from a thread"; }).join(); });
  const auto r = c.finish(10s);
  EXPECT_NE(r.failures.find("from a thread"), std::string::npos) << r.describe();
}

TEST(Child, EscapedExceptionIsReportedWithItsType) {
  grader::Child c([] { throw std::runtime_error("boom"); });
  const auto r = c.finish(10s);
  EXPECT_FALSE(r.passed());
  EXPECT_NE(r.failures.find("std::runtime_error: boom"), std::string::npos) << r.failures;
}

TEST(Child, HangPastTheTimeoutIsKilledAndReaped) {
  grader::Child c([] {
    for (;;) ::pause();
  });
  const ipclab::Stopwatch sw;
  const auto r = c.finish(200ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.passed());
  EXPECT_LT(sw.elapsed_s(), 0.2 * grader::timeout_scale() + 5);
  EXPECT_NE(r.describe().find("still running after"), std::string::npos) << r.describe();
  EXPECT_EQ(ipclab::process_state(c.pid()), 0) << "not reaped";
}

TEST(Child, CrashIsReported) {
  grader::Child c([] { ::raise(SIGSEGV); });
  const auto r = c.finish(10s);
  EXPECT_FALSE(r.passed());
  // A plain build: killed by SIGSEGV; a sanitizer turns it into a report and an abort or
  // an exit status. Either way no pass, and the status says how it ended.
  EXPECT_TRUE(r.status.signaled() || (r.status.exited() && r.status.exit_code() != 0))
      << r.describe();
  EXPECT_NE(r.describe(), "");
}

TEST(Child, MayEndItselfWithStatusZero) {
  grader::Child c([] { ::_exit(0); });  // as a body under seccomp ends (the exit call)
  EXPECT_TRUE(c.finish(10s).passed());
  grader::Child d([] { ::_exit(5); });
  const auto r = d.finish(10s);
  EXPECT_FALSE(r.passed());
  EXPECT_NE(r.describe().find("exited with status 5"), std::string::npos) << r.describe();
}

TEST(Child, DestructorKillsItsProcessGroup) {
  const std::string pidfile = std::filesystem::temp_directory_path() /
                              ("ipclab-harness-child-" + std::to_string(::getpid()));
  pid_t grandchild = 0;
  {
    grader::Child c([&] {
      const pid_t g = ::fork();  // stays in the child's process group
      if (g == 0) {
        for (;;) ::pause();
      }
      std::ofstream(pidfile) << g;
      for (;;) ::pause();
    });
    ASSERT_TRUE(grader::wait_until([&] {
      std::ifstream in(pidfile);
      return static_cast<bool>(in >> grandchild) && grandchild > 0;
    }));
    EXPECT_EQ(::getpgid(grandchild), c.pid());
  }
  std::filesystem::remove(pidfile);
  EXPECT_TRUE(grader::wait_until([&] {
    const char st = ipclab::process_state(grandchild);
    return st == 0 || st == 'Z';
  })) << "grandchild "
      << grandchild << " outlived its Child";
}

TEST(Child, JoinStopsAtTheFirstFailureAndKillsThePeers) {
  std::vector<grader::Child> kids;
  kids.emplace_back(
      [] {
        for (;;) ::pause();  // blocked on the one that fails
      },
      "waiter");
  kids.emplace_back([] { ADD_FAILURE() << "the root cause"; }, "failer");
  const ipclab::Stopwatch sw;
  const std::string why = grader::join(kids, 60s);
  EXPECT_LT(sw.elapsed_s(), 30);
  EXPECT_NE(why.find("child process 'failer' failed"), std::string::npos) << why;
  EXPECT_NE(why.find("the root cause"), std::string::npos) << why;
  EXPECT_EQ(ipclab::process_state(kids[0].pid()), 0) << "the waiter was left running";
}

TEST(Child, JoinNamesTheChildrenStillRunningAtTheDeadline) {
  std::vector<grader::Child> kids;
  kids.emplace_back([] {}, "quick");
  kids.emplace_back(
      [] {
        for (;;) ::pause();
      },
      "slow");
  const std::string why = grader::join(kids, 300ms);
  EXPECT_EQ(why.find("'quick'"), std::string::npos) << why;
  EXPECT_NE(why.find("child process 'slow' still running after"), std::string::npos) << why;
  std::vector<grader::Child> fine;
  fine.emplace_back([] {}, "a");
  fine.emplace_back([] {}, "b");
  EXPECT_EQ(grader::join(fine, 10s), "");
}

TEST_F(Harness, HangIsTimeoutAndLaterTestsStillRun) {
  EXPECT_EQ(test("Self.Hangs").status, "timeout");
  EXPECT_NE(result_->out.find("== Test Self.Hangs == TIMEOUT"), std::string::npos) << result_->out;
  EXPECT_EQ(test("Self.Crashes").status, "crashed");  // registered after Hangs: it still ran
}

TEST_F(Harness, SignalIsCrashNamingTheSignal) {
  EXPECT_EQ(test("Self.Crashes").status, "crashed");
  // A plain build says "killed by signal 11"; AddressSanitizer turns the SEGV into its
  // report and an abort (signal 6), ThreadSanitizer into its report and exit 66. Either way
  // the test is a CRASH and the output says what happened to the test process.
  const std::string& out = test("Self.Crashes").output;
  EXPECT_TRUE(out.find("the test process was killed by signal") != std::string::npos ||
              out.find("without reporting a result") != std::string::npos)
      << out;
}

TEST_F(Harness, ExceptionFromSkeletonIsAFailureNamingTheTodo) {
  EXPECT_EQ(test("Self.ThrowsNotImplemented").status, "failed");
  EXPECT_NE(test("Self.ThrowsNotImplemented").output.find("TODO(selftest)"), std::string::npos);
}

TEST_F(Harness, LeakedObjectsFailTheTestByNameAndAreRemoved) {
  const auto& t = test("Self.LeaksShmAndFifoAndSysvQueue");
  EXPECT_EQ(t.status, "failed");
  for (const char* what : {"shm /ipclab.selftest-", "fifo ", "sysv-msg key", "-sub.leaked_sub"})
    EXPECT_NE(t.output.find(what), std::string::npos) << "leak report lacks '" << what << "':\n"
                                                      << t.output;
  for (const auto& ns : ipclab::known_namespaces()) {
    if (ns.rfind("selftest-", 0) == 0) {
      EXPECT_TRUE(ipclab::inventory(ns, ipclab::names::rundir_base() + "/" + ns).empty())
          << "the leak guard did not remove the objects of " << ns;
    }
  }
}

TEST_F(Harness, OrphanedGrandchildIsKilled) {
  std::ifstream in(*dir_ + "/orphan.pid");
  pid_t pid = 0;
  ASSERT_TRUE(in >> pid) << "the test did not record its orphan";
  EXPECT_TRUE(grader::wait_until([&] {
    return ipclab::process_state(pid) == 0 || ::kill(pid, 0) != 0;
  })) << "orphan "
      << pid << " outlived its test";
}

TEST_F(Harness, SkipIsReportedAndNotCountedInMax) {
  EXPECT_EQ(test("Self.Skips").status, "skipped");
  EXPECT_NE(test("Self.Skips").output.find("rpcbind is not running"), std::string::npos);
}

TEST_F(Harness, WaitForOutputEndsWhenTheProcessExits) {
  // Within the self-test's 2 s watchdog, although it waits with 20 s deadlines.
  expect_passed("Self.WaitForOutputGivesUpWhenTheProcessExits");
}

TEST_F(Harness, RunnerKillsAndReapsAChildAtItsDeadline) {
  expect_passed("Self.RunReportsTimeoutOfAChild");
}

// ---- what a test can cost is bounded -------------------------------------------------------

TEST_F(Harness, ProgramPrintingForeverTimesOutWithTheTestBounded) {
  expect_passed("Self.RunOfAProgramThatPrintsForeverTimesOutBounded");
}

TEST_F(Harness, ProcessWritingForeverIsStoppedAndReported) {
  expect_passed("Self.ProcessWritingForeverIsStoppedByTheFileSizeLimit");
}

TEST_F(Harness, HugeTestOutputIsCutInEveryReport) {
  const auto& t = test("Self.PrintsAMebibyte");
  EXPECT_EQ(t.status, "failed");
  EXPECT_NE(t.output.find(" bytes dropped] ..."), std::string::npos) << t.output.substr(0, 300);
  // Two 64 KiB ends, their newlines escaped in JSON (1 in 1024 bytes), and the notes.
  EXPECT_LT(t.output.size(), 2 * grader::kKeptEnds + 4096);
  EXPECT_NE(t.output.find("printed 1 MiB"), std::string::npos) << "the tail was not kept";
  EXPECT_LT(ipclab::read_file(*dir_ + "/r.xml").size(), std::size_t{1} << 20);
}

TEST_F(Harness, ChildFloodingTheTestsOutputIsATimeoutWithTheGraderBounded) {
  // Lab 03's mutant that grew its grader to 13.5 GB: now the file stops at the limit, the
  // test is a TIMEOUT, and no process of the grader holds more than its two ends.
  const auto& t = test("Self.ChildFloodsTheTestsOutput");
  EXPECT_EQ(t.status, "timeout");
  EXPECT_NE(t.output.find("the test's output reached the 8 MiB a test may write"),
            std::string::npos)
      << t.output.substr(t.output.size() - std::min<std::size_t>(t.output.size(), 600));
  EXPECT_LT(t.output.size(), 2 * grader::kKeptEnds + 4096);
  EXPECT_GT(peak_rss_, 0u);
  EXPECT_LT(peak_rss_, std::size_t{256} << 20) << "a process of the grader grew past 256 MiB";
}

TEST(Bounds, TextIsWholeUpToItsLimitThenItsTwoEnds) {
  grader::BoundedText small(10, 3);
  small.append("0123456789");
  EXPECT_EQ(small.str(), "0123456789");
  EXPECT_EQ(small.dropped(), 0u);
  small.append("ab");  // 12 bytes: the first and last 3 are kept
  EXPECT_EQ(small.str(), "012\n... [6 bytes dropped] ...\n9ab");
  grader::BoundedText pieces(10, 3);
  std::string all;
  for (int i = 0; i < 1000; ++i) {
    const std::string piece = std::to_string(i) + ",";
    pieces.append(piece);
    all += piece;
  }
  EXPECT_EQ(pieces.dropped(), all.size() - 6);
  EXPECT_EQ(pieces.str(), fmt::format("0,1\n... [{} bytes dropped] ...\n99,", all.size() - 6));
}

TEST(Bounds, FileReadAsTextWithoutItsMiddle) {
  const std::string path = std::filesystem::temp_directory_path() /
                           ("ipclab-harness-bounded-" + std::to_string(::getpid()));
  std::string content;
  for (int i = 0; i < 100'000; ++i) content += std::to_string(i) + "\n";
  std::ofstream(path) << content;
  grader::BoundedText expected(1000, 300);
  expected.append(content);
  EXPECT_EQ(grader::read_bounded(path, 1000, 300).str(), expected.str());
  EXPECT_EQ(grader::read_bounded(path, content.size(), 300).str(), content);
  EXPECT_EQ(grader::read_bounded(path + ".missing").str(), "");
  std::filesystem::remove(path);
}

TEST(Child, LongFailureReportIsCutToItsEnds) {
  grader::Child c([] {
    ADD_FAILURE() << "first " << std::string(1 << 20, 'x');
    ADD_FAILURE() << "last";
  });
  const auto r = c.finish(10s);
  EXPECT_FALSE(r.passed());
  EXPECT_LT(r.failures.size(), 2 * grader::kKeptEnds + 100);
  EXPECT_NE(r.failures.find("first"), std::string::npos);
  EXPECT_NE(r.failures.find(" bytes dropped] ..."), std::string::npos);
  EXPECT_NE(r.failures.find("last"), std::string::npos);
}

}  // namespace

// ---- the linearizability checker (grader/linearizability.hpp) -----------------------------

namespace {
grader::KvOp write(int c, std::string key, std::optional<std::string> v, double call, double ret,
                   bool completed = true) {
  return {c, grader::KvOp::Kind::kWrite, std::move(key), std::move(v), call, ret, completed};
}
grader::KvOp read(int c, std::string key, std::optional<std::string> v, double call, double ret) {
  return {c, grader::KvOp::Kind::kRead, std::move(key), std::move(v), call, ret, true};
}
}  // namespace

TEST(Linearizability, AcceptsOverlappingOperationsInSomeLegalOrder) {
  // A read overlapping a write may see either value; once a read saw the new one, later
  // reads see it too. Keys are checked on their own; an unanswered write may never happen.
  const std::vector<grader::KvOp> h = {
      write(1, "a", "1", 0, 10),          read(2, "a", std::nullopt, 1, 2),
      read(2, "a", "1", 5, 15),           read(3, "a", std::nullopt, 3, 6),
      write(1, "a", "2", 12, 20),         read(3, "a", "1", 16, 17),
      read(2, "a", "2", 21, 25),          write(4, "b", "x", 0, 0, false),
      read(4, "b", std::nullopt, 30, 31), write(5, "c", "y", 0, 0, false),
      read(5, "c", "y", 40, 41),          read(5, "c", "y", 42, 43)};
  const auto v = grader::check_linearizable(h);
  EXPECT_TRUE(v.ok) << v.explanation;
}

TEST(Linearizability, RefusesAStaleReadAfterAWriteReturned) {
  // write 1 returned, then write 2 returned, then a read returned 1: no legal order.
  const std::vector<grader::KvOp> h = {write(1, "k", "1", 0, 1), write(1, "k", "2", 2, 3),
                                       read(2, "k", "1", 4, 5), write(3, "other", "z", 0, 1)};
  const auto v = grader::check_linearizable(h);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.key, "k");
  EXPECT_NE(v.explanation.find("no order"), std::string::npos) << v.explanation;
}

TEST(Linearizability, RefusesANewOldInversionBetweenReaders) {
  // An unanswered write of 2: a reader saw 2, a later reader saw 1 again. Each read alone
  // could be legal; together they are not (ABD's write-back exists for this).
  const std::vector<grader::KvOp> h = {write(1, "k", "1", 0, 1), write(2, "k", "2", 2, 0, false),
                                       read(3, "k", "2", 3, 4), read(4, "k", "1", 5, 6)};
  EXPECT_FALSE(grader::check_linearizable(h).ok);
}

TEST(Linearizability, HandlesHundredsOfConcurrentOperationsPerKey) {
  // Four clients, 300 operations, each read seeing the latest write that returned before
  // it: linearizable, and the memoized search ends (the suite's timeout bounds it).
  std::vector<grader::KvOp> h;
  std::string last;
  for (int i = 0; i < 300; ++i) {
    const double t = i * 1.0;
    if (i % 3 == 0) {
      last = std::to_string(i);
      h.push_back(write(i % 4, "k", last, t, t + 2.5));  // overlaps the next two
    } else {
      h.push_back(read(i % 4, "k", last, t + 3.0, t + 3.5));
    }
  }
  const auto v = grader::check_linearizable(h);
  EXPECT_TRUE(v.ok) << v.explanation;
}
