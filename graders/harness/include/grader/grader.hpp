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
// The watchdog is scaled like every other deadline (see "time" below), and is the longest:
// a test that hangs in a harness verb fails there, with a readable report, before it.
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
#include <cstddef>          // std::size_t
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

#include "ipclab/clock.hpp"    // ipclab::Deadline
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

// ---- time -------------------------------------------------------------------------------
//
// One rule: a test writes every duration as it would be on an idle machine with a plain
// build. Sanitizer builds set IPCLAB_TIMEOUT_SCALE (make tsan: 5), and the harness
// multiplies by it in one place, scaled():
//   - every harness verb that takes a timeout (run, Process, wait_until, Child, join)
//     scales it once, and so does the driver's per-test watchdog;
//   - grader::deadline(t) is a scaled ipclab::Deadline, for library calls that take one;
//   - grader::scaled(t) is the scaled duration itself, for what is not a harness verb: a
//     library call or a program option that takes a plain duration, a message.
// scaled() returns a ScaledMs, which no harness verb accepts (Timeout refuses it), so a
// test cannot scale twice: `wait_until(pred, grader::scaled(5s))` does not compile.

/// IPCLAB_TIMEOUT_SCALE, read once: 1 if unset or below 1.
double timeout_scale();

/// A duration already multiplied by timeout_scale().
class ScaledMs : public ms {
 public:
  explicit ScaledMs(ms already_scaled) : ms(already_scaled) {}
};

/// The timeout a harness verb takes: unscaled (5'000ms), scaled by the verb.
class Timeout {
 public:
  // Implicit: `finish(5'000ms)` and `{.timeout = 30s}` read as what they are.
  template <typename Rep, typename Period>
  constexpr Timeout(std::chrono::duration<Rep, Period> unscaled)
      : unscaled_(std::chrono::duration_cast<ms>(unscaled)) {}
  /// Already scaled: pass the unscaled duration instead, the harness scales it.
  Timeout(const ScaledMs&) = delete;
  ms unscaled() const { return unscaled_; }
  ScaledMs scaled() const;

 private:
  ms unscaled_;
};

/// `timeout` multiplied by timeout_scale(): the one place scaling happens.
ScaledMs scaled(Timeout timeout);
/// A deadline `timeout` (scaled) from now.
ipclab::Deadline deadline(Timeout timeout);

// ---- bounds -----------------------------------------------------------------------------
//
// What a test can cost is bounded, so a runaway program (one that prints, writes or
// allocates forever) ends as a TIMEOUT or a failure with a readable report, never as a
// grader out of memory or a full disk (docs/grading.md, "What a test can cost"):
//   - output kept: run() keeps a program's stdout and stderr whole up to kKeptWhole bytes
//     each; beyond, the first and last kKeptEnds bytes and how many were dropped
//     (RunResult::out_dropped), and expect_output fails saying the output was cut.
//     Process::out() and err() read their files the same way. What a test prints and a
//     Child's failure report are kept to the first and last kKeptEnds bytes.
//   - files: the test process and every process it starts have RLIMIT_FSIZE
//     kFileSizeLimit: a program writing past it gets SIGXFSZ (EFBIG if it ignores it), and
//     the report says so.
//   - memory: they have RLIMIT_DATA kMemoryLimit (heap and private mappings; shared
//     memory is not counted). Not in sanitizer builds, whose shadow memory counts there.

inline constexpr std::size_t kKeptEnds = std::size_t{64} << 10;            ///< 64 KiB
inline constexpr std::size_t kKeptWhole = std::size_t{16} << 20;           ///< 16 MiB
inline constexpr std::uint64_t kFileSizeLimit = std::uint64_t{256} << 20;  ///< 256 MiB
inline constexpr std::uint64_t kMemoryLimit = std::uint64_t{2} << 30;      ///< 2 GiB

/// Text that keeps at most `keep_whole` bytes: beyond, its first and last `keep_ends`
/// bytes and the count of those dropped between them.
class BoundedText {
 public:
  explicit BoundedText(std::size_t keep_whole = 2 * kKeptEnds, std::size_t keep_ends = kKeptEnds);
  void append(std::string_view data);
  /// Counts `n` bytes that come next as dropped without reading them (a file's middle).
  void skip(std::size_t n);
  /// Bytes dropped so far (0: the text is whole).
  std::size_t dropped() const;
  /// The text; if it was cut, "\n... [N bytes dropped] ...\n" between its two ends.
  std::string str() const;

 private:
  void cut();
  std::size_t whole_, ends_;
  std::string head_, tail_;  // tail_ is used once the text is cut; its last ends_ count
  std::size_t dropped_ = 0;
  bool cut_ = false;
};

/// The file at `path` as a BoundedText (empty if it cannot be read): its middle is never
/// read.
BoundedText read_bounded(const std::string& path, std::size_t keep_whole = 2 * kKeptEnds,
                         std::size_t keep_ends = kKeptEnds);

/// Gives this process (and so everything it starts) the limits above; the driver calls it
/// in each test process. IPCLAB_FILE_SIZE_LIMIT_MIB overrides kFileSizeLimit (the
/// harness's self-test uses a small one).
void limit_test_process();
/// The RLIMIT_FSIZE a test has, in bytes.
std::uint64_t file_size_limit();

// ---- running programs -------------------------------------------------------------------

struct RunOptions {
  std::string input;             ///< written to the program's stdin, which is then closed
  Timeout timeout = 10'000ms;    ///< killed (whole process group) after this
  std::vector<std::string> env;  ///< "NAME=value" to set, "NAME" to unset
  std::string cwd;
};

