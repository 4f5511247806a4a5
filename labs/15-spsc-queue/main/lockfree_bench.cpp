// lockfree_bench --iterations=100M [--runs N] [--pin same|cross|none]
//                [--format table|csv|json] [--mode threads|processes] [--batch B]
// Throughput and latency of SpscQueue<uint64_t> (one item at a time, and push_n/pop_n in
// batches) against boost::lockfree::spsc_queue, moodycamel::ReaderWriterQueue, a mutex +
// condvar queue and a two-semaphore queue: two threads, or two processes sharing POSIX
// shared memory. The method of docs/benchmarking.md: a warm-up round, then --runs rounds with the
// contenders interleaved; medians, spreads, same-round ratios. Throughput is a one-way
// stream of sequence numbers that the consumer checks one by one (a wrong item stops the
// benchmark with exit status 1); latency is a ping-pong (p50/p99 of the round trip).
//
// The peers are linked into this program only, never into the lab's library.
#include <sys/prctl.h>  // PR_SET_PDEATHSIG
#include <sys/wait.h>   // waitpid
#include <unistd.h>     // fork, _exit, getpid

#include <algorithm>  // std::max, std::min
#include <array>      // std::array
#include <atomic>     // std::atomic
#include <csignal>    // SIGKILL
#include <cstdint>    // std::uint64_t
#include <cstring>    // std::memcpy
#include <memory>     // std::unique_ptr
#include <new>        // placement new
#include <string>     // std::string
#include <thread>     // std::thread
#include <vector>     // std::vector

#include <readerwriterqueue/readerwriterqueue.h>  // peer 2
#include <boost/lockfree/spsc_queue.hpp>          // peer 1

#include "ipclab/bench.hpp"    // Report, interleave, place, format
#include "ipclab/clock.hpp"    // now_ns
#include "ipclab/json.hpp"     // json_number, json_string
#include "ipclab/main.hpp"     // run_main, CLI11
#include "ipclab/process.hpp"  // WaitStatus
#include "ipclab/shm.hpp"      // PosixShm, Mapping
#include "ipclab/stats.hpp"    // Histogram, Samples
#include "lab15/baselines.hpp"
#include "lab15/spin.hpp"
#include "lab15/spsc_queue.hpp"

namespace {

namespace bench = ipclab::bench;
using ipclab::lab15::Backoff;
using Item = std::uint64_t;

#if defined(__SANITIZE_THREAD__)
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif

/// Every queue gets this many slots (boost's compile-time ring holds one less).
constexpr std::size_t kCapacity = 8192;

enum class Kind { kSpsc, kSpscBatch, kBoost, kMoody, kMutex, kSem };
enum class Mode { kThreads, kProcesses };

struct Params {
  std::uint64_t iterations = 100'000'000;
  std::uint64_t round_trips = 20'000;
  int runs = 5;
  std::size_t batch = 64;
  Mode mode = Mode::kThreads;
  bench::Placement place;
  double timeout_s = 10;
  std::int64_t corrupt = -1;  // test hook: IPCLAB_BENCH_CORRUPT=N corrupts item N of ours
  bool transfers = false;     // --transfers: count line transfers per item instead
};

struct Contender {
  std::string name;
  Kind kind;
  bool slow;  // sleeps and wakes through the kernel: moves iterations/20, round_trips/4
};

// ---- the control block both sides share (in the same shared mapping as the queues) ----

struct Control {
  std::atomic<int> ready{0};  // the consumer/echo side is running
  std::atomic<int> abort{0};  // a side failed: the other stops at its next check
  std::atomic<std::int64_t> end_ns{0};
  char error[512] = {};

  void fail(const std::string& what) {
    if (abort.exchange(1) == 0) {
      const std::size_t n = std::min(what.size(), sizeof error - 1);
      std::memcpy(error, what.data(), n);
      error[n] = '\0';
    }
  }
};

class Failed : public ipclab::OperationFailed {
 public:
  using OperationFailed::OperationFailed;
};

/// Watches a spinning side: every so many failed attempts, was there progress lately?
class Watch {
 public:
  Watch(const Control& c, double timeout_s, const char* what)
      : c_(c), limit_(static_cast<std::int64_t>(timeout_s * 1e9)), what_(what) {}
  void check(std::uint64_t done) {
    if (c_.abort.load(std::memory_order_relaxed) != 0) throw Failed("the other side failed");
    const std::int64_t now = ipclab::now_ns();
    if (done != done_) {
      done_ = done;
      since_ = now;
    } else if (now - since_ > limit_) {
      throw Failed(fmt::format("{}: no progress for {:.0f} s after {} items (a lost item?)", what_,
                               static_cast<double>(limit_) / 1e9, done));
    }
  }

