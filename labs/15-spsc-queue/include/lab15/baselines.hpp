// Lab 15, given: the two baselines SpscQueue is measured against, with its interface
// (create_in/attach_in, try_push/try_pop, push_n/pop_n, size_approx) plus blocking
// push()/pop(), which is how these queues are used. Both live in shared memory as they
// are (process-shared mutex and condition variables; unnamed process-shared semaphores).
//
//   MutexQueue  one pthread mutex around a ring, two condition variables (not full, not
//               empty): Stevens UNP2 ch. 7-8. Every operation takes the lock.
//   SemQueue    Stevens' producer-consumer with two counting semaphores (free slots,
//               items): UNP2 ch. 10. With one producer and one consumer no lock is needed;
//               each sem_wait/sem_post is an atomic read-modify-write (and a futex call
//               when the count is zero, or someone sleeps on it).
#pragma once

#include <pthread.h>    // pthread_mutex_t, pthread_cond_t
#include <semaphore.h>  // sem_t

#include <cerrno>       // EINTR, EAGAIN
#include <cstddef>      // std::size_t, std::byte
#include <cstdint>      // std::uint64_t, std::uintptr_t
#include <cstring>      // std::memcpy
#include <new>          // placement new
#include <type_traits>  // std::is_trivially_copyable_v

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"      // check_posix, check_unix, UsageError, OperationFailed
#include "lab15/spsc_queue.hpp"  // kCacheLine

namespace ipclab::lab15 {

namespace detail {
inline void check_capacity(void* mem, std::size_t bytes, std::size_t capacity, std::size_t needed) {
  if (capacity == 0 || (capacity & (capacity - 1)) != 0)
    throw UsageError(fmt::format("capacity {} is not a power of two", capacity));
  if (reinterpret_cast<std::uintptr_t>(mem) % kCacheLine != 0)
    throw UsageError("queue memory must be aligned to a cache line (64 bytes)");
  if (bytes < needed) throw UsageError(fmt::format("{} bytes is too small", bytes));
}
}  // namespace detail

/// A ring under one process-shared mutex, with "not full" and "not empty" conditions.
template <typename T>
class alignas(kCacheLine) MutexQueue {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  MutexQueue(const MutexQueue&) = delete;
  MutexQueue& operator=(const MutexQueue&) = delete;

  static constexpr std::size_t bytes_for(std::size_t capacity) {
    return sizeof(MutexQueue) + capacity * sizeof(T);
  }
  static MutexQueue* create_in(void* mem, std::size_t bytes, std::size_t capacity) {
    detail::check_capacity(mem, bytes, capacity, bytes_for(capacity));
    auto* q = new (mem) MutexQueue();
    q->capacity_ = capacity;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    check_posix(pthread_mutex_init(&q->mu_, &ma), "pthread_mutex_init");
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    check_posix(pthread_cond_init(&q->not_full_, &ca), "pthread_cond_init");
    check_posix(pthread_cond_init(&q->not_empty_, &ca), "pthread_cond_init");
    pthread_condattr_destroy(&ca);
    return q;
  }
  static MutexQueue* attach_in(void* mem, std::size_t bytes) {
    auto* q = static_cast<MutexQueue*>(mem);
    if (bytes < sizeof(MutexQueue) || bytes < bytes_for(q->capacity_))
      throw OperationFailed("not a mutex queue");
    return q;
  }
  /// Destroys the mutex and conditions (the creator, once nobody uses the queue).
  void destroy() {
    pthread_cond_destroy(&not_empty_);
    pthread_cond_destroy(&not_full_);
    pthread_mutex_destroy(&mu_);
  }

  std::size_t capacity() const { return capacity_; }
  bool try_push(const T& item) { return push_n(&item, 1) == 1; }
  bool try_pop(T& out) { return pop_n(&out, 1) == 1; }
  std::size_t push_n(const T* items, std::size_t n) {
    Lock l(mu_);
    std::size_t k = 0;
    for (; k < n && tail_ - head_ < capacity_; ++k, ++tail_)
      std::memcpy(&slots()[tail_ % capacity_], &items[k], sizeof(T));
    if (k > 0) pthread_cond_signal(&not_empty_);
    return k;
  }
  std::size_t pop_n(T* out, std::size_t n) {
    Lock l(mu_);
    std::size_t k = 0;
    for (; k < n && head_ != tail_; ++k, ++head_)
      std::memcpy(&out[k], &slots()[head_ % capacity_], sizeof(T));
    if (k > 0) pthread_cond_signal(&not_full_);
    return k;
  }
  /// Blocks while full.
  void push(const T& item) {
    Lock l(mu_);
    while (tail_ - head_ == capacity_) pthread_cond_wait(&not_full_, &mu_);
    std::memcpy(&slots()[tail_ % capacity_], &item, sizeof(T));
    ++tail_;
    pthread_cond_signal(&not_empty_);
  }
  /// Blocks while empty.
  void pop(T& out) {
    Lock l(mu_);
    while (head_ == tail_) pthread_cond_wait(&not_empty_, &mu_);
    std::memcpy(&out, &slots()[head_ % capacity_], sizeof(T));
    ++head_;
    pthread_cond_signal(&not_full_);
  }
  std::size_t size_approx() {
    Lock l(mu_);
    return static_cast<std::size_t>(tail_ - head_);
  }

