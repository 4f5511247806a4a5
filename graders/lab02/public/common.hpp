// Shared by lab 02's public and hidden tests: a calc_server in the background that is
// stopped with SIGTERM (so it can clean up), calc_client runs with generous deadlines, a
// fake client written here (independent of the student's call()), and FIFO inspection.
#pragma once

#include <fcntl.h>     // open
#include <poll.h>      // poll
#include <signal.h>    // SIGTERM, SIGPIPE
#include <sys/stat.h>  // mkfifo, lstat
#include <unistd.h>    // unlink

#include <algorithm>   // std::sort
#include <cstdint>     // std::uint64_t
#include <filesystem>  // std::filesystem
#include <optional>    // std::optional
#include <ostream>     // std::ostream, for gtest's PrintTo
#include <sstream>     // std::istringstream
#include <string>      // std::string
#include <vector>      // std::vector

#include "grader/grader.hpp"
#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/error.hpp"  // UsageError, SysError
#include "ipclab/fd.hpp"
#include "ipclab/io.hpp"       // write_full, read_file
#include "ipclab/process.hpp"  // process_state
#include "lab02/calc.hpp"

using namespace std::chrono_literals;

// gtest prints values through these (found by argument-dependent lookup).
namespace ipclab::lab02 {
inline const char* status_name(Status s) {
  switch (s) {
    case Status::kOk:
      return "kOk";
    case Status::kMalformed:
      return "kMalformed";
    case Status::kDivisionByZero:
      return "kDivisionByZero";
    case Status::kOverflow:
      return "kOverflow";
  }
  return "(invalid Status)";
}
inline void PrintTo(Status s, std::ostream* os) { *os << status_name(s); }
inline void PrintTo(const Reply& r, std::ostream* os) {
  *os << "{" << status_name(r.status) << ", " << r.value << ", \"" << r.message << "\"}";
}
inline void PrintTo(const Expr& e, std::ostream* os) {
  *os << "{" << e.lhs << " " << static_cast<char>(e.op) << " " << e.rhs << "}";
}
inline void PrintTo(const Request& r, std::ostream* os) {
  *os << "{\"" << r.client_id << "\", \"" << r.expression << "\"}";
}
}  // namespace ipclab::lab02