 private:
  const Control& c_;
  std::int64_t limit_;
  const char* what_;
  std::uint64_t done_ = ~0ULL;
  std::int64_t since_ = ipclab::now_ns();
};

// ---- --transfers: cache-line transfers per item, measured -------------------------------

/// A cycle counter that waits for the instructions before it (so a load that misses is
/// inside the interval it closes). Elsewhere than x86: the monotonic clock.
inline std::uint64_t ticks() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned aux = 0;
  return __builtin_ia32_rdtscp(&aux);
#else
  return static_cast<std::uint64_t>(ipclab::now_ns());
#endif
}

/// One side's push or pop attempts, each timed: a histogram of their durations in ticks.
/// What an attempt spends above the side's typical fast attempt (its 10th percentile) is
/// waiting for cache lines the other core holds; divided by the cost of one line transfer
/// (half a one-line ping-pong, measured in the same run) it counts the transfers waited
/// for. Attempts longer than kMaxTicks (an interrupt, a preemption) are left out.
class LineWaits {
 public:
  template <typename F>
  auto time(F&& attempt) {
    const std::uint64_t t0 = ticks();
    const auto ok = attempt();
    const std::uint64_t d = ticks() - t0;
    if (d < kMaxTicks) {
      ++counts_[d];
    } else {
      ++outliers_;
    }
    return ok;
  }
  /// Transfers waited for, given the ticks one transfer costs.
  double transfers(double ticks_per_transfer) const {
    std::uint64_t total = 0, base = 0, seen = 0;
    for (const auto c : counts_) total += c;
    for (std::size_t d = 0; d < counts_.size(); ++d) {
      seen += counts_[d];
      if (seen * 10 >= total) {
        base = d;
        break;
      }
    }
    double sum = 0;
    for (std::size_t d = base + 1; d < counts_.size(); ++d)
      sum += static_cast<double>(counts_[d]) *
             std::floor(static_cast<double>(d - base) / ticks_per_transfer + 0.5);
    return sum;
  }

 private:
  static constexpr std::uint64_t kMaxTicks = 1U << 16;  // ~25 us at 2.6 GHz
  std::vector<std::uint64_t> counts_ = std::vector<std::uint64_t>(kMaxTicks);
  std::uint64_t outliers_ = 0;
};

// ---- one shape for every queue: try_push/try_pop, or blocking push/pop ------------------

using BoostQ = boost::lockfree::spsc_queue<Item, boost::lockfree::capacity<kCapacity>>;
using MoodyQ = moodycamel::ReaderWriterQueue<Item>;
using OurQ = ipclab::lab15::SpscQueue<Item>;
using MutexQ = ipclab::lab15::MutexQueue<Item>;
using SemQ = ipclab::lab15::SemQueue<Item>;

/// Bytes one queue of this kind needs in the shared mapping (moodycamel: none, heap).
std::size_t queue_bytes(Kind k) {
  switch (k) {
    case Kind::kSpsc:
    case Kind::kSpscBatch:
      return OurQ::bytes_for(kCapacity);
    case Kind::kBoost:
      return sizeof(BoostQ);
    case Kind::kMoody:
      return 0;
    case Kind::kMutex:
      return MutexQ::bytes_for(kCapacity);
    case Kind::kSem:
      return SemQ::bytes_for(kCapacity);
  }
  return 0;
}

std::size_t round_up(std::size_t n) { return (n + 4095) / 4096 * 4096; }

/// A queue of any kind built in `mem` (moodycamel on the heap), with uniform verbs.
struct AnyQueue {
  Kind kind;
  void* q = nullptr;
  std::unique_ptr<MoodyQ> moody;

