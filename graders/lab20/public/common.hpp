// Shared by lab 20's public and hidden tests: a hub to drive, subscribers and publishers
// as programs, and a raw socket client that speaks frames with the test's own encoder (so
// a test of the hub does not lean on the student's codec).
#pragma once

#include <poll.h>        // poll
#include <signal.h>      // SIGTERM
#include <sys/socket.h>  // socket, connect, send, recv
#include <sys/un.h>      // sockaddr_un
#include <unistd.h>      // read

#include <cstdint>   // std::uint32_t
#include <cstring>   // std::memcpy
#include <optional>  // std::optional
#include <string>    // std::string
#include <utility>   // std::move
#include <vector>    // std::vector

#include "frames.hpp"  // frame(), the frame types
#include "grader/grader.hpp"
#include "ipclab/fd.hpp"  // Fd

using namespace std::chrono_literals;

namespace lab20_test {

inline const std::vector<std::string> kAllBackends = {"pipe", "fifo", "socket", "mqueue", "shm"};
/// The backends a program started by the test can use (pipe: only children of the hub).
inline const std::vector<std::string> kDirectBackends = {"fifo", "socket", "mqueue", "shm"};

inline std::string hub_socket() { return grader::rundir() + "/hub.sock"; }

/// myipchub in the background, ready (its banner seen) when constructed.
struct Hub {
  grader::Process proc;
  bool ready = false;
  explicit Hub(const std::vector<std::string>& extra = {}) : proc(argv(extra)) {
    ready = proc.wait_for_output("Listening for connections...\n", 15'000ms);
    if (!ready)
      ADD_FAILURE() << "myipchub did not print its banner ending `Listening for connections...`:\n"
                    << proc.finish().describe();
  }
  static std::vector<std::string> argv(const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"myipchub"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;
  ~Hub() {
    if (proc.running()) {
      proc.signal(SIGTERM);
      if (!proc.wait(10'000ms)) proc.kill();
    }
  }
  bool alive() { return proc.running(); }
  /// `myipchub --stats` against this hub.
  std::string stats() {
    auto r = grader::run({"myipchub", "--stats"}, {.timeout = 15'000ms});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    return r.out;
  }
};

/// A --spawn command line for one of this lab's programs.
inline std::string spawn_cmd(const std::string& prog, const std::string& args) {
  return grader::program(prog) + " " + args;
}

/// myipcsub in the background.
struct Sub {
  grader::Process proc;
  std::string backend;
  Sub(const std::string& b, const std::string& channel, std::vector<std::string> extra = {})
      : proc(make(b, channel, extra)), backend(b) {}
  static std::vector<std::string> make(const std::string& b, const std::string& channel,
                                       const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"myipcsub", "--backend", b,   "--channel",
                                  channel,    "--timeout", "10"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::string out() const { return proc.out(); }
  ::testing::AssertionResult saw(const std::string& needle, grader::Timeout t = 15'000ms) const {
    if (proc.wait_for_output(needle, t)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "expected `" << grader::excerpt(needle, 80)
           << "` in the output of myipcsub --backend " << backend << "; it printed:\n"
           << grader::excerpt(out(), 1500) << "\nstderr:\n"
           << proc.err();
  }
};

/// myipcpub with `input` on stdin, to completion.
inline grader::RunResult publish(const std::string& backend, const std::string& channel,
                                 const std::string& input, grader::Timeout t = 30'000ms) {
  return grader::run({"myipcpub", "--backend", backend, "--channel", channel, "--timeout", "10"},
                     {.input = input, .timeout = t});
}

using grader::lines;  // the complete lines of a text

inline std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size()))
    ++n;
  return n;
}

struct TFrame {
  std::uint8_t type = 0;
  std::string channel, payload;
};

/// A raw connection to the hub's socket: nothing is read unless the test reads.
struct Raw {
  ipclab::Fd fd;
  std::string buf;
  explicit Raw(const std::string& path = hub_socket()) {
    fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!connect_to(fd.get(), path))
      ADD_FAILURE() << "connect(" << path << "): " << std::strerror(errno);
  }
  /// Connects the stream socket `sock` to the socket at `path`; false (errno set) if not.
  static bool connect_to(int sock, const std::string& path = hub_socket()) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return ::connect(sock, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  /// A connection the test made itself: a socket made before it closed a descriptor, or the
  /// down FIFO of a FIFO client it plays (read_frame only).
  explicit Raw(ipclab::Fd connected) : fd(std::move(connected)) {}
  /// Sends all of `s`; false if the hub hung up.
  bool send(const std::string& s) {
    for (std::size_t off = 0; off < s.size();) {
      const ssize_t n = ::send(fd.get(), s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  /// The next frame from the hub; nullopt at the deadline or when it hung up.
  std::optional<TFrame> read_frame(grader::Timeout t = 10'000ms) {
    const auto deadline = grader::deadline(t);
    for (;;) {
      if (buf.size() >= 8) {
        std::uint32_t len = 0;
        std::memcpy(&len, buf.data() + 4, 4);
        const std::size_t ch = static_cast<unsigned char>(buf[3]);
        if (buf.size() >= 8 + ch + len) {
          TFrame f{static_cast<std::uint8_t>(buf[2]), buf.substr(8, ch), buf.substr(8 + ch, len)};
          buf.erase(0, 8 + ch + len);
          return f;
        }
      }
      pollfd p{fd.get(), POLLIN, 0};
      if (::poll(&p, 1, deadline.poll_ms()) <= 0) return std::nullopt;
      char tmp[65536];
      const ssize_t n = ::read(fd.get(), tmp, sizeof tmp);  // a socket, or a down FIFO
      if (n <= 0) return std::nullopt;
      buf.append(tmp, static_cast<std::size_t>(n));
    }
  }
  /// Sends a request and returns the answer (ACK or ERROR), skipping DATA.
  std::optional<TFrame> request(const std::string& bytes) {
    if (!send(bytes)) return std::nullopt;
    for (;;) {
      auto f = read_frame();
      if (!f || f->type != kData) return f;
    }
  }
  /// True once the hub has closed this connection.
  bool closed_by_hub(grader::Timeout t = 10'000ms) {
    return grader::wait_until(
        [&] {
          char tmp[4096];
          const ssize_t n = ::recv(fd.get(), tmp, sizeof tmp, MSG_DONTWAIT);
          if (n > 0) buf.append(tmp, static_cast<std::size_t>(n));
          return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
        },
        t);
  }
  /// CONNECT as a socket client; true on ACK.
  bool hello() {
    auto f = request(frame(kConnect, "", "socket " + std::to_string(::getpid())));
    return f && f->type == kAck;
  }
};

/// The hub answers: a new raw client can connect and get an ACK.
inline ::testing::AssertionResult responsive() {
  Raw probe;
  if (probe.hello()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "the hub did not ACK a new client's CONNECT";
}

}  // namespace lab20_test
