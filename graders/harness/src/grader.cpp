// The verbs a grader test is built from. See grader.hpp for the contract.
#include "grader/grader.hpp"

#include <cxxabi.h>        // abi::__cxa_demangle
#include <fcntl.h>         // open
#include <poll.h>          // poll
#include <signal.h>        // kill
#include <sys/prctl.h>     // PR_SET_PDEATHSIG
#include <sys/resource.h>  // setrlimit
#include <sys/stat.h>      // stat
#include <sys/wait.h>      // waitid
#include <unistd.h>        // sysconf, fork, setpgid

#include <algorithm>   // std::min
#include <cstdlib>     // std::getenv
#include <filesystem>  // std::filesystem::path
#include <fstream>     // std::ofstream
#include <functional>  // std::function
#include <map>         // std::map
#include <memory>      // std::unique_ptr
#include <random>      // std::random_device
#include <regex>       // std::regex_match
#include <sstream>     // std::istringstream
#include <stdexcept>   // std::invalid_argument
#include <typeinfo>    // typeid

#include <fmt/core.h>         // fmt::format
#include <fmt/ranges.h>       // fmt::join
#include <gtest/gtest-spi.h>  // ScopedFakeTestPartResultReporter: failures in a Child

#include "grader/report.hpp"  // reproduce_command
#include "ipclab/clock.hpp"   // Deadline, Stopwatch
#include "ipclab/error.hpp"   // SysError
#include "ipclab/io.hpp"      // write_full
#include "ipclab/json.hpp"    // utf8_escaped

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

// ---- time --------------------------------------------------------------------------------

double timeout_scale() {
  static const double scale = [] {
    const double s = std::atof(env_or("IPCLAB_TIMEOUT_SCALE", "1").c_str());
    return s > 1 ? s : 1.0;
  }();
  return scale;
}

ScaledMs scaled(Timeout timeout) {
  const auto count = static_cast<double>(timeout.unscaled().count()) * timeout_scale();
  return ScaledMs(ms(static_cast<long long>(count)));
}

ScaledMs Timeout::scaled() const { return grader::scaled(*this); }

ipclab::Deadline deadline(Timeout timeout) { return ipclab::Deadline(scaled(timeout)); }

// ---- bounds -----------------------------------------------------------------------------

BoundedText::BoundedText(std::size_t keep_whole, std::size_t keep_ends)
    : whole_(std::max(keep_whole, 2 * keep_ends)), ends_(keep_ends) {}

void BoundedText::cut() {
  if (cut_) return;
  cut_ = true;
  tail_ = head_.substr(std::min(ends_, head_.size()));
  head_.resize(std::min(ends_, head_.size()));
}

void BoundedText::append(std::string_view data) {
  if (!cut_ && head_.size() + data.size() <= whole_) {
    head_ += data;
    return;
  }
  cut();
  if (head_.size() < ends_ && tail_.empty() && dropped_ == 0) {  // the head comes first
    const std::size_t n = std::min(ends_ - head_.size(), data.size());
    head_ += data.substr(0, n);
    data.remove_prefix(n);
  }
  if (data.size() >= ends_) {  // all that tail_ held is dropped
    dropped_ += tail_.size() + data.size() - ends_;
    tail_.assign(data.substr(data.size() - ends_));
    return;
  }
  tail_ += data;
  if (tail_.size() > 2 * ends_) {  // trimmed now and then, not at every append
    dropped_ += tail_.size() - ends_;
    tail_.erase(0, tail_.size() - ends_);
  }
}

void BoundedText::skip(std::size_t n) {
  if (n == 0) return;
  cut();
  dropped_ += tail_.size() + n;  // what it held came before the skipped bytes
  tail_.clear();
}

std::size_t BoundedText::dropped() const {
  return dropped_ + (tail_.size() > ends_ ? tail_.size() - ends_ : 0);
}

