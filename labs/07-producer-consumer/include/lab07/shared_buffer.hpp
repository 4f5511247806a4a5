// Lab 07 — the bounded buffer for processes (Stevens UNP2 §7.7 attributes, §7.8-7.9):
// the same algorithm, but its state, mutex and condition variables live in POSIX shared
// memory, initialised PTHREAD_PROCESS_SHARED, and the mutex is ROBUST.
//
// Why robust: a process can die (SIGKILL) while it holds the mutex. A normal mutex then
// stays locked forever and every other process is wedged. With PTHREAD_MUTEX_ROBUST the
// next locker gets EOWNERDEAD instead: it now owns the mutex, but the data it guards may
// be half-updated. It must make the buffer consistent, then call pthread_mutex_consistent()
// (else the mutex becomes unusable, ENOTRECOVERABLE, when it is unlocked).
//
// "Consistent" for this buffer (what recover() restores; every locker calls it on
// EOWNERDEAD, from pthread_mutex_lock *and* from pthread_cond_wait):
//   - a push the dead owner had started (in_progress != 0) is discarded: its slot is not
//     part of the buffer (count was not incremented yet) and in_progress goes back to 0;
//   - head < capacity and count <= capacity (clamped if the dead process left nonsense);
//   - recoveries is incremented, and both condition variables are broadcast, because the
//     dead owner may have been about to signal one that someone is waiting on.
// Then pthread_mutex_consistent(), and the caller carries on with its push/pop/close.
#pragma once

#include <pthread.h>  // pthread_mutex_t, pthread_cond_t

#include <cstddef>      // std::size_t, offsetof
#include <cstdint>      // std::uint64_t, std::uint32_t
#include <optional>     // std::optional
#include <string>       // std::string
#include <type_traits>  // std::is_trivially_copyable_v

#include "ipclab/shm.hpp"       // ipclab::PosixShm, ipclab::Mapping
#include "lab07/test_hook.hpp"  // test_point()

namespace ipclab::lab07 {

/// The layout in shared memory: this header, then `capacity` slots of std::uint64_t.
struct SharedRing {
  static constexpr std::uint32_t kMagic = 0x6c616237;  // "lab7": set last by create()
  pthread_mutex_t mutex;      // PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST
  pthread_cond_t not_full;    // PTHREAD_PROCESS_SHARED; producers wait here
  pthread_cond_t not_empty;   // PTHREAD_PROCESS_SHARED; consumers wait here
  std::uint32_t magic;        // kMagic once initialised
  std::uint32_t closed;       // 0 open, 1 closed
  std::uint64_t capacity;     // number of slots
  std::uint64_t head;         // index of the oldest item, < capacity
  std::uint64_t count;        // items in the buffer, <= capacity
  std::uint64_t in_progress;  // 1 while a push is between "room checked" and "count++"
  std::uint64_t recoveries;   // times a locker got EOWNERDEAD and repaired the buffer
  std::uint64_t slots[1];     // really `capacity` of them (see bytes_for)
};
static_assert(std::is_trivially_copyable_v<SharedRing>, "SharedRing lives in shared memory");

/// A handle on a SharedRing in a POSIX shm object. Fork-safe: a child forked after
/// create()/open() uses the inherited mapping directly.
class SharedBoundedBuffer {
 public:
  /// The size of the shm object for `capacity` slots.
  static std::size_t bytes_for(std::size_t capacity) {
    return offsetof(SharedRing, slots) + capacity * sizeof(std::uint64_t);
  }

  /**
   * @brief Creates the shm object `name` (a full POSIX name from names::posix, which must
   *        not exist), sizes it, maps it and initialises an empty open buffer: a
   *        process-shared robust mutex, two process-shared condition variables.
   * @throws ipclab::UsageError if capacity is 0; ipclab::SysError if shm or pthread
   *         initialisation fails (the object is unlinked again then)
   *
   * TODO(lab07): implement in src/shared_buffer.cpp.
   */
  static SharedBoundedBuffer create(const std::string& name, std::size_t capacity);

  /**
   * @brief Maps an existing buffer made by create() (in any process).
   * @throws ipclab::SysError if it does not exist; ipclab::OperationFailed if it is not an
   *         initialised buffer (bad size or magic)
   *
   * TODO(lab07): implement in src/shared_buffer.cpp.
   */
  static SharedBoundedBuffer open(const std::string& name);

  /// Removes the name (mappings stay valid until they go). False if it did not exist.
  static bool unlink(const std::string& name) { return PosixShm::unlink(name); }

  /**
   * @brief As BoundedBuffer::push, across processes; repairs the buffer on EOWNERDEAD.
   * TODO(lab07): implement. Call test_point() at kBeforeLock, kAfterWait, kPushLocked
   * (after setting in_progress, before storing the item) and kAfterSignal.
   */
  bool push(std::uint64_t item);

  /**
   * @brief As BoundedBuffer::pop, across processes; repairs the buffer on EOWNERDEAD.
   * TODO(lab07): implement. Call test_point() at kBeforeLock, kAfterWait, kPopLocked and
   * kAfterSignal.
   */
  std::optional<std::uint64_t> pop();

  /// As BoundedBuffer::close: wakes every waiter in every process. TODO(lab07).
  void close();

  /// Items now / closed / times EOWNERDEAD was repaired (each takes the lock).
  std::size_t size() const;
  std::size_t capacity() const { return ring_->capacity; }
  bool closed() const;
  std::uint64_t recoveries() const;

  /// The ring itself (for tests and the program's diagnostics).
  SharedRing* ring() const { return ring_; }

 private:
  explicit SharedBoundedBuffer(Mapping map) : map_(std::move(map)), ring_(map_.as<SharedRing>()) {}
  Mapping map_;
  SharedRing* ring_ = nullptr;
};

}  // namespace ipclab::lab07
