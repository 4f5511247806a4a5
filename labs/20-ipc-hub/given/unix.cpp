// Lab 20, given: Unix-socket helpers (see unix.hpp).
#include "lab20/unix.hpp"

#include <sys/socket.h>  // socket, bind, listen, connect, sendmsg, recvmsg, SCM_RIGHTS
#include <sys/un.h>      // sockaddr_un
#include <unistd.h>      // unlink

#include <algorithm>  // std::min
#include <cerrno>     // errno
#include <cstring>    // std::memcpy
#include <thread>     // std::this_thread::sleep_for
#include <vector>     // std::vector

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // check_unix, throw_errno, UsageError
#include "ipclab/io.hpp"     // write_full

namespace ipclab::lab20 {
namespace {

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    throw UsageError(fmt::format("socket path of {} bytes (1..{}): {}", path.size(),
                                 sizeof addr.sun_path - 1, path));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

}  // namespace

Fd listen_unix(const std::string& path, int backlog) {
  const sockaddr_un addr = address_of(path);
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) throw_errno("unlink(\"{}\")", path);
  Fd sock(check_unix(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), "socket"));
  check_unix(::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr),
             "bind(\"{}\")", path);
  check_unix(::listen(sock.get(), backlog), "listen(\"{}\")", path);
  return sock;
}

Fd connect_unix(const std::string& path, const Deadline& deadline) {
  const sockaddr_un addr = address_of(path);
  for (auto pause = 1ms;; pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
    Fd sock(check_unix(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
    if (retry_eintr([&] {
          return ::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        }) == 0)
      return sock;
    const int err = errno;
    const bool transient = err == ENOENT || err == ECONNREFUSED || err == EAGAIN;
    if (!transient || deadline.expired()) throw_error(err, "connect(\"{}\")", path);
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline.remaining()));
  }
}

PeerCred peer_credentials(int sock) {
  ucred cred{};
  socklen_t len = sizeof cred;
  check_unix(::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len), "SO_PEERCRED");
  return PeerCred{cred.pid, cred.uid};
}

void send_fd(int sock, int fd, std::string_view data) {
  iovec iov{const_cast<char*>(data.data()), data.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  const ssize_t n = retry_eintr([&] { return ::sendmsg(sock, &msg, MSG_NOSIGNAL); });
  if (n < 0) throw_errno("sendmsg(SCM_RIGHTS)");
  if (static_cast<std::size_t>(n) < data.size())
    write_full(sock, data.substr(static_cast<std::size_t>(n)));
}

Fd recv_fd(int sock, std::string& data, std::size_t max_data) {
  data.assign(max_data, '\0');
  iovec iov{data.data(), data.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = retry_eintr([&] { return ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); });
  if (n < 0) throw_errno("recvmsg");
  std::vector<Fd> fds;  // own every descriptor that came, so none leaks
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    for (std::size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  data.resize(static_cast<std::size_t>(n));  // what came, a frame without a descriptor too
  if (n == 0 && fds.empty()) throw_error(ECONNRESET, "recvmsg: the peer closed the connection");
  if (fds.size() != 1) throw_error(EPROTO, "recvmsg: expected 1 descriptor, got {}", fds.size());
  return std::move(fds.front());
}

}  // namespace ipclab::lab20
