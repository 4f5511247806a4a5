// lockfree_gbench: in-process microbenchmarks of SpscQueue<uint64_t> against
// boost::lockfree::spsc_queue and moodycamel::ReaderWriterQueue (Google Benchmark).
//
//   PushPop/*    one thread: push one item, pop it (the uncontended cost of the two calls)
//   Stream/*     two threads (thread 0 produces, thread 1 consumes), one item per
//                iteration; items_per_second counts items through the queue
//   Batch64/*    the same with push_n/pop_n of 64 items (SpscQueue only)
//
//   build/labs/15-spsc-queue/lockfree_gbench                  # all, ~20 s
//   build/labs/15-spsc-queue/lockfree_gbench --benchmark_filter=Stream
//
// The threads are not pinned here (lockfree_bench --pin=cross is the measured comparison).
#include <cstdint>  // std::uint64_t
#include <memory>   // std::unique_ptr
#include <vector>   // std::vector

#include <benchmark/benchmark.h>
#include <readerwriterqueue/readerwriterqueue.h>  // peer
#include <boost/lockfree/spsc_queue.hpp>          // peer

#include "ipclab/shm.hpp"  // Mapping
#include "lab15/spin.hpp"
#include "lab15/spsc_queue.hpp"

namespace {

using Item = std::uint64_t;
constexpr std::size_t kCapacity = 8192;
using ipclab::lab15::Backoff;
using OurQ = ipclab::lab15::SpscQueue<Item>;
using BoostQ = boost::lockfree::spsc_queue<Item, boost::lockfree::capacity<kCapacity>>;
using MoodyQ = moodycamel::ReaderWriterQueue<Item>;

struct Ours {
  ipclab::Mapping mem = ipclab::Mapping::anonymous_shared(OurQ::bytes_for(kCapacity));
  OurQ* q = OurQ::create_in(mem.data(), mem.size(), kCapacity);
  bool push(Item v) { return q->try_push(v); }
  bool pop(Item& v) { return q->try_pop(v); }
};
struct Boost {
  BoostQ q;
  bool push(Item v) { return q.push(v); }
  bool pop(Item& v) { return q.pop(v); }
};
struct Moody {
  MoodyQ q{kCapacity};
  bool push(Item v) { return q.try_enqueue(v); }
  bool pop(Item& v) { return q.try_dequeue(v); }
};

template <typename Q>
Q& shared_queue() {
  static auto* q = new Q();  // NOLINT: lives for the program, shared by both threads
  return *q;
}

template <typename Q>
void BM_PushPop(benchmark::State& state) {
  Q q;
  Item v = 0;
  for (auto _ : state) {
    q.push(v);
    q.pop(v);
    benchmark::DoNotOptimize(v);
    ++v;
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename Q>
void BM_Stream(benchmark::State& state) {
  Q& q = shared_queue<Q>();
  Backoff b;
  Item next = 0;
  if (state.thread_index() == 0) {
    for (auto _ : state) {
      while (!q.push(next)) b.wait();
      ++next;
    }
  } else {
    Item v = 0;
    for (auto _ : state) {
      while (!q.pop(v)) b.wait();
      if (v != next++) state.SkipWithError("out of order");
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Batch64(benchmark::State& state) {
  constexpr std::size_t kBatch = 64;
  OurQ& q = *shared_queue<Ours>().q;
  std::vector<Item> buf(kBatch);
  Backoff b;
  Item next = 0;
  const bool producer = state.thread_index() == 0;
  // NOLINTNEXTLINE(clang-analyzer-deadcode.DeadStores): Google Benchmark's loop variable
  for (auto _ : state) {
    if (producer)
      for (auto& x : buf) x = next++;
    std::size_t done = 0;
    while (done < kBatch) {
      const std::size_t m = producer ? q.push_n(buf.data() + done, kBatch - done)
                                     : q.pop_n(buf.data() + done, kBatch - done);
      if (m == 0) b.wait();
      done += m;
    }
    if (!producer)
      for (auto x : buf)
        if (x != next++) state.SkipWithError("out of order");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}

}  // namespace

BENCHMARK(BM_PushPop<Ours>)->Name("PushPop/SpscQueue");
BENCHMARK(BM_PushPop<Boost>)->Name("PushPop/boost_spsc");
BENCHMARK(BM_PushPop<Moody>)->Name("PushPop/moodycamel_rwq");
BENCHMARK(BM_Stream<Ours>)->Name("Stream/SpscQueue")->Threads(2)->UseRealTime();
BENCHMARK(BM_Stream<Boost>)->Name("Stream/boost_spsc")->Threads(2)->UseRealTime();
BENCHMARK(BM_Stream<Moody>)->Name("Stream/moodycamel_rwq")->Threads(2)->UseRealTime();
BENCHMARK(BM_Batch64)->Name("Batch64/SpscQueue")->Threads(2)->UseRealTime();

BENCHMARK_MAIN();
