// Lab 15: the member functions of SpscQueue<T>. Included at the end of
// include/lab15/spsc_queue.hpp (a template lives in a header); read the contract there and
// the README's "Memory ordering" section first.
//
// The two happens-before edges this file relies on, and nothing else:
//   (P) producer: write slot[t], then tail_.store(t+1, release)
//       consumer: tail_.load(acquire) sees t+1, then read slot[t]
//       => the consumer reads the item the producer wrote, never an older one.
//   (C) consumer: read slot[h], then head_.store(h+1, release)
//       producer: head_.load(acquire) sees h+1, then overwrite slot[h]
//       => the producer never overwrites an item the consumer has not finished reading.
// An index read by its own writer needs no ordering at all (relaxed): a thread always sees
// its own last store. The cached copies are plain fields, each private to one side.
#pragma once

#include <algorithm>  // std::min
#include <atomic>     // std::atomic_ref
#include <cstring>    // std::memcpy
#include <new>        // placement new

#include <fmt/core.h>  // fmt::format for error messages

namespace ipclab::lab15 {

template <typename T>
SpscQueue<T>* SpscQueue<T>::create_in(void* mem, std::size_t bytes, std::size_t capacity) {
  if (capacity == 0 || (capacity & (capacity - 1)) != 0)
    throw UsageError(fmt::format("capacity {} is not a power of two", capacity));
  if (reinterpret_cast<std::uintptr_t>(mem) % kCacheLine != 0)
    throw UsageError("queue memory must be aligned to a cache line (64 bytes)");
  if (bytes < bytes_for(capacity))
    throw UsageError(fmt::format("{} bytes is too small for {} items ({} needed)", bytes, capacity,
                                 bytes_for(capacity)));
  auto* q = new (mem) SpscQueue();  // indices 0, cached copies 0
  q->capacity_ = capacity;
  q->mask_ = capacity - 1;
  q->item_size_ = sizeof(T);
  // The magic goes last. release: pairs with the acquire load in attach_in, so a process
  // that sees the magic also sees every header field written above.
  std::atomic_ref<std::uint64_t>(q->magic_).store(kQueueMagic, std::memory_order_release);
  return q;
}

template <typename T>
SpscQueue<T>* SpscQueue<T>::attach_in(void* mem, std::size_t bytes) {
  if (bytes < kHeaderBytes) throw OperationFailed("not a queue: smaller than its header");
  auto* q = static_cast<SpscQueue*>(mem);
  // acquire: pairs with the release store of the magic in create_in (header fields first).
  if (std::atomic_ref<std::uint64_t>(q->magic_).load(std::memory_order_acquire) != kQueueMagic)
    throw OperationFailed("not a queue: bad magic number");
  if (q->item_size_ != sizeof(T))
    throw OperationFailed(fmt::format("not a queue of this type: items of {} bytes, not {}",
                                      q->item_size_, sizeof(T)));
  if (q->capacity_ == 0 || (q->capacity_ & q->mask_) != 0 || q->mask_ != q->capacity_ - 1 ||
      bytes < bytes_for(q->capacity_))
    throw OperationFailed("not a queue: capacity does not match the memory");
  return q;
}

template <typename T>
bool SpscQueue<T>::try_push(const T& item) {
  // relaxed: only this thread writes tail_, and a thread always sees its own last store.
  const std::uint64_t t = tail_.load(std::memory_order_relaxed);
  if (t - cached_head_ == capacity_) {  // full by the cached copy: look at the real head_
    // acquire: pairs with the consumer's release store of head_ (edge C): once we see
    // head_ move past a slot, the consumer's read of that slot is finished.
    cached_head_ = head_.load(std::memory_order_acquire);
    if (t - cached_head_ == capacity_) return false;
  }
  std::memcpy(&slots()[t & mask_], &item, sizeof(T));
  // release: pairs with the consumer's acquire load of tail_ (edge P): the slot write
  // above becomes visible before (or with) the new tail.
  tail_.store(t + 1, std::memory_order_release);
  return true;
}

template <typename T>
bool SpscQueue<T>::try_pop(T& out) {
  // relaxed: only this thread writes head_.
  const std::uint64_t h = head_.load(std::memory_order_relaxed);
  if (h == cached_tail_) {  // empty by the cached copy: look at the real tail_
    // acquire: pairs with the producer's release store of tail_ (edge P): every slot
    // below the tail we see is fully written.
    cached_tail_ = tail_.load(std::memory_order_acquire);
    if (h == cached_tail_) return false;
  }
  std::memcpy(&out, &slots()[h & mask_], sizeof(T));
  // release: pairs with the producer's acquire load of head_ (edge C): our read of the
  // slot is done before the producer may reuse it.
  head_.store(h + 1, std::memory_order_release);
  return true;
}

template <typename T>
std::size_t SpscQueue<T>::push_n(const T* items, std::size_t n) {
  // relaxed: only this thread writes tail_.
  const std::uint64_t t = tail_.load(std::memory_order_relaxed);
  std::uint64_t room = capacity_ - (t - cached_head_);
  if (room < n) {
    // acquire: pairs with the consumer's release store of head_ (edge C).
    cached_head_ = head_.load(std::memory_order_acquire);
    room = capacity_ - (t - cached_head_);
  }
  const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(room, n));
  if (count == 0) return 0;
  // Two pieces at most: from slot (t & mask) to the end of the array, then from slot 0.
  const std::size_t first = t & mask_;
  const std::size_t part1 = std::min<std::size_t>(count, capacity_ - first);
  std::memcpy(&slots()[first], items, part1 * sizeof(T));
  if (count > part1) std::memcpy(&slots()[0], items + part1, (count - part1) * sizeof(T));
  // release: pairs with the consumer's acquire load of tail_ (edge P); one store
  // publishes the whole batch.
  tail_.store(t + count, std::memory_order_release);
  return count;
}

