// libgrader: GoogleTest with points, a per-test IPC namespace, a process runner with
// deadlines, leak checks and readable failures.
//
// How a grader runs (graders/harness/src/driver.cpp): the grader binary is a driver. It
// lists its tests and runs each one in a child process of its own, with
//   - its own IPC namespace (IPCLAB_NS) and run directory, so tests run in parallel and a
//     leak is attributable;
//   - a watchdog: a test that passes its deadline is killed and reported as TIMEOUT;
//   - a crash (a signal) reported as CRASH, without losing the other tests;
//   - a leak guard: after the test, any IPC object left in its namespace is removed and
//     fails the test by name;
//   - every process the test started killed and reaped (process groups, PDEATHSIG and a
//     child subreaper), so a failing test never leaves processes behind.
// It prints `== Test Suite.Name == OK (0.1s) 3/3`, a summary line `lab01: N/M points`,
// and writes results JSON for tools/grade.
//
// A test reads as one sentence, its points, an optional hint naming the handout pitfall:
//   GRADED_TEST(Pipeline, TenStagesMatchBash, 4, "README §Pitfalls 1 — ...") {
//     auto r = grader::run({"mypipe", "cat", ...});
//     grader::expect_output(r, grader::bash("cat | ...").out);
//   }
#pragma once

#include <sys/types.h>  // pid_t

#include <chrono>           // std::chrono
#include <cstdint>          // std::uint64_t
#include <functional>       // std::function
#include <optional>         // std::optional
#include <source_location>  // std::source_location: failures point at the test's line
#include <string>           // std::string
#include <string_view>      // std::string_view
#include <vector>           // std::vector

#include <fmt/core.h>     // fmt::format, for test messages
#include <fmt/ranges.h>   // fmt::join
#include <gtest/gtest.h>  // TEST, EXPECT_*, ADD_FAILURE

#include "ipclab/fd.hpp"       // ipclab::Fd
#include "ipclab/process.hpp"  // ipclab::WaitStatus

