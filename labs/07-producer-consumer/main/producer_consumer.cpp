// producer_consumer --producers=3 --consumers=2 --buffer-size=10 --items=1000
//                   [--mode=threads|processes] [--quiet]
// Producer p of P pushes items p, p+P, p+2P, ... (1..items in all) through the bounded
// buffer; consumers pop until the buffer is closed and drained. Then every
// item must have been consumed exactly once (the program counts each item it sees).
//
// Test hooks (environment): IPCLAB_LAB07_YIELD=1 (random yields, see test_hook.hpp);
// IPCLAB_LAB07_STOP_IN_PUSH=P:N (processes mode: producer P stops itself with SIGSTOP
// inside its N-th push, holding the lock, for the grader's crash test).
#include <fcntl.h>      // O_CLOEXEC
#include <poll.h>       // poll
#include <signal.h>     // signal, SIGINT, SIGTERM, SIGKILL
#include <sys/prctl.h>  // prctl, PR_SET_PDEATHSIG
#include <sys/types.h>  // pid_t
#include <unistd.h>     // fork, _exit, getpid, getppid, pipe2

#include <atomic>        // std::atomic
#include <cerrno>        // errno
#include <charconv>      // std::from_chars
#include <chrono>        // std::chrono::steady_clock
#include <cstdint>       // std::uint64_t
#include <cstdio>        // stdout, std::fflush, setvbuf
#include <cstdlib>       // std::getenv
#include <string>        // std::string
#include <string_view>   // std::string_view
#include <system_error>  // std::errc
#include <thread>        // std::thread
#include <vector>        // std::vector

#include <fmt/format.h>  // fmt::format
#include <fmt/ranges.h>  // fmt::join

#include "ipclab/fd.hpp"       // Fd
#include "ipclab/main.hpp"     // run_main, CLI11
#include "ipclab/names.hpp"    // names::posix
#include "ipclab/process.hpp"  // wait_for, WaitStatus
#include "ipclab/shm.hpp"      // Mapping::anonymous_shared
#include "ipclab/signal.hpp"   // ShutdownSignals
#include "lab07/bounded_buffer.hpp"
#include "lab07/shared_buffer.hpp"
#include "lab07/test_hook.hpp"  // count_waits_into

namespace {

using Counter = std::atomic<std::uint64_t>;
static_assert(Counter::is_always_lock_free, "counters are shared between processes");

struct Config {
  int producers = 3;
  int consumers = 2;
  std::size_t buffer_size = 10;
  std::uint64_t items = 1000;
  std::string mode = "threads";
  bool quiet = false;
};

/// The program's own bookkeeping, in memory every worker can reach (threads: the heap;
/// processes: an anonymous shared mapping inherited across fork). Counters are atomics so
/// the bookkeeping itself never needs the buffer's lock.
class Tally {
 public:
  Tally(const Config& c, Counter* base)
      : p_(static_cast<std::size_t>(c.producers)),
        c_(static_cast<std::size_t>(c.consumers)),
        items_(c.items),
        base_(base) {}
  static std::size_t counters(const Config& c) {
    return static_cast<std::size_t>(c.producers + c.consumers) + c.items + 2;
  }
  Counter& produced(std::size_t p) { return base_[p]; }
  Counter& consumed(std::size_t c) { return base_[p_ + c]; }
  Counter& seen(std::uint64_t item) { return base_[p_ + c_ + (item - 1)]; }  // 1-based
  /// Condition waits in push() (the buffer was full) and in pop() (it was empty).
  Counter& full_waits() { return base_[p_ + c_ + items_]; }
  Counter& empty_waits() { return base_[p_ + c_ + items_ + 1]; }
  std::uint64_t items() const { return items_; }

