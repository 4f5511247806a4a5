// test_myrwlock --readers=10 --writers=3 --duration=10s --policy=fair [--starvation-ms=1000]
// Readers and writers hammer one RwLock for a while; the program checks mutual exclusion on
// every acquisition, prints statistics, and reports writer starvation: a writer that waited
// longer than --starvation-ms for the lock. Exit 0 PASS, 1 FAIL, 2 usage.
#include <algorithm>  // std::max
#include <atomic>     // std::atomic
#include <chrono>     // std::chrono
#include <cstdint>    // std::int64_t
#include <cstdio>     // stderr
#include <string>     // std::string
#include <thread>     // std::thread
#include <vector>     // std::vector

#include "ipclab/clock.hpp"  // now_ns, sleep_ns
#include "ipclab/main.hpp"   // run_main, CLI11
#include "lab08/rwlock.hpp"

namespace {

using ipclab::lab08::Policy;
using ipclab::lab08::RwLock;

using ipclab::sleep_ns;

/// What --duration accepts: "500ms", "2s", "1.5s" (a bare number is seconds), up to a day.
const ipclab::DurationRange kRunRange{std::chrono::milliseconds(1), std::chrono::hours(24)};

struct ThreadStats {
  std::int64_t ops = 0;
  std::int64_t max_wait_ns = 0;
  std::int64_t total_wait_ns = 0;
};

struct Shared {
  RwLock lock;
  std::atomic<bool> stop{false};
  std::atomic<int> readers_inside{0};
  std::atomic<int> writers_inside{0};
  std::atomic<int> writers_waiting{0};
  bool verbose = false;  // the course guide's per-event lines
  std::atomic<int> max_readers_inside{0};
  std::atomic<std::int64_t> violations{0};
  explicit Shared(Policy p) : lock(p) {}
};

void reader_loop(Shared& s, ThreadStats& st, int id, std::int64_t hold_ns) {
  while (!s.stop.load(std::memory_order_relaxed)) {
    const std::int64_t t0 = ipclab::now_ns();
    {
      ipclab::lab08::ReadGuard g(s.lock);
      if (s.verbose)
        fmt::print("Reader {} acquired read lock ({} writers waiting)\n", id,
                   s.writers_waiting.load());
      const std::int64_t waited = ipclab::now_ns() - t0;
      st.ops++;
      st.total_wait_ns += waited;
      st.max_wait_ns = std::max(st.max_wait_ns, waited);
      const int inside = s.readers_inside.fetch_add(1) + 1;
      int seen = s.max_readers_inside.load();
      while (inside > seen && !s.max_readers_inside.compare_exchange_weak(seen, inside)) {
      }
      if (s.writers_inside.load() != 0) s.violations++;
      sleep_ns(hold_ns);  // readers overlap: each holds the lock a while
      s.readers_inside.fetch_sub(1);
    }
    if (s.verbose) fmt::print("Reader {} released read lock\n", id);
  }
}

void writer_loop(Shared& s, ThreadStats& st, int id, std::int64_t hold_ns, std::int64_t pause_ns) {
  while (!s.stop.load(std::memory_order_relaxed)) {
    const std::int64_t t0 = ipclab::now_ns();
    {
      s.writers_waiting.fetch_add(1);
      if (s.verbose)
        fmt::print("Writer {} waiting... ({} readers active)\n", id, s.readers_inside.load());
      ipclab::lab08::WriteGuard g(s.lock);
      s.writers_waiting.fetch_sub(1);
      if (s.verbose) fmt::print("Writer {} acquired write lock\n", id);
      const std::int64_t waited = ipclab::now_ns() - t0;
      st.ops++;
      st.total_wait_ns += waited;
      st.max_wait_ns = std::max(st.max_wait_ns, waited);
      if (s.writers_inside.fetch_add(1) != 0 || s.readers_inside.load() != 0) s.violations++;
      sleep_ns(hold_ns);
      if (s.readers_inside.load() != 0) s.violations++;
      s.writers_inside.fetch_sub(1);
    }
    if (s.verbose) fmt::print("Writer {} released write lock\n", id);
    sleep_ns(pause_ns);
  }
}

double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "test_myrwlock: readers and writers share one RwLock; checks mutual exclusion and\n"
      "reports writer starvation (a writer waiting longer than --starvation-ms).\n"
      "Exit 0: no starvation, exclusion held. Exit 1: a failure line says what failed."};
  int readers = 10;
  int writers = 3;
  std::string duration = "10s";
  std::string policy_text = "fair";
  int starvation_ms = 1000;
  int read_hold_us = 1000;
  int write_hold_us = 100;
  int write_pause_us = 1000;
  app.add_option("--readers", readers, "reader threads")->transform(ipclab::cli::count(0, 1000));
  app.add_option("--writers", writers, "writer threads")->transform(ipclab::cli::count(0, 1000));
  // Kept as written (it is printed); checked here, converted in the body.
  app.add_option("--duration", duration, "how long to run: 500ms, 2s, 1.5s, ... (default 10s)")
      ->check(ipclab::cli::duration(kRunRange));
  app.add_option("--policy", policy_text, "reader | writer | fair (default fair)")
      ->check(CLI::IsMember({"reader", "writer", "fair"}));
  app.add_option("--starvation-ms", starvation_ms,
                 "a writer waiting longer than this is starved (default 1000)")
      ->transform(ipclab::cli::milliseconds(1ms, 1h));
  const auto micros = ipclab::cli::duration({0s, 1s, ipclab::TimeUnit::kUs}, true);
  app.add_option("--read-hold-us", read_hold_us, "time a reader holds the lock (default 1000)")
      ->transform(micros);
  app.add_option("--write-hold-us", write_hold_us, "time a writer holds the lock (default 100)")
      ->transform(micros);
  app.add_option("--write-pause-us", write_pause_us,
                 "pause between a writer's acquisitions (default 1000)")
      ->transform(micros);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose,
               "print every acquire, wait and release (runs of 100 ms or less always do)");

  return ipclab::run_main(app, argc, argv, [&] {
    const std::int64_t run_ns = ipclab::parse_duration("--duration", duration, kRunRange).count();
    const Policy policy = *ipclab::lab08::parse_policy(policy_text);
    Shared s(policy);
    s.verbose = verbose || run_ns <= 100'000'000;
    std::vector<ThreadStats> rstats(static_cast<std::size_t>(readers));
    std::vector<ThreadStats> wstats(static_cast<std::size_t>(writers));
    std::vector<std::thread> threads;
    threads.reserve(rstats.size() + wstats.size());
    fmt::print("My RWLock Test ({} readers, {} writers, {:g} second{})\n", readers, writers,
               static_cast<double>(run_ns) / 1e9, run_ns == 1'000'000'000 ? "" : "s");
    fmt::print("policy: {}, readers: {}, writers: {}, duration: {}, starvation bound: {} ms\n",
               policy_text, readers, writers, duration, starvation_ms);
    (void)std::fflush(stdout);
    for (std::size_t i = 0; i < rstats.size(); ++i)
      threads.emplace_back(reader_loop, std::ref(s), std::ref(rstats[i]), static_cast<int>(i + 1),
                           read_hold_us * 1000LL);
    for (std::size_t i = 0; i < wstats.size(); ++i)
      threads.emplace_back(writer_loop, std::ref(s), std::ref(wstats[i]), static_cast<int>(i + 1),
                           write_hold_us * 1000LL, write_pause_us * 1000LL);
    sleep_ns(run_ns);
    s.stop.store(true);
    for (auto& t : threads) t.join();

    auto sum = [](const std::vector<ThreadStats>& v) {
      ThreadStats t;
      for (const auto& x : v) {
        t.ops += x.ops;
        t.total_wait_ns += x.total_wait_ns;
        t.max_wait_ns = std::max(t.max_wait_ns, x.max_wait_ns);
      }
      return t;
    };
    const ThreadStats r = sum(rstats);
    const ThreadStats w = sum(wstats);
    const double secs = static_cast<double>(run_ns) / 1e9;
    auto mean_ms = [](const ThreadStats& t) {
      return t.ops ? ms(t.total_wait_ns) / static_cast<double>(t.ops) : 0.0;
    };
    fmt::print("Statistics:\nRead operations: {}\nWrite operations: {}\n", r.ops, w.ops);
    fmt::print("Max reader wait: {:.0f}ms\nMax writer wait: {:.0f}ms\n", ms(r.max_wait_ns),
               ms(w.max_wait_ns));
    fmt::print("acquisitions: {} reads, {} writes\n", r.ops, w.ops);
    fmt::print("ops: {} ({:.0f}/s)\n", r.ops + w.ops, static_cast<double>(r.ops + w.ops) / secs);
    fmt::print("max reader wait: {:.3f} ms (mean {:.3f} ms)\n", ms(r.max_wait_ns), mean_ms(r));
    fmt::print("max writer wait: {:.3f} ms (mean {:.3f} ms)\n", ms(w.max_wait_ns), mean_ms(w));
    fmt::print("max readers inside at once: {}\n", s.max_readers_inside.load());
    if (s.violations.load() != 0) {
      fmt::print("Mutual exclusion violated {} times: FAIL\n", s.violations.load());
      return ipclab::kExitFailed;
    }
    if (ms(w.max_wait_ns) > starvation_ms) {
      fmt::print("Starvation detected: a writer waited {:.3f} ms (bound {} ms): FAIL\n",
                 ms(w.max_wait_ns), starvation_ms);
      return ipclab::kExitFailed;
    }
    fmt::print("No starvation detected: PASS\n");
    return ipclab::kExitOk;
  });
}