  AnyQueue(Kind k, void* mem) : kind(k) {
    switch (k) {
      case Kind::kSpsc:
      case Kind::kSpscBatch:
        q = OurQ::create_in(mem, OurQ::bytes_for(kCapacity), kCapacity);
        break;
      case Kind::kBoost:
        q = new (mem) BoostQ();
        break;
      case Kind::kMoody:
        moody = std::make_unique<MoodyQ>(kCapacity);
        q = moody.get();
        break;
      case Kind::kMutex:
        q = MutexQ::create_in(mem, MutexQ::bytes_for(kCapacity), kCapacity);
        break;
      case Kind::kSem:
        q = SemQ::create_in(mem, SemQ::bytes_for(kCapacity), kCapacity);
        break;
    }
  }
  AnyQueue(const AnyQueue&) = delete;
  AnyQueue& operator=(const AnyQueue&) = delete;
  ~AnyQueue() {
    if (kind == Kind::kBoost) static_cast<BoostQ*>(q)->~BoostQ();
    if (kind == Kind::kMutex) static_cast<MutexQ*>(q)->destroy();
    if (kind == Kind::kSem) static_cast<SemQ*>(q)->destroy();
  }
};

/// Pushes `v`, waiting (spin, then yield; or blocking for the kernel-based queues).
template <typename Q>
bool try_push_any(Q& q, Item v) {
  if constexpr (std::is_same_v<Q, BoostQ>) {
    return q.push(v);
  } else if constexpr (std::is_same_v<Q, MoodyQ>) {
    return q.try_enqueue(v);
  } else {
    return q.try_push(v);
  }
}

template <typename Q>
bool try_pop_any(Q& q, Item& v) {
  if constexpr (std::is_same_v<Q, BoostQ>) {
    return q.pop(v);
  } else if constexpr (std::is_same_v<Q, MoodyQ>) {
    return q.try_dequeue(v);
  } else {
    return q.try_pop(v);
  }
}

/// `lw` (--transfers only) times every attempt.
template <typename Q>
void push_wait(Q& q, Item v, Backoff& b, Watch& w, std::uint64_t done, LineWaits* lw = nullptr) {
  if constexpr (std::is_same_v<Q, MutexQ> || std::is_same_v<Q, SemQ>) {
    q.push(v);
  } else {
    for (;;) {
      const bool ok =
          lw != nullptr ? lw->time([&] { return try_push_any(q, v); }) : try_push_any(q, v);
      if (ok) break;
      b.wait();
      if (b.spins() == 0) w.check(done);
    }
    b.reset();
  }
}

template <typename Q>
Item pop_wait(Q& q, Backoff& b, Watch& w, std::uint64_t done, LineWaits* lw = nullptr) {
  Item v = 0;
  if constexpr (std::is_same_v<Q, MutexQ> || std::is_same_v<Q, SemQ>) {
    q.pop(v);
  } else {
    for (;;) {
      const bool ok =
          lw != nullptr ? lw->time([&] { return try_pop_any(q, v); }) : try_pop_any(q, v);
      if (ok) break;
      b.wait();
      if (b.spins() == 0) w.check(done);
    }
    b.reset();
  }
  return v;
}

/// A wrong item, named precisely (the consumer checks every one).
[[noreturn]] void bad_item(const char* who, std::uint64_t expected, Item got) {
  throw Failed(
      fmt::format("{}: verification failed: item {} is {} ({})", who, expected, got,
                  got < expected ? "a duplicate or a stale slot" : "items lost or reordered"));
}

// ---- the two sides of a throughput stream and of a ping-pong ----------------------------

template <typename Q>
void stream_producer(Q& q, const Params& p, std::uint64_t n, Control& c, bool hook,
                     LineWaits* lw = nullptr) {
  Backoff b;
  Watch w(c, p.timeout_s, "producer");
  for (std::uint64_t i = 0; i < n; ++i) {
    const bool corrupt = hook && static_cast<std::int64_t>(i) == p.corrupt;
    push_wait(q, corrupt ? i ^ 0x10 : i, b, w, i, lw);
  }
}

template <typename Q>
void stream_consumer(Q& q, const Params& p, std::uint64_t n, Control& c, const char* who,
                     LineWaits* lw = nullptr) {
  Backoff b;
  Watch w(c, p.timeout_s, "consumer");
  for (std::uint64_t i = 0; i < n; ++i) {
    const Item v = pop_wait(q, b, w, i, lw);
    if (v != i) bad_item(who, i, v);
  }
}

