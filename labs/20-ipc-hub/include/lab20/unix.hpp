// Lab 20, given: the Unix-socket helpers the hub and its clients use (lab 19's, in this
// lab's own folder): a listening socket, a connect that waits for the server, the peer's
// credentials, and passing a descriptor with SCM_RIGHTS.
#pragma once

#include <sys/types.h>  // pid_t, uid_t

#include <cstddef>      // std::size_t
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/fd.hpp"     // Fd

namespace ipclab::lab20 {

/// A listening AF_UNIX stream socket at `path` (close-on-exec, non-blocking). Whatever is
/// at `path` is replaced: the caller holds the hub's instance lock, so it is stale.
Fd listen_unix(const std::string& path, int backlog = 128);
/// Connects to `path`, retrying while nobody listens yet (ENOENT, ECONNREFUSED) until the
/// deadline; SysError naming the path then.
Fd connect_unix(const std::string& path, const Deadline& deadline);
/// The pid and uid of the peer of a connected Unix socket (SO_PEERCRED).
struct PeerCred {
  pid_t pid = -1;
  uid_t uid = 0;
};
PeerCred peer_credentials(int sock);
/// Sends `data` with one descriptor attached (SCM_RIGHTS); all of `data` is written.
void send_fd(int sock, int fd, std::string_view data);
/// Receives up to `max_data` bytes and the one descriptor that came with them (close-on-
/// exec). SysError(EPROTO) if none came, `data` then holding the bytes that did (an ERROR
/// frame's first bytes); SysError(ECONNRESET) at end of file.
Fd recv_fd(int sock, std::string& data, std::size_t max_data);

}  // namespace ipclab::lab20
