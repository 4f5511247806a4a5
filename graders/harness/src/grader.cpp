// The verbs a grader test is built from. See grader.hpp for the contract.
#include "grader/grader.hpp"

#include <fcntl.h>     // open
#include <poll.h>      // poll
#include <signal.h>    // kill
#include <sys/stat.h>  // stat
#include <sys/wait.h>  // waitid
#include <unistd.h>    // sysconf

#include <algorithm>   // std::min
#include <cctype>      // std::isdigit
#include <cstdlib>     // std::getenv
#include <functional>  // std::function
#include <map>         // std::map
#include <random>      // std::random_device
#include <sstream>     // std::istringstream
#include <stdexcept>   // std::invalid_argument

#include <fmt/core.h>    // fmt::format
#include <fmt/ranges.h>  // fmt::join

#include "ipclab/clock.hpp"  // Deadline, Stopwatch
#include "ipclab/error.hpp"  // SysError
#include "ipclab/io.hpp"     // write_full
#include "ipclab/json.hpp"   // utf8_escaped

namespace grader {

// ---- registration ----------------------------------------------------------------------

namespace {
std::vector<TestMeta>& mutable_registry() {
  static std::vector<TestMeta> tests;
  return tests;
}
std::string& lab_id_ref() {
  static std::string id = "grader";
  return id;
}
std::string& lab_title_ref() {
  static std::string title;
  return title;
}
}  // namespace

int register_test(const char* suite, const char* name, int points, const char* hint, bool hidden) {
  mutable_registry().push_back(TestMeta{suite, name, points, hint, hidden});
  return 0;
}

const std::vector<TestMeta>& registry() { return mutable_registry(); }

const TestMeta* find_test(const std::string& full_name) {
  for (const auto& t : registry())
    if (t.full_name() == full_name) return &t;
  return nullptr;
}

static std::string& default_bin_path_ref() {
  static std::string path;
  return path;
}

int register_lab(const char* id, const char* title, const char* default_bin_path) {
  lab_id_ref() = id;
  lab_title_ref() = title;
  default_bin_path_ref() = default_bin_path;
  return 0;
}
std::string lab_id() { return lab_id_ref(); }
std::string lab_title() { return lab_title_ref(); }

// ---- environment ------------------------------------------------------------------------

namespace {
std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}
}  // namespace

std::string ns() { return env_or("IPCLAB_NS", "grader"); }
std::string rundir() { return env_or("IPCLAB_RUNDIR", "/tmp"); }
std::string scratch() { return env_or("IPCLAB_GRADER_SCRATCH", "/tmp"); }

std::string program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const std::string path = env_or("IPCLAB_BIN_PATH", default_bin_path_ref());
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return name;
}

ms scaled(ms timeout) {
  const double scale = std::atof(env_or("IPCLAB_TIMEOUT_SCALE", "1").c_str());
  return scale > 1 ? ms(static_cast<long long>(static_cast<double>(timeout.count()) * scale))
                   : timeout;
}

// ---- running programs -------------------------------------------------------------------

namespace {

ipclab::SpawnOptions spawn_options(const std::vector<std::string>& env, const std::string& cwd) {
  ipclab::SpawnOptions so;
  so.env = env;
  so.cwd = cwd;
  so.new_process_group = true;       // teardown kills the whole group
  so.parent_death_signal = SIGKILL;  // and nothing outlives the test process
  return so;
}

int counter() {
  static int n = 0;
  return ++n;
}

}  // namespace

std::string RunResult::describe() const {
  std::string s = fmt::format("  command: {}\n", ipclab::shell_quote(argv));
  if (!input.empty()) s += fmt::format("  stdin:   {}\n", excerpt(input, 300));
  if (timed_out)
    s += fmt::format("  status:  TIMEOUT: still running after {:.1f}s (killed)\n", seconds);
  else
    s += fmt::format("  status:  {} (shell status {})\n", status.describe(), exit_code());
  s += fmt::format("  stdout:  {}\n", out.empty() ? "(empty)" : excerpt(out));
  s += fmt::format("  stderr:  {}\n", err.empty() ? "(empty)" : excerpt(err));
  return s;
}

