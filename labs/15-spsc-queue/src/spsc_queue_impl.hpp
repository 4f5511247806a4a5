// Lab 15: the member functions of SpscQueue<T>. Included at the end of
// include/lab15/spsc_queue.hpp (a template lives in a header); read the contract there and
// the README's "Memory ordering" section first.
//
// This is the reference's fast path (README, "The next step"): the simple design the
// handout teaches (the consumer reloads tail_ when its cached copy says empty) plus one
// change. Each slot carries a stamp, and the consumer asks the slot, not tail_, whether it
// is full. In steady state the two sides then share no index line at all: the only lines
// that move between the cores are slot lines, each once per lap, carrying 64 / sizeof(Slot)
// items (README: transfers per item).
//
// The happens-before edges this file relies on, and nothing else:
//   (P) producer: write slot[t].value, then slot[t].stamp.store(t+1, release)
//       consumer: slot[h].stamp.load(acquire) sees h+1, then read slot[h].value
//       => the consumer reads the item the producer wrote, never an older one. A stamp
//          of slot k also carries every slot below k (the producer fills them in order),
//          so one acquire of a far stamp makes a whole run readable.
//   (C) consumer: read slot[h].value, then head_.store(h+1, release)
//       producer: head_.load(acquire) sees h+1, then overwrite slot[h]
//       => the producer never overwrites an item the consumer has not finished reading.
// tail_ is still stored (release) after each push, but only size_approx() reads it.
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
  // Stamps 0: no slot is full (the first item's stamp is 1). Memory used before may hold
  // stamps of another queue, which would read as items.
  Slot* sl = q->slots();
  for (std::size_t i = 0; i < capacity; ++i) sl[i].stamp = 0;
  // The magic goes last. release: pairs with the acquire load in attach_in, so a process
  // that sees the magic also sees every header field (and stamp) written above.
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
bool SpscQueue<T>::full_at(std::uint64_t i) {
  const std::atomic_ref<std::uint64_t> stamp(slots()[i & mask_].stamp);
  // acquire: pairs with the producer's release store of this stamp (edge P): seeing i+1
  // makes the value of slot i, and of every slot the producer filled before it, visible.
  return stamp.load(std::memory_order_acquire) == i + 1;
}

template <typename T>
void SpscQueue<T>::publish_at(std::uint64_t i, const T& item) {
  std::memcpy(item_at(i), &item, sizeof(T));
  // release: pairs with the consumer's acquire load of this stamp (edge P): the value
  // written above is visible to whoever sees the stamp.
  std::atomic_ref<std::uint64_t>(slots()[i & mask_].stamp).store(i + 1, std::memory_order_release);
}

template <typename T>
std::uint64_t SpscQueue<T>::full_through(std::uint64_t want) {
  // The consumer knows slots [h, cached_tail_) are full; it wants to know up to `want`.
  // First the far end: the slot kLookahead items ahead sits on a line the producer has
  // finished with (if it is full), so one line transfer makes a whole run readable and
  // the consumer stays off the line the producer is writing.
  if (want > cached_tail_ && full_at(want - 1)) return cached_tail_ = want;
  // Otherwise walk forward from what is known, but only along the cache line the walk
  // starts on (those stamps arrived with the first one): items the producer pushed a
  // moment ago are seen at once, and a single item is never held back.
  std::uint64_t c = cached_tail_;  // >= h: pops never pass cached_tail_
  const std::uint64_t line_end = (c | (kSlotsPerLine - 1)) + 1;
  while (c < want && c < line_end && full_at(c)) ++c;
  return cached_tail_ = c;
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
  publish_at(t, item);
  // release: for size_approx() only (the consumer reads stamps, not tail_); it keeps
  // tail_ no newer than the stamps it counts.
  tail_.store(t + 1, std::memory_order_release);
  return true;
}

template <typename T>
bool SpscQueue<T>::try_pop(T& out) {
  // relaxed: only this thread writes head_.
  const std::uint64_t h = head_.load(std::memory_order_relaxed);
  if (h == cached_tail_ && full_through(h + std::min<std::uint64_t>(kLookahead, capacity_)) == h)
    return false;  // the next slot is not full: empty
  std::memcpy(&out, item_at(h), sizeof(T));
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
  // Every slot gets its own stamp: the consumer may look at any of them.
  for (std::size_t i = 0; i < count; ++i) publish_at(t + i, items[i]);
  // release: for size_approx() only, as in try_push; one store for the batch.
  tail_.store(t + count, std::memory_order_release);
  return count;
}

template <typename T>
std::size_t SpscQueue<T>::pop_n(T* out, std::size_t n) {
  // relaxed: only this thread writes head_.
  const std::uint64_t h = head_.load(std::memory_order_relaxed);
  const std::uint64_t want = h + std::min<std::uint64_t>(n, capacity_);
  if (cached_tail_ < want && full_through(want) < want) {
    // Fewer than n by the stamps near the front: a batch wants everything there is, so
    // here (unlike try_pop) one look at tail_ is worth its line transfer.
    // acquire: pairs with the producer's release store of tail_, which follows the value
    // and stamp stores of every item below it (edge P through tail_).
    cached_tail_ = std::max(cached_tail_, tail_.load(std::memory_order_acquire));
  }
  const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(cached_tail_ - h, n));
  if (count == 0) return 0;
  for (std::size_t i = 0; i < count; ++i) std::memcpy(&out[i], item_at(h + i), sizeof(T));
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
