// Lab 15: the member functions of SpscQueue<T>. Included at the end of
// include/lab15/spsc_queue.hpp (a template lives in a header); read the contract there and
// the README's "Memory ordering" section first.
//
// Before you write a line, write down the two happens-before edges the queue needs (the
// README's thinking exercise): who writes a slot, who reads it, and which store/load pair
// carries each write to the other side. Then give every atomic operation below an explicit
// std::memory_order and a comment saying what it pairs with (the grader checks both).
#pragma once

#include <algorithm>  // std::min
#include <atomic>     // std::atomic_ref
#include <cstring>    // std::memcpy
#include <new>        // placement new

#include <fmt/core.h>  // fmt::format for error messages

namespace ipclab::lab15 {

template <typename T>
SpscQueue<T>* SpscQueue<T>::create_in([[maybe_unused]] void* mem,
                                      [[maybe_unused]] std::size_t bytes,
                                      [[maybe_unused]] std::size_t capacity) {
  // TODO(lab15): check capacity (a power of two, not 0), alignment and size (UsageError);
  // placement-new a SpscQueue into mem (all indices 0); set capacity_, mask_, item_size_;
  // write magic_ last (std::atomic_ref<std::uint64_t>(magic_).store(..., which order?)).
  throw NotImplemented("TODO(lab15): implement SpscQueue::create_in() in src/spsc_queue_impl.hpp");
}

template <typename T>
SpscQueue<T>* SpscQueue<T>::attach_in([[maybe_unused]] void* mem,
                                      [[maybe_unused]] std::size_t bytes) {
  // TODO(lab15): check magic_, item_size_ == sizeof(T), capacity_/mask_ and bytes
  // (OperationFailed("not a queue: ...")); return the queue at mem.
  throw NotImplemented("TODO(lab15): implement SpscQueue::attach_in() in src/spsc_queue_impl.hpp");
}

template <typename T>
bool SpscQueue<T>::try_push([[maybe_unused]] const T& item) {
  // TODO(lab15): full when tail - head == capacity. Test against cached_head_ first; only
  // if that says full, reload head_ (which order?) into cached_head_ and test again. Copy
  // the item into item_at(tail), then publish it: one store of tail_ (which order?).
  throw NotImplemented("TODO(lab15): implement SpscQueue::try_push() in src/spsc_queue_impl.hpp");
}

template <typename T>
bool SpscQueue<T>::try_pop([[maybe_unused]] T& out) {
  // TODO(lab15): the mirror image of try_push: empty when head == tail (cached_tail_
  // first), copy item_at(head) out, then free it with one store of head_.
  throw NotImplemented("TODO(lab15): implement SpscQueue::try_pop() in src/spsc_queue_impl.hpp");
}

template <typename T>
std::size_t SpscQueue<T>::push_n([[maybe_unused]] const T* items, [[maybe_unused]] std::size_t n) {
  // TODO(lab15): room = capacity - (tail - cached_head_); refresh cached_head_ if room < n;
  // copy min(room, n) items, each to item_at(tail + i) (the mask wraps the index at the end
  // of the slot array), then ONE store of tail_ for the whole batch.
  throw NotImplemented("TODO(lab15): implement SpscQueue::push_n() in src/spsc_queue_impl.hpp");
}

template <typename T>
std::size_t SpscQueue<T>::pop_n([[maybe_unused]] T* out, [[maybe_unused]] std::size_t n) {
  // TODO(lab15): the mirror image of push_n.
  throw NotImplemented("TODO(lab15): implement SpscQueue::pop_n() in src/spsc_queue_impl.hpp");
}

template <typename T>
std::size_t SpscQueue<T>::size_approx() const {
  // TODO(lab15): tail - head, read so that it can never be negative (which index first?);
  // both sides may move between your two loads, so it must not exceed the capacity either.
  throw NotImplemented(
      "TODO(lab15): implement SpscQueue::size_approx() in src/spsc_queue_impl.hpp");
}

}  // namespace ipclab::lab15
