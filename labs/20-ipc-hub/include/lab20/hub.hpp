// Lab 20 — the hub: one poll loop over five backends, channels with subscribers, a
// bounded queue per client. You write src/hub.cpp.
#pragma once

#include <cstddef>  // std::size_t
#include <string>   // std::string
#include <utility>  // std::pair
#include <vector>   // std::vector

#include "ipclab/fd.hpp"  // Fd

namespace ipclab::lab20 {

struct HubOptions {
  /// Shell commands to run as children that speak the protocol on their fds 0 and 1.
  std::vector<std::string> spawn;
  /// Clients connected at once (CONNECT beyond it: ERROR, then the hub hangs up).
  std::size_t max_clients = 1024;
  /// Frames the hub holds for one client beyond what its transport holds; a message past
  /// it is dropped for that client alone and counted (README §Pitfalls 9).
  std::size_t queue_limit = 256;
  /// Print the three banner lines on stdout (`IPC Hub started`, ...).
  bool banner = true;
  /// Pipe clients made by the caller: {read end from the client, write end to it}.
  std::vector<std::pair<Fd, Fd>> pipe_clients;
};

/**
 * @brief Runs the hub in this namespace until `stop_fd` becomes readable (the self-pipe
 * of ipclab::ShutdownSignals). Takes the instance lock first (AlreadyRunning: exit 1),
 * replaces stale objects of a dead hub, prints the banner once every backend listens,
 * and on return has removed every object it made (socket, FIFOs, queues, rings, lock)
 * and ended its children.
 *
 * TODO(lab20): implement in src/hub.cpp.
 */
void run_hub(HubOptions& opts, int stop_fd);

}  // namespace ipclab::lab20
