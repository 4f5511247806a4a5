// Lab 15 — a lock-free single-producer single-consumer queue that works between threads
// and between processes (placed in POSIX shared memory).
//
// Why this design. One producer and one consumer need no read-modify-write at all: the
// producer is the only writer of tail_, the consumer the only writer of head_, and each
// publishes its progress with a release store that the other side reads with an acquire
// load. The slots are plain memory; the index stores are what make them visible. The two
// indices are free-running 64-bit counters (they never wrap in practice: 2^64 items at
// 10^9 a second is 584 years), so `tail - head` is the number of items and
// `index & mask_` the slot; full is `tail - head == capacity`, empty is `tail == head`.
//
// Layout (checked below): three cache lines of header, then the slots.
//   line 0  tail_, cached_head_   the producer writes them; the consumer only reads tail_
//   line 1  head_, cached_tail_   the consumer writes them; the producer only reads head_
//   line 2  magic, capacity, mask, item size: written once by create_in, then read-only
//   then    capacity slots {stamp, T}, from the first byte after the header (the stamp is
//           the fast path's, README "The next step"; the simple design leaves it 0)
// Nothing in it is a pointer, so the same bytes work at different addresses in two
// processes; T must be trivially copyable (it is copied with memcpy, byte for byte).
//
// You write the member functions in src/spsc_queue_impl.hpp (TODO(lab15)). The layout,
// the shared-memory wrapper SharedSpscQueue and bytes_for() are given.
#pragma once

#include <atomic>       // std::atomic
#include <bit>          // std::bit_floor
#include <cstddef>      // std::size_t, std::byte, offsetof
#include <cstdint>      // std::uint64_t
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <type_traits>  // std::is_trivially_copyable_v
#include <utility>      // std::exchange

#include "ipclab/error.hpp"  // OperationFailed, UsageError, NotImplemented
#include "ipclab/names.hpp"  // names::posix
#include "ipclab/shm.hpp"    // PosixShm, Mapping

namespace ipclab::lab15 {

/// The cache-line size of x86-64 and most ARM cores. (std::hardware_destructive_
/// interference_size is the same number, but GCC warns that it may change between
/// compiler versions: a layout shared between two programs must not.)
inline constexpr std::size_t kCacheLine = 64;
/// Written last by create_in; attach_in refuses memory without it ("SPSCQ15\0").
inline constexpr std::uint64_t kQueueMagic = 0x0051'4353'5053'3135ULL;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "the indices live in shared memory: their atomics must be lock-free, so that "
              "they work between processes (no hidden lock in this process's memory)");

/**
 * A bounded, lock-free queue for exactly one producer thread (or process) and one consumer
 * thread (or process). It is not copyable or movable: it lives where create_in put it.
 *
 * Who may call what: try_push/push_n only the producer; try_pop/pop_n only the consumer;
 * capacity() anybody; size_approx() anybody (a snapshot that may be stale at once).
 */
template <typename T>
class SpscQueue {
  static_assert(std::is_trivially_copyable_v<T>,
                "T is copied byte for byte (and between processes): it must be trivially "
                "copyable, and should hold no pointers");
  static_assert(alignof(T) <= kCacheLine, "slots start on a cache line: alignof(T) <= 64");

 public:
  using value_type = T;

  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  /// Bytes of memory a queue of `capacity` items needs (header + slots). Given.
  static constexpr std::size_t bytes_for(std::size_t capacity) {
    check_layout();
    return kHeaderBytes + capacity * sizeof(Slot);
  }

  /**
   * @brief Builds an empty queue in `mem` (placement new) and returns it.
   *
   * @param mem       at least bytes_for(capacity) bytes, aligned to 64 (a fresh mmap is)
   * @param bytes     the size of `mem`, checked against bytes_for(capacity)
   * @param capacity  a power of two, >= 1: every one of these slots is usable
   * @return          the queue, at address `mem`
   * @throws ipclab::UsageError if capacity is 0 or not a power of two, `mem` is misaligned
   *         or too small
   *
   * TODO(lab15): implement in src/spsc_queue_impl.hpp. Write the magic number last, with a
   * release store through std::atomic_ref (attach_in reads it with an acquire load).
   */
  static SpscQueue* create_in(void* mem, std::size_t bytes, std::size_t capacity);

  /**
   * @brief Returns the queue another process built in `mem` (with create_in).
   *
   * @param mem    a mapping of the same shared memory object
   * @param bytes  the size of the mapping
   * @throws ipclab::OperationFailed("not a queue: ...") if the magic number, item size or
   *         capacity do not match, or `bytes` is smaller than bytes_for(capacity)
   *
   * TODO(lab15): implement in src/spsc_queue_impl.hpp.
   */
  static SpscQueue* attach_in(void* mem, std::size_t bytes);

