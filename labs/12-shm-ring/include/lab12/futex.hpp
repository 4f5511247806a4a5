// Lab 12, given: futex(2) wait and wake on a 32-bit word in shared memory.
//
// A futex is a word in memory plus a kernel wait queue keyed by the word's *physical*
// page: two processes that map the same shm object wait and wake on the same queue. The
// calls here are the shared (not FUTEX_PRIVATE_FLAG) variants for exactly that reason.
//
// The contract of FUTEX_WAIT is what makes it safe: the kernel sleeps only if the word
// still holds `expected` when it checks, atomically with queueing the caller. A waker
// that changes the word and then calls wake() can never be missed by a waiter that read
// the old value: the waiter's wait() returns at once instead.
#pragma once

#include <linux/futex.h>  // FUTEX_WAIT_BITSET, FUTEX_WAKE, FUTEX_BITSET_MATCH_ANY
#include <sys/socket.h>   // send, recv, MSG_NOSIGNAL
#include <sys/syscall.h>  // SYS_futex
#include <time.h>         // timespec
#include <unistd.h>       // syscall

#include <atomic>    // std::atomic
#include <cerrno>    // errno
#include <charconv>  // std::from_chars
#include <chrono>    // std::chrono::duration_cast
#include <climits>   // INT_MAX
#include <cstdint>   // std::uint32_t, std::int64_t
#include <cstdlib>   // std::getenv
#include <cstring>   // std::strlen

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/error.hpp"  // throw_errno

namespace ipclab::lab12 {

static_assert(sizeof(std::atomic<std::uint32_t>) == 4 &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "a futex is a plain 32-bit word: the atomic must be exactly that");

/**
 * @brief The test hook: a pause just before the FUTEX_WAIT system call, held by a test.
 *
 * Does nothing unless IPCLAB_LAB12_FUTEX_HOLD=<fd> is set in the environment (a grader sets
 * it in a child process it forks, <fd> being its end of a socket pair): then it sends the
 * time left to `deadline` in nanoseconds (one std::int64_t) on that socket and waits for one
 * byte back (or the socket's end: then it goes on at once). A sleeper held here has read the
 * futex word and found nothing ready, and the kernel has not yet compared the word: a waker
 * that publishes and wakes now is seen only if it changed the word. Given; do not change it.
 */
inline void test_wait_point(const Deadline& deadline) {
  const char* v = std::getenv("IPCLAB_LAB12_FUTEX_HOLD");
  if (v == nullptr) return;
  int fd = -1;
  const char* end = v + std::strlen(v);
  if (const auto [p, ec] = std::from_chars(v, end, fd); ec != std::errc{} || p != end || fd < 0)
    return;  // not a descriptor number: the hook stays off
  const std::int64_t left =
      std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.remaining()).count();
  const int saved = errno;
  if (::send(fd, &left, sizeof left, MSG_NOSIGNAL) == static_cast<long>(sizeof left)) {
    char go = 0;
    (void)::recv(fd, &go, 1, 0);
  }
  errno = saved;
}

enum class WaitResult { kWoken, kChanged, kTimeout, kInterrupted };

/**
 * @brief Sleeps while `*word == expected`, until woken or `deadline` (CLOCK_MONOTONIC).
 *
 * Returns kChanged at once if the word no longer holds `expected` (EAGAIN), kWoken after
 * a wake (or a spurious return: re-check your condition in a loop), kTimeout at the
 * deadline, kInterrupted when a signal handler ran (EINTR: a shutdown flag to look at).
 */
inline WaitResult futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                             const Deadline& deadline) {
  test_wait_point(deadline);
  const timespec abs = deadline.monotonic_abs();
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time (FUTEX_WAIT a relative one).
  const long rc = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_BITSET,
                            expected, &abs, nullptr, FUTEX_BITSET_MATCH_ANY);
  if (rc == 0) return WaitResult::kWoken;
  switch (errno) {
    case EAGAIN:
      return WaitResult::kChanged;
    case ETIMEDOUT:
      return WaitResult::kTimeout;
    case EINTR:
      return WaitResult::kInterrupted;
    default:
      throw_errno("futex(FUTEX_WAIT_BITSET)");
  }
}

/// Wakes up to `count` processes sleeping on `word` (all of them by default).
inline void futex_wake(std::atomic<std::uint32_t>& word, int count = INT_MAX) {
  if (::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, count, nullptr,
                nullptr, 0) < 0)
    throw_errno("futex(FUTEX_WAKE)");
}

/// A CPU hint for spin loops ("I am spinning"): on x86 `pause` lets the sibling
/// hyperthread run and avoids a memory-order flush when the loop ends.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace ipclab::lab12