RunResult run(std::vector<std::string> argv, const RunOptions& opts) {
  RunResult r;
  r.argv = argv;
  r.input = opts.input;
  if (!argv.empty()) argv[0] = program(argv[0]);

  ipclab::Pipe in = ipclab::make_pipe();
  ipclab::Pipe out = ipclab::make_pipe();
  ipclab::Pipe err = ipclab::make_pipe();
  auto so = spawn_options(opts.env, opts.cwd);
  so.stdin_fd = in.read.get();
  so.stdout_fd = out.write.get();
  so.stderr_fd = err.write.get();
  ipclab::Stopwatch sw;
  const ipclab::Deadline deadline(scaled(opts.timeout));
  r.pid = ipclab::spawn(argv, so);
  in.read.reset();
  out.write.reset();
  err.write.reset();
  ipclab::set_nonblocking(in.write.get());
  if (opts.input.empty()) in.write.reset();

  // One poll loop feeds stdin and drains stdout/stderr, so no pipe ever fills up.
  std::size_t fed = 0;
  bool out_open = true, err_open = true;
  std::optional<ipclab::WaitStatus> status;
  char buf[65536];
  while (out_open || err_open || !status) {
    if (!status) status = ipclab::try_wait(r.pid);
    if (deadline.expired()) break;
    pollfd fds[3];
    int n = 0;
    if (out_open) fds[n++] = {out.read.get(), POLLIN, 0};
    if (err_open) fds[n++] = {err.read.get(), POLLIN, 0};
    if (in.write.valid()) fds[n++] = {in.write.get(), POLLOUT, 0};
    // With the pipes closed, only the exit is left to wait for: wait on it directly.
    if (n == 0) {
      if (!status) status = ipclab::wait_for(r.pid, deadline);
      break;
    }
    const int wait_ms = status ? deadline.poll_ms() : std::min(deadline.poll_ms(), 20);
    if (::poll(fds, static_cast<nfds_t>(n), wait_ms) < 0 && errno != EINTR)
      throw ipclab::SysError(errno, "poll in grader::run");
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in.write.get()) {
        const ssize_t w = ::write(in.write.get(), opts.input.data() + fed, opts.input.size() - fed);
        if (w > 0) fed += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN) in.write.reset();  // EPIPE: it stopped reading
        if (fed == opts.input.size()) in.write.reset();
        continue;
      }
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (fds[i].fd == out.read.get() ? r.out : r.err).append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EAGAIN) {
        if (fds[i].fd == out.read.get())
          out_open = false;
        else
          err_open = false;
      }
    }
  }
  if (!status || out_open || err_open) {
    r.timed_out = true;
    if (!status)
      ipclab::kill_and_reap(r.pid);
    else
      ipclab::kill_group(r.pid, SIGKILL);
    if (status) r.status = *status;
  } else {
    r.status = *status;
  }
  r.seconds = sw.elapsed_s();
  return r;
}

RunResult bash(const std::string& script, const RunOptions& opts) {
  return run({"/bin/bash", "-c", script}, opts);
}

// ---- background processes ---------------------------------------------------------------

Process::Process(std::vector<std::string> argv) : Process(std::move(argv), Options{}) {}