void batch_producer(OurQ& q, const Params& p, std::uint64_t n, Control& c, bool hook,
                    LineWaits* lw = nullptr) {
  std::vector<Item> buf(p.batch);
  Backoff b;
  Watch w(c, p.timeout_s, "producer");
  std::uint64_t sent = 0;
  while (sent < n) {
    const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(p.batch, n - sent));
    for (std::size_t j = 0; j < k; ++j) buf[j] = sent + j;
    if (hook && p.corrupt >= static_cast<std::int64_t>(sent) &&
        p.corrupt < static_cast<std::int64_t>(sent + k))
      buf[static_cast<std::uint64_t>(p.corrupt) - sent] ^= 0x10;
    std::size_t off = 0;
    while (off < k) {
      const auto push = [&] { return q.push_n(buf.data() + off, k - off); };
      const std::size_t m = lw != nullptr ? lw->time(push) : push();
      if (m == 0) {
        b.wait();
        if (b.spins() == 0) w.check(sent + off);
        continue;
      }
      b.reset();
      off += m;
    }
    sent += k;
  }
}

void batch_consumer(OurQ& q, const Params& p, std::uint64_t n, Control& c, const char* who,
                    LineWaits* lw = nullptr) {
  std::vector<Item> buf(p.batch);
  Backoff b;
  Watch w(c, p.timeout_s, "consumer");
  std::uint64_t got = 0;
  while (got < n) {
    const auto pop = [&] {
      return q.pop_n(buf.data(),
                     static_cast<std::size_t>(std::min<std::uint64_t>(p.batch, n - got)));
    };
    const std::size_t m = lw != nullptr ? lw->time(pop) : pop();
    if (m == 0) {
      b.wait();
      if (b.spins() == 0) w.check(got);
      continue;
    }
    b.reset();
    for (std::size_t j = 0; j < m; ++j, ++got)
      if (buf[j] != got) bad_item(who, got, buf[j]);
  }
}

template <typename Q>
void ping(Q& to, Q& from, const Params& p, std::uint64_t n, Control& c, ipclab::Histogram& h) {
  Backoff b;
  Watch w(c, p.timeout_s, "ping");
  const std::uint64_t warm = std::min<std::uint64_t>(n / 10 + 1, 1000);
  for (std::uint64_t i = 0; i < warm + n; ++i) {
    const std::int64_t t = ipclab::now_ns();
    push_wait(to, i, b, w, i);
    const Item v = pop_wait(from, b, w, i);
    if (i >= warm) h.record(ipclab::now_ns() - t);
    if (v != i) bad_item("ping-pong", i, v);
  }
}

template <typename Q>
void pong(Q& from, Q& to, const Params& p, std::uint64_t n, Control& c) {
  Backoff b;
  Watch w(c, p.timeout_s, "pong");
  const std::uint64_t warm = std::min<std::uint64_t>(n / 10 + 1, 1000);
  for (std::uint64_t i = 0; i < warm + n; ++i) push_wait(to, pop_wait(from, b, w, i), b, w, i);
}

// ---- running the two sides: a thread, or a forked process -------------------------------

/// Runs `side_a` here and `side_b` on another thread or in a child process (pinned to the
/// placement's second CPU); rethrows the first failure of either.
template <typename A, typename B>
void two_sides(const Params& p, Control& c, A side_a, B side_b) {
  const int cpu_b = p.place.cpus.size() > 1 ? p.place.cpus[1] : -1;
  auto run_b = [&] {
    try {
      bench::pin_this_thread(cpu_b);
      c.ready.store(1, std::memory_order_release);
      side_b();
      c.end_ns.store(ipclab::now_ns(), std::memory_order_release);
    } catch (const std::exception& e) {
      c.fail(e.what());
    }
  };
  auto run_a = [&] {
    try {
      while (c.ready.load(std::memory_order_acquire) == 0 && c.abort.load() == 0)
        ipclab::lab15::cpu_relax();
      side_a();
    } catch (const std::exception& e) {
      c.fail(e.what());
    }
  };
  if (p.mode == Mode::kThreads) {
    std::thread tb(run_b);
    run_a();
    tb.join();
  } else {
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) ipclab::throw_errno("fork");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      run_b();
      ::_exit(0);
    }
    run_a();
    const auto st = ipclab::wait_for(pid);
    if (!st.exited() || st.exit_code() != 0)
      c.fail(fmt::format("the consumer process {}", st.describe()));
  }
  if (c.abort.load() != 0) throw Failed(c.error);
}

