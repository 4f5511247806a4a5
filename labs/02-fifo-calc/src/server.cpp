// Lab 02 reference: the iterative FIFO server (Stevens UNP2 4.10, figure 4.23 and after).
//
// Invariants, and the trap each one avoids:
//   - Startup never blocks. open(O_RDONLY) on a FIFO blocks until a writer appears, so the
//     well-known FIFO is opened O_RDONLY|O_NONBLOCK, and then once more O_WRONLY by the
//     server itself: that "dummy writer" means read(2) never returns end-of-file when the
//     last client closes (else the server would see EOF after every client, and a poll
//     loop would spin on POLLHUP).
//   - No live server is ever hijacked. The server holds the service's single-instance lock
//     (ipclab::InstanceLock, an fcntl lock on server_lock_path()) for its whole life; the
//     kernel drops it when the process dies, even by kill -9. Only with the lock held is a
//     FIFO at the path known to be stale and replaced. A clean exit removes the lock file
//     (InstanceLock unlinks it before it lets go, and a newcomer that locked the old inode
//     sees it unnamed and starts again: never two owners).
//   - Shutdown removes the FIFO *before* it releases the lock (destructors run in reverse
//     order): a new server that starts in between must not lose its fresh FIFO to us.
//   - No client can block or kill the server. A reply FIFO is opened O_WRONLY|O_NONBLOCK:
//     ENXIO (no reader) and ENOENT mean the client is gone, where a blocking open would
//     wait forever. The reply is one non-blocking write; EPIPE (the reader left after the
//     open) and EAGAIN (a client that never reads) drop it. SIGPIPE is ignored, so EPIPE is
//     an error code and not death.
//   - Requests are split at '\n' whatever read(2) returns: several requests, or half of
//     one. A line longer than kMaxRequest is dropped, bytes included up to its '\n'.
#include <fcntl.h>     // open
#include <poll.h>      // poll
#include <sys/stat.h>  // mkfifo, lstat, fstat
#include <unistd.h>    // read, write, unlink

#include <cerrno>  // errno
#include <string>  // std::string

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"          // check_unix, throw_error, SysError
#include "ipclab/instance_lock.hpp"  // InstanceLock
#include "ipclab/signal.hpp"         // ignore_sigpipe
#include "lab02/calc.hpp"

namespace ipclab::lab02 {
namespace {

/// Takes the server's single-instance lock, or throws AlreadyRunning naming the live one.
InstanceLock take_lock() {
  try {
    return InstanceLock::acquire(kServerLockName);
  } catch (const ipclab::AlreadyRunning& e) {
    throw AlreadyRunning(
        fmt::format("calc_server already running (pid {}) on {}", e.pid(), server_fifo_path()));
  }
}

/// Owns the FIFO node: removes it on destruction.
class FifoNode {
 public:
  explicit FifoNode(std::string path) : path_(std::move(path)) {
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0) {
      if (!S_ISFIFO(st.st_mode))
        throw_error(EEXIST, "{} exists and is not a FIFO; not touching it", path_);
      // We hold the lock, so no server is reading this one: left by a killed server.
      check_unix(::unlink(path_.c_str()), "unlink stale FIFO \"{}\"", path_);
    } else if (errno != ENOENT) {
      throw_errno("lstat(\"{}\")", path_);
    }
    check_unix(::mkfifo(path_.c_str(), 0600), "mkfifo(\"{}\")", path_);
  }
  FifoNode(const FifoNode&) = delete;
  FifoNode& operator=(const FifoNode&) = delete;
  ~FifoNode() { ::unlink(path_.c_str()); }

 private:
  std::string path_;
};

std::string shown(std::string_view s) {
  return s.size() <= 60 ? std::string(s)
                        : fmt::format("{}... ({} bytes)", s.substr(0, 60), s.size());
}

class Loop {
 public:
  explicit Loop(const ServerOptions& opts) : opts_(opts) {}

  /// Takes the bytes of one read(2) and serves every complete line in them.
  void feed(const char* data, std::size_t n) {
    buf_.append(data, n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = buf_.find('\n', start)) != std::string::npos; start = nl + 1) {
      const std::string_view line(buf_.data() + start, nl - start);
      if (skipping_) {  // the tail of an oversized line
        skipping_ = false;
      } else if (line.size() + 1 > kMaxRequest) {
        drop_bad(line, "longer than PIPE_BUF");
      } else {
        serve(line);
      }
    }
    buf_.erase(0, start);
    if (buf_.size() >= kMaxRequest) {  // no '\n' within kMaxRequest bytes: not a request
      if (!skipping_) drop_bad(buf_, "longer than PIPE_BUF");
      skipping_ = true;
      buf_.clear();
    }
  }

