// Lab 19 — a two-way byte channel between a parent and the child it forks, over a pipe
// pair, POSIX shared memory with semaphores, or a Unix socketpair. ipc_demo and its bench
// run the same protocol over all three. You write src/channel.cpp.
#pragma once

#include <cstddef>  // std::size_t
#include <memory>   // std::unique_ptr

#include "lab19/demo.hpp"  // Mechanism

namespace ipclab::lab19 {

/**
 * @brief A byte stream each way between the process that made it and the child it forks.
 *
 * Use: make() before fork(); then each process calls become_parent() or become_child()
 * once, which keeps its own ends and closes the other side's (so a dead peer is seen as
 * EOF/EPIPE on a pipe or socket instead of a hang). After that, send() and recv() move
 * bytes in order in both directions, like a socket.
 *
 * The shm channel: one POSIX shm object (named names::posix("ipc_demo.<pid>.<n>"),
 * created exclusively, sized, mapped, and unlinked at once: fork passes the mapping to the
 * child, and nothing is left behind even if both processes are killed). Each direction
 * has two slots of kShmSlot bytes and two process-shared semaphores (sem_init with
 * pshared = 1): "empty slots" and "full slots". Shared memory has no EOF: every semaphore
 * wait has a deadline (`timeout_s`), after which the call throws SysError(ETIMEDOUT).
 *
 * TODO(lab19): implement in src/channel.cpp (the state lives in Impl, which you define).
 */
class Channel {
 public:
  /// Bytes of one shm slot (a message larger than this travels in pieces).
  static constexpr std::size_t kShmSlot = std::size_t{64} * 1024;

  /// Makes the channel (pipes, shm + semaphores, or socketpair), all ends close-on-exec.
  /// @throws ipclab::SysError
  static Channel make(Mechanism m, double timeout_s = 10.0);

  Channel(Channel&&) noexcept;
  Channel& operator=(Channel&&) noexcept;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel();

  /// After fork, in the parent / in the child: keep this side, close the other's ends.
  void become_parent();
  void become_child();

  /// Sends all `n` bytes (blocking until the peer has room). @throws ipclab::SysError
  /// (EPIPE when the peer is gone, ETIMEDOUT when a shm wait passes its deadline)
  void send(const void* data, std::size_t n);
  /// Receives exactly `n` bytes. @throws ipclab::SysError (EPIPE at EOF before n bytes,
  /// ETIMEDOUT as send)
  void recv(void* data, std::size_t n);

  Mechanism mechanism() const;

 private:
  struct Impl;
  explicit Channel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ipclab::lab19