struct Numbers {
  double ops_per_s = 0;
  double p50_ns = -1, p99_ns = -1;
};

/// --transfers: both sides of one stream, every attempt timed.
struct Waits {
  LineWaits producer, consumer;
};

template <typename Q>
Numbers measure_typed(const Contender& k, const Params& p, Q& q1, Q& q2, Control& c1, Control& c2,
                      std::uint64_t n, std::uint64_t rt, Waits* waits) {
  Numbers out;
  const bool ours = k.kind == Kind::kSpsc || k.kind == Kind::kSpscBatch;
  const char* who = k.name.c_str();
  LineWaits* lw_p = waits != nullptr ? &waits->producer : nullptr;
  LineWaits* lw_c = waits != nullptr ? &waits->consumer : nullptr;
  std::int64_t t0 = 0;
  if constexpr (std::is_same_v<Q, OurQ>) {
    if (k.kind == Kind::kSpscBatch) {
      two_sides(
          p, c1,
          [&] {
            t0 = ipclab::now_ns();
            batch_producer(q1, p, n, c1, ours, lw_p);
          },
          [&] { batch_consumer(q1, p, n, c1, who, lw_c); });
      out.ops_per_s = static_cast<double>(n) * 1e9 / static_cast<double>(c1.end_ns - t0);
      return out;  // a batch has no per-item round trip: latency is the single-item row's
    }
  }
  two_sides(
      p, c1,
      [&] {
        t0 = ipclab::now_ns();
        stream_producer(q1, p, n, c1, ours, lw_p);
      },
      [&] { stream_consumer(q1, p, n, c1, who, lw_c); });
  out.ops_per_s = static_cast<double>(n) * 1e9 / static_cast<double>(c1.end_ns - t0);
  if (waits != nullptr) return out;  // the timed stream only
  ipclab::Histogram h;
  two_sides(
      p, c2, [&] { ping(q1, q2, p, rt, c2, h); }, [&] { pong(q1, q2, p, rt, c2); });
  out.p50_ns = static_cast<double>(h.percentile(50));
  out.p99_ns = static_cast<double>(h.percentile(99));
  return out;
}

/// One round of one contender: fresh queues in a fresh shared mapping.
Numbers measure(const Contender& k, const Params& p, std::uint64_t iterations,
                Waits* waits = nullptr) {
  const std::uint64_t n = k.slow ? std::max<std::uint64_t>(iterations / 20, 1) : iterations;
  const std::uint64_t rt = k.slow ? std::max<std::uint64_t>(p.round_trips / 4, 1) : p.round_trips;
  const std::size_t qbytes = round_up(queue_bytes(k.kind) + 1);
  const std::size_t total = 2 * qbytes + 2 * round_up(sizeof(Control));
  // POSIX shared memory named through ipclab::names, unlinked as soon as it is mapped: the
  // child process inherits the mapping, and nothing is left behind even after kill -9.
  const std::string name =
      ipclab::names::posix(fmt::format("lockfree_bench.{}", static_cast<long>(::getpid())));
  auto shm = ipclab::PosixShm::create(name, total);
  ipclab::Mapping map;
  try {
    map = shm.map();
  } catch (...) {
    ipclab::PosixShm::unlink(name);  // a failed mmap must not leave the object behind
    throw;
  }
  ipclab::PosixShm::unlink(name);
  auto* base = static_cast<std::byte*>(map.data());
  auto* c1 = new (base + 2 * qbytes) Control();
  auto* c2 = new (base + 2 * qbytes + round_up(sizeof(Control))) Control();
  AnyQueue q1(k.kind, base), q2(k.kind, base + qbytes);
  switch (k.kind) {
    case Kind::kSpsc:
    case Kind::kSpscBatch:
      return measure_typed(k, p, *static_cast<OurQ*>(q1.q), *static_cast<OurQ*>(q2.q), *c1, *c2, n,
                           rt, waits);
    case Kind::kBoost:
      return measure_typed(k, p, *static_cast<BoostQ*>(q1.q), *static_cast<BoostQ*>(q2.q), *c1, *c2,
                           n, rt, waits);
    case Kind::kMoody:
      return measure_typed(k, p, *q1.moody, *q2.moody, *c1, *c2, n, rt, waits);
    case Kind::kMutex:
      return measure_typed(k, p, *static_cast<MutexQ*>(q1.q), *static_cast<MutexQ*>(q2.q), *c1, *c2,
                           n, rt, waits);
    case Kind::kSem:
      return measure_typed(k, p, *static_cast<SemQ*>(q1.q), *static_cast<SemQ*>(q2.q), *c1, *c2, n,
                           rt, waits);
  }
  return {};
}