std::string BoundedText::str() const {
  if (!cut_) return head_;
  const std::size_t n = dropped();
  const std::string_view tail =
      std::string_view(tail_).substr(tail_.size() > ends_ ? tail_.size() - ends_ : 0);
  if (n == 0) return head_ + std::string(tail);
  return fmt::format("{}\n... [{} bytes dropped] ...\n{}", head_, n, tail);
}

BoundedText read_bounded(const std::string& path, std::size_t keep_whole, std::size_t keep_ends) {
  BoundedText text(keep_whole, keep_ends);
  const ipclab::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return text;
  struct stat st {};
  const std::size_t size = ::fstat(fd.get(), &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
  // Whole if it fits; else its head, then the last keep_ends bytes: the middle is skipped.
  const std::size_t whole = std::max(keep_whole, 2 * keep_ends);
  const std::size_t head = size <= whole ? size : keep_ends;
  std::string buf(65536, '\0');
  const auto copy = [&](off_t from, std::size_t n) {
    while (n > 0) {
      const ssize_t got = ::pread(fd.get(), buf.data(), std::min(n, buf.size()), from);
      if (got <= 0) return;
      text.append(std::string_view(buf.data(), static_cast<std::size_t>(got)));
      from += got;
      n -= static_cast<std::size_t>(got);
    }
  };
  copy(0, head);
  if (size > head) {
    text.skip(size - head - keep_ends);
    copy(static_cast<off_t>(size - keep_ends), keep_ends);
  }
  return text;
}

std::uint64_t file_size_limit() {
  static const std::uint64_t limit = [] {
    const char* mib = std::getenv("IPCLAB_FILE_SIZE_LIMIT_MIB");
    const std::uint64_t n = mib != nullptr ? std::strtoull(mib, nullptr, 10) : 0;
    return n > 0 ? n << 20 : kFileSizeLimit;
  }();
  return limit;
}

namespace {
/// A build whose sanitizer reserves terabytes of shadow memory as private mappings, which
/// RLIMIT_DATA (and RLIMIT_AS) count: a memory limit would stop every program at start.
constexpr bool kSanitizerBuild =
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
    true;
#else
    false;
#endif
#else
    false;
#endif

/// Lowers a limit, soft and hard (so the code under test cannot raise it again); never
/// raises one already lower.
void lower_limit(int resource, std::uint64_t to) {
  rlimit rl{};
  if (::getrlimit(resource, &rl) != 0) return;
  const auto want = static_cast<rlim_t>(to);  // RLIM_INFINITY is the largest rlim_t
  rl.rlim_cur = std::min(rl.rlim_cur, want);
  rl.rlim_max = std::min(rl.rlim_max, want);
  ::setrlimit(resource, &rl);
}
}  // namespace

void limit_test_process() {
  lower_limit(RLIMIT_FSIZE, file_size_limit());
  if (!kSanitizerBuild) lower_limit(RLIMIT_DATA, kMemoryLimit);
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
  if (!timed_out && status.signaled() && status.signal() == SIGXFSZ)
    s += fmt::format(
        "  note:    SIGXFSZ: it wrote a file past the {} MiB a test may write (RLIMIT_FSIZE)\n",
        file_size_limit() >> 20);
  s += fmt::format("  stdout:  {}\n", out.empty() ? "(empty)" : excerpt(out));
  s += fmt::format("  stderr:  {}\n", err.empty() ? "(empty)" : excerpt(err));
  for (const auto& [name, dropped] : {std::pair{"stdout", out_dropped}, {"stderr", err_dropped}})
    if (dropped > 0)
      s += fmt::format("  note:    {} was cut: {} bytes dropped beyond the {} MiB kept whole\n",
                       name, dropped, kKeptWhole >> 20);
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
  const ipclab::Deadline deadline(opts.timeout.scaled());
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
  BoundedText out_text(kKeptWhole), err_text(kKeptWhole);  // a program may print forever
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
        (fds[i].fd == out.read.get() ? out_text : err_text)
            .append(std::string_view(buf, static_cast<std::size_t>(got)));
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
  r.out = out_text.str();
  r.out_dropped = out_text.dropped();
  r.err = err_text.str();
  r.err_dropped = err_text.dropped();
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
std::string Process::out() const { return read_bounded(out_path_, kKeptWhole).str(); }
std::string Process::err() const { return read_bounded(err_path_, kKeptWhole).str(); }

namespace {
/// True once child `pid` has ended. WNOWAIT: it looks without reaping, so a later wait
/// still gets the status.
bool ended_unreaped(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) < 0) return true;
  return info.si_pid == pid;
}
}  // namespace

