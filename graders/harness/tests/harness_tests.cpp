// The harness proves its own promises: runs misbehaving_grader and checks that each
// misbehaviour is reported, scored 0, cleaned up, and does not stop the other tests.
#include <signal.h>  // kill

#include <cstdlib>     // setenv
#include <filesystem>  // std::filesystem
#include <fstream>     // std::ifstream
#include <map>         // std::map
#include <regex>       // std::regex
#include <string>      // std::string

#include <gtest/gtest.h>

#include "grader/grader.hpp"
#include "ipclab/inventory.hpp"
#include "ipclab/io.hpp"    // read_file
#include "ipclab/json.hpp"  // utf8_escaped
#include "ipclab/names.hpp"
#include "ipclab/process.hpp"

namespace {

struct Outcome {
  std::string status;
  int score = -1;
  int max_score = -1;
  std::string output;
};

/// The per-test fields of the driver's JSON, read with a regex: the format is ours and flat.
std::map<std::string, Outcome> parse(const std::string& json) {
  std::map<std::string, Outcome> out;
  const std::regex test(
      R"re(\{"name": "([^"]+)", "score": (\d+), "max_score": (\d+), "status": "(\w+)", "output": "((?:[^"\\]|\\.)*)")re");
  for (std::sregex_iterator it(json.begin(), json.end(), test), end; it != end; ++it)
    out[(*it)[1]] = {(*it)[4], std::stoi((*it)[2]), std::stoi((*it)[3]), (*it)[5]};
  return out;
}

class Harness : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::temp_directory_path() /
                           ("ipclab-harness-test-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*dir_);
    ::setenv("SELFTEST_DIR", dir_->c_str(), 1);
    result_ = new grader::RunResult(
        grader::run({MISBEHAVING_GRADER, "--per-test-timeout=2", "--json=" + *dir_ + "/r.json",
                     "--gtest_output=xml:" + *dir_ + "/r.xml"},
                    {.timeout = std::chrono::milliseconds(60'000)}));
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
  static const Outcome& test(const std::string& name) {
    static const Outcome none{"missing", -1, -1, ""};
    auto it = tests_->find(name);
    return it == tests_->end() ? none : it->second;
  }
  static std::string* dir_;
  static grader::RunResult* result_;
  static std::string* json_;
  static std::map<std::string, Outcome>* tests_;
};
std::string* Harness::dir_ = nullptr;
grader::RunResult* Harness::result_ = nullptr;
std::string* Harness::json_ = nullptr;
std::map<std::string, Outcome>* Harness::tests_ = nullptr;

TEST_F(Harness, RunsEveryTestAndExitsNonZero) {
  EXPECT_FALSE(result_->timed_out) << result_->describe();
  EXPECT_EQ(result_->exit_code(), 1) << result_->describe();
  EXPECT_EQ(tests_->size(), 10u) << *json_;
}

TEST_F(Harness, SummaryLineCountsPointsAndOutcomes) {
  // Max excludes the skipped test: 2 + 3 + 1 * 7 = 12. Passes (2), LeavesAnOrphanBehind
  // (1: the orphan is the driver's to kill) and the two runner tests (1 each) score.
  EXPECT_NE(result_->out.find(
                "selftest: 5/12 points (4 passed, 3 failed, 1 timeouts, 1 crashed, 1 skipped)"),
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
  for (const char* what : {"shm /ipclab.selftest-", "fifo ", "sysv-msg key"})
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
  EXPECT_EQ(test("Self.WaitForOutputGivesUpWhenTheProcessExits").status, "passed")
      << test("Self.WaitForOutputGivesUpWhenTheProcessExits").output;
}

TEST_F(Harness, RunnerKillsAndReapsAChildAtItsDeadline) {
  EXPECT_EQ(test("Self.RunReportsTimeoutOfAChild").status, "passed")
      << test("Self.RunReportsTimeoutOfAChild").output;
}

}  // namespace
