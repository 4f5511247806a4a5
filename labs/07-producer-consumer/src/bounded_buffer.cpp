// Lab 07: the bounded buffer (Stevens UNP2 §7.5). Read the contract in
// include/lab07/bounded_buffer.hpp and the README before you start.
#include "lab07/bounded_buffer.hpp"

#include <utility>  // std::move

namespace ipclab::lab07 {

template <typename T>
bool BoundedBuffer<T>::push(T item) {
  test_point(TestPoint::kBeforeLock);
  std::unique_lock lock(mu_);
  // while, not if: after a wakeup another producer may have filled the slot first.
  while (items_.size() == capacity_ && !closed_) {
    not_full_.wait(lock);
    test_point(TestPoint::kAfterWait);
  }
  if (closed_) return false;
  test_point(TestPoint::kPushLocked);
  items_.push_back(std::move(item));
  // One item in, so one consumer can proceed: notify_one is enough because only
  // consumers wait on not_empty_ (with a single condvar it would have to be notify_all).
  not_empty_.notify_one();
  test_point(TestPoint::kAfterSignal);
  return true;
}

template <typename T>
std::optional<T> BoundedBuffer<T>::pop() {
  test_point(TestPoint::kBeforeLock);
  std::unique_lock lock(mu_);
  while (items_.empty() && !closed_) {
    not_empty_.wait(lock);
    test_point(TestPoint::kAfterWait);
  }
  if (items_.empty()) return std::nullopt;  // closed and drained
  test_point(TestPoint::kPopLocked);
  std::optional<T> item(std::move(items_.front()));
  items_.pop_front();
  not_full_.notify_one();
  test_point(TestPoint::kAfterSignal);
  return item;
}

template <typename T>
void BoundedBuffer<T>::close() {
  test_point(TestPoint::kBeforeLock);
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  // Everyone blocked must re-check: all producers (they fail) and all consumers (they
  // drain, then see the end). notify_one here would strand the others forever.
  not_full_.notify_all();
  not_empty_.notify_all();
}

template class BoundedBuffer<std::uint64_t>;
template class BoundedBuffer<int>;
template class BoundedBuffer<std::string>;

}  // namespace ipclab::lab07