  const ServerStats& stats() const { return stats_; }

 private:
  void log(const std::string& line) const {
    if (opts_.log) opts_.log(line);
  }

  void drop_bad(std::string_view line, std::string_view why) {
    ++stats_.bad_requests;
    if (opts_.log) log(fmt::format("bad request dropped ({}): \"{}\"", why, shown(line)));
  }

  void serve(std::string_view line) {
    const auto request = decode_request(line);
    if (!request) return drop_bad(line, "no valid client id");
    ++stats_.requests;
    const Reply reply = compute(request->expression);
    std::string gone;  // why the reply was not delivered
    try {
      Fd fd = open_reply_fifo(request->client_id);
      if (!fd)
        gone = "no reply FIFO or nobody reading it";
      else if (!send_reply(fd.get(), reply))
        gone = "it closed its FIFO or does not read it";
    } catch (const SysError& e) {  // a client must not be able to stop the server
      gone = e.what();
    }
    if (gone.empty()) {
      ++stats_.replies;
    } else {
      ++stats_.clients_gone;
    }
    if (opts_.log) {
      log(fmt::format("Received: {} from client {}", shown(request->expression),
                      request->client_id));
      const std::string r =
          reply.status == Status::kOk ? std::to_string(reply.value) : "error: " + reply.message;
      const std::string to = client_fifo_path(request->client_id);
      log(gone.empty()
              ? fmt::format("Sending response: {} to {}", r, to)
              : fmt::format("Sending response: {} to {} (dropped, client gone: {})", r, to, gone));
    }
  }

  const ServerOptions& opts_;
  ServerStats stats_;
  std::string buf_;        // bytes read but not yet a whole line
  bool skipping_ = false;  // dropping an oversized line up to its '\n'
};

}  // namespace

Fd open_reply_fifo(std::string_view client_id) {
  const std::string path = client_fifo_path(client_id);
  // O_NONBLOCK: with no reader, fail at once with ENXIO instead of waiting for one forever.
  // O_NOFOLLOW and the S_ISFIFO check: never write a reply into anything but a FIFO.
  Fd fd(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ENXIO || errno == ELOOP) return Fd();
    throw_errno("open(\"{}\", O_WRONLY|O_NONBLOCK)", path);
  }
  struct stat st {};
  check_unix(::fstat(fd.get(), &st), "fstat(\"{}\")", path);
  if (!S_ISFIFO(st.st_mode)) return Fd();
  return fd;
}

bool send_reply(int fd, const Reply& reply) {
  const std::string data = encode_reply(reply);
  const ssize_t n = retry_eintr(::write, fd, data.data(), data.size());
  if (n < 0) {
    if (errno == EPIPE || errno == EAGAIN) return false;
    throw_errno("write reply (fd {})", fd);
  }
  return static_cast<std::size_t>(n) == data.size();  // short only if the pipe was not empty
}

ServerStats run_server(const ServerOptions& opts) {
  ignore_sigpipe();
  const InstanceLock lock = take_lock();  // destroyed last: the FIFO goes before the lock
  const std::string path = server_fifo_path();
  const FifoNode node(path);
  // Reader first, non-blocking (no writer yet), then our own writer: never EOF.
  const Fd in(check_unix(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC),
                         "open(\"{}\", O_RDONLY|O_NONBLOCK)", path));
  const Fd dummy_writer(
      check_unix(::open(path.c_str(), O_WRONLY | O_CLOEXEC), "open(\"{}\", O_WRONLY)", path));
  if (opts.on_ready) opts.on_ready(path);

  Loop loop(opts);
  char chunk[65536];
  for (;;) {
    pollfd fds[2] = {{in.get(), POLLIN, 0}, {opts.stop_fd, POLLIN, 0}};
    const nfds_t nfds = opts.stop_fd >= 0 ? 2 : 1;
    if (::poll(fds, nfds, -1) < 0) {
      if (errno == EINTR) continue;  // a signal: the stop descriptor says whether to stop
      throw_errno("poll");
    }
    if (nfds == 2 && fds[1].revents != 0) break;
    if (fds[0].revents == 0) continue;
    const ssize_t n = ::read(in.get(), chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw_errno("read(\"{}\")", path);
    }
    loop.feed(chunk, static_cast<std::size_t>(n));
  }
  return loop.stats();
}

}  // namespace ipclab::lab02
