// Lab 20 — the hub's clients: the five backends seen from a client, and HubClient, which
// speaks the protocol over any of them (myipcpub, myipcsub, myipchub --stats, myipcbench).
// You write src/client.cpp.
#pragma once

#include <sys/types.h>  // pid_t

#include <array>        // std::array
#include <cstddef>      // std::size_t
#include <deque>        // std::deque
#include <memory>       // std::unique_ptr
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/fd.hpp"     // Fd
#include "lab20/frame.hpp"   // Frame

namespace ipclab::lab20 {

enum class Backend { kPipe, kFifo, kSocket, kMqueue, kShm };
inline constexpr std::array kBackends = {Backend::kPipe, Backend::kFifo, Backend::kSocket,
                                         Backend::kMqueue, Backend::kShm};
/// "pipe", "fifo", "socket", "mqueue" or "shm"; UsageError for anything else.
Backend parse_backend(std::string_view name);
std::string_view backend_name(Backend b);
/// How `Connected to hub via ...` names it: "UNIX socket", "shared memory", ...
std::string_view backend_title(Backend b);

// ---- the hub's names (all through ipclab::names: ipc-clean finds what a kill -9 left) ----

/// The hub's instance lock: <rundir>/myipchub.lock.
inline constexpr std::string_view kHubLockName = "myipchub";
std::string hub_socket_path();                     ///< <rundir>/hub.sock (socket, shm control)
std::string hub_fifo_path();                       ///< <rundir>/hub.fifo (FIFO requests)
std::string hub_mq_name();                         ///< /ipclab.<ns>.hub.mq (MQ requests)
std::string client_fifo_path(pid_t pid, bool up);  ///< <rundir>/hub.<pid>.up|down
std::string client_mq_name(pid_t pid, bool up);    ///< /ipclab.<ns>.hub.<pid>.up|down
std::string client_shm_name(int id);               ///< /ipclab.<ns>.hub.ring.<id>
/// The depth of a client's MQs (up, down) and of the hub's request queue: small, because a
/// user's queues share RLIMIT_MSGQUEUE (800 KiB by default; README §Pitfalls 3).
inline constexpr long kMqUpDepth = 4;
inline constexpr long kMqDownDepth = 8;

/// A timeout option in seconds (a double, as the cli validator leaves it) as a duration.
inline Clock::duration seconds_to_duration(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

/// The hub is gone (closed the connection, died): a SysError, so programs exit 3.
[[noreturn]] void hub_gone(std::string_view how);

/// One client's end of a backend: frames out, frames in.
class Transport {
 public:
  virtual ~Transport() = default;
  /// Sends one encoded frame (waits while the transport is full). hub_gone() if the hub is.
  virtual void send(std::string_view frame) = 0;
  /// The next frame from the hub, or nullopt at the deadline. hub_gone() if the hub is.
  virtual std::optional<Frame> receive(const Deadline& deadline) = 0;
  /// The hub's pid, once the handshake told it (transports without an end-of-file, like
  /// MQs, watch it to notice a dead hub).
  void set_hub_pid(pid_t pid) { hub_pid_ = pid; }

 protected:
  pid_t hub_pid_ = 0;
};

class HubClient {
 public:
  /**
   * @brief Connects to the running hub over `backend` (not kPipe: see over_fds) and does
   * the CONNECT handshake, waiting for the hub until `deadline`.
   * @throws SysError (exit 3) if no hub answers, naming what was tried
   *
   * TODO(lab20): implement in src/client.cpp.
   */
  static HubClient connect(Backend backend, const Deadline& deadline);
  /// The pipe backend: the protocol on descriptors the hub gave (a spawned child's 0 and 1).
  static HubClient over_fds(Fd in, Fd out, const Deadline& deadline);

  HubClient(HubClient&&) noexcept;
  HubClient& operator=(HubClient&&) noexcept;
  ~HubClient();

  Backend backend() const { return backend_; }
  pid_t hub_pid() const { return hub_pid_; }

  /// SUBSCRIBE and wait for the answer; OperationFailed with the hub's ERROR text.
  void subscribe(std::string_view channel, const Deadline& deadline);
  void unsubscribe(std::string_view channel, const Deadline& deadline);
  /// PUBLISH and wait for the ACK: the number of subscribers the message went to.
  std::size_t publish(std::string_view channel, std::string_view payload, const Deadline& deadline);
  /// PUBLISH without waiting; its ACK is taken (and counted) by later calls.
  void publish_async(std::string_view channel, std::string_view payload);
  /// ACKs of publish_async received so far, and those still to come.
  std::size_t async_acked() const { return async_acked_; }
  std::size_t async_pending() const { return async_pending_; }
  /// The next DATA frame (nullopt at the deadline); an ERROR throws OperationFailed.
  std::optional<Frame> next(const Deadline& deadline);
  /// The hub's counters (STATS), as text.
  std::string stats(const Deadline& deadline);

 private:
  HubClient(std::unique_ptr<Transport> t, Backend b);
  void handshake(const Deadline& deadline);
  /// Waits for the answer to the request just sent (ACK payload, or OperationFailed).
  std::string await_reply(const Deadline& deadline);
  std::unique_ptr<Transport> t_;
  Backend backend_ = Backend::kSocket;
  pid_t hub_pid_ = 0;
  std::deque<Frame> inbox_;  // DATA that arrived while a request waited for its answer
  std::size_t async_pending_ = 0, async_acked_ = 0;
};

}  // namespace ipclab::lab20
