// Lab 19 reference: the chat client (see chat.hpp, run_client).
//
// Two sources, one thread: poll(2) on the socket and on the input, and copy whichever is
// ready. Reading the server's lines only when there is no input (or the other way round)
// deadlocks as soon as both sides' buffers are full.
#include <poll.h>        // poll
#include <sys/socket.h>  // recv, send, shutdown
#include <unistd.h>      // read

#include <cerrno>  // errno
#include <chrono>  // std::chrono::duration

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/error.hpp"  // throw_errno, retry_eintr
#include "ipclab/io.hpp"     // write_full
#include "lab19/chat.hpp"
#include "lab19/unix.hpp"

namespace ipclab::lab19 {
namespace {

/// Sends everything; false if the server has gone (EPIPE/ECONNRESET), never SIGPIPE.
bool send_all(int sock, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n =
        retry_eintr([&] { return ::send(sock, data.data(), data.size(), MSG_NOSIGNAL); });
    if (n < 0) {
      if (errno == EPIPE || errno == ECONNRESET) return false;
      throw_errno("send to the server");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

int run_client(const ClientOptions& opts) {
  const auto timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(opts.connect_timeout_s));
  Fd sock = connect_unix(opts.socket_path, Deadline(timeout));
  bool sending = opts.name.empty() || send_all(sock.get(), "/name " + opts.name + "\n");
  char buf[64 * 1024];
  for (;;) {
    pollfd fds[2] = {{sock.get(), POLLIN, 0}, {sending ? opts.in_fd : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    if (fds[0].revents != 0) {
      const ssize_t n = retry_eintr([&] { return ::recv(sock.get(), buf, sizeof buf, 0); });
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return 0;  // the server closed
      if (n < 0) throw_errno("recv from the server");
      write_full(opts.out_fd, buf, static_cast<std::size_t>(n));
    }
    if (fds[1].revents != 0) {
      const ssize_t n = retry_eintr([&] { return ::read(opts.in_fd, buf, sizeof buf); });
      if (n < 0) throw_errno("read input");
      if (n == 0 || !send_all(sock.get(), std::string_view(buf, static_cast<std::size_t>(n)))) {
        // End of input (or the server stopped listening to us): say so with a half-close,
        // then keep printing what the server sends until it closes.
        (void)::shutdown(sock.get(), SHUT_WR);
        sending = false;
      }
    }
  }
}

}  // namespace ipclab::lab19