  /// The number of slots (a power of two). Every one of them can hold an item.
  std::size_t capacity() const { return static_cast<std::size_t>(capacity_); }

  /**
   * @brief Producer only: appends `item` unless the queue is full. Never blocks.
   * @return true if the item is in the queue (the consumer may already be reading it);
   *         false if the queue held capacity() items
   *
   * TODO(lab15): implement in src/spsc_queue_impl.hpp. Read head_ only when the cached
   * copy says "full"; publish the item with one release store of tail_.
   */
  inline bool try_push(const T& item);  // inline: the hot path, one call per item

  /**
   * @brief Consumer only: takes the oldest item unless the queue is empty. Never blocks.
   * @return true and `out` set if an item was taken; false (out untouched) if empty
   *
   * TODO(lab15): implement in src/spsc_queue_impl.hpp.
   */
  inline bool try_pop(T& out);

  /**
   * @brief Producer only: appends as many of items[0..n) as fit, in order, and publishes
   *        them with ONE store of tail_ (the batch API). Never blocks.
   * @return the number appended, 0..n (0 when full); the caller retries the rest
   *
   * TODO(lab15): implement in src/spsc_queue_impl.hpp. Mind the end of the slot array.
   */
  inline std::size_t push_n(const T* items, std::size_t n);

  /**
   * @brief Consumer only: takes up to n of the oldest items into out[0..), in order, and
   *        frees their slots with ONE store of head_. Never blocks.
   * @return the number taken, 0..n (0 when empty)
   *
   * TODO(lab15): implement in src/spsc_queue_impl.hpp.
   */
  inline std::size_t pop_n(T* out, std::size_t n);

  /// Items in the queue at some moment during the call, 0..capacity() (for reports and
  /// tests at rest; never use it to decide whether a push or pop will succeed).
  ///
  /// TODO(lab15): implement in src/spsc_queue_impl.hpp.
  std::size_t size_approx() const;

 private:
  SpscQueue() = default;  // only create_in constructs a queue (placement new)

  static constexpr std::size_t kHeaderBytes = 3 * kCacheLine;

  /// One slot: the item, after a stamp that says whether it is full. The simple design
  /// (the handout's) ignores the stamp; the fast path (README, "The next step") stores
  /// i + 1 in it when item i is written, so the consumer can ask the slot instead of tail_.
  struct Slot {
    std::uint64_t stamp;  // 0 in a new queue; i + 1 once item i is in this slot
    T value;
  };
  /// Slots that share one cache line (a power of two, at least 1), and how far ahead the
  /// fast path's consumer looks before it looks at the next slot.
  static constexpr std::uint64_t kSlotsPerLine =
      sizeof(Slot) >= kCacheLine ? 1 : std::bit_floor(kCacheLine / sizeof(Slot));
  static constexpr std::uint64_t kLookahead = 64;

  // The fast path's helpers (src/spsc_queue_impl.hpp; the simple design does not need them).
  bool full_at(std::uint64_t i);                    // is item i in its slot? (consumer)
  void publish_at(std::uint64_t i, const T& item);  // write item i and its stamp (producer)
  std::uint64_t full_through(std::uint64_t want);   // extend cached_tail_ toward want

  /// Where item number `i` (a free-running index) lives: the value of slot i & mask_.
  /// Consecutive items are 16 bytes or more apart (each slot starts with its stamp), so a
  /// batch is copied item by item, and the mask takes care of the end of the array.
  T* item_at(std::uint64_t i) { return &slots()[i & mask_].value; }
  const T* item_at(std::uint64_t i) const { return &slots()[i & mask_].value; }

  /// The first slot: right after the header, in the same memory block.
  Slot* slots() {
    return reinterpret_cast<Slot*>(reinterpret_cast<std::byte*>(this) + kHeaderBytes);
  }
  const Slot* slots() const {
    return reinterpret_cast<const Slot*>(reinterpret_cast<const std::byte*>(this) + kHeaderBytes);
  }

  // ---- the producer's cache line: the producer writes it, the consumer only reads tail_.
  /// The index the next push writes (items ever pushed). Written only by the producer.
  alignas(kCacheLine) std::atomic<std::uint64_t> tail_{0};
  /// The producer's last look at head_. Private to the producer: the real head_ is at
  /// least this, so "not full by the cached copy" is safe without touching head_'s line.
  std::uint64_t cached_head_ = 0;