 private:
  MutexQueue() = default;
  struct Lock {
    explicit Lock(pthread_mutex_t& m) : m_(m) { pthread_mutex_lock(&m_); }
    ~Lock() { pthread_mutex_unlock(&m_); }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    pthread_mutex_t& m_;
  };
  T* slots() { return reinterpret_cast<T*>(reinterpret_cast<std::byte*>(this) + sizeof(*this)); }

  pthread_mutex_t mu_{};
  pthread_cond_t not_full_{}, not_empty_{};
  std::uint64_t head_ = 0, tail_ = 0, capacity_ = 0;  // under mu_
};

/// Stevens' two-semaphore ring: free slots and items, process-shared (sem_init pshared=1).
template <typename T>
class SemQueue {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  SemQueue(const SemQueue&) = delete;
  SemQueue& operator=(const SemQueue&) = delete;

  static constexpr std::size_t bytes_for(std::size_t capacity) {
    return sizeof(SemQueue) + capacity * sizeof(T);
  }
  static SemQueue* create_in(void* mem, std::size_t bytes, std::size_t capacity) {
    detail::check_capacity(mem, bytes, capacity, bytes_for(capacity));
    auto* q = new (mem) SemQueue();
    q->capacity_ = capacity;
    check_unix(sem_init(&q->free_, 1, static_cast<unsigned>(capacity)), "sem_init");
    check_unix(sem_init(&q->items_, 1, 0), "sem_init");
    return q;
  }
  static SemQueue* attach_in(void* mem, std::size_t bytes) {
    auto* q = static_cast<SemQueue*>(mem);
    if (bytes < sizeof(SemQueue) || bytes < bytes_for(q->capacity_))
      throw OperationFailed("not a semaphore queue");
    return q;
  }
  void destroy() {
    sem_destroy(&items_);
    sem_destroy(&free_);
  }

  std::size_t capacity() const { return capacity_; }
  bool try_push(const T& item) {
    if (sem_trywait(&free_) != 0) return false;
    put(item);
    return true;
  }
  bool try_pop(T& out) {
    if (sem_trywait(&items_) != 0) return false;
    take(out);
    return true;
  }
  std::size_t push_n(const T* items, std::size_t n) {
    std::size_t k = 0;
    while (k < n && try_push(items[k])) ++k;
    return k;
  }
  std::size_t pop_n(T* out, std::size_t n) {
    std::size_t k = 0;
    while (k < n && try_pop(out[k])) ++k;
    return k;
  }
  void push(const T& item) {
    while (sem_wait(&free_) != 0) {  // EINTR only
    }
    put(item);
  }
  void pop(T& out) {
    while (sem_wait(&items_) != 0) {
    }
    take(out);
  }
  std::size_t size_approx() {
    int v = 0;
    sem_getvalue(&items_, &v);
    return v < 0 ? 0 : static_cast<std::size_t>(v);
  }

 private:
  SemQueue() = default;
  // The producer's index is private to the producer, the consumer's to the consumer; the
  // semaphores order the slot accesses (sem_post releases, sem_wait acquires).
  void put(const T& item) {
    std::memcpy(&slots()[tail_ % capacity_], &item, sizeof(T));
    ++tail_;
    sem_post(&items_);
  }
  void take(T& out) {
    std::memcpy(&out, &slots()[head_ % capacity_], sizeof(T));
    ++head_;
    sem_post(&free_);
  }
  T* slots() { return reinterpret_cast<T*>(reinterpret_cast<std::byte*>(this) + sizeof(*this)); }

  alignas(kCacheLine) sem_t free_{};
  std::uint64_t tail_ = 0;  // producer only
  alignas(kCacheLine) sem_t items_{};
  std::uint64_t head_ = 0;  // consumer only
  alignas(kCacheLine) std::uint64_t capacity_ = 0;
};

}  // namespace ipclab::lab15
