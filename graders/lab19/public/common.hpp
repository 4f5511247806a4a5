// Shared by lab 19's public and hidden tests: a chat server and clients to drive, a raw
// socket client (which reads only when the test says so), and small text helpers.
#pragma once

#include <poll.h>        // poll
#include <signal.h>      // SIGTERM
#include <sys/socket.h>  // socket, connect, send, recv
#include <sys/un.h>      // sockaddr_un
#include <unistd.h>      // getuid

#include <cstring>  // std::memcpy
#include <map>      // std::map
#include <string>   // std::string
#include <vector>   // std::vector

#include "grader/grader.hpp"
#include "ipclab/fd.hpp"       // Fd
#include "ipclab/process.hpp"  // process_state

using namespace std::chrono_literals;

namespace lab19_test {

/// The socket path of this test (its own run directory).
inline std::string sock_path(const std::string& name = "chat.sock") {
  return grader::rundir() + "/" + name;
}

/// chat_server in the background, ready (its "listening on" line seen) when constructed.
struct Server {
  grader::Process proc;
  std::string path;
  bool ready = false;  ///< it printed its "listening on" line (tests ASSERT this first)
  explicit Server(std::vector<std::string> extra = {}, std::string p = sock_path())
      : proc(make_argv(extra, p)), path(std::move(p)) {
    grader::wait_until(
        [&] { return proc.out().find("listening on") != std::string::npos || !proc.running(); },
        10'000ms);
    ready = proc.out().find("listening on") != std::string::npos;
    if (!ready)
      ADD_FAILURE() << "chat_server did not print `chat_server: listening on PATH`:\n"
                    << proc.finish().describe();
  }
  static std::vector<std::string> make_argv(const std::vector<std::string>& extra,
                                            const std::string& p) {
    std::vector<std::string> argv = {"chat_server", "--socket", p};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  /// Stops the server as a user would (SIGTERM) and removes a socket file it left behind:
  /// only Chat.SignalsRemoveSocketFile judges that, the other tests are not charged for it.
  ~Server() {
    if (proc.running()) {
      proc.signal(SIGTERM);
      if (!proc.wait(5'000ms)) proc.kill();
    }
    ::unlink(path.c_str());
  }
  bool alive() { return proc.running(); }
};

/// A chat_client process; stdin is a pipe the test writes, stdout a file it reads.
struct Client {
  grader::Process proc;
  Client(const std::string& path, const std::string& name)
      : proc({"chat_client", "--socket", path, "--name", name, "--timeout", "10"}) {}
  void say(const std::string& line) { proc.write(line + "\n"); }
  std::string out() const { return proc.out(); }
  /// Waits until it printed `needle`; gives up early if it exited without printing it.
  bool wait_for(const std::string& needle, grader::Timeout t = 10'000ms) {
    grader::wait_until([&] { return out().find(needle) != std::string::npos || !proc.running(); },
                       t);
    return out().find(needle) != std::string::npos;
  }
};

/// A raw connection made by the test itself: nothing is read unless the test reads it.
struct Raw {
  ipclab::Fd fd;
  explicit Raw(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
      ADD_FAILURE() << "connect(" << path << "): " << std::strerror(errno);
  }
  void send(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::send(fd.get(), s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        ADD_FAILURE() << "send to the server: " << std::strerror(errno);
        return;
      }
      off += static_cast<std::size_t>(n);
    }
  }
  /// Appends to `got` what has arrived, without waiting; true once the server has closed
  /// this connection (EOF or reset).
  bool drain(std::string& got) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        got.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    }
  }
  /// Reads what has arrived until `needle` is in `got` or the deadline passes.
  bool read_until(std::string& got, const std::string& needle, grader::Timeout t = 10'000ms) {
    return grader::wait_until(
        [&] {
          (void)drain(got);
          return got.find(needle) != std::string::npos;
        },
        t);
  }
  /// Reads everything into `got` until the server has closed this connection (true).
  bool read_until_closed(std::string& got, grader::Timeout t = 10'000ms) {
    return grader::wait_until([&] { return drain(got); }, t);
  }
  /// True once the server has closed this connection (EOF or reset), reading what is left.
  bool closed_by_server(grader::Timeout t = 10'000ms) {
    std::string ignored;
    return grader::wait_until(
        [&] {
          ignored.clear();
          return drain(ignored);
        },
        t);
  }
};

using grader::lines;  // the complete lines of a text

inline std::size_t count_lines_starting(const std::string& text, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& l : lines(text)) n += l.rfind(prefix, 0) == 0;
  return n;
}

inline bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines(text))
    if (l == line) return true;
  return false;
}

/// The server answers: a fresh client can join and get its /who.
inline ::testing::AssertionResult responsive(const std::string& path) {
  Raw probe(path);
  probe.send("/who\n");
  std::string got;
  if (probe.read_until(got, "* who:")) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "the server did not answer /who from a new client; it received:\n"
         << grader::excerpt(got);
}

/// Process `pid` sleeps (in poll) for a second of wall time, waited for, not slept blind. A
/// busy loop shows as CPU time, or, on a busy machine that gives it little CPU, as a process
/// that is runnable at most looks.
inline ::testing::AssertionResult sleeps_for_a_second(pid_t pid, const std::string& who) {
  const double before = grader::cpu_seconds(pid);
  const auto start = std::chrono::steady_clock::now();
  int looks = 0, runnable = 0;
  grader::wait_until(
      [&] {
        ++looks;
        runnable += ipclab::process_state(pid) == 'R';
        return std::chrono::steady_clock::now() - start > 1'000ms;
      },
      2'000ms);
  const double cpu = grader::cpu_seconds(pid) - before;
  if (cpu < 0.2 && 2 * runnable < looks) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << who << " used " << cpu << " s of CPU in one second and was runnable at " << runnable
         << " of " << looks << " looks: it spins instead of sleeping in poll";
}

/// What `ipc_demo MODE --size SIZE` prints: for a pipe the course guide's "hello" / "ack"
/// first, then the verified exchange.
inline std::string demo_output(const std::string& mode, const std::string& size) {
  return (mode == "pipe" ? "parent -> child: hello\nchild -> parent: ack\n" : "") +
         std::string("writer: wrote ") + size + " bytes\nreader: checksum OK\n";
}

}  // namespace lab19_test
