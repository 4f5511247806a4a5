// Shutdown on SIGINT/SIGTERM for servers: a flag plus a self-pipe that poll loops watch.
#pragma once

#include <csignal>  // SIGINT, SIGTERM

namespace ipclab {

/// Installs handlers for SIGINT and SIGTERM (without SA_RESTART, so blocking calls return
/// EINTR) that set a flag and write to a self-pipe. One per process.
class ShutdownSignals {
 public:
  ShutdownSignals();
  ~ShutdownSignals();
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  /// True once SIGINT or SIGTERM arrived.
  bool requested() const;
  /// The signal that arrived (0 if none).
  int signal() const;
  /// Readable once a signal arrived: add it to a poll set.
  int fd() const;
};

/// Ignore SIGPIPE in this process, so a write to a vanished reader fails with EPIPE.
void ignore_sigpipe();

}  // namespace ipclab