namespace lab02_test {

namespace lab = ipclab::lab02;

/// "12.5": a duration as calc_client's --timeout wants it, scaled for slow builds.
inline std::string seconds_arg(grader::Timeout t) {
  return fmt::format("{:.3f}", static_cast<double>(grader::scaled(t).count()) / 1000.0);
}

/// calc_client --timeout T args...: T is long (a correct client answers in milliseconds;
/// the deadline only matters when the test is broken), and run's own deadline is longer.
inline grader::RunResult client(const std::vector<std::string>& args,
                                grader::Timeout t = 15'000ms) {
  std::vector<std::string> argv = {"calc_client", "--timeout", seconds_arg(t)};
  argv.insert(argv.end(), args.begin(), args.end());
  return grader::run(argv, {.timeout = t.unscaled() + 10'000ms});
}

/// The FIFOs in this test's run directory (names only), sorted.
inline std::vector<std::string> fifos() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(grader::rundir(), ec))
    if (e.is_fifo(ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}
inline std::vector<std::string> client_fifos() {
  std::vector<std::string> out;
  for (auto& f : fifos())
    if (f.rfind("calc_client_", 0) == 0) out.push_back(f);
  return out;
}
inline std::string list(const std::vector<std::string>& v) {
  return v.empty() ? "(none)" : fmt::format("{}", fmt::join(v, " "));
}
inline bool is_fifo(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}
inline ino_t inode(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

/// How many descriptors process `pid` (0: this one) has open on `path`; `leaky` gets
/// " FD" for each of them without close-on-exec (O_CLOEXEC, from /proc/<pid>/fdinfo).
inline int fds_open_on(pid_t pid, const std::string& path, std::string* leaky = nullptr) {
  const std::string proc = pid == 0 ? std::string("/proc/self") : fmt::format("/proc/{}", pid);
  int count = 0;
  for (const int fd : ipclab::open_fds(pid)) {
    if (ipclab::fd_target(pid, fd) != path) continue;
    ++count;
    const std::string info = ipclab::read_file(fmt::format("{}/fdinfo/{}", proc, fd));
    const auto at = info.find("flags:");
    const unsigned long flags =
        at == std::string::npos ? 0 : std::stoul(info.substr(at + 6), nullptr, 8);
    if (leaky != nullptr && (flags & O_CLOEXEC) == 0) *leaky += fmt::format(" {}", fd);
  }
  return count;
}

/// True while process `pid` has `path` open and sleeps (state S): a calc_client in the
/// poll(2) that follows its open of `path`.
inline bool sleeps_with_open(pid_t pid, const std::string& path) {
  return fds_open_on(pid, path) > 0 && ipclab::process_state(pid) == 'S';
}

/// Watches process `pid` for `watch`: the CPU seconds it used if that passed 0.3 s (a busy
/// loop), nullopt if it stayed asleep.
inline std::optional<double> busy_cpu(pid_t pid, grader::Timeout watch) {
  const double before = grader::cpu_seconds(pid);
  if (!grader::wait_until([&] { return grader::cpu_seconds(pid) - before > 0.3; }, watch))
    return std::nullopt;
  return grader::cpu_seconds(pid) - before;
}

/// How process `pid` treats SIGPIPE, from /proc/<pid>/status: "default", "ignored",
/// "caught" or "blocked".
inline std::string sigpipe_disposition(pid_t pid) {
  std::istringstream in(ipclab::read_file(fmt::format("/proc/{}/status", pid)));
  const std::uint64_t bit = std::uint64_t{1} << (SIGPIPE - 1);
  std::string result = "default";
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon);
    if (key != "SigIgn" && key != "SigCgt" && key != "SigBlk") continue;
    const std::uint64_t mask = std::stoull(line.substr(colon + 1), nullptr, 16);
    if ((mask & bit) != 0 && result == "default")
      result = key == "SigIgn" ? "ignored" : key == "SigCgt" ? "caught" : "blocked";
  }
  return result;
}

/// calc_server in the background. The destructor stops it with SIGTERM first, so that a
/// failing test does not also report the FIFO as leaked.
class Server {
 public:
  Server() : p_({"calc_server"}) {}
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() {
    if (p_.running()) {
      p_.signal(SIGTERM);
      p_.wait(3'000ms);
    }
  }
  /// Waits until it says it is listening; false if it did not (then see why()).
  bool ready() {
    auto listening = [&] { return p_.out().find("listening") != std::string::npos; };
    grader::wait_until([&] { return listening() || !p_.running(); }, 10'000ms);
    return listening();
  }
  std::string why() {
    if (p_.running())
      return fmt::format(
          "calc_server did not print \"listening\" within {}s. A server must not block on "
          "startup: open(O_RDONLY) of a FIFO waits for a writer (README §Pitfalls 1); and "
          "run_server must call opts.on_ready.\n  stderr:  {}",
          grader::scaled(10'000ms).count() / 1000, grader::excerpt(p_.err()));
    return fmt::format("calc_server exited before it was ready:\n{}", p_.finish().describe());
  }
  /// Sends `sig` and waits for the exit.
  grader::RunResult stop(int sig = SIGTERM) {
    p_.signal(sig);
    return p_.finish(10'000ms);
  }
  grader::Process& proc() { return p_; }
  pid_t pid() const { return p_.pid(); }

 private:
  grader::Process p_;
};

/// A client written here, with the wire format of the README: its own reply FIFO, opened
/// before the request is written; removed on destruction.
class FakeClient {
 public:
  explicit FakeClient(std::string id, bool open_reader = true)
      : id_(std::move(id)), path_(lab::client_fifo_path(id_)) {
    ::unlink(path_.c_str());
    ipclab::check_unix(::mkfifo(path_.c_str(), 0600), "mkfifo(\"{}\")", path_);
    if (open_reader)
      reader_ = ipclab::Fd(ipclab::check_unix(
          ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC), "open(\"{}\")", path_));
  }
  FakeClient(const FakeClient&) = delete;
  FakeClient& operator=(const FakeClient&) = delete;
  ~FakeClient() { ::unlink(path_.c_str()); }

  /// Writes raw bytes to the server's FIFO in one write; false if there is no reader.
  static bool send_raw(std::string_view bytes) {
    const std::string server = lab::server_fifo_path();
    ipclab::Fd fd(::open(server.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return false;
    ipclab::write_full(fd.get(), bytes);
    return true;
  }
  bool send(std::string_view expression) {
    return send_raw(fmt::format("{} {}\n", id_, expression));
  }
  /// The reply line (without '\n'), or nullopt at the deadline.
  std::optional<std::string> reply(grader::Timeout timeout = 10'000ms) {
    const ipclab::Deadline deadline = grader::deadline(timeout);
    std::string got;
    char buf[4096];
    while (!deadline.expired()) {
      pollfd p{reader_.get(), POLLIN, 0};
      if (::poll(&p, 1, deadline.poll_ms()) <= 0) continue;
      const ssize_t n = ::read(reader_.get(), buf, sizeof buf);
      if (n <= 0) {
        if (n == 0) return got.empty() ? std::nullopt : std::optional<std::string>(got);
        continue;
      }
      got.append(buf, static_cast<std::size_t>(n));
      if (const auto nl = got.find('\n'); nl != std::string::npos) return got.substr(0, nl);
    }
    return std::nullopt;
  }
  void close_reader() { reader_.reset(); }
  const std::string& path() const { return path_; }

 private:
  std::string id_, path_;
  ipclab::Fd reader_;
};

}  // namespace lab02_test