Process::Process(std::vector<std::string> argv, Options opts) : argv_(std::move(argv)) {
  const int id = counter();
  out_path_ = fmt::format("{}/proc{}.out", scratch(), id);
  err_path_ = fmt::format("{}/proc{}.err", scratch(), id);
  ipclab::Fd out(
      ipclab::check_unix(::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
                         "open(\"{}\")", out_path_));
  ipclab::Fd err(
      ipclab::check_unix(::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
                         "open(\"{}\")", err_path_));
  ipclab::Fd devnull(
      ipclab::check_unix(::open("/dev/null", O_RDONLY | O_CLOEXEC), "open(/dev/null)"));
  auto so = spawn_options(opts.env, opts.cwd);
  ipclab::Pipe in;
  if (opts.stdin_pipe) {
    in = ipclab::make_pipe();
    so.stdin_fd = in.read.get();
  } else {
    so.stdin_fd = devnull.get();
  }
  so.stdout_fd = out.get();
  so.stderr_fd = err.get();
  std::vector<std::string> resolved = argv_;
  if (!resolved.empty()) resolved[0] = program(resolved[0]);
  started_ = static_cast<double>(ipclab::now_ns()) / 1e9;
  pid_ = ipclab::spawn(resolved, so);
  stdin_ = std::move(in.write);
}

Process::Process(Process&& o) noexcept
    : argv_(std::move(o.argv_)),
      pid_(std::exchange(o.pid_, -1)),
      status_(o.status_),
      stdin_(std::move(o.stdin_)),
      out_path_(std::move(o.out_path_)),
      err_path_(std::move(o.err_path_)),
      started_(o.started_) {}

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    kill();
    argv_ = std::move(o.argv_);
    pid_ = std::exchange(o.pid_, -1);
    status_ = o.status_;
    stdin_ = std::move(o.stdin_);
    out_path_ = std::move(o.out_path_);
    err_path_ = std::move(o.err_path_);
    started_ = o.started_;
  }
  return *this;
}

Process::~Process() { kill(); }

void Process::write(std::string_view data) {
  if (!stdin_.valid()) throw ipclab::SysError(EBADF, "Process::write: stdin closed");
  ipclab::write_full(stdin_.get(), data);
}

void Process::close_stdin() { stdin_.reset(); }
std::string Process::out() const { return ipclab::read_file(out_path_); }
std::string Process::err() const { return ipclab::read_file(err_path_); }

bool Process::exited() const {
  if (pid_ <= 0 || status_) return true;
  siginfo_t info{};
  // WNOWAIT: look without reaping, so wait() and running() still see the status.
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) < 0) return true;
  return info.si_pid == pid_;
}

namespace {
/// Waits until `text()` contains `needle`; gives up early once the process has exited
/// (after one last look), since an exited process prints nothing more.
bool wait_for_text(const Process& p, const std::function<std::string()>& text,
                   std::string_view needle, ms timeout) {
  const auto found = [&] { return text().find(needle) != std::string::npos; };
  wait_until([&] { return found() || p.exited(); }, timeout);
  return found();
}
}  // namespace

bool Process::wait_for_output(std::string_view needle, ms timeout) const {
  return wait_for_text(
      *this, [this] { return out(); }, needle, timeout);
}

bool Process::wait_for_err(std::string_view needle, ms timeout) const {
  return wait_for_text(
      *this, [this] { return err(); }, needle, timeout);
}

