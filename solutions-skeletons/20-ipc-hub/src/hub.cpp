// Lab 20: the hub. Read include/lab20/hub.hpp and the README (§Architecture, §Backends,
// §Protocol, §Pitfalls) before you start.
#include "lab20/hub.hpp"
#include "ipclab/error.hpp"  // NotImplemented

namespace ipclab::lab20 {

void run_hub([[maybe_unused]] HubOptions& opts, [[maybe_unused]] int stop_fd) {
  // TODO(lab20):
  //  1. InstanceLock::acquire(kHubLockName); then make the endpoints, replacing stale ones:
  //     listen_unix(hub_socket_path()), mkfifo + open(O_RDWR | O_NONBLOCK) hub_fifo_path(),
  //     PosixMq::create(hub_mq_name(), ...) (ENOSYS: serve without mqueue);
  //  2. print the banner, spawn the --spawn children (pipes on their fds 0/1);
  //  3. one poll loop over stop_fd, the endpoints and every client; a client is served
  //     through its own bounded queue (drop and count DATA when it is full); a frame that
  //     breaks the protocol: ERROR, serve nothing more from that client, hang up;
  //  4. on stop_fd: close every client, end the children (one still running 2 s later:
  //     SIGTERM, 2 s after that SIGKILL; reap them all), unlink every name, release the lock.
  throw NotImplemented("TODO(lab20): implement run_hub() in src/hub.cpp");
}

}  // namespace ipclab::lab20
