// Lab 15, given: how the programs wait on a queue that is full or empty. try_push/try_pop
// never block; a caller that must wait spins briefly (the other core will usually make
// room within a few hundred nanoseconds, docs/benchmarking.md), then yields the CPU so that a peer
// on the same core (--pin same, or a loaded machine) can run.
#pragma once

#include <sched.h>  // sched_yield

#include <cstdint>  // std::uint32_t

namespace ipclab::lab15 {

/// A CPU hint that this is a spin loop (x86 PAUSE, ARM YIELD): saves power and lets the
/// sibling hyperthread run.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Call wait() after each failed attempt, reset() after a success.
class Backoff {
 public:
  void wait() {
    if (++spins_ < kSpins) {
      cpu_relax();
    } else {
      spins_ = 0;
      ::sched_yield();
    }
  }
  void reset() { spins_ = 0; }
  /// Failed attempts since the last reset (wraps at kSpins); for periodic deadline checks.
  std::uint32_t spins() const { return spins_; }

 private:
  static constexpr std::uint32_t kSpins = 128;  // ~ a few microseconds of PAUSE
  std::uint32_t spins_ = 0;
};

}  // namespace ipclab::lab15