/// The course guide's block, above the contender table: the lock-free queue, the mutex
/// and the semaphore queues (medians of items/s), the speedup over the mutex queue (the
/// median of same-round ratios), and the p99 ping-pong round trips of the two.
void print_guide_block(const bench::Report& report, std::uint64_t iterations) {
  const bench::Summary spsc = bench::summarize(report.at("spsc"));
  const bench::Summary mutex = bench::summarize(report.at("mutex_queue"));
  const bench::Summary sem = bench::summarize(report.at("sem_queue"));
  fmt::print("Lock-Free SPSC Queue Benchmark\nOperations: {}\n", bench::millions(iterations));
  fmt::print("Lock-free queue: {:.1f}M ops/sec\n", spsc.ops_per_s / 1e6);
  fmt::print("Mutex-based queue: {:.1f}M ops/sec\n", mutex.ops_per_s / 1e6);
  fmt::print("Semaphore-based: {:.1f}M ops/sec\n", sem.ops_per_s / 1e6);
  fmt::print("Speedup: {:.1f}x over mutex\n",
             bench::ratio(report.at("spsc"), report.at("mutex_queue")));
  fmt::print("Latency (p99): {:.0f}ns vs {:.0f}ns (ping-pong round trip, lock-free vs mutex)\n\n",
             spsc.p99_ns, mutex.p99_ns);
}

/// Ticks (of ticks()) that one cache-line transfer between the two placed CPUs costs:
/// half the round trip of one line passed back and forth, and the same in nanoseconds.
/// At most 20000 round trips or 200 ms (a CPU shared with other work hands over slowly).
std::pair<double, double> one_transfer(const Params& p) {
  constexpr std::uint64_t kStop = ~std::uint64_t{0};  // odd: the echo side's "done"
  alignas(ipclab::lab15::kCacheLine) std::atomic<std::uint64_t> ball{0};
  const int cpu_b = p.place.cpus.size() > 1 ? p.place.cpus[1] : -1;
  std::thread echo([&] {
    bench::pin_this_thread(cpu_b);
    for (std::uint64_t v = 1;; v += 2) {
      std::uint64_t got = 0;
      while ((got = ball.load(std::memory_order_acquire)) != v && got != kStop) {
      }
      if (got == kStop) return;
      ball.store(v + 1, std::memory_order_release);
    }
  });
  constexpr std::uint64_t kWarm = 2000, kMax = 20000;
  constexpr std::int64_t kBudgetNs = 200'000'000;
  std::uint64_t t0 = 0, rounds = 0;
  std::int64_t n0 = 0;
  for (std::uint64_t i = 0; rounds < kMax; ++i) {
    if (i == kWarm) {
      t0 = ticks();
      n0 = ipclab::now_ns();
    }
    ball.store(2 * i + 1, std::memory_order_release);
    while (ball.load(std::memory_order_acquire) != 2 * i + 2) {
    }
    if (i < kWarm) continue;
    ++rounds;
    if (rounds % 256 == 0 && ipclab::now_ns() - n0 > kBudgetNs) break;
  }
  const double t = static_cast<double>(ticks() - t0) / (2.0 * static_cast<double>(rounds));
  const double ns =
      static_cast<double>(ipclab::now_ns() - n0) / (2.0 * static_cast<double>(rounds));
  ball.store(kStop, std::memory_order_release);
  echo.join();
  return {t, ns};
}