 private:
  std::size_t p_, c_;
  std::uint64_t items_;
  Counter* base_;
};

/// Producer `id` (1-based) of `count` pushes items id, id + count, id + 2*count, ... up to
/// items: a fixed share, so every producer has work however the scheduler runs them.
template <typename Buffer>
void produce(Buffer& buf, Tally& t, int id, int count, bool quiet) {
  ipclab::lab07::count_waits_into(&t.full_waits());
  for (auto item = static_cast<std::uint64_t>(id); item <= t.items();
       item += static_cast<std::uint64_t>(count)) {
    if (!buf.push(item)) return;  // closed under us
    t.produced(static_cast<std::size_t>(id - 1)).fetch_add(1);
    if (!quiet) fmt::print("[P{}] Produced item {}\n", id, item);
  }
}

/// Consumer `id` (1-based): pops until the buffer is closed and drained.
template <typename Buffer>
void consume(Buffer& buf, Tally& t, int id, bool quiet) {
  ipclab::lab07::count_waits_into(&t.empty_waits());
  while (auto item = buf.pop()) {
    if (*item >= 1 && *item <= t.items()) t.seen(*item).fetch_add(1);
    t.consumed(static_cast<std::size_t>(id - 1)).fetch_add(1);
    if (!quiet) fmt::print("[C{}] Consumed item {}\n", id, *item);
  }
}

void run_threads(const Config& cfg, Tally& t) {
  ipclab::lab07::BoundedBuffer<std::uint64_t> buf(cfg.buffer_size);
  std::vector<std::thread> producers, consumers;
  for (int i = 1; i <= cfg.consumers; ++i)
    consumers.emplace_back([&, i] { consume(buf, t, i, cfg.quiet); });
  for (int i = 1; i <= cfg.producers; ++i)
    producers.emplace_back([&, i] { produce(buf, t, i, cfg.producers, cfg.quiet); });
  for (auto& th : producers) th.join();
  buf.close();  // no more items: consumers drain what is left, then see the end
  for (auto& th : consumers) th.join();
}

/// A forked worker: runs `body`, flushes, and never returns into the parent's code. It dies
/// with the parent (PR_SET_PDEATHSIG): a killed parent leaves no worker parked in a futex.
template <typename Body>
pid_t fork_worker(Body&& body) {
  (void)std::fflush(stdout);
  const pid_t parent = ::getpid();
  const pid_t pid = ipclab::check_unix(::fork(), "fork");
  if (pid != 0) return pid;
  // Not the parent's shutdown handlers: a terminal's ^C (sent to the whole group) is the
  // parent's to handle, by closing the buffer; a SIGTERM of the worker alone ends it.
  (void)::signal(SIGINT, SIG_IGN);
  (void)::signal(SIGTERM, SIG_DFL);
  (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);  // the parent died before prctl took effect
  const int code = ipclab::run_guarded([&] {
    body();
    return 0;
  });
  (void)std::fflush(stdout);
  ::_exit(code);
}

struct ProcessOutcome {
  std::vector<std::string> problems;  // a worker that died or failed
  int killed_producer = 0;            // 1-based id of a producer killed by a signal
  int killed_by = 0;
  std::uint64_t recoveries = 0;
  int stopped_by = 0;  // SIGINT or SIGTERM closed the buffer early
};

/// Until stopped: on SIGINT/SIGTERM, closes the buffer, so producers stop and consumers drain
/// and end; the parent then reaps them all as on a normal end.
class SignalCloser {
 public:
  SignalCloser(const ipclab::ShutdownSignals& signals, ipclab::lab07::SharedBoundedBuffer& buf) {
    int p[2];
    ipclab::check_unix(::pipe2(p, O_CLOEXEC), "pipe2");
    stop_read_ = ipclab::Fd(p[0]);
    stop_write_ = ipclab::Fd(p[1]);
    thread_ = std::thread([&signals, &buf, stop = stop_read_.get()] {
      pollfd fds[2] = {{signals.fd(), POLLIN, 0}, {stop, POLLIN, 0}};
      while (::poll(fds, 2, -1) < 0 && errno == EINTR) {
      }
      if (signals.requested()) buf.close();
    });
  }
  SignalCloser(const SignalCloser&) = delete;
  SignalCloser& operator=(const SignalCloser&) = delete;
  ~SignalCloser() {
    stop_write_.reset();  // POLLHUP on the read end
    thread_.join();
  }

