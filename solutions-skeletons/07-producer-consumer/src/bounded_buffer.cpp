// Lab 07: the bounded buffer (Stevens UNP2 §7.5). Read the contract in
// include/lab07/bounded_buffer.hpp and the README before you start.
#include "lab07/bounded_buffer.hpp"

#include <utility>  // std::move

#include "ipclab/error.hpp"  // ipclab::NotImplemented

namespace ipclab::lab07 {

template <typename T>
bool BoundedBuffer<T>::push([[maybe_unused]] T item) {
  // TODO(lab07): take mu_; while the buffer is full and open, wait on not_full_ (a while
  // loop: re-check after every wakeup); if closed, return false; else append the item and
  // wake one consumer. Call test_point() where the header says.
  throw NotImplemented("TODO(lab07): implement BoundedBuffer::push() in src/bounded_buffer.cpp");
}

template <typename T>
std::optional<T> BoundedBuffer<T>::pop() {
  // TODO(lab07): take mu_; while the buffer is empty and open, wait on not_empty_; an empty
  // buffer after the loop means closed and drained (return std::nullopt); else take the
  // front item and wake one producer.
  throw NotImplemented("TODO(lab07): implement BoundedBuffer::pop() in src/bounded_buffer.cpp");
}

template <typename T>
void BoundedBuffer<T>::close() {
  // TODO(lab07): mark the buffer closed under the lock, then wake *every* waiter on both
  // condition variables.
  throw NotImplemented("TODO(lab07): implement BoundedBuffer::close() in src/bounded_buffer.cpp");
}

template class BoundedBuffer<std::uint64_t>;
template class BoundedBuffer<int>;
template class BoundedBuffer<std::string>;

}  // namespace ipclab::lab07
