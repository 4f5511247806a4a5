// Lab 19 — Unix-domain sockets: a listening socket that never hijacks a live server, the
// kernel's word on who is at the other end (SO_PEERCRED), and passing an open descriptor
// to another process (SCM_RIGHTS). You write these in src/unix.cpp.
#pragma once

#include <sys/types.h>  // pid_t, uid_t, gid_t

#include <cstddef>      // std::size_t
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "ipclab/clock.hpp"  // ipclab::Deadline
#include "ipclab/fd.hpp"     // ipclab::Fd

namespace ipclab::lab19 {

/// Who is at the other end of a connected Unix socket, as the kernel recorded it when the
/// connection was made (connect(2) or socketpair(2)); the peer cannot lie about it.
struct PeerCred {
  pid_t pid = -1;
  uid_t uid = 0;
  gid_t gid = 0;
};

/**
 * @brief The peer's credentials of a connected AF_UNIX socket (getsockopt SO_PEERCRED).
 * @throws ipclab::SysError if getsockopt fails (e.g. ENOTCONN, ENOTSOCK)
 *
 * TODO(lab19): implement in src/unix.cpp.
 */
PeerCred peer_credentials(int sock);

/**
 * @brief Creates a listening AF_UNIX stream socket bound to `path`.
 *
 * If `path` already exists:
 *  - a socket nobody listens on (connect(2) gives ECONNREFUSED: a server was killed and
 *    left it behind) is stale: it is unlinked and replaced, and *stale_removed is set
 *    (an unlink that fails is the error: SysError with its errno, EROFS say; ENOENT, the
 *    socket gone meanwhile, is not);
 *  - a socket a live server listens on (connect succeeds) is left alone:
 *    OperationFailed("PATH is in use by a running server");
 *  - anything else (a regular file, a FIFO, a directory) is left alone:
 *    OperationFailed("PATH exists and is not a socket").
 * The returned descriptor is close-on-exec and non-blocking.
 *
 * @param path           where to bind; at most 107 bytes (sizeof sun_path - 1)
 * @param backlog        listen(2) backlog
 * @param stale_removed  if not null, set to whether a stale socket file was replaced
 * @throws ipclab::UsageError if the path is empty or too long (the message says the limit, 107)
 * @throws ipclab::OperationFailed as above; ipclab::SysError if socket/bind/listen fail
 *         (a missing directory too: bind's ENOENT, exit 3 like any file that is not there)
 *
 * TODO(lab19): implement in src/unix.cpp.
 */
Fd listen_unix(const std::string& path, int backlog = 128, bool* stale_removed = nullptr);

/**
 * @brief Connects a blocking, close-on-exec AF_UNIX stream socket to `path`, retrying
 * while the server is not there yet (ENOENT, ECONNREFUSED, EAGAIN) until `deadline`.
 * @throws ipclab::UsageError if the path is empty or too long (the message says the limit, 107)
 * @throws ipclab::SysError with the last error once the deadline has passed (or at once for
 *         other errors), naming the path: `connect("/run/x/chat.sock"): Connection refused`
 *
 * TODO(lab19): implement in src/unix.cpp.
 */
Fd connect_unix(const std::string& path, const Deadline& deadline);

/**
 * @brief Sends one open descriptor over a Unix socket with SCM_RIGHTS, with `data` as the
 * ordinary bytes of the same message (at least one byte must travel with the descriptor).
 * The caller still owns `fd` afterwards: the receiver gets a new descriptor for the same
 * open file description (same offset, same status flags). It never raises SIGPIPE
 * (MSG_NOSIGNAL): a peer that has gone is SysError(EPIPE), whatever the process's disposition.
 * All of `data` goes, or it throws: a stream socket may take part of it with the
 * descriptor, and then the rest is sent after it.
 * @throws ipclab::UsageError if data is empty; ipclab::SysError if sendmsg (or the send of
 *         the rest) fails
 *
 * TODO(lab19): implement in src/unix.cpp.
 */
void send_fd(int sock, int fd, std::string_view data = "F");

/// What recv_fd received: the new descriptor (close-on-exec) and the message's bytes.
struct ReceivedFd {
  Fd fd;
  std::string data;
};

/**
 * @brief Receives one message sent by send_fd: up to `max_data` bytes (0 counts as 1: the
 * byte that carries the descriptor; the rest stays in the stream for the next read) and one
 * descriptor, which arrives close-on-exec (MSG_CMSG_CLOEXEC). Only SCM_RIGHTS control messages
 * carry descriptors: any other (SCM_CREDENTIALS on a socket with SO_PASSCRED) is skipped.
 * @return std::nullopt if the peer closed the connection (EOF) before a message
 * @throws ipclab::SysError(EPROTO) if the message carried no descriptor, or more control
 *         data than fits (MSG_CTRUNC) — any descriptors that did arrive are closed first;
 *         ipclab::SysError for recvmsg errors
 *
 * TODO(lab19): implement in src/unix.cpp.
 */
std::optional<ReceivedFd> recv_fd(int sock, std::size_t max_data = 256);

}  // namespace ipclab::lab19