namespace grader {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

// ---- registration ----------------------------------------------------------------------

struct TestMeta {
  std::string suite;
  std::string name;
  int points = 0;
  std::string hint;
  bool hidden = false;
  std::string full_name() const { return suite + "." + name; }
};

/// Records a test's points, hint and visibility; returns a dummy for static init.
int register_test(const char* suite, const char* name, int points, const char* hint, bool hidden);
/// All registered tests, in registration order.
const std::vector<TestMeta>& registry();
/// The registered metadata of "Suite.Name", or nullptr.
const TestMeta* find_test(const std::string& full_name);

/// Names the lab: GRADER_LAB("lab01", "Shell pipeline executor") once per grader. It also
/// records where the lab's programs were built (IPCLAB_DEFAULT_BIN_PATH, set by meson for
/// the grader's sources), so the grader finds them when run outside `meson test`.
int register_lab(const char* id, const char* title, const char* default_bin_path);
std::string lab_id();
std::string lab_title();

#ifdef IPCLAB_HIDDEN_TESTS
#define GRADER_HIDDEN_ true
#else
#define GRADER_HIDDEN_ false
#endif

#define GRADER_CAT_(a, b) a##b
#define GRADER_CAT(a, b) GRADER_CAT_(a, b)

/// GRADED_TEST(Suite, Name, points [, "hint"]) { body }
#define GRADED_TEST(Suite, Name, Points, ...)                                           \
  [[maybe_unused]] static const int GRADER_CAT(grader_reg_##Suite##_##Name, __LINE__) = \
      ::grader::register_test(#Suite, #Name, Points, "" __VA_ARGS__, GRADER_HIDDEN_);   \
  TEST(Suite, Name)

#ifdef IPCLAB_DEFAULT_BIN_PATH
#define GRADER_BIN_PATH_ IPCLAB_DEFAULT_BIN_PATH
#else
#define GRADER_BIN_PATH_ ""
#endif
#define GRADER_LAB(Id, Title)                                 \
  [[maybe_unused]] static const int grader_lab_registration = \
      ::grader::register_lab(Id, Title, GRADER_BIN_PATH_)

// ---- the test's environment -------------------------------------------------------------

/// This test's IPC namespace and run directory (also in IPCLAB_NS / IPCLAB_RUNDIR, which
/// every program the test starts inherits).
std::string ns();
std::string rundir();
/// A scratch directory for files the test makes (removed after the test).
std::string scratch();
/// The absolute path of a built program of this lab (searched in IPCLAB_BIN_PATH), or
/// `name` unchanged if it is not one (then PATH decides).
std::string program(const std::string& name);
/// Deadlines are multiplied by IPCLAB_TIMEOUT_SCALE (sanitizer builds set it).
ms scaled(ms timeout);

// ---- running programs -------------------------------------------------------------------

struct RunOptions {
  std::string input;             ///< written to the program's stdin, which is then closed
  ms timeout = 10'000ms;         ///< killed (whole process group) after this
  std::vector<std::string> env;  ///< "NAME=value" to set, "NAME" to unset
  std::string cwd;
};

struct RunResult {
  std::vector<std::string> argv;
  std::string input;
  std::string out;
  std::string err;
  ipclab::WaitStatus status;
  bool timed_out = false;
  double seconds = 0;
  pid_t pid = -1;
  /// The shell's $?: exit code or 128 + signal; -1 if it timed out.
  int exit_code() const { return timed_out ? -1 : status.shell_status(); }
  /// A small report: command, input excerpt, status, stdout and stderr excerpts.
  std::string describe() const;
};

/// Runs a program to completion: argv[0] through program(); stdin from opts.input;
/// stdout and stderr captured; own process group; killed at the deadline.
RunResult run(std::vector<std::string> argv, const RunOptions& opts = {});
/// Runs `script` with /bin/bash -c: the reference for shell behaviour.
RunResult bash(const std::string& script, const RunOptions& opts = {});

/// A program running in the background (a server, a blocked client). Its stdout and stderr
/// go to files, so it never blocks on output the test has not read yet. The destructor
/// kills its process group and reaps it.
class Process {
 public:
  struct Options {
    std::vector<std::string> env;
    std::string cwd;
    bool stdin_pipe = true;  ///< give it a pipe the test writes to (else /dev/null)
  };
  explicit Process(std::vector<std::string> argv);
  Process(std::vector<std::string> argv, Options opts);
  Process(Process&&) noexcept;
  Process& operator=(Process&&) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  const std::vector<std::string>& argv() const { return argv_; }
  /// Writes to its stdin (throws if the pipe is closed).
  void write(std::string_view data);
  void close_stdin();
  /// Everything it printed so far.
  std::string out() const;
  std::string err() const;
  /// Waits until its stdout (or stderr) contains `needle`; false at the deadline, or as
  /// soon as the process has exited without printing it.
  bool wait_for_output(std::string_view needle, ms timeout = 5'000ms) const;
  bool wait_for_err(std::string_view needle, ms timeout = 5'000ms) const;
  /// Sends a signal to the process (not the group).
  void signal(int sig);
  /// Waits for it to exit; nullopt at the deadline (still running).
  std::optional<ipclab::WaitStatus> wait(ms timeout = 5'000ms);
  bool running();
  /// True once it has exited (without reaping it: wait() still gets the status).
  bool exited() const;
  /// Closes stdin, waits up to `timeout`, kills the group if needed; returns the outcome.
  RunResult finish(ms timeout = 5'000ms);
  /// Kills the process group with SIGKILL and reaps.
  void kill();

 private:
  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  std::optional<ipclab::WaitStatus> status_;
  ipclab::Fd stdin_;
  std::string out_path_, err_path_;
  double started_ = 0;
};

// ---- waiting and checking ---------------------------------------------------------------

/// Polls `pred` (1 ms, growing to 20 ms) until it is true or the deadline passes.
bool wait_until(const std::function<bool()>& pred, ms timeout = 5'000ms);

/// EXPECT that stdout equals `expected`; on failure prints the report and a diff.
void expect_output(const RunResult& r, const std::string& expected,
                   std::source_location where = std::source_location::current());
/// EXPECT that the shell status is `code`, with the report on failure.
void expect_exit(const RunResult& r, int code,
                 std::source_location where = std::source_location::current());
/// EXPECT the shell status `code`, stderr beginning with `prefix` and nothing on stdout: a
/// program that failed the way it should, saying so (`error: ...`).
void expect_error(const RunResult& r, int code, const std::string& prefix,
                  std::source_location where = std::source_location::current());
/// EXPECT that the run finished before its deadline.
void expect_finished(const RunResult& r,
                     std::source_location where = std::source_location::current());
/// A line diff of two texts ("-expected" / "+actual"), at most `max_lines` lines.
std::string diff(const std::string& expected, const std::string& actual, int max_lines = 40);
/// Replaces each pid with <pid> (whole numbers only).
std::string mask_pids(std::string text, const std::vector<pid_t>& pids);
/// Shortens a text for a message: first lines, "... (N more bytes)".
std::string excerpt(const std::string& text, std::size_t max_bytes = 600);

// ---- racy and randomized tests ----------------------------------------------------------

/// The seed for this test: IPCLAB_SEED if set, else random (printed on failure).
std::uint64_t seed();
/// Runs body(iteration, seed) `times` times, stopping at the first failure, which it
/// reports with the seed and the command that reproduces it. Credit only if all pass.
void repeat(int times, const std::function<void(int, std::uint64_t)>& body,
            std::source_location where = std::source_location::current());

// ---- process inspection ---------------------------------------------------------------

/// Children of this test process that are zombies (exited, not reaped).
std::vector<pid_t> zombie_children();
/// User + system CPU time a process has used, in seconds (from /proc/<pid>/stat).
double cpu_seconds(pid_t pid);
/// Names of this process's open descriptors other than 0, 1, 2: "5 -> pipe:[123]".
std::vector<std::string> extra_fds(pid_t pid = 0);

/// The System V object ids `ipcs` lists, as an administrator sees them: kind 'q' (message
/// queues), 's' (semaphore sets) or 'm' (shared memory).
std::vector<int> ipcs_ids(char kind);

}  // namespace grader
