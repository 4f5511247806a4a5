// Lab 12 — a ring buffer of variable-size messages in POSIX shared memory, between
// unrelated processes: one producer, one or more consumers, each message delivered to
// exactly one consumer. You write src/shm_ring.cpp; the programs shm_ring_producer,
// shm_ring_consumer and shm_ring_bench (main/), the helpers in futex.hpp and payload.hpp,
// and the members defined in this header (moving a handle, push and pop) are given.
//
// What the shared object holds is yours to design (README, "The layout"); what is fixed:
//   - the ring's data area is `capacity` bytes, a power of two, and a message is a length
//     header followed by its bytes, never split at the end of the area (the producer
//     skips to the start when a message does not fit before the end);
//   - a side that cannot go on (producer: full; consumer: empty) spins briefly, then
//     sleeps in the kernel (futex or semaphore) and uses no CPU until woken or timed out;
//     the other side wakes it only when a sleeper is registered;
//   - the producer's and the consumers' indices live on separate cache lines.
#pragma once

#include <cstddef>      // std::size_t, std::byte
#include <cstdint>      // std::uint64_t
#include <cstring>      // std::memcpy
#include <optional>     // std::optional
#include <span>         // std::span
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::exchange, std::move
#include <vector>       // std::vector

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/shm.hpp"    // Mapping

namespace ipclab::lab12 {

/// The smallest and largest data area a ring may have (both powers of two).
inline constexpr std::size_t kMinCapacity = 64;
inline constexpr std::size_t kMaxCapacity = std::size_t{1} << 30;

/**
 * @brief True if `capacity` is a power of two in [kMinCapacity, kMaxCapacity], both bounds
 * included: what ShmRing::create() accepts. A pure function, so that a test can ask about
 * a 1 GiB ring without making one (a test may not write that much).
 *
 * TODO(lab12): implement in src/shm_ring.cpp.
 */
bool valid_capacity(std::size_t capacity);

struct RingShared;  // the layout of the shared object: defined in src/shm_ring.cpp

class ShmRing {
 public:
  enum class Status {
    kMessage,  ///< a message was delivered
    kClosed,   ///< the producer closed the ring and every message has been taken
    kTimeout,  ///< the deadline passed first
  };

  /**
   * @brief Creates the ring `name` (its POSIX names come from ipclab::names::posix(name),
   * plus any suffixes you need) with a data area of `capacity` bytes, initialized and
   * empty. The caller is its producer.
   *
   * @throws UsageError if capacity is not a power of two in [kMinCapacity, kMaxCapacity]
   * @throws SysError(EEXIST) if the ring already exists; SysError for other failures
   *
   * TODO(lab12): implement in src/shm_ring.cpp.
   */
  static ShmRing create(std::string_view name, std::size_t capacity);

  /**
   * @brief Opens the existing ring `name` as a consumer. If it does not exist yet (or its
   * creator has not finished initializing it), waits for it until `deadline`, without
   * burning CPU (sleep between looks).
   *
   * @throws OperationFailed if the ring did not appear before the deadline
   * @throws SysError for other failures (e.g. EACCES)
   *
   * TODO(lab12): implement in src/shm_ring.cpp.
   */
  static ShmRing open(std::string_view name, const Deadline& deadline);

  /**
   * @brief Removes every named object of ring `name` (shm object, semaphores if you use
   * any). Processes that have it mapped keep working; new open() calls wait for a new one.
   * @return false if nothing by that name existed.
   *
   * TODO(lab12): implement in src/shm_ring.cpp.
   */
  static bool remove(std::string_view name);

  ShmRing(ShmRing&& o) noexcept
      : map_(std::move(o.map_)),
        shared_(std::exchange(o.shared_, nullptr)),
        data_(std::exchange(o.data_, nullptr)),
        capacity_(std::exchange(o.capacity_, 0)),
        reserved_at_(o.reserved_at_),
        reserved_size_(std::exchange(o.reserved_size_, 0)),
        cached_tail_(o.cached_tail_),
        holding_(std::exchange(o.holding_, false)) {}
  ShmRing& operator=(ShmRing&& o) noexcept {
    if (this != &o) {
      reset();
      map_ = std::move(o.map_);
      shared_ = std::exchange(o.shared_, nullptr);
      data_ = std::exchange(o.data_, nullptr);
      capacity_ = std::exchange(o.capacity_, 0);
      reserved_at_ = o.reserved_at_;
      reserved_size_ = std::exchange(o.reserved_size_, 0);
      cached_tail_ = o.cached_tail_;
      holding_ = std::exchange(o.holding_, false);
    }
    return *this;
  }
  ShmRing(const ShmRing&) = delete;
  ShmRing& operator=(const ShmRing&) = delete;
  /// Unmaps (reset()). Never removes the names (remove() does), never throws.
  ~ShmRing() { reset(); }