template <typename T>
std::size_t SpscQueue<T>::pop_n(T* out, std::size_t n) {
  // relaxed: only this thread writes head_.
  const std::uint64_t h = head_.load(std::memory_order_relaxed);
  std::uint64_t avail = cached_tail_ - h;
  if (avail < n) {
    // acquire: pairs with the producer's release store of tail_ (edge P).
    cached_tail_ = tail_.load(std::memory_order_acquire);
    avail = cached_tail_ - h;
  }
  const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(avail, n));
  if (count == 0) return 0;
  const std::size_t first = h & mask_;
  const std::size_t part1 = std::min<std::size_t>(count, capacity_ - first);
  std::memcpy(out, &slots()[first], part1 * sizeof(T));
  if (count > part1) std::memcpy(out + part1, &slots()[0], (count - part1) * sizeof(T));
  // release: pairs with the producer's acquire load of head_ (edge C); one store frees
  // the whole batch.
  head_.store(h + count, std::memory_order_release);
  return count;
}

template <typename T>
std::size_t SpscQueue<T>::size_approx() const {
  // Any thread may call this, so both loads can be stale. head_ first: tail_ only grows
  // and is never below head_, so a tail_ read after head_ gives t >= h (read in the other
  // order, t - h could wrap below zero). But both sides may move between the two loads:
  // t - h can then exceed the capacity, so clamp it.
  // acquire: orders this load before the tail_ load below (relaxed would let the CPU or
  // compiler satisfy the tail_ load first).
  const std::uint64_t h = head_.load(std::memory_order_acquire);
  // acquire: nothing is read through it; it only has to be no older than h (see above).
  const std::uint64_t t = tail_.load(std::memory_order_acquire);
  return static_cast<std::size_t>(std::min<std::uint64_t>(t - h, capacity_));
}

}  // namespace ipclab::lab15
