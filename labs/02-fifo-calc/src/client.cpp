// Lab 02 reference: one client call (Stevens UNP2 4.10, the client of figure 4.24).
//
// The order is the point:
//   1. encode the request first: a request that cannot be sent touches nothing;
//   2. make the reply FIFO and open it O_RDONLY|O_NONBLOCK *before* sending: the server
//      opens it O_WRONLY|O_NONBLOCK and takes ENXIO (no reader yet) as "client gone";
//   3. open the server's FIFO O_WRONLY|O_NONBLOCK: ENOENT (no FIFO) or ENXIO (a FIFO with no
//      reader: no server, or one killed by kill -9) means "not running yet", so retry with
//      backoff until the deadline. A blocking open would wait forever on a stale FIFO;
//   4. send the request in one write(2) (<= PIPE_BUF: atomic, never interleaved);
//   5. poll the reply FIFO until a line arrives or the deadline passes.
// Every wait also watches cancel_fd (SIGINT), and the FIFO node is owned by an object whose
// destructor unlinks it, so every way out of call() removes it.
#include <fcntl.h>     // open
#include <poll.h>      // poll
#include <sys/stat.h>  // mkfifo, lstat
#include <unistd.h>    // getpid, unlink, read, write

#include <algorithm>  // std::min
#include <cerrno>     // errno

#include <fmt/core.h>  // fmt::format

#include "ipclab/clock.hpp"   // Deadline
#include "ipclab/error.hpp"   // check_unix, throw_errno, throw_error
#include "ipclab/signal.hpp"  // ignore_sigpipe
#include "lab02/calc.hpp"

namespace ipclab::lab02 {
namespace {

/// The client's reply FIFO node: made (replacing a stale one) here, removed on destruction.
class ReplyFifo {
 public:
  explicit ReplyFifo(std::string path) : path_(std::move(path)) {
    if (::mkfifo(path_.c_str(), 0600) == 0) return;
    if (errno != EEXIST) throw_errno("mkfifo(\"{}\")", path_);
    // Left by a client with the same id that was killed (pids are reused): replace it.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && !S_ISFIFO(st.st_mode))
      throw_error(EEXIST, "{} exists and is not a FIFO; not touching it", path_);
    check_unix(::unlink(path_.c_str()), "unlink stale FIFO \"{}\"", path_);
    check_unix(::mkfifo(path_.c_str(), 0600), "mkfifo(\"{}\")", path_);
  }
  ReplyFifo(const ReplyFifo&) = delete;
  ReplyFifo& operator=(const ReplyFifo&) = delete;
  ~ReplyFifo() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Waits until `fd` has `events` (fd -1: just the pause), the deadline, or a cancel.
/// Returns true if fd is ready; throws Interrupted if cancel_fd became readable.
bool wait_ready(int fd, short events, int cancel_fd, int timeout_ms) {
  pollfd fds[2];
  nfds_t n = 0;
  if (fd >= 0) fds[n++] = {fd, events, 0};
  if (cancel_fd >= 0) fds[n++] = {cancel_fd, POLLIN, 0};
  const int rc = ::poll(fds, n, timeout_ms);
  if (rc < 0 && errno != EINTR) throw_errno("poll");
  if (cancel_fd >= 0 && rc > 0 && fds[n - 1].revents != 0) throw Interrupted("interrupted");
  return rc > 0 && fd >= 0 && fds[0].revents != 0;
}

std::string seconds(std::chrono::milliseconds t) {
  return fmt::format("{:g}s", static_cast<double>(t.count()) / 1000.0);
}

/// Steps 3 and 4: waits for a server and hands it the request in one write(2).
void send_request(const std::string& request, const Deadline& deadline, const CallOptions& opts) {
  const std::string path = server_fifo_path();
  auto pause = std::chrono::milliseconds(2);
  for (;;) {
    Fd server(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!server) {
      if (errno != ENOENT && errno != ENXIO) throw_errno("open(\"{}\", O_WRONLY)", path);
      if (deadline.expired()) throw ServerNotRunning();
      wait_ready(-1, 0, opts.cancel_fd,
                 std::min(static_cast<int>(pause.count()), deadline.poll_ms()));
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
      continue;
    }
    for (;;) {
      const ssize_t n = retry_eintr(::write, server.get(), request.data(), request.size());
      if (n == static_cast<ssize_t>(request.size())) return;
      if (n >= 0) throw_error(EIO, "short write of a request to \"{}\"", path);  // not <= PIPE_BUF
      if (errno == EPIPE) break;  // the server died since the open: look for a new one
      if (errno != EAGAIN) throw_errno("write request to \"{}\"", path);
      // Its FIFO is full (a busy server): wait for room, all PIPE_BUF bytes of it.
      if (!wait_ready(server.get(), POLLOUT, opts.cancel_fd, deadline.poll_ms()) &&
          deadline.expired())
        throw NoReply(
            fmt::format("server did not take the request within {}", seconds(opts.timeout)));
    }
  }
}

}  // namespace

Reply call(std::string_view expression, const CallOptions& opts) {
  const std::string id = opts.client_id.empty() ? std::to_string(::getpid()) : opts.client_id;
  const std::string request = encode_request({id, std::string(expression)});
  const Deadline deadline(opts.timeout);
  ignore_sigpipe();  // a server dying between our open and write must be EPIPE, not our death

  const ReplyFifo fifo(client_fifo_path(id));
  const Fd reply(check_unix(::open(fifo.path().c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC),
                            "open(\"{}\", O_RDONLY|O_NONBLOCK)", fifo.path()));
  send_request(request, deadline, opts);

  std::string line;
  char buf[kMaxRequest];
  for (;;) {
    if (!wait_ready(reply.get(), POLLIN, opts.cancel_fd, deadline.poll_ms())) {
      if (deadline.expired())
        throw NoReply(fmt::format("no reply from server within {}", seconds(opts.timeout)));
      continue;  // EINTR
    }
    const ssize_t n = ::read(reply.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw_errno("read(\"{}\")", fifo.path());
    }
    if (n == 0)  // the writer came and went without a whole line
      throw_error(EPROTO, "server closed {} without a whole reply: \"{}\"", fifo.path(), line);
    line.append(buf, static_cast<std::size_t>(n));
    if (const auto nl = line.find('\n'); nl != std::string::npos)
      return decode_reply(std::string_view(line).substr(0, nl));
  }
}

}  // namespace ipclab::lab02