  /// The data area's size in bytes.
  std::size_t capacity() const { return capacity_; }
  /// The largest message push()/reserve() accept: capacity / 2 - 8. (A record is an 8-byte
  /// header plus the message rounded up to 8 bytes, so a record is at most capacity / 2,
  /// and a record plus the skipped end of the area always fit in an empty ring.)
  std::size_t max_message() const { return capacity_ / 2 - 8; }

  // ---- producer side (one producer per ring) ----------------------------------------

  /**
   * @brief Reserves room for a message of `size` bytes and returns where to write it, in
   * the ring itself (build the message in place, then commit()). Waits while the ring is
   * full: spins briefly, then sleeps until a consumer frees room or `deadline` passes.
   *
   * @return the `size` bytes to fill, or nullopt if the deadline passed first
   * @throws UsageError if size > max_message(); std::logic_error if a reservation is
   *         already pending or the ring is closed
   *
   * TODO(lab12): implement in src/shm_ring.cpp.
   */
  std::optional<std::span<std::byte>> reserve(std::size_t size, const Deadline& deadline);

  /**
   * @brief Publishes the reserved message to the consumers (its bytes must be written
   * before this publishes the index), and wakes a consumer if one is asleep.
   *
   * @throws std::logic_error if nothing is reserved (no reserve(), or it was committed)
   *
   * TODO(lab12): implement in src/shm_ring.cpp.
   */
  void commit();

  /// reserve() + copy + commit(). False if the deadline passed while the ring was full.
  bool push(std::span<const std::byte> msg, const Deadline& deadline) {
    auto slot = reserve(msg.size(), deadline);
    if (!slot) return false;
    if (!msg.empty()) std::memcpy(slot->data(), msg.data(), msg.size());
    commit();
    return true;
  }

  /**
   * @brief No more messages: consumers take what is left, then get Status::kClosed.
   * Wakes every sleeping consumer.
   *
   * TODO(lab12): implement in src/shm_ring.cpp.
   */
  void close();

  /**
   * @brief Waits (spin, then sleep) until the consumers have taken every message
   * committed so far. False at the deadline.
   *
   * TODO(lab12): implement in src/shm_ring.cpp.
   */
  bool wait_drained(const Deadline& deadline);

  // ---- consumer side (any number of consumers, in any processes) -------------------

  /**
   * @brief Takes the next message for this consumer, in place: on kMessage, `msg` is the
   * message's bytes in the ring, valid (and no other consumer can take anything) until
   * release(). Waits while the ring is empty: spins briefly, then sleeps until the
   * producer commits or closes, or `deadline` passes.
   *
   * TODO(lab12): implement in src/shm_ring.cpp.
   */
  Status peek(std::span<const std::byte>& msg, const Deadline& deadline);

  /**
   * @brief Frees the message returned by the last peek() (its room goes back to the
   * producer, which is woken if it is asleep waiting for room) and lets other consumers
   * take the next one.
   *
   * TODO(lab12): implement in src/shm_ring.cpp.
   */
  void release();

  /// peek() + copy into `out` (resized to the message's size) + release().
  Status pop(std::vector<std::byte>& out, const Deadline& deadline) {
    std::span<const std::byte> msg;
    const Status st = peek(msg, deadline);
    if (st == Status::kMessage) {
      out.assign(msg.begin(), msg.end());
      release();
    }
    return st;
  }

 private:
  ShmRing() = default;
  /// Unmaps, and releases the consumers' lock if this handle holds a peeked message.
  /// TODO(lab12): implement in src/shm_ring.cpp.
  void reset() noexcept;

  // TODO(lab12): you may add members (process-local state: a producer's cached copy of
  // the consumers' index, a pending reservation, ...); move them in the move operations.
  Mapping map_;
  RingShared* shared_ = nullptr;  // the shared header, at the start of the mapping
  std::byte* data_ = nullptr;     // the data area, `capacity_` bytes
  std::size_t capacity_ = 0;
  std::uint64_t reserved_at_ = 0;    // producer: index of the pending reservation
  std::uint64_t reserved_size_ = 0;  // producer: its record size (0: none pending)
  std::uint64_t cached_tail_ = 0;    // producer: the consumers' index, last seen
  bool holding_ = false;             // consumer: a peek() not yet released
};

}  // namespace ipclab::lab12