struct RunResult {
  std::vector<std::string> argv;
  std::string input;
  std::string out;  ///< whole up to kKeptWhole bytes, else cut (out_dropped > 0)
  std::string err;
  std::size_t out_dropped = 0;  ///< bytes of stdout not kept (see "bounds")
  std::size_t err_dropped = 0;
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
  /// Everything it printed so far (cut as run() cuts it past kKeptWhole bytes).
  std::string out() const;
  std::string err() const;
  /// Waits until its stdout (or stderr) contains `needle`; false at the deadline, or as
  /// soon as the process has exited without printing it.
  bool wait_for_output(std::string_view needle, Timeout timeout = 5'000ms) const;
  bool wait_for_err(std::string_view needle, Timeout timeout = 5'000ms) const;
  /// Sends a signal to the process (not the group).
  void signal(int sig);
  /// Waits for it to exit; nullopt at the deadline (still running).
  std::optional<ipclab::WaitStatus> wait(Timeout timeout = 5'000ms);
  bool running();
  /// True once it has exited (without reaping it: wait() still gets the status).
  bool exited() const;
  /// Closes stdin, waits up to `timeout`, kills the group if needed; returns the outcome.
  RunResult finish(Timeout timeout = 5'000ms);
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

// ---- a function of the test in a child process ------------------------------------------

/// How a Child ended.
struct ChildResult {
  std::string name;
  ipclab::WaitStatus status;
  bool timed_out = false;  ///< still running at the deadline: killed
  /// Its EXPECT/ASSERT failures and an exception its body let escape, "file:line: message"
  /// a paragraph each.
  std::string failures;
  double seconds = 0;
  /// Its body returned (or it exited 0 on its own) with no failure, in time.
  bool passed() const;
  /// "" if it passed, else one paragraph: which child, how it ended, its failures.
  std::string describe() const;
};

/// A function of the test run in a forked child process: for code that must be a process
/// of its own (a lock owner to kill, a participant of a cross-process protocol, a reader
/// under seccomp) while the test watches it from outside. The child
///   - is in a process group of its own, gets SIGKILL if the test process dies
///     (PR_SET_PDEATHSIG), and is killed with its group when the Child is destroyed or
///     missed its deadline (the driver reaps anything left, as for every test);
///   - brings its failures back: EXPECT/ASSERT failures in `body` (from any thread) and an
///     exception `body` lets escape become ChildResult::failures in the test process;
///   - exits 0 when `body` returns without a failure. A body may also end the process
///     itself (under seccomp, with the exit system call): 0 counts as a pass, any other
///     status as a failure.
/// A failed fork throws ipclab::SysError, which fails the test with that message. Graders
/// do not fork by hand: a function that needs a process of its own is a Child.
/// Fork from a thread-free moment of the test where you can: the child has only the
/// forking thread (ThreadSanitizer tolerates the child that runs library code only).
class Child {
 public:
  explicit Child(std::function<void()> body, std::string name = "child");
  Child(Child&&) noexcept;
  Child& operator=(Child&&) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  /// True once it has ended (without reaping it: finish() still gets the outcome).
  bool exited() const;
  /// Waits until it ends, by the timeout or a deadline from grader::deadline(); kills it
  /// (with its group) if it is still running then. Only the first call waits.
  ChildResult finish(Timeout timeout = 10'000ms);
  ChildResult finish(const ipclab::Deadline& by);
  /// Kills its process group with SIGKILL and reaps it (finish() then says killed).
  void kill();

 private:
  void read_report();
  ChildResult record(const ipclab::WaitStatus& status, bool timed_out);
  std::string name_;
  pid_t pid_ = -1;
  ipclab::Fd report_;  // the read end of the pipe the child reports its failures on
  BoundedText failures_;
  std::optional<ChildResult> result_;
  double started_ = 0;
};

/// Waits for `children` by one deadline. The first that fails ends the wait (its peers
/// may be blocked on it; they are killed). Returns "" if every one passed, else what went
/// wrong: the failed child's describe(), or each child still running at the deadline.
std::string join(std::vector<Child>& children, Timeout timeout);

// ---- waiting and checking ---------------------------------------------------------------

/// Polls `pred` (1 ms, growing to 20 ms) until it is true or the deadline passes.
bool wait_until(const std::function<bool()>& pred, Timeout timeout = 5'000ms);

/// EXPECT that stdout equals `expected`; on failure prints the report and a diff. A cut
/// stdout (more than kKeptWhole bytes) fails, saying so.
void expect_output(const RunResult& r, const std::string& expected,
                   std::source_location where = std::source_location::current());
/// EXPECT that `text` holds, in this order, a line matching each of `lines` (ECMAScript
/// regular expressions matched against the whole line; other lines may come between them):
/// a transcript checked line for line. On failure prints which line was not found, after
/// which, and the text.
void expect_lines(const std::string& text, const std::vector<std::string>& lines,
                  std::source_location where = std::source_location::current());
/// `text` as a regular expression that matches it literally (for a path in expect_lines).
std::string re_quote(std::string_view text);
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
/// Shortens a text for a message: first lines, "... (N more bytes)".
std::string excerpt(const std::string& text, std::size_t max_bytes = 600);
/// The complete lines of `text`, without their newlines (a last line that has no newline
/// yet, still being written, is left out).
std::vector<std::string> lines(const std::string& text);

/// Fails the test with `why` and ends the test process at once, scored as a failure (not a
/// CRASH): for threads stuck in the code under test, which can be neither joined nor
/// cancelled, so the test cannot return.
[[noreturn]] void abandon_test(const std::string& why,
                               std::source_location where = std::source_location::current());

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
