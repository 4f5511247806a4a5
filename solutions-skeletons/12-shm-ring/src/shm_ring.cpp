// Lab 12: a ring of variable-size messages in POSIX shared memory. Read the contract in
// include/lab12/shm_ring.hpp and the README ("The layout", "Waiting", Pitfalls) first.
// One handle may serve a producer thread and a consumer thread at once (README, "The API
// you implement"): keep the producer's process-local members apart from the consumer's.
#include "lab12/shm_ring.hpp"

#include <atomic>   // std::atomic
#include <cstring>  // std::memcpy
#include <utility>  // std::exchange

#include "ipclab/error.hpp"  // UsageError, OperationFailed, SysError, NotImplemented
#include "ipclab/names.hpp"  // names::posix
#include "lab12/futex.hpp"   // futex_wait, futex_wake, cpu_relax

namespace ipclab::lab12 {

/// The shared header at the start of the mapping.
struct RingShared {
  // TODO(lab12): the fields every process shares: a magic number written last by create()
  // (so open() knows initialization is done), the capacity, the producer's index and a
  // closed flag, the consumers' index, the waiting state (futex words and waiter counts),
  // the consumers' lock. Hot fields written by different sides go on different cache
  // lines: alignas(64). Everything here must be std::atomic or guarded by a lock.
  std::atomic<std::uint64_t> magic;
};

bool valid_capacity([[maybe_unused]] std::size_t capacity) {
  // TODO(lab12): a power of two (std::has_single_bit) from kMinCapacity to kMaxCapacity,
  // both included.
  throw NotImplemented("TODO(lab12): implement valid_capacity() in src/shm_ring.cpp");
}

ShmRing ShmRing::create([[maybe_unused]] std::string_view name,
                        [[maybe_unused]] std::size_t capacity) {
  // TODO(lab12): check the capacity with valid_capacity() (UsageError);
  // PosixShm::create(names::posix(name), header + capacity); map it (if that fails, unlink the
  // object before rethrowing); construct the header (placement new), publish magic last.
  throw NotImplemented("TODO(lab12): implement ShmRing::create() in src/shm_ring.cpp");
}

ShmRing ShmRing::open([[maybe_unused]] std::string_view name,
                      [[maybe_unused]] const Deadline& deadline) {
  // TODO(lab12): PosixShm::open until it exists and its magic is set (ENOENT: sleep ~10 ms
  // and look again; OperationFailed at the deadline); map it.
  throw NotImplemented("TODO(lab12): implement ShmRing::open() in src/shm_ring.cpp");
}

bool ShmRing::remove([[maybe_unused]] std::string_view name) {
  // TODO(lab12): unlink every name the ring made.
  throw NotImplemented("TODO(lab12): implement ShmRing::remove() in src/shm_ring.cpp");
}

void ShmRing::reset() noexcept {
  // TODO(lab12): if this handle still holds a peeked message, release the consumers' lock
  // (only then: another consumer may hold it).
  holding_ = false;
  shared_ = nullptr;
  data_ = nullptr;
  map_.reset();
}

std::optional<std::span<std::byte>> ShmRing::reserve([[maybe_unused]] std::size_t size,
                                                     [[maybe_unused]] const Deadline& deadline) {
  // TODO(lab12): record = 8-byte header + size rounded up to 8. If it does not fit before
  // the end of the area, it starts at offset 0 and the end is skipped (a pad header).
  // Wait until head + pad + record - tail <= capacity (cached tail first, then the shared
  // one; spin, then sleep). Write the header(s); return where the message goes.
  throw NotImplemented("TODO(lab12): implement ShmRing::reserve() in src/shm_ring.cpp");
}

void ShmRing::commit() {
  // TODO(lab12): publish the new head (release), then wake a consumer if one sleeps.
  throw NotImplemented("TODO(lab12): implement ShmRing::commit() in src/shm_ring.cpp");
}

void ShmRing::close() {
  // TODO(lab12): set the closed flag after the last head, and wake every sleeping consumer.
  throw NotImplemented("TODO(lab12): implement ShmRing::close() in src/shm_ring.cpp");
}

bool ShmRing::wait_drained([[maybe_unused]] const Deadline& deadline) {
  // TODO(lab12): wait (spin, then sleep) until tail == head.
  throw NotImplemented("TODO(lab12): implement ShmRing::wait_drained() in src/shm_ring.cpp");
}

ShmRing::Status ShmRing::peek([[maybe_unused]] std::span<const std::byte>& msg,
                              [[maybe_unused]] const Deadline& deadline) {
  // TODO(lab12): take the consumers' lock; while nothing is readable (and not closed),
  // wait for head to move (spin, then sleep); skip a pad record; return the message in place.
  throw NotImplemented("TODO(lab12): implement ShmRing::peek() in src/shm_ring.cpp");
}

void ShmRing::release() {
  // TODO(lab12): advance past the record; publish tail (in batches, and always when caught
  // up); wake the producer if it sleeps for room; release the consumers' lock.
  throw NotImplemented("TODO(lab12): implement ShmRing::release() in src/shm_ring.cpp");
}

}  // namespace ipclab::lab12
