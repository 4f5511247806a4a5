// Lab 20 — the shm backend's rings: one shared-memory object per client holding two
// single-producer single-consumer rings of frames, `up` (client -> hub) and `down`
// (hub -> client). The hub creates the object and hands its descriptor to the client with
// SCM_RIGHTS on the control socket (README §Backends). You write src/ring.cpp.
//
// After lab 12's ring, cut down to one producer and one consumer: byte indices that only
// grow, a record = u32 length + u32 zero + the bytes padded to 8, never split at the end
// of the data area (a pad record skips to the start), producer and consumer fields on
// cache lines of their own, each side caching the other's index.
//
// Sleeping is the hub's poll loop's business, not a futex's: a side that finds nothing to
// do sets its `waiting` flag, re-checks, and polls the control socket; the other side,
// after it changed the ring, sends one byte on the socket when (and only when) the flag
// was set (README §Pitfalls 1).
#pragma once

#include <atomic>       // std::atomic
#include <cstddef>      // std::size_t, std::byte
#include <cstdint>      // std::uint64_t, std::uint32_t
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "ipclab/fd.hpp"   // Fd
#include "ipclab/shm.hpp"  // Mapping

namespace ipclab::lab20 {

inline constexpr std::size_t kCacheLine = 64;
/// Each ring's data area: a power of two, room for many maximum frames.
inline constexpr std::size_t kRingCapacity = std::size_t{256} << 10;
/// The shared object's first page: kShmMagic (a u64 at offset 0), the rings' capacity (a
/// u64 at offset 8), then the two RingControl.
inline constexpr std::size_t kRingHeaderPage = 4096;
/// What a ring object's first 8 bytes hold ("ShbHub20"): attach refuses an object without it.
inline constexpr std::uint64_t kShmMagic = 0x3032'6275'4862'6853ULL;

/// One ring's shared indices and flags (lives in the shared object's first page).
struct RingControl {
  alignas(kCacheLine) std::atomic<std::uint64_t> head;  ///< the producer's: committed bytes
  alignas(kCacheLine) std::atomic<std::uint64_t> tail;  ///< the consumer's: freed bytes
  /// The consumer found the ring empty and sleeps: the producer wakes it after a push.
  alignas(kCacheLine) std::atomic<std::uint32_t> consumer_waiting;
  /// The producer found the ring full and sleeps: the consumer wakes it after a pop.
  alignas(kCacheLine) std::atomic<std::uint32_t> producer_waiting;
};

/// One side's handle of one ring. Process-local state (cached indices) lives here.
class Ring {
 public:
  Ring() = default;
  Ring(RingControl* ctl, std::byte* data, std::size_t capacity)
      : ctl_(ctl), data_(data), capacity_(capacity) {}

  /// The largest frame a record may hold: capacity / 2 - 8.
  std::size_t max_message() const { return capacity_ / 2 - 8; }

  /**
   * @brief Producer: copies `msg` into the ring as one record and publishes it.
   * @return false if there is no room now (nothing is written)
   * @throws UsageError if msg is longer than max_message()
   *
   * TODO(lab20): implement in src/ring.cpp.
   */
  bool try_push(std::string_view msg);

  /**
   * @brief Consumer: takes the next record into `out` and frees its room.
   * @return false if the ring is empty
   * @throws ProtocolError if the record is impossible (a length over max_message(), a
   *         record past the committed head): the other side is broken or hostile
   *
   * TODO(lab20): implement in src/ring.cpp.
   */
  bool try_pop(std::string& out);

  /// Consumer: true if nothing is committed beyond what it took.
  bool empty() const;

  /**
   * @brief Sleep registration. A side about to sleep calls wait_for_data() (consumer) or
   * wait_for_room() (producer) and then must re-check the ring before it sleeps: each sets
   * its flag with a read-modify-write that acquires. take_*_waiter() on the other side,
   * after it published its index, takes the flag with a read-modify-write that releases,
   * and returns true (the flag cleared) when a sleeper must be woken (README §Pitfalls 1).
   *
   * TODO(lab20): implement in src/ring.cpp.
   */
  void wait_for_data();
  void wait_for_room();
  bool take_consumer_waiter();  ///< producer, after try_push
  bool take_producer_waiter();  ///< consumer, after try_pop

 private:
  RingControl* ctl_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::uint64_t cached_tail_ = 0;  // producer: the consumer's tail, last seen
  std::uint64_t cached_head_ = 0;  // consumer: the producer's head, last seen
};

/// The shared object of one shm client: a header page (magic, capacity, two RingControl),
/// then the up ring's data area, then the down ring's.
class ShmChannel {
 public:
  /// The object's size for rings of `capacity` bytes.
  static std::size_t size_for(std::size_t capacity) { return kRingHeaderPage + 2 * capacity; }
  /**
   * @brief Creates the object `name` (a full POSIX name, mode 0600), sized and
   * initialized with two empty rings of kRingCapacity. The caller keeps fd() to pass on;
   * it is 3 or above (F_DUPFD_CLOEXEC), so that a process whose standard descriptors are
   * closed never writes a message meant for stderr into the ring.
   *
   * TODO(lab20): implement in src/ring.cpp.
   */
  static ShmChannel create(const std::string& name);
  /**
   * @brief Maps an object received as a descriptor and checks it: its size
   * (size_for(kRingCapacity)), kShmMagic at offset 0 and kRingCapacity at offset 8.
   * @throws ProtocolError if it is not a hub ring object (any one of the three wrong)
   *
   * TODO(lab20): implement in src/ring.cpp.
   */
  static ShmChannel attach(Fd fd);

  int fd() const { return fd_.get(); }
  Ring& up() { return up_; }
  Ring& down() { return down_; }

 private:
  Fd fd_;
  Mapping map_;
  Ring up_, down_;
};

}  // namespace ipclab::lab20