  // ---- the consumer's cache line: the consumer writes it, the producer only reads head_.
  /// The index the next pop reads (items ever popped). Written only by the consumer.
  alignas(kCacheLine) std::atomic<std::uint64_t> head_{0};
  /// The consumer's last look at tail_. Private to the consumer.
  std::uint64_t cached_tail_ = 0;

  // ---- constants, written once by create_in before any other process can attach.
  /// kQueueMagic once the header is complete: stored last (release, via std::atomic_ref),
  /// checked first by attach_in (acquire).
  alignas(kCacheLine) std::uint64_t magic_ = 0;
  std::uint64_t capacity_ = 0;
  std::uint64_t mask_ = 0;       // capacity_ - 1: `index & mask_` is the slot
  std::uint64_t item_size_ = 0;  // sizeof(T), so a process with another T cannot attach

  // Layout checks (rigtorp style): the fields above must stay where the rationale says.
  static constexpr void check_layout();
};

template <typename T>
constexpr void SpscQueue<T>::check_layout() {
  static_assert(offsetof(SpscQueue, head_) - offsetof(SpscQueue, tail_) >= kCacheLine,
                "tail_ and head_ must not share a cache line (false sharing)");
  static_assert(offsetof(SpscQueue, magic_) - offsetof(SpscQueue, head_) >= kCacheLine,
                "the constants must not share head_'s cache line");
  static_assert(sizeof(SpscQueue) == kHeaderBytes, "the header is exactly three cache lines");
}

/**
 * A named SpscQueue in POSIX shared memory: the create/attach story between processes.
 * Given.
 *
 *   auto q = SharedSpscQueue<std::uint64_t>::create("jobs", 4096);   // process 1
 *   auto q = SharedSpscQueue<std::uint64_t>::attach("jobs");         // process 2
 *   q.queue().try_push(42);
 *
 * The name goes through ipclab::names::posix ("/ipclab.<ns>.jobs"). The creator owns the
 * name: its destructor (or unlink()) removes it; a process that attached only unmaps.
 */
template <typename T>
class SharedSpscQueue {
 public:
  /// Creates the object exclusively (EEXIST is an error), sizes and maps it, and builds an
  /// empty queue in it. Throws SysError, UsageError (bad capacity).
  static SharedSpscQueue create(std::string_view name, std::size_t capacity) {
    const std::string full = names::posix(name);
    auto shm = PosixShm::create(full, SpscQueue<T>::bytes_for(capacity));
    Mapping map;
    try {
      map = shm.map();  // may fail (ENOMEM) after the object exists: remove it then
    } catch (...) {
      PosixShm::unlink(full);
      throw;
    }
    SharedSpscQueue s(full, std::move(map), true);
    try {
      s.queue_ = SpscQueue<T>::create_in(s.map_.data(), s.map_.size(), capacity);
    } catch (...) {
      PosixShm::unlink(full);
      s.owner_ = false;
      throw;
    }
    return s;
  }
  /// Opens and maps an existing queue; OperationFailed if it is not a queue of T.
  static SharedSpscQueue attach(std::string_view name) {
    const std::string full = names::posix(name);
    auto shm = PosixShm::open(full);
    SharedSpscQueue s(full, shm.map(), false);
    s.queue_ = SpscQueue<T>::attach_in(s.map_.data(), s.map_.size());
    return s;
  }

  SharedSpscQueue(SharedSpscQueue&& o) noexcept
      : name_(std::move(o.name_)),
        map_(std::move(o.map_)),
        queue_(std::exchange(o.queue_, nullptr)),
        owner_(std::exchange(o.owner_, false)) {}
  SharedSpscQueue& operator=(SharedSpscQueue&&) = delete;
  SharedSpscQueue(const SharedSpscQueue&) = delete;
  SharedSpscQueue& operator=(const SharedSpscQueue&) = delete;
  ~SharedSpscQueue() { unlink(); }

  SpscQueue<T>& queue() const { return *queue_; }
  const std::string& name() const { return name_; }
  /// The creator removes the name (processes that mapped it keep their mapping). Idempotent;
  /// a no-op in a process that only attached.
  void unlink() noexcept {
    if (!std::exchange(owner_, false)) return;
    try {
      PosixShm::unlink(name_);
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
    }
  }

 private:
  SharedSpscQueue(std::string name, Mapping map, bool owner)
      : name_(std::move(name)), map_(std::move(map)), owner_(owner) {}
  std::string name_;
  Mapping map_;
  SpscQueue<T>* queue_ = nullptr;
  bool owner_ = false;
};

}  // namespace ipclab::lab15

// The member functions of SpscQueue: the student's file (labs/15-spsc-queue/src/ in the
// handout; the build puts that folder on the include path).
#include "spsc_queue_impl.hpp"  // IWYU pragma: export