bool Process::exited() const { return pid_ <= 0 || status_ || ended_unreaped(pid_); }

namespace {
/// Waits until `text()` contains `needle`; gives up early once the process has exited
/// (after one last look), since an exited process prints nothing more.
bool wait_for_text(const Process& p, const std::function<std::string()>& text,
                   std::string_view needle, Timeout timeout) {
  const auto found = [&] { return text().find(needle) != std::string::npos; };
  wait_until([&] { return found() || p.exited(); }, timeout);
  return found();
}
}  // namespace

bool Process::wait_for_output(std::string_view needle, Timeout timeout) const {
  return wait_for_text(
      *this, [this] { return out(); }, needle, timeout);
}

bool Process::wait_for_err(std::string_view needle, Timeout timeout) const {
  return wait_for_text(
      *this, [this] { return err(); }, needle, timeout);
}

void Process::signal(int sig) {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::optional<ipclab::WaitStatus> Process::wait(Timeout timeout) {
  if (pid_ > 0 && !status_) status_ = ipclab::wait_for(pid_, ipclab::Deadline(timeout.scaled()));
  return status_;
}

bool Process::running() {
  if (pid_ > 0 && !status_) status_ = ipclab::try_wait(pid_);
  return pid_ > 0 && !status_;
}

RunResult Process::finish(Timeout timeout) {
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
  const BoundedText out = read_bounded(out_path_, kKeptWhole),
                    err = read_bounded(err_path_, kKeptWhole);
  r.out = out.str();
  r.out_dropped = out.dropped();
  r.err = err.str();
  r.err_dropped = err.dropped();
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

namespace {
/// Polls `pred` (1 ms, growing to 20 ms) until it is true or `by` passes.
bool poll_until(const std::function<bool()>& pred, const ipclab::Deadline& deadline) {
  auto pause = std::chrono::microseconds(1000);
  for (;;) {
    if (pred()) return true;
    if (deadline.expired()) return pred();
    std::this_thread::sleep_for(std::min<ipclab::Clock::duration>(pause, deadline.remaining()));
    pause = std::min(pause * 2, std::chrono::microseconds(20'000));
  }
}
}  // namespace

bool wait_until(const std::function<bool()>& pred, Timeout timeout) {
  return poll_until(pred, ipclab::Deadline(timeout.scaled()));
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

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
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
  if (r.out_dropped > 0) {  // only its two ends are left: nothing to compare
    ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
        << "stdout was cut: the program printed " << r.out_dropped << " bytes more than the "
        << (kKeptWhole >> 20) << " MiB the harness keeps whole (expected " << expected.size()
        << " bytes)\n"
        << r.describe();
    return;
  }
  if (r.out == expected) return;
  ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
      << "stdout differs from the expected output\n"
      << r.describe() << "  expected " << expected.size() << " bytes, got " << r.out.size()
      << " bytes (- expected, + actual):\n"
      << diff(expected, r.out);
}

std::string re_quote(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

void expect_lines(const std::string& text, const std::vector<std::string>& lines,
                  std::source_location where) {
  std::istringstream in(text);
  std::string line;
  std::string last_matched = "(the start)";
  for (const std::string& pattern : lines) {
    const std::regex re(pattern);
    bool found = false;
    while (!found && std::getline(in, line)) found = std::regex_match(line, re);
    if (!found) {
      ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
          << "no line matches /" << pattern << "/ after the line \"" << last_matched
          << "\"\nthe output:\n"
          << excerpt(text, 4000);
      return;
    }
    last_matched = line;
  }
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

// ---- a function of the test in a child process ------------------------------------------

namespace {

/// The name of an exception's dynamic type, demangled ("ipclab::SysError").
std::string type_name(const std::exception& e) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? name.get() : typeid(e).name();
}

/// The child's side: runs `body` with every gtest failure captured, writes what failed to
/// `report_fd` and exits 0 (passed) or 1 (failed). Never returns into the test.
[[noreturn]] void run_child_body(const std::function<void()>& body, int report_fd) {
  std::string failures;
  {
    ::testing::TestPartResultArray results;
    const ::testing::ScopedFakeTestPartResultReporter capture(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ALL_THREADS, &results);
    std::string escaped;
    try {
      body();
    } catch (const std::exception& e) {
      escaped = fmt::format("{}: {}\n", type_name(e), e.what());
    } catch (...) {
      escaped = "an exception not derived from std::exception\n";
    }
    for (int i = 0; i < results.size(); ++i) {
      const auto& r = results.GetTestPartResult(i);
      if (!r.failed()) continue;
      const std::string file = r.file_name() != nullptr
                                   ? std::filesystem::path(r.file_name()).filename().string()
                                   : std::string("(unknown file)");
      failures += fmt::format("{}:{}: {}\n", file, r.line_number(), r.message());
    }
    if (!escaped.empty()) failures += "the body threw " + escaped;
  }
  try {
    ipclab::write_full(report_fd, failures);
  } catch (const std::exception&) {  // the test process is gone: nobody to tell
  }
  std::fflush(nullptr);
  ::_exit(failures.empty() ? 0 : 1);
}

}  // namespace

bool ChildResult::passed() const {
  return !timed_out && status.exited() && status.exit_code() == 0 && failures.empty();
}

std::string ChildResult::describe() const {
  if (passed()) return "";
  std::string how;
  if (timed_out)
    how = fmt::format("still running after {:.1f}s (killed)", seconds);
  else if (status.exited() && status.exit_code() == 1 && !failures.empty())
    how = "failed";
  else if (status.exited())
    how = fmt::format(
        "exited with status {} without reporting a failure (its stderr above may "
        "say why)",
        status.exit_code());
  else
    how = status.describe();
  std::string s = fmt::format("child process '{}' {}", name, how);
  if (!failures.empty()) {
    s += ":\n    ";
    for (std::size_t i = 0; i < failures.size(); ++i) {
      if (failures[i] == '\n' && i + 1 < failures.size())
        s += "\n    ";
      else if (failures[i] != '\n')
        s += failures[i];
    }
  }
  return s;
}

Child::Child(std::function<void()> body, std::string name) : name_(std::move(name)) {
  ipclab::Pipe report = ipclab::make_pipe();
  std::fflush(nullptr);  // or the child writes what is buffered a second time
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) ipclab::throw_errno("fork for child process '{}'", name_);
  if (pid_ == 0) {
    report.read.reset();
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);  // the test process died before prctl
    run_child_body(body, report.write.get());
  }
  ::setpgid(pid_, pid_);  // here too: the group exists before the constructor returns
  report_ = std::move(report.read);
  ipclab::set_nonblocking(report_.get());
  started_ = static_cast<double>(ipclab::now_ns()) / 1e9;
}

Child::Child(Child&& o) noexcept
    : name_(std::move(o.name_)),
      pid_(std::exchange(o.pid_, -1)),
      report_(std::move(o.report_)),
      failures_(std::move(o.failures_)),
      result_(std::move(o.result_)),
      started_(o.started_) {}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    kill();
    name_ = std::move(o.name_);
    pid_ = std::exchange(o.pid_, -1);
    report_ = std::move(o.report_);
    failures_ = std::move(o.failures_);
    result_ = std::move(o.result_);
    started_ = o.started_;
  }
  return *this;
}

Child::~Child() { kill(); }

bool Child::exited() const { return pid_ <= 0 || result_ || ended_unreaped(pid_); }

void Child::read_report() {
  char buf[4096];
  while (report_.valid()) {
    const ssize_t got = ::read(report_.get(), buf, sizeof buf);
    if (got > 0) {
      failures_.append(std::string_view(buf, static_cast<std::size_t>(got)));
    } else if (got == 0 || errno != EINTR) {
      if (got == 0 || errno != EAGAIN) report_.reset();  // end of file, or broken
      return;
    }
  }
}

ChildResult Child::finish(Timeout timeout) { return finish(ipclab::Deadline(timeout.scaled())); }

ChildResult Child::finish(const ipclab::Deadline& by) {
  if (result_) return *result_;
  std::optional<ipclab::WaitStatus> status;
  // Read its report while waiting, so a long one never blocks it on a full pipe.
  for (;;) {
    read_report();
    if ((status = ipclab::try_wait(pid_)) || by.expired()) break;
    if (!report_.valid()) {  // its report is complete: only the exit is left
      status = ipclab::wait_for(pid_, by);
      break;
    }
    pollfd pfd{report_.get(), POLLIN, 0};
    ::poll(&pfd, 1, std::min(by.poll_ms(), 20));
  }
  if (!status) return record(ipclab::kill_and_reap(pid_), /*timed_out=*/true);
  ipclab::kill_group(pid_, SIGKILL);  // whatever it left in its group
  return record(*status, /*timed_out=*/false);
}

ChildResult Child::record(const ipclab::WaitStatus& status, bool timed_out) {
  read_report();  // the end of it, written before it exited
  report_.reset();
  ChildResult r;
  r.name = name_;
  r.status = status;
  r.timed_out = timed_out;
  r.failures = failures_.str();
  r.seconds = static_cast<double>(ipclab::now_ns()) / 1e9 - started_;
  result_ = r;
  return r;
}

void Child::kill() {
  if (pid_ <= 0) return;
  if (result_)
    ipclab::kill_group(pid_, SIGKILL);  // ended: whatever it left in its group
  else
    record(ipclab::kill_and_reap(pid_), /*timed_out=*/false);
}

std::string join(std::vector<Child>& children, Timeout timeout) {
  const ipclab::Deadline by(timeout.scaled());
  std::vector<bool> done(children.size(), false);
  std::string failed;
  poll_until(
      [&] {
        bool all = true;
        for (std::size_t i = 0; i < children.size(); ++i) {
          if (!done[i] && children[i].exited()) {
            done[i] = true;
            failed = children[i].finish(by).describe();
            if (!failed.empty()) return true;
          }
          all = all && done[i];
        }
        return all;
      },
      by);
  if (!failed.empty()) {
    for (auto& c : children) c.kill();  // peers blocked on the failed one
    return failed;
  }
  std::string late;
  for (std::size_t i = 0; i < children.size(); ++i)
    if (!done[i]) late += children[i].finish(by).describe() + "\n";
  return late;
}

void abandon_test(const std::string& why, std::source_location where) {
  ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line())) << why;
  // What the driver's ResultWriter would write at the end of the test (driver.cpp), which
  // never comes: without it the driver would call the early exit a CRASH.
  if (const char* result = std::getenv("IPCLAB_GRADER_RESULT"); result != nullptr && *result)
    std::ofstream(result) << "failed\n";
  std::fflush(nullptr);
  std::_Exit(1);
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
          "  reproduce: {}",
          i + 1, times, s, reproduce_command(lab_id(), name, s));
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
