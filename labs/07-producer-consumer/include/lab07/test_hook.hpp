// Lab 07 test hook: the grader makes races show up by making threads yield at the points
// where a race can bite. Your push()/pop() call test_point() there; it does nothing unless
// the grader (or you) turns it on. It is given: do not change it.
//
//   IPCLAB_LAB07_YIELD=1   at every point, randomly: nothing, sched_yield(), a short spin,
//                          or (rarely) a 50 us sleep. set_test_yield(true) does the same.
//   arm_stop_in_push(n)    the n-th push() of this process stops itself with SIGSTOP at
//                          TestPoint::kPushLocked, while it holds the lock (the crash test
//                          then SIGKILLs it).
//   count_waits_into(c)    every TestPoint::kAfterWait of this thread adds 1 to *c: the
//                          program counts the waits (a full buffer, an empty one) this way.
#pragma once

#include <sched.h>   // sched_yield
#include <signal.h>  // raise, SIGSTOP
#include <unistd.h>  // usleep

#include <atomic>   // std::atomic
#include <cstdint>  // std::uint64_t
#include <cstdlib>  // std::getenv
#include <random>   // std::random_device

namespace ipclab::lab07 {

/// Where test_point() is called from.
enum class TestPoint {
  kBeforeLock,   ///< at the start of push()/pop()/close(), before taking the lock
  kAfterWait,    ///< right after a condition wait returns, lock held, before re-checking
  kPushLocked,   ///< in push(), lock held and room checked, just before the item is stored
  kPopLocked,    ///< in pop(), lock held and an item present, just before it is taken
  kAfterSignal,  ///< after signalling a condition variable, lock still held
};

namespace detail {
inline std::atomic<int>& yield_state() {  // -1 unknown, 0 off, 1 on
  static std::atomic<int> state{-1};
  return state;
}
inline std::atomic<std::int64_t>& stop_countdown() {  // pushes left before SIGSTOP; <0 off
  static std::atomic<std::int64_t> left{-1};
  return left;
}
inline std::atomic<std::uint64_t>*& wait_counter() {  // where this thread counts its waits
  thread_local std::atomic<std::uint64_t>* counter = nullptr;
  return counter;
}
}  // namespace detail

/// Turns the random yields on or off for this process (overrides IPCLAB_LAB07_YIELD).
inline void set_test_yield(bool on) { detail::yield_state().store(on ? 1 : 0); }

/// The n-th (1-based) push() from now on stops this process inside its critical section.
inline void arm_stop_in_push(std::int64_t n) { detail::stop_countdown().store(n); }

/// Counts each condition wait of this thread's push()/pop() calls from now on (each
/// TestPoint::kAfterWait) into `*counter`; nullptr: stop counting. producer_consumer's
/// "Buffer full waits" and "Buffer empty waits".
inline void count_waits_into(std::atomic<std::uint64_t>* counter) {
  detail::wait_counter() = counter;
}

/// Call at each TestPoint. Cheap when the hooks are off.
inline void test_point(TestPoint where) {
  if (where == TestPoint::kAfterWait && detail::wait_counter() != nullptr)
    detail::wait_counter()->fetch_add(1, std::memory_order_relaxed);
  if (where == TestPoint::kPushLocked && detail::stop_countdown().load() > 0 &&
      detail::stop_countdown().fetch_sub(1) == 1)
    (void)::raise(SIGSTOP);  // the grader sees state 'T' and kills us while we hold the lock
  int on = detail::yield_state().load(std::memory_order_relaxed);
  if (on < 0) {
    const char* env = std::getenv("IPCLAB_LAB07_YIELD");
    on = (env != nullptr && env[0] != '\0' && env[0] != '0') ? 1 : 0;
    detail::yield_state().store(on);
  }
  if (on == 0) return;
  thread_local std::uint64_t x = std::random_device{}() | 1;
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
  switch (x % 8) {
    case 0:
    case 1:
      ::sched_yield();
      break;
    case 2:
    case 3: {
      std::atomic<std::uint64_t> spin{0};  // an atomic, so the loop is not optimised away
      const std::uint64_t n = (x >> 8) % 2000;
      while (spin.fetch_add(1, std::memory_order_relaxed) < n) {
      }
      break;
    }
    case 4:
      if ((x >> 16) % 16 == 0) ::usleep(50);
      break;
    default:
      break;
  }
}

}  // namespace ipclab::lab07