/// --transfers: for each lock-free contender, one stream with every attempt timed, and
/// the cache-line transfers each side waited for, per item. The count depends on the
/// design, hardly on the machine: what a slow interconnect multiplies.
int run_transfers(const Params& p, const std::vector<Contender>& all) {
  const auto calibration = one_transfer(p);
  const double tick_per_transfer = calibration.first, ns_per_transfer = calibration.second;
  fmt::print(
      "Cache-line transfers per item, two threads, pin: {}\n"
      "{} items per contender and round, {} rounds interleaved; medians, and the range of the\n"
      "total. Every push and pop attempt is timed (rdtscp): the time above a side's typical\n"
      "fast attempt, divided by one transfer ({:.0f} ns here: half a one-line ping-pong),\n"
      "counts the transfers that side waited for. Timing slows every queue's attempts a "
      "little.\n\n",
      p.place.text, p.iterations, p.runs, ns_per_transfer);
  std::vector<Contender> active;
  for (const auto& k : all)
    if (!k.slow && !(kThreadSanitizer && k.kind == Kind::kMoody)) active.push_back(k);
  // [contender] -> per round: producer, consumer, total transfers per item
  std::vector<std::array<ipclab::Samples, 3>> got(active.size());
  const double items = static_cast<double>(p.iterations);
  bench::interleave(p.runs, active.size(), [&](int, std::size_t i) {
    Waits w;
    measure(active[i], p, p.iterations, &w);
    const double prod = w.producer.transfers(tick_per_transfer) / items;
    const double cons = w.consumer.transfers(tick_per_transfer) / items;
    got[i][0].add(prod);
    got[i][1].add(cons);
    got[i][2].add(prod + cons);
  });
  fmt::print("{:<18}{:>10}{:>10}{:>10}  {}\n", "Contender", "producer", "consumer", "total",
             "(min-max)");
  for (std::size_t i = 0; i < active.size(); ++i) {
    const auto& total = got[i][2];
    fmt::print("{:<18}{:>10.2f}{:>10.2f}{:>10.2f}  {:.2f}-{:.2f}\n", active[i].name,
               got[i][0].median(), got[i][1].median(), total.median(), total.min(), total.max());
  }
  return ipclab::kExitOk;
}

