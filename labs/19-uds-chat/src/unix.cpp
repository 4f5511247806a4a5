// Lab 19 reference: Unix-domain socket helpers (see unix.hpp).
//
// Stale or live? A socket file outlives the server that bound it (a SIGKILL leaves it
// behind, and bind(2) then fails with EADDRINUSE). The file alone cannot tell whether a
// server still listens; only connect(2) can: ECONNREFUSED means nobody does, so the file
// may be replaced. Unlinking without asking would steal the name from a live server: its
// clients could no longer find it, and it would keep running unreachable.
#include <sys/socket.h>  // socket, bind, listen, connect, sendmsg, recvmsg, SCM_RIGHTS
#include <sys/stat.h>    // lstat, S_ISSOCK
#include <sys/un.h>      // sockaddr_un
#include <unistd.h>      // unlink

#include <cerrno>   // errno
#include <cstring>  // std::memcpy
#include <thread>   // std::this_thread::sleep_for

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // check_unix, throw_errno, UsageError, OperationFailed
#include "lab19/unix.hpp"

namespace ipclab::lab19 {
namespace {

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty()) throw UsageError("socket path is empty");
  if (path.size() >= sizeof addr.sun_path)
    throw UsageError(fmt::format("socket path is too long ({} bytes, max {}): {}", path.size(),
                                 sizeof addr.sun_path - 1, path));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

Fd unix_socket(int flags = 0) {
  return Fd(
      check_unix(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0), "socket(AF_UNIX)"));
}

/// connect(2) once; returns 0 or the errno.
int try_connect(int sock, const sockaddr_un& addr) {
  const int rc = retry_eintr(
      [&] { return ::connect(sock, reinterpret_cast<const sockaddr*>(&addr), sizeof addr); });
  return rc == 0 ? 0 : errno;
}

}  // namespace

PeerCred peer_credentials(int sock) {
  ucred cred{};
  socklen_t len = sizeof cred;
  check_unix(::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len),
             "getsockopt({}, SO_PEERCRED)", sock);
  return PeerCred{cred.pid, cred.uid, cred.gid};
}

Fd listen_unix(const std::string& path, int backlog, bool* stale_removed) {
  const sockaddr_un addr = address_of(path);
  if (stale_removed != nullptr) *stale_removed = false;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw OperationFailed(fmt::format("{} exists and is not a socket", path));
    Fd probe = unix_socket();
    const int err = try_connect(probe.get(), addr);
    if (err == 0) throw OperationFailed(fmt::format("{} is in use by a running server", path));
    if (err != ECONNREFUSED) throw_error(err, "connect(\"{}\") to check for a live server", path);
    if (::unlink(path.c_str()) < 0 && errno != ENOENT) throw_errno("unlink(\"{}\")", path);
    if (stale_removed != nullptr) *stale_removed = true;
  }
  Fd sock = unix_socket(SOCK_NONBLOCK);
  if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0)
    throw_errno("bind(\"{}\")", path);
  if (::listen(sock.get(), backlog) < 0) {
    const int err = errno;
    ::unlink(path.c_str());
    throw_error(err, "listen(\"{}\")", path);
  }
  return sock;
}

Fd connect_unix(const std::string& path, const Deadline& deadline) {
  const sockaddr_un addr = address_of(path);
  for (auto pause = 1ms;; pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
    Fd sock = unix_socket();
    const int err = try_connect(sock.get(), addr);
    if (err == 0) return sock;
    const bool transient = err == ENOENT || err == ECONNREFUSED || err == EAGAIN;
    if (!transient || deadline.expired()) throw_error(err, "connect(\"{}\")", path);
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline.remaining()));
  }
}

void send_fd(int sock, int fd, std::string_view data) {
  if (data.empty()) throw UsageError("send_fd: at least one byte must travel with the descriptor");
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
  // A stream socket may take only part of the bytes; the descriptor goes with the first.
  const ssize_t n = retry_eintr([&] { return ::sendmsg(sock, &msg, MSG_NOSIGNAL); });
  if (n < 0) throw_errno("sendmsg(SCM_RIGHTS fd {})", fd);
  if (static_cast<std::size_t>(n) < data.size()) {
    const std::string_view rest = data.substr(static_cast<std::size_t>(n));
    if (::send(sock, rest.data(), rest.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(rest.size()))
      throw_errno("send after SCM_RIGHTS");
  }
}

std::optional<ReceivedFd> recv_fd(int sock, std::size_t max_data) {
  std::string data(max_data == 0 ? 1 : max_data, '\0');
  iovec iov{data.data(), data.size()};
  // Room for several descriptors: a peer that sends more must not leave them half-open.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = retry_eintr([&] { return ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); });
  if (n < 0) throw_errno("recvmsg on {}", sock);
  // Own every descriptor that arrived before judging the message, so none leaks.
  std::vector<Fd> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  if (n == 0 && fds.empty()) return std::nullopt;  // EOF
  if ((msg.msg_flags & MSG_CTRUNC) != 0)
    throw_error(EPROTO, "recvmsg on {}: control data truncated (too many descriptors)", sock);
  if (fds.size() != 1)
    throw_error(EPROTO, "recvmsg on {}: expected 1 descriptor, got {}", sock, fds.size());
  data.resize(static_cast<std::size_t>(n));
  return ReceivedFd{std::move(fds.front()), std::move(data)};
}

}  // namespace ipclab::lab19
