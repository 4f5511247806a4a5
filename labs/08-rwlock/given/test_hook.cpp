// Lab 08, given: policy names and the yield test hook (see include/lab08/rwlock.hpp).
#include <sched.h>  // sched_yield

#include <atomic>   // std::atomic
#include <cstdint>  // std::uint64_t
#include <cstdlib>  // std::getenv
#include <string>   // std::string

#include "lab08/rwlock.hpp"

namespace ipclab::lab08 {

std::optional<Policy> parse_policy(std::string_view name) {
  if (name == "reader") return Policy::reader;
  if (name == "writer") return Policy::writer;
  if (name == "fair") return Policy::fair;
  return std::nullopt;
}

const char* policy_name(Policy p) {
  switch (p) {
    case Policy::reader:
      return "reader";
    case Policy::writer:
      return "writer";
    case Policy::fair:
      return "fair";
  }
  return "?";
}

namespace {

bool env_enabled() {
  const char* v = std::getenv("IPCLAB_YIELD");
  return v != nullptr && std::string(v) != "0" && std::string(v).size() > 0;
}

// Relaxed is enough: the flag only changes how often threads switch, never what they see.
std::atomic<bool> g_yield{env_enabled()};

}  // namespace

void set_test_yield(bool on) { g_yield.store(on, std::memory_order_relaxed); }

void test_yield_point() {
  if (!g_yield.load(std::memory_order_relaxed)) return;
  // A per-thread xorshift: no shared state, so the hook itself adds no synchronization
  // that could hide a race.
  thread_local std::uint64_t x =
      0x9E3779B97F4A7C15ULL ^ reinterpret_cast<std::uintptr_t>(&x);  // distinct per thread
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  switch (x % 4) {
    case 0:
    case 1:
      sched_yield();  // let another thread run right here
      break;
    case 2:
      // A short random delay that keeps the CPU (the asm stops the loop being elided).
      for (std::uint64_t i = 0; i < x % 2000; ++i) asm volatile("" ::: "memory");
      break;
    default:
      break;  // sometimes nothing: the fast path must be exercised too
  }
}

}  // namespace ipclab::lab08
