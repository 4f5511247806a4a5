// Lab 19: Unix-domain socket helpers. Read the contracts in include/lab19/unix.hpp and
// the README (§Stale sockets, §Passing descriptors) before you start.
#include <sys/socket.h>  // socket, bind, listen, connect, sendmsg, recvmsg, SCM_RIGHTS
#include <sys/un.h>      // sockaddr_un

#include "ipclab/error.hpp"  // check_unix, throw_error, UsageError, OperationFailed, NotImplemented
#include "lab19/unix.hpp"

namespace ipclab::lab19 {

PeerCred peer_credentials([[maybe_unused]] int sock) {
  // TODO(lab19): getsockopt(sock, SOL_SOCKET, SO_PEERCRED, struct ucred*, ...).
  throw NotImplemented("TODO(lab19): implement peer_credentials() in src/unix.cpp");
}

Fd listen_unix([[maybe_unused]] const std::string& path, [[maybe_unused]] int backlog,
               [[maybe_unused]] bool* stale_removed) {
  // TODO(lab19):
  //  1. check the path fits in sockaddr_un::sun_path (UsageError otherwise);
  //  2. if something exists at `path` (lstat): not a socket -> OperationFailed; a socket:
  //     try to connect to it — success means a live server (OperationFailed, touch
  //     nothing), ECONNREFUSED means stale: unlink it;
  //  3. socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK), bind, listen.
  throw NotImplemented("TODO(lab19): implement listen_unix() in src/unix.cpp");
}

Fd connect_unix([[maybe_unused]] const std::string& path,
                [[maybe_unused]] const Deadline& deadline) {
  // TODO(lab19): a new socket per attempt; connect; on ENOENT / ECONNREFUSED / EAGAIN
  // pause briefly (growing, never past the deadline) and try again until the deadline.
  throw NotImplemented("TODO(lab19): implement connect_unix() in src/unix.cpp");
}

void send_fd([[maybe_unused]] int sock, [[maybe_unused]] int fd,
             [[maybe_unused]] std::string_view data) {
  // TODO(lab19): sendmsg with one iovec (the data) and one SCM_RIGHTS control message:
  // a buffer of CMSG_SPACE(sizeof(int)) bytes, aligned for cmsghdr; CMSG_FIRSTHDR,
  // cmsg_len = CMSG_LEN(sizeof(int)), memcpy the fd into CMSG_DATA. MSG_NOSIGNAL.
  throw NotImplemented("TODO(lab19): implement send_fd() in src/unix.cpp");
}

std::optional<ReceivedFd> recv_fd([[maybe_unused]] int sock,
                                  [[maybe_unused]] std::size_t max_data) {
  // TODO(lab19): recvmsg with MSG_CMSG_CLOEXEC, a buffer of max_data bytes (at least 1:
  // the rest of the message stays in the stream) and room for a few descriptors. Take
  // ownership of every descriptor that arrived *before* deciding anything (so none leaks),
  // then: EOF -> nullopt; MSG_CTRUNC or not exactly one descriptor -> SysError(EPROTO).
  // Only SCM_RIGHTS messages hold descriptors: skip any other (SCM_CREDENTIALS, say).
  throw NotImplemented("TODO(lab19): implement recv_fd() in src/unix.cpp");
}

}  // namespace ipclab::lab19