 private:
  ipclab::Fd stop_read_, stop_write_;
  std::thread thread_;
};

ProcessOutcome run_processes(const Config& cfg, Tally& t, const ipclab::ShutdownSignals& signals) {
  using ipclab::lab07::SharedBoundedBuffer;
  // In the crash-test producer an environment variable arms the stop-inside-the-lock hook.
  // Read before create(): a bad value must not leave the shm object behind.
  int stop_producer = 0;
  std::int64_t stop_after = 0;
  if (const char* env = std::getenv("IPCLAB_LAB07_STOP_IN_PUSH")) {
    const std::string_view v(env);
    const auto colon = v.find(':');
    if (colon == std::string_view::npos ||
        std::from_chars(v.data(), v.data() + colon, stop_producer).ec != std::errc() ||
        std::from_chars(v.data() + colon + 1, v.data() + v.size(), stop_after).ec != std::errc())
      throw ipclab::UsageError(fmt::format("IPCLAB_LAB07_STOP_IN_PUSH={}: expected P:N", v));
  }
  const std::string name = ipclab::names::posix(fmt::format("producer_consumer.{}", ::getpid()));
  auto buf = SharedBoundedBuffer::create(name, cfg.buffer_size);
  // Every worker is forked from here and inherits the mapping: the name is not needed
  // past this point, and once it is gone nothing can leak it, even a kill -9 of the whole
  // process group.
  SharedBoundedBuffer::unlink(name);
  (void)std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one write(2) per line: lines never mix
  std::vector<pid_t> producers, consumers;
  try {
    for (int i = 1; i <= cfg.consumers; ++i)
      consumers.push_back(fork_worker([&] { consume(buf, t, i, cfg.quiet); }));
    for (int i = 1; i <= cfg.producers; ++i)
      producers.push_back(fork_worker([&] {
        if (i == stop_producer && stop_after > 0) ipclab::lab07::arm_stop_in_push(stop_after);
        produce(buf, t, i, cfg.producers, cfg.quiet);
      }));
  } catch (...) {
    buf.close();
    for (pid_t p : producers) ipclab::wait_for(p);
    for (pid_t p : consumers) ipclab::wait_for(p);
    throw;
  }
  const SignalCloser closer(signals, buf);

  ProcessOutcome out;
  auto check = [&](const char* role, int id, ipclab::WaitStatus st) {
    if (st.exited() && st.exit_code() == 0) return;
    if (std::string(role) == "producer" && st.signaled() && out.killed_producer == 0) {
      out.killed_producer = id;
      out.killed_by = st.signal();
      return;
    }
    out.problems.push_back(fmt::format("{} {} {}", role, id, st.describe()));
  };
  for (std::size_t i = 0; i < producers.size(); ++i)
    check("producer", static_cast<int>(i + 1), ipclab::wait_for(producers[i]));
  buf.close();  // takes the lock: a lock left by a killed producer is repaired here at last
  for (std::size_t i = 0; i < consumers.size(); ++i)
    check("consumer", static_cast<int>(i + 1), ipclab::wait_for(consumers[i]));
  out.recoveries = buf.recoveries();
  out.stopped_by = signals.signal();
  return out;
}

int run(const Config& cfg) {
  fmt::print(
      "Producer-Consumer Simulation\nBuffer size: {}, Producers: {}, Consumers: {}, Items: {}\n",
      cfg.buffer_size, cfg.producers, cfg.consumers, cfg.items);
  const auto start = std::chrono::steady_clock::now();
  const std::size_t n = Tally::counters(cfg);
  std::vector<Counter> heap(cfg.mode == "threads" ? n : 0);
  ipclab::Mapping shared;
  Counter* base = heap.data();
  if (cfg.mode == "processes") {
    shared = ipclab::Mapping::anonymous_shared(n * sizeof(Counter));  // zero-filled
    base = shared.as<Counter>();
  }
  Tally t(cfg, base);
  ProcessOutcome po;
  if (cfg.mode == "threads") {
    run_threads(cfg, t);
  } else {
    const ipclab::ShutdownSignals signals;  // before create(): a signal then still cleans up
    po = run_processes(cfg, t, signals);
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::vector<std::uint64_t> per_producer, per_consumer;
  std::uint64_t produced = 0, consumed = 0, duplicates = 0, missing = 0;
  for (int i = 0; i < cfg.producers; ++i)
    produced += per_producer.emplace_back(t.produced(static_cast<std::size_t>(i)).load());
  for (int i = 0; i < cfg.consumers; ++i)
    consumed += per_consumer.emplace_back(t.consumed(static_cast<std::size_t>(i)).load());
  for (std::uint64_t item = 1; item <= cfg.items; ++item) {
    const std::uint64_t s = t.seen(item).load();
    if (s == 0) ++missing;
    if (s > 1) duplicates += s - 1;
  }

  (void)std::fflush(stdout);
  fmt::print("Statistics:\n");
  fmt::print("Total produced: {}\n", produced);
  fmt::print("Total consumed: {}\n", consumed);
  fmt::print("Buffer empty waits: {}\n", t.empty_waits().load());
  fmt::print("Buffer full waits: {}\n", t.full_waits().load());
  fmt::print("  mode:            {}\n", cfg.mode);
  fmt::print("  producers:       {}\n", cfg.producers);
  fmt::print("  consumers:       {}\n", cfg.consumers);
  fmt::print("  buffer size:     {}\n", cfg.buffer_size);
  fmt::print("  items produced:  {} (per producer: {})\n", produced, fmt::join(per_producer, ", "));
  fmt::print("  items consumed:  {} (per consumer: {})\n", consumed, fmt::join(per_consumer, ", "));
  fmt::print("  duplicates:      {}\n", duplicates);
  fmt::print("  never consumed:  {}\n", missing);
  if (cfg.mode == "processes") fmt::print("  lock recoveries: {}\n", po.recoveries);
  fmt::print("  elapsed:         {:.3f} s\n", elapsed);

  if (po.stopped_by != 0) {
    fmt::print("INCOMPLETE: stopped by signal {}; {} of {} items produced, stopped early\n",
               po.stopped_by, produced, cfg.items);
    return 1;
  }
  for (const auto& p : po.problems) fmt::print("FAIL: {}\n", p);
  if (!po.problems.empty()) return 1;
  if (duplicates != 0 || consumed != produced) {
    fmt::print("FAIL: {} items produced, {} consumed, {} consumed more than once\n", produced,
               consumed, duplicates);
    return 1;
  }
  if (po.killed_producer != 0) {
    // Not everything was produced, but the buffer survived its dead lock owner.
    fmt::print(
        "INCOMPLETE: producer {} was killed by signal {}; {} of {} items produced, "
        "each consumed exactly once\n",
        po.killed_producer, po.killed_by, produced, cfg.items);
    return 1;
  }
  if (produced != cfg.items || missing != 0) {
    fmt::print("FAIL: {} of {} items produced, {} never consumed\n", produced, cfg.items, missing);
    return 1;
  }
  fmt::print("PASS: All items produced and consumed correctly\n");
  return 0;
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "producer_consumer: producers and consumers through a bounded buffer "
      "(mutex + two condition variables).\n"
      "  threads:   BoundedBuffer<T> shared by threads\n"
      "  processes: the buffer in POSIX shared memory (process-shared robust mutex)"};
  Config cfg;
  app.add_option("--producers", cfg.producers, "producer threads/processes")
      ->transform(ipclab::cli::count(1, 512));
  app.add_option("--consumers", cfg.consumers, "consumer threads/processes")
      ->transform(ipclab::cli::count(1, 512));
  app.add_option("--buffer-size", cfg.buffer_size, "buffer capacity (items)")
      ->transform(ipclab::cli::count(1, std::uint64_t{1} << 20));
  app.add_option("--items", cfg.items, "items to produce in all")
      ->transform(ipclab::cli::count(0, 10'000'000));
  app.add_option("--mode", cfg.mode, "threads or processes")
      ->check(CLI::IsMember({"threads", "processes"}));
  app.add_flag("--quiet", cfg.quiet, "print only the statistics and the verdict");
  return ipclab::run_main(app, argc, argv, [&] { return run(cfg); });
}
