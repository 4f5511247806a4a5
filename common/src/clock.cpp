#include "ipclab/clock.hpp"

#include <cerrno>   // EINTR, EINVAL
#include <climits>  // INT_MAX

#include "ipclab/error.hpp"  // throw_error

namespace ipclab {
namespace {

timespec add_to_now(clockid_t clock, Clock::duration d) {
  timespec ts{};
  clock_gettime(clock, &ts);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  constexpr long long kMaxSec = 1LL << 40;  // far enough; avoids time_t overflow for never()
  long long sec = ts.tv_sec + std::min<long long>(ns / 1'000'000'000, kMaxSec);
  long long nsec = ts.tv_nsec + ns % 1'000'000'000;
  if (nsec >= 1'000'000'000) {
    ++sec;
    nsec -= 1'000'000'000;
  }
  return timespec{static_cast<time_t>(sec), static_cast<long>(nsec)};
}

}  // namespace

void sleep_ns(std::int64_t ns) {
  if (ns < 0) throw_error(EINVAL, "sleep of {} ns: a negative duration", ns);
  timespec left{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  for (;;) {
    // clock_nanosleep returns the error number; `left` is what remains after EINTR.
    const int rc = ::clock_nanosleep(CLOCK_MONOTONIC, 0, &left, &left);
    if (rc == 0) return;
    if (rc != EINTR) throw_error(rc, "clock_nanosleep({} ns)", ns);
  }
}

Clock::duration Deadline::remaining() const {
  if (end_ == Clock::time_point::max()) return Clock::duration::max();
  const auto now = Clock::now();
  return now >= end_ ? Clock::duration::zero() : end_ - now;
}

int Deadline::poll_ms() const {
  if (end_ == Clock::time_point::max()) return -1;
  const auto left = remaining();
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

timespec Deadline::realtime_abs() const { return add_to_now(CLOCK_REALTIME, remaining()); }
timespec Deadline::monotonic_abs() const { return add_to_now(CLOCK_MONOTONIC, remaining()); }

}  // namespace ipclab