void Process::signal(int sig) {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::optional<ipclab::WaitStatus> Process::wait(ms timeout) {
  if (pid_ > 0 && !status_) status_ = ipclab::wait_for(pid_, ipclab::Deadline(scaled(timeout)));
  return status_;
}

bool Process::running() {
  if (pid_ > 0 && !status_) status_ = ipclab::try_wait(pid_);
  return pid_ > 0 && !status_;
}

RunResult Process::finish(ms timeout) {
  close_stdin();
  RunResult r;
  r.argv = argv_;
  r.pid = pid_;
  if (!wait(timeout)) {
    r.timed_out = true;
    kill();
  } else {
    ipclab::kill_group(pid_, SIGKILL);  // anything it left behind in its group
    r.status = *status_;
  }
  r.out = out();
  r.err = err();
  r.seconds = static_cast<double>(ipclab::now_ns()) / 1e9 - started_;
  return r;
}

void Process::kill() {
  if (pid_ <= 0) return;
  if (status_)
    ipclab::kill_group(pid_, SIGKILL);  // exited: whatever it left in its group
  else
    status_ = ipclab::kill_and_reap(pid_);
  stdin_.reset();
}

// ---- waiting and checking ---------------------------------------------------------------

bool wait_until(const std::function<bool()>& pred, ms timeout) {
  const ipclab::Deadline deadline(scaled(timeout));
  auto pause = std::chrono::microseconds(1000);
  for (;;) {
    if (pred()) return true;
    if (deadline.expired()) return pred();
    std::this_thread::sleep_for(std::min<ipclab::Clock::duration>(pause, deadline.remaining()));
    pause = std::min(pause * 2, std::chrono::microseconds(20'000));
  }
}

std::string excerpt(const std::string& text, std::size_t max_bytes) {
  std::string s = text.size() <= max_bytes ? text : text.substr(0, max_bytes);
  const bool final_newline = !s.empty() && s.back() == '\n';
  if (final_newline) s.pop_back();  // shown as one line, not a blank one
  // Make control characters and bytes that are not UTF-8 visible; indent continuation
  // lines.
  std::string out;
  for (char c : ipclab::utf8_escaped(s)) {
    if (c == '\n')
      out += "\n           ";
    else if (static_cast<unsigned char>(c) < 0x20 && c != '\t')
      out += fmt::format("\\x{:02x}", c);
    else
      out += c;
  }
  while (!out.empty() && (out.back() == ' ')) out.pop_back();
  if (text.size() > max_bytes) out += fmt::format("... ({} more bytes)", text.size() - max_bytes);
  return out;
}

namespace {
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < s.size()) {
    const auto nl = s.find('\n', start);
    if (nl == std::string::npos) {
      lines.push_back(s.substr(start) + "\\ (no newline at end)");
      break;
    }
    lines.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}
}  // namespace

std::string diff(const std::string& expected, const std::string& actual, int max_lines) {
  const auto a = split_lines(expected), b = split_lines(actual);
  // Skip the common head and tail; run an LCS only on the middle (bounded size).
  std::size_t head = 0;
  while (head < a.size() && head < b.size() && a[head] == b[head]) ++head;
  std::size_t tail = 0;
  while (tail < a.size() - head && tail < b.size() - head &&
         a[a.size() - 1 - tail] == b[b.size() - 1 - tail])
    ++tail;
  const std::size_t n = a.size() - head - tail, m = b.size() - head - tail;
  std::vector<std::string> out;
  out.push_back(fmt::format("@@ first difference at line {} @@", head + 1));
  if (n * m <= 250'000) {
    std::vector<std::vector<int>> lcs(n + 1, std::vector<int>(m + 1, 0));
    for (std::size_t i = n; i-- > 0;)
      for (std::size_t j = m; j-- > 0;)
        lcs[i][j] = a[head + i] == b[head + j] ? lcs[i + 1][j + 1] + 1
                                               : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    std::size_t i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[head + i] == b[head + j]) {
        out.push_back("  " + a[head + i]);
        ++i, ++j;
      } else if (j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j])) {
        out.push_back("+ " + b[head + j++]);
      } else {
        out.push_back("- " + a[head + i++]);
      }
    }
  } else {
    for (std::size_t i = 0; i < std::min<std::size_t>(n, 5); ++i) out.push_back("- " + a[head + i]);
    for (std::size_t j = 0; j < std::min<std::size_t>(m, 5); ++j) out.push_back("+ " + b[head + j]);
  }
  std::string s;
  int shown = 0;
  for (const auto& line : out) {
    if (shown++ == max_lines) {
      s += fmt::format("    ... ({} more diff lines)\n",
                       out.size() - static_cast<std::size_t>(max_lines));
      break;
    }
    s += "    " + (line.size() > 200 ? line.substr(0, 200) + "..." : line) + "\n";
  }
  return s;
}

