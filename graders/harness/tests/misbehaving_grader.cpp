// A grader whose tests misbehave on purpose: harness_tests.cpp runs it and checks that the
// driver reports each misbehaviour as it must (TIMEOUT, CRASH, leak, orphan, skip, hint).
// Not a lab: it is not registered in the `labs` suite.
#include <fcntl.h>     // O_CREAT
#include <signal.h>    // raise
#include <sys/mman.h>  // shm_open
#include <sys/msg.h>   // msgget
#include <sys/stat.h>  // mkfifo
#include <unistd.h>    // pause, fork

#include <cstdlib>     // std::getenv
#include <fstream>     // std::ofstream
#include <functional>  // std::function
#include <sstream>     // std::istringstream
#include <thread>      // std::this_thread

#include <gtest/gtest-spi.h>  // EXPECT_NONFATAL_FAILURE

#include "grader/grader.hpp"
#include "ipclab/clock.hpp"  // Stopwatch
#include "ipclab/error.hpp"  // NotImplemented
#include "ipclab/io.hpp"     // read_file
#include "ipclab/names.hpp"
#include "ipclab/process.hpp"

using namespace std::chrono_literals;

GRADER_LAB("selftest", "The harness's own misbehaving grader");

GRADED_TEST(Self, Passes, 2) { EXPECT_EQ(1 + 1, 2); }

GRADED_TEST(Self, Fails, 3, "README §Pitfalls 9 — this hint must be printed") {
  EXPECT_EQ(1 + 1, 3);
  // A program's output in a failure message can be any bytes; the reports must still be
  // valid UTF-8 (JSON) and XML that meson can parse.
  ADD_FAILURE() << "raw bytes: \xff\xfe\x1b[0m \xc3";
}

GRADED_TEST(Self, Hangs, 1) {
  for (;;) ::pause();  // only the watchdog ends this
}

GRADED_TEST(Self, Crashes, 1) { ::raise(SIGSEGV); }

GRADED_TEST(Self, ThrowsNotImplemented, 1) { throw ipclab::NotImplemented("TODO(selftest)"); }

GRADED_TEST(Self, LeaksShmAndFifoAndSysvQueue, 1) {
  const int fd = ::shm_open(ipclab::names::posix("leaked").c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ::close(fd);
  ASSERT_EQ(::mkfifo(ipclab::names::path("leaked_fifo").c_str(), 0600), 0);
  ASSERT_GE(::msgget(ipclab::names::sysv_key("leaked_queue"), IPC_CREAT | 0600), 0);
  // A namespace of the test's own, as a program it runs may make (NS-name): its leaks too.
  const std::string ns = ipclab::names::ns();
  ipclab::names::set_ns(ns + "-sub");
  const int sub = ::shm_open(ipclab::names::posix("leaked_sub").c_str(), O_CREAT | O_RDWR, 0600);
  ipclab::names::set_ns(ns);
  ASSERT_GE(sub, 0);
  ::close(sub);
}

GRADED_TEST(Self, LeavesAnOrphanBehind, 1) {
  // A daemon-like grandchild in a session of its own: no process group kill reaches it,
  // and its parent exits at once, so it is reparented (to the driver, the subreaper).
  auto r = grader::bash("setsid sleep 1000 > /dev/null 2>&1 < /dev/null & echo $!");
  std::ofstream(std::string(std::getenv("SELFTEST_DIR")) + "/orphan.pid") << r.out;
  EXPECT_TRUE(
      grader::wait_until([&] { return ipclab::process_comm(std::stoi(r.out)) == "sleep"; }));
}

GRADED_TEST(Self, Skips, 1) { GTEST_SKIP() << "rpcbind is not running (this is a test)"; }

GRADED_TEST(Self, RunReportsTimeoutOfAChild, 1) {
  auto r = grader::run({"sleep", "30"}, {.timeout = std::chrono::milliseconds(200)});
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code(), -1);
  EXPECT_EQ(ipclab::process_state(r.pid), 0) << "the timed-out child was not reaped";
}

GRADED_TEST(Self, WaitForOutputGivesUpWhenTheProcessExits, 1) {
  grader::Process p({"sh", "-c", "echo started; exit 3"});
  EXPECT_TRUE(p.wait_for_output("started", std::chrono::seconds(20)));
  // The process exits without printing this: waiting must end with the process, not
  // at the 20 s deadline (the driver's watchdog would report a TIMEOUT).
  EXPECT_FALSE(p.wait_for_output("never printed", std::chrono::seconds(20)));
  EXPECT_FALSE(p.wait_for_err("never printed", std::chrono::seconds(20)));
  const auto status = p.wait();
  ASSERT_TRUE(status.has_value()) << "exited() must not reap the process";
  EXPECT_EQ(status->shell_status(), 3);
}

GRADED_TEST(Self, ChildFailureFailsTheTest, 1) {
  grader::Child checker([] { EXPECT_EQ(1 + 1, 3) << "checked in the child"; }, "checker");
  const auto r = checker.finish();
  EXPECT_TRUE(r.passed()) << r.describe();
}

