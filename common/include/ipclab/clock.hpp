// Monotonic time, deadlines and stopwatches.
#pragma once

#include <time.h>  // timespec, clock_gettime

#include <chrono>   // std::chrono
#include <cstdint>  // std::int64_t

namespace ipclab {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// Nanoseconds on CLOCK_MONOTONIC (cheap: vDSO, no system call).
inline std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

/// Sleeps `ns` nanoseconds on CLOCK_MONOTONIC, resuming after signal handlers (EINTR) for
/// the time that was left. Any other failure ends the sleep with SysError: it never spins.
/// A negative `ns` is refused (SysError EINVAL) — it is an overflowed or miscomputed
/// duration, not "no time"; 0 returns at once.
void sleep_ns(std::int64_t ns);

/// A point in time by which something must happen.
class Deadline {
 public:
  explicit Deadline(Clock::duration timeout) : end_(Clock::now() + timeout) {}
  static Deadline never() { return Deadline(Clock::time_point::max()); }

  bool expired() const { return Clock::now() >= end_; }
  /// Time left, never negative.
  Clock::duration remaining() const;
  /// Milliseconds left for poll(2): -1 for never, 0 if expired, rounded up otherwise.
  int poll_ms() const;
  /// The deadline as an absolute CLOCK_REALTIME timespec, for sem_timedwait,
  /// mq_timedsend/receive and pthread_*_timedwait (which take the realtime clock).
  timespec realtime_abs() const;
  /// The same on CLOCK_MONOTONIC (pthread_cond_clockwait, clock_nanosleep).
  timespec monotonic_abs() const;
  Clock::time_point when() const { return end_; }

 private:
  explicit Deadline(Clock::time_point end) : end_(end) {}
  Clock::time_point end_;
};

/// Elapsed time since construction or the last reset().
class Stopwatch {
 public:
  Stopwatch() : start_(now_ns()) {}
  void reset() { start_ = now_ns(); }
  std::int64_t elapsed_ns() const { return now_ns() - start_; }
  double elapsed_s() const { return static_cast<double>(elapsed_ns()) / 1e9; }

 private:
  std::int64_t start_;
};

}  // namespace ipclab