void expect_output(const RunResult& r, const std::string& expected, std::source_location where) {
  if (r.out == expected) return;
  ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
      << "stdout differs from the expected output\n"
      << r.describe() << "  expected " << expected.size() << " bytes, got " << r.out.size()
      << " bytes (- expected, + actual):\n"
      << diff(expected, r.out);
}

void expect_exit(const RunResult& r, int code, std::source_location where) {
  if (!r.timed_out && r.exit_code() == code) return;
  ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
      << "expected shell status " << code << "\n"
      << r.describe();
}

void expect_error(const RunResult& r, int code, const std::string& prefix,
                  std::source_location where) {
  expect_exit(r, code, where);
  if (r.err.rfind(prefix, 0) != 0)
    ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
        << "stderr should begin with \"" << prefix << "\"\n"
        << r.describe();
  if (!r.out.empty())
    ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line())) << "stdout should be empty\n"
                                                                      << r.describe();
}

void expect_finished(const RunResult& r, std::source_location where) {
  if (!r.timed_out) return;
  ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
      << "the program did not finish in time (it hangs, or something it started keeps "
         "its output open)\n"
      << r.describe();
}

std::string mask_pids(std::string text, const std::vector<pid_t>& pids) {
  // Whole numbers only: pid 12 must not mask the 12 in 3120.
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (std::isdigit(static_cast<unsigned char>(text[i])) == 0) {
      out += text[i++];
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) != 0) ++j;
    const std::string number = text.substr(i, j - i);
    const bool is_pid =
        std::any_of(pids.begin(), pids.end(), [&](pid_t p) { return std::to_string(p) == number; });
    out += is_pid ? "<pid>" : number;
    i = j;
  }
  return out;
}

// ---- racy and randomized tests ----------------------------------------------------------

std::uint64_t seed() {
  static const std::uint64_t s = [] {
    const char* env = std::getenv("IPCLAB_SEED");
    if (env != nullptr && *env != '\0')
      return static_cast<std::uint64_t>(std::strtoull(env, nullptr, 10));
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32 | rd()) % 1'000'000'000;
  }();
  return s;
}

void repeat(int times, const std::function<void(int, std::uint64_t)>& body,
            std::source_location where) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string name =
      info != nullptr ? fmt::format("{}.{}", info->test_suite_name(), info->name()) : "?";
  for (int i = 0; i < times; ++i) {
    const std::uint64_t s = seed() + static_cast<std::uint64_t>(i);
    body(i, s);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line())) << fmt::format(
          "failed on repetition {} of {} (seed {}); credit needs every repetition to pass.\n"
          "  reproduce: IPCLAB_SEED={} meson test -C build {} --test-args=--gtest_filter={}",
          i + 1, times, s, s, lab_id(), name);
      return;
    }
  }
}

// ---- process inspection -----------------------------------------------------------------

std::vector<int> ipcs_ids(char kind) {
  if (kind != 'q' && kind != 's' && kind != 'm')
    throw std::invalid_argument(fmt::format("ipcs_ids: kind '{}' is not q, s or m", kind));
  const RunResult r = run({"ipcs", std::string("-") + kind});
  std::vector<int> ids;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key;
    int id = -1;
    if (words >> key >> id && key.rfind("0x", 0) == 0) ids.push_back(id);  // a data row
  }
  return ids;
}

std::vector<pid_t> zombie_children() {
  std::vector<pid_t> out;
  for (pid_t c : ipclab::child_pids())
    if (ipclab::process_state(c) == 'Z') out.push_back(c);
  return out;
}

double cpu_seconds(pid_t pid) {
  const auto st = ipclab::proc_stat(pid);
  if (!st) return 0;
  return static_cast<double>(st->utime_ticks + st->stime_ticks) /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::vector<std::string> extra_fds(pid_t pid) {
  std::vector<std::string> out;
  for (int fd : ipclab::open_fds(pid))
    if (fd > 2) out.push_back(fmt::format("{} -> {}", fd, ipclab::fd_target(pid, fd)));
  return out;
}

}  // namespace grader
