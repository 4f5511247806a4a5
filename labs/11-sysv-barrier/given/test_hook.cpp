// Lab 11's test hook (given, not a student file): random yields at the points where another
// process could overtake this one, switched on by IPCLAB_BARRIER_JITTER=1.
#include <sched.h>   // sched_yield
#include <unistd.h>  // getpid

#include <cstdlib>  // std::getenv
#include <ctime>    // nanosleep
#include <random>   // std::mt19937_64

#include "ipclab/clock.hpp"  // now_ns
#include "lab11/barrier.hpp"

namespace ipclab::lab11 {

namespace {

struct Jitter {
  pid_t owner = -1;  // the process this state belongs to: a forked child reseeds
  bool enabled = false;
  std::mt19937_64 rng;
};

Jitter& state() {
  static Jitter j;
  const pid_t me = ::getpid();
  if (j.owner != me) {
    const char* env = std::getenv("IPCLAB_BARRIER_JITTER");
    j.enabled = env != nullptr && env[0] == '1';
    j.rng.seed(static_cast<std::uint64_t>(now_ns()) ^ (static_cast<std::uint64_t>(me) << 32));
    j.owner = me;
  }
  return j;
}

}  // namespace

void test_yield_point() {
  Jitter& j = state();
  if (!j.enabled) return;
  const auto dice = j.rng() % 100;
  if (dice < 40) return;
  if (dice < 75) {
    ::sched_yield();
  } else if (dice < 92) {
    const std::int64_t until = now_ns() + static_cast<std::int64_t>(j.rng() % 20'000);
    while (now_ns() < until) {
    }
  } else {
    timespec ts{0, static_cast<long>(50'000 + j.rng() % 400'000)};
    ::nanosleep(&ts, nullptr);
  }
}

}  // namespace ipclab::lab11
