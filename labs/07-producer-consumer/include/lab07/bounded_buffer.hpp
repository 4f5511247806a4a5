// Lab 07 — the producer-consumer problem (Stevens UNP2 §7.5-7.6): a bounded buffer guarded
// by one mutex and two condition variables. You write push(), pop() and close() in
// src/bounded_buffer.cpp; this header (the state and the small members included) is given.
//
// Invariants, true whenever the mutex is free:
//   0 <= items_.size() <= capacity_;  closed_ never goes back to false.
// Who waits on what (the classic two-condvar split):
//   producers wait on not_full_  while the buffer is full and open;
//   consumers wait on not_empty_ while the buffer is empty and open.
// Every wait sits in a while loop: a wakeup is a hint to re-check, never a promise
// (spurious wakeups, and another thread may take the item first).
#pragma once

#include <condition_variable>  // std::condition_variable
#include <cstddef>             // std::size_t
#include <cstdint>             // std::uint64_t
#include <deque>               // std::deque
#include <mutex>               // std::mutex
#include <optional>            // std::optional
#include <string>              // std::string

#include "ipclab/error.hpp"     // ipclab::UsageError
#include "lab07/test_hook.hpp"  // test_point(): call it where the README says

namespace ipclab::lab07 {

/// A FIFO of at most capacity() items shared by any number of producer and consumer
/// threads. Instantiated (in src/bounded_buffer.cpp) for std::uint64_t, int and std::string.
template <typename T>
class BoundedBuffer {
 public:
  /**
   * @brief An empty, open buffer holding at most `capacity` items.
   * @throws ipclab::UsageError if capacity is 0
   */
  explicit BoundedBuffer(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw UsageError("bounded buffer: capacity must be at least 1");
  }

  BoundedBuffer(const BoundedBuffer&) = delete;
  BoundedBuffer& operator=(const BoundedBuffer&) = delete;

  /**
   * @brief Appends `item`, blocking (without using CPU) while the buffer is full.
   * @return true once the item is in the buffer; false if the buffer is closed, either
   *         already at the call or while this producer was waiting (the item is dropped).
   *
   * TODO(lab07): implement in src/bounded_buffer.cpp. Call test_point() at kBeforeLock,
   * kAfterWait, kPushLocked and kAfterSignal.
   */
  bool push(T item);

  /**
   * @brief Removes the oldest item, blocking (without using CPU) while the buffer is empty
   *        and open.
   * @return the item; std::nullopt only when the buffer is closed *and* empty (every item
   *         pushed before close() is still handed out: consumers drain, then see the end).
   *
   * TODO(lab07): implement in src/bounded_buffer.cpp. Call test_point() at kBeforeLock,
   * kAfterWait, kPopLocked and kAfterSignal.
   */
  std::optional<T> pop();

  /**
   * @brief Shuts the buffer: later push() calls return false, pop() drains what is left
   *        and then returns std::nullopt. Wakes *every* blocked producer and consumer.
   *        Idempotent.
   *
   * TODO(lab07): implement in src/bounded_buffer.cpp.
   */
  void close();

  /// The number of items in the buffer now (takes the lock).
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return items_.size();
  }
  std::size_t capacity() const { return capacity_; }
  /// True once close() was called (takes the lock).
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;              // guards everything below
  std::condition_variable not_full_;   // producers wait here
  std::condition_variable not_empty_;  // consumers wait here
  std::deque<T> items_;                // oldest at the front
  bool closed_ = false;
};

extern template class BoundedBuffer<std::uint64_t>;
extern template class BoundedBuffer<int>;
extern template class BoundedBuffer<std::string>;

}  // namespace ipclab::lab07