int run(Params& p, const std::string& format) {
  const auto fmt_kind = bench::parse_format(format);
  const std::string batch_name = fmt::format("spsc_batch{}", p.batch);
  std::vector<Contender> all = {
      {"spsc", Kind::kSpsc, false},        {batch_name, Kind::kSpscBatch, false},
      {"boost_spsc", Kind::kBoost, false}, {"moodycamel_rwq", Kind::kMoody, false},
      {"mutex_queue", Kind::kMutex, true}, {"sem_queue", Kind::kSem, true}};
  const bool procs = p.mode == Mode::kProcesses;
  if (p.transfers) {
    if (procs || fmt_kind != bench::Format::kTable || p.place.pin != bench::Pin::kCross)
      throw ipclab::UsageError(
          "--transfers measures two threads on two CPUs (--pin=cross) and prints a table only");
    return run_transfers(p, all);
  }

  bench::Report report{"lockfree_bench"};
  report.ops_label = "items/s";
  report.param("mode", ipclab::json_string(procs ? "processes" : "threads"));
  report.param("item_bytes", ipclab::json_number(8));
  report.param("capacity", ipclab::json_number(static_cast<double>(kCapacity)));
  report.param("iterations", ipclab::json_number(static_cast<double>(p.iterations)));
  report.param("round_trips", ipclab::json_number(static_cast<double>(p.round_trips)));
  report.param("batch", ipclab::json_number(static_cast<double>(p.batch)));
  report.param("runs", ipclab::json_number(p.runs));
  report.param("pin", ipclab::json_string(std::string(bench::pin_name(p.place.pin))));
  report.note(fmt::format("SPSC queues of {} x 8-byte items, {} ({}), pin: {}", kCapacity,
                          procs ? "two processes, queues in POSIX shared memory" : "two threads",
                          procs ? "fork" : "std::thread", p.place.text));
  report.note(fmt::format(
      "items/s: a one-way stream of {} sequence numbers, each checked by the consumer; "
      "mutex_queue and sem_queue (which sleep in the kernel) move {} and do {} round trips",
      p.iterations, std::max<std::uint64_t>(p.iterations / 20, 1),
      std::max<std::uint64_t>(p.round_trips / 4, 1)));
  report.note(fmt::format(
      "p50/p99: ping-pong round trip through two queues ({} round trips); medians of {} rounds, "
      "contenders interleaved; best_peer = the faster of boost_spsc and moodycamel_rwq in each "
      "round",
      p.round_trips, p.runs));
  std::vector<Contender> active;
  for (const auto& k : all) {
    report.add(k.name);
    if (procs && k.kind == Kind::kMoody) {
      report.at(k.name).skipped =
          "not placeable in shared memory (allocates its blocks on the heap)";
    } else if (kThreadSanitizer && k.kind == Kind::kMoody) {
      report.at(k.name).skipped =
          "its std::atomic_thread_fence ordering is invisible to ThreadSanitizer (false races)";
    } else {
      active.push_back(k);
    }
  }
  report.add("best_peer");

  // Warm-up: every contender once, a tenth of the items, not recorded.
  for (const auto& k : active) measure(k, p, std::max<std::uint64_t>(p.iterations / 10, 1));
  bench::interleave(p.runs, active.size(), [&](int, std::size_t i) {
    const auto& k = active[i];
    const Numbers n = measure(k, p, p.iterations);
    report.at(k.name).record(n.ops_per_s, -1, n.p50_ns, n.p99_ns);
  });
  // best_peer, round by round.
  auto& best = report.at("best_peer");
  const auto& boost = report.at("boost_spsc").ops_per_s;
  const auto& moody = report.at("moodycamel_rwq").ops_per_s;
  for (std::size_t r = 0; r < boost.size(); ++r)
    best.record(std::max(boost[r], r < moody.size() ? moody[r] : 0.0));

  report.ratio("spsc", "best_peer");
  report.ratio(batch_name, "best_peer");
  report.ratio("spsc", "boost_spsc");
  report.ratio("spsc", "moodycamel_rwq");
  report.ratio("spsc", "mutex_queue");
  report.ratio(batch_name, "mutex_queue");
  report.ratio("spsc", "sem_queue");
  report.ratio("spsc", batch_name);  // the bound: the same queue and cores, 1/64 the handshakes
  if (fmt_kind == bench::Format::kTable) print_guide_block(report, p.iterations);
  fmt::print("{}", bench::format(report, fmt_kind));
  if (fmt_kind == bench::Format::kTable)
    fmt::print(
        "bound: {} (the same queue and cores, {} items per call) is what this "
        "machine can move; spsc reaches {:.0f}% of it\n",
        batch_name, p.batch, 100 * bench::ratio(report.at("spsc"), report.at(batch_name)));
  return ipclab::kExitOk;
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "lockfree_bench: SpscQueue<uint64_t> (one at a time, and push_n/pop_n batches) against\n"
      "boost::lockfree::spsc_queue, moodycamel::ReaderWriterQueue, a mutex+condvar queue and\n"
      "a semaphore queue, between two threads or two processes (POSIX shared memory).\n"
      "Every item is a sequence number the consumer checks: a wrong one is exit status 1."};
  Params p;
  std::string pin = "cross", format = "table";
  std::string mode = "threads";
  constexpr std::uint64_t kMaxItems = 10'000'000'000'000;  // 10^13: hours even lock-free
  app.add_option("--iterations", p.iterations, "items per stream (suffixes k, M, G)")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, kMaxItems));
  app.add_option("--round-trips", p.round_trips, "ping-pong round trips per latency run")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, kMaxItems));
  app.add_option("--runs", p.runs, "rounds; medians and spreads are over these")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, 1000));
  app.add_option("--batch", p.batch, "items per push_n/pop_n in the batch contender")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, 4096));
  app.add_option("--pin", pin, "cross (two CPUs), same (one CPU) or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "same", "cross"}));
  app.add_option("--format", format, "table, csv or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "csv", "json"}));
  app.add_option("--mode", mode, "threads or processes (fork; queues in POSIX shm)")
      ->capture_default_str()
      ->check(CLI::IsMember({"threads", "processes"}));
  app.add_flag("--transfers", p.transfers,
               "count the cache-line transfers each side waits for, per item (a table; "
               "threads only)");
  app.add_option("--timeout", p.timeout_s, "seconds a side may make no progress before failing")
      ->capture_default_str()
      ->transform(ipclab::cli::seconds(1ms, 24h));

  return ipclab::run_main(app, argc, argv, [&] {
    p.mode = mode == "processes" ? Mode::kProcesses : Mode::kThreads;
    p.place = bench::place(bench::parse_pin(pin));
    p.corrupt = bench::corrupt_hook();
    bench::pin_this_thread(p.place.cpus.empty() ? -1 : p.place.cpus[0]);
    return run(p, format);
  });
}