GRADED_TEST(Self, EveryVerbScalesItsTimeoutOnce, 1) {
  // Each verb gets 100 ms, unscaled, and must wait 100 ms x IPCLAB_TIMEOUT_SCALE: harness
  // tests run this with a scale of 4, where scaling twice would wait 1.6 s.
  const double want = 0.1 * grader::timeout_scale();
  const auto took = [](const std::function<void()>& wait) {
    const ipclab::Stopwatch sw;
    wait();
    return sw.elapsed_s();
  };
  const auto once = [&](const char* verb, double seconds) {
    EXPECT_TRUE(seconds >= want * 0.9 && seconds < want * 1.5 + 0.1)
        << verb << " waited " << seconds << " s for 100 ms at scale " << grader::timeout_scale()
        << " (" << want << " s expected)";
  };
  EXPECT_EQ(grader::scaled(100ms).count(), static_cast<long long>(100 * grader::timeout_scale()));
  once("wait_until", took([] { grader::wait_until([] { return false; }, 100ms); }));
  once("run", took([] { grader::run({"sleep", "30"}, {.timeout = 100ms}); }));
  grader::Process p({"sleep", "30"});
  once("Process::wait_for_output", took([&] { p.wait_for_output("never", 100ms); }));
  once("Process::wait", took([&] { p.wait(100ms); }));
  once("Process::finish", took([&] { p.finish(100ms); }));
  grader::Child c([] {
    for (;;) ::pause();
  });
  once("Child::finish", took([&] { c.finish(100ms); }));
  std::vector<grader::Child> kids;
  kids.emplace_back([] {
    for (;;) ::pause();
  });
  once("join", took([&] { grader::join(kids, 100ms); }));
  once("deadline", took([] {
         const auto by = grader::deadline(100ms);
         while (!by.expired()) std::this_thread::sleep_for(1ms);
       }));
}

GRADED_TEST(Self, AbandonsAStuckThread, 1) {
  // A thread stuck for good (as in code under test that never wakes): it cannot be joined,
  // so the test ends the process, and the driver must still say FAIL with the reason.
  std::thread([] {
    for (;;) ::pause();
  }).detach();
  grader::abandon_test("a thread is stuck for good");
}

// ---- what a test can cost is bounded (grader.hpp, "bounds") --------------------------------

namespace {
/// This process's peak resident memory (VmHWM), in bytes.
std::size_t peak_rss() {
  std::istringstream status(ipclab::read_file("/proc/self/status"));
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) << 10;
  return 0;
}
}  // namespace

GRADED_TEST(Self, RunOfAProgramThatPrintsForeverTimesOutBounded, 1) {
  // `yes` prints gigabytes in the second run() waits for it: only the two ends are kept.
  const auto r = grader::run({"yes"}, {.timeout = 1'000ms});
  EXPECT_TRUE(r.timed_out) << r.describe();
  EXPECT_GT(r.out_dropped, 0u) << r.describe();
  EXPECT_LE(r.out.size(), 2 * grader::kKeptEnds + 100);
  EXPECT_NE(r.out.find(fmt::format("... [{} bytes dropped] ...", r.out_dropped)),
            std::string::npos);
  EXPECT_NE(r.describe().find("stdout was cut"), std::string::npos) << r.describe();
  EXPECT_NONFATAL_FAILURE(grader::expect_output(r, "y\n"), "stdout was cut");
  EXPECT_LT(peak_rss(), std::size_t{256} << 20) << "the test process grew past 256 MiB";
}

GRADED_TEST(Self, ProcessWritingForeverIsStoppedByTheFileSizeLimit, 1) {
  grader::Process p({"yes"});
  const auto status = p.wait(20'000ms);
  ASSERT_TRUE(status.has_value()) << "yes still runs: no file size limit";
  EXPECT_TRUE(status->signaled() && status->signal() == SIGXFSZ) << status->describe();
  const auto r = p.finish();
  EXPECT_EQ(r.out.size() + r.out_dropped, grader::file_size_limit()) << r.describe();
  EXPECT_NE(r.describe().find("SIGXFSZ: it wrote a file past the"), std::string::npos)
      << r.describe();
}

GRADED_TEST(Self, PrintsAMebibyte, 1) {
  // What the test prints is kept to its two ends in every report.
  const std::string line(1023, 'x');
  for (int i = 0; i < 1024; ++i) std::fputs((line + "\n").c_str(), stdout);
  ADD_FAILURE() << "printed 1 MiB";
}

GRADED_TEST(Self, ChildFloodsTheTestsOutput, 1) {
  // Lab 03's 13.5 GB grader: a child writes into the test's own stdout (a file the driver
  // reads) while the test hangs until the watchdog.
  ipclab::SpawnOptions so;
  so.parent_death_signal = SIGKILL;
  ipclab::spawn({"yes"}, so);
  for (;;) ::pause();
}
