// rwlock_bench: the three RwLock policies against std::shared_mutex and pthread_rwlock_t,
// with 1, 2 and 4 threads, under a read-mostly load (1 write in 100 operations) and a mixed
// load (1 write in 5). Each operation takes the lock and touches a small shared table (a
// reader sums 8 words, a writer increments them), so the numbers are the lock's cost plus
// a little real work, not an empty critical section.
//
//   build/labs/08-rwlock/rwlock_bench                       # all, under a minute
//   build/labs/08-rwlock/rwlock_bench --benchmark_filter=write_every:100
//   build/labs/08-rwlock/rwlock_bench --benchmark_format=json
//
// items_per_second is lock/unlock pairs per second summed over the threads.
#include <pthread.h>  // pthread_rwlock_t

#include <array>         // std::array
#include <cstdint>       // std::uint64_t
#include <shared_mutex>  // std::shared_mutex

#include <benchmark/benchmark.h>

#include "lab08/rwlock.hpp"

namespace {

using ipclab::lab08::Policy;
using ipclab::lab08::RwLock;

// The data the lock protects: one cache line's worth of words.
struct Table {
  std::array<std::uint64_t, 8> words{};
};

// Adapters: one shape (lock_shared/unlock_shared/lock/unlock) for every contender.
struct OurLock {
  RwLock lock;
  explicit OurLock(Policy p) : lock(p) {}
  void lock_shared() { lock.lock_read(); }
  void unlock_shared() { lock.unlock_read(); }
  void lock_excl() { lock.lock_write(); }
  void unlock_excl() { lock.unlock_write(); }
};

struct StdShared {
  std::shared_mutex m;
  void lock_shared() { m.lock_shared(); }
  void unlock_shared() { m.unlock_shared(); }
  void lock_excl() { m.lock(); }
  void unlock_excl() { m.unlock(); }
};

struct PthreadRw {
  pthread_rwlock_t l = PTHREAD_RWLOCK_INITIALIZER;
  PthreadRw() = default;
  PthreadRw(const PthreadRw&) = delete;
  PthreadRw& operator=(const PthreadRw&) = delete;
  ~PthreadRw() { pthread_rwlock_destroy(&l); }
  void lock_shared() { pthread_rwlock_rdlock(&l); }
  void unlock_shared() { pthread_rwlock_unlock(&l); }
  void lock_excl() { pthread_rwlock_wrlock(&l); }
  void unlock_excl() { pthread_rwlock_unlock(&l); }
};

template <typename L>
L& instance();
template <>
StdShared& instance<StdShared>() {
  static StdShared l;
  return l;
}
template <>
PthreadRw& instance<PthreadRw>() {
  static PthreadRw l;
  return l;
}

Table g_table;

// One write every `write_every` operations (per thread), the rest reads.
template <typename L>
void run(benchmark::State& state, L& lock, int write_every) {
  std::uint64_t i = static_cast<std::uint64_t>(state.thread_index()) * 7;
  for (auto _ : state) {
    if (++i % static_cast<std::uint64_t>(write_every) == 0) {
      lock.lock_excl();
      for (auto& w : g_table.words) ++w;
      lock.unlock_excl();
    } else {
      lock.lock_shared();
      std::uint64_t sum = 0;
      for (auto w : g_table.words) sum += w;
      benchmark::DoNotOptimize(sum);
      lock.unlock_shared();
    }
  }
  state.SetItemsProcessed(state.iterations());
}

template <Policy P>
OurLock& our_instance() {
  static OurLock l(P);
  return l;
}

template <Policy P>
void BM_RwLock(benchmark::State& state) {
  run(state, our_instance<P>(), static_cast<int>(state.range(0)));
}
template <typename L>
void BM_Peer(benchmark::State& state) {
  run(state, instance<L>(), static_cast<int>(state.range(0)));
}

// range(0): one write every N operations. 100 = read-mostly, 5 = mixed.
void loads(benchmark::internal::Benchmark* b) {
  b->ArgName("write_every")->Arg(100)->Arg(5);
  b->Threads(1)->Threads(2)->Threads(4);
  // Three repetitions, reported as mean/median/stddev: this machine is shared and noisy
  // (docs/benchmarking.md), a single run can be off by 2x. About 40 s in all.
  b->MinTime(0.2)->UseRealTime()->Repetitions(3)->DisplayAggregatesOnly(true);
}

}  // namespace

BENCHMARK(BM_RwLock<Policy::reader>)->Name("RwLock/reader")->Apply(loads);
BENCHMARK(BM_RwLock<Policy::writer>)->Name("RwLock/writer")->Apply(loads);
BENCHMARK(BM_RwLock<Policy::fair>)->Name("RwLock/fair")->Apply(loads);
BENCHMARK(BM_Peer<StdShared>)->Name("std::shared_mutex")->Apply(loads);
BENCHMARK(BM_Peer<PthreadRw>)->Name("pthread_rwlock_t")->Apply(loads);

BENCHMARK_MAIN();
