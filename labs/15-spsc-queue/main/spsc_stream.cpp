// spsc_stream consume|produce --name NAME --count N [--batch B] [--timeout S]
// Two processes, one SpscQueue<std::uint64_t> in POSIX shared memory: the consumer creates
// the queue (and removes its name on exit, SIGINT and SIGTERM included), the producer
// attaches by name and sends the sequence numbers 0, 1, ..., N-1; the consumer checks that
// every item is the next number: none lost, none duplicated, none out of order.
//
//   spsc_stream consume --name q --count 10000000 &     # prints "ready" once created
//   spsc_stream produce --name q --count 10000000
#include <unistd.h>  // usleep

#include <algorithm>  // std::min
#include <cstdint>    // std::uint64_t
#include <cstdio>     // stdout, stderr
#include <optional>   // std::optional
#include <string>     // std::string
#include <vector>     // std::vector

#include "ipclab/clock.hpp"   // Deadline, Stopwatch
#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/signal.hpp"  // ShutdownSignals
#include "lab15/spin.hpp"
#include "lab15/spsc_queue.hpp"

namespace {

using ipclab::lab15::Backoff;
using ipclab::lab15::SharedSpscQueue;
using Item = std::uint64_t;

struct Options {
  std::string name = "spsc_stream";
  std::uint64_t count = 1'000'000;
  std::size_t capacity = 4096;
  std::size_t batch = 0;  // 0: one item at a time (try_push/try_pop)
  double timeout_s = 10;
  std::int64_t skip = -1;  // test hook: the producer leaves this sequence number out
};

/// A deadline that moves forward whenever the stream makes progress (a stall detector).
class Stall {
 public:
  explicit Stall(double seconds) : limit_ns_(static_cast<std::int64_t>(seconds * 1e9)) {}
  void progress() { last_ = ipclab::now_ns(); }
  bool stalled() const { return ipclab::now_ns() - last_ > limit_ns_; }

 private:
  std::int64_t limit_ns_;
  std::int64_t last_ = ipclab::now_ns();
};

int consume(const Options& o, const ipclab::ShutdownSignals& shutdown) {
  auto shared = SharedSpscQueue<Item>::create(o.name, o.capacity);
  auto& q = shared.queue();
  fmt::print("ready\n");
  (void)std::fflush(stdout);
  std::vector<Item> buf(o.batch > 0 ? o.batch : 1);
  Stall stall(o.timeout_s);
  Backoff backoff;
  std::uint64_t expected = 0;
  ipclab::Stopwatch clock;
  while (expected < o.count) {
    std::size_t got = 0;
    if (o.batch > 0) {
      got = q.pop_n(buf.data(), std::min<std::uint64_t>(o.batch, o.count - expected));
    } else {
      got = q.try_pop(buf[0]) ? 1 : 0;
    }
    if (got == 0) {
      backoff.wait();
      if (backoff.spins() == 0) {  // every kSpins attempts: signals and the deadline
        if (shutdown.requested()) throw ipclab::OperationFailed("interrupted");
        if (stall.stalled())
          throw ipclab::OperationFailed(fmt::format(
              "timed out: no item for {} s after {} of {} items", o.timeout_s, expected, o.count));
      }
      continue;
    }
    backoff.reset();
    stall.progress();
    for (std::size_t i = 0; i < got; ++i, ++expected) {
      if (buf[i] != expected)
        throw ipclab::OperationFailed(fmt::format(
            "item {}: expected sequence number {}, got {} ({})", expected, expected, buf[i],
            buf[i] < expected ? "a duplicate or a stale slot" : "items lost or reordered"));
    }
  }
  const double s = clock.elapsed_s();
  fmt::print("received {} items in order\n", o.count);
  fmt::print(stderr, "spsc_stream: {} items in {:.3f} s ({:.1f}M items/s)\n", o.count, s,
             static_cast<double>(o.count) / s / 1e6);
  return ipclab::kExitOk;
}

int produce(const Options& o, const ipclab::ShutdownSignals& shutdown) {
  // The consumer may not have created the queue yet: retry until the deadline.
  std::optional<SharedSpscQueue<Item>> shared;
  const ipclab::Deadline attach_by(std::chrono::milliseconds(static_cast<long>(o.timeout_s * 1e3)));
  while (!shared) {
    try {
      shared.emplace(SharedSpscQueue<Item>::attach(o.name));
    } catch (const ipclab::SysError& e) {
      if (e.code() != std::errc::no_such_file_or_directory || attach_by.expired()) throw;
      if (shutdown.requested()) throw ipclab::OperationFailed("interrupted");
      ::usleep(1000);
    }
  }
  auto& q = shared->queue();
  std::vector<Item> buf(o.batch > 0 ? o.batch : 1);
  Stall stall(o.timeout_s);
  Backoff backoff;
  Item next = 0;  // the next sequence number to send
  std::uint64_t sent = 0;
  std::size_t filled = 0, offset = 0;  // batch: buf[offset..filled) still to push
  while (sent < o.count) {
    std::size_t pushed = 0;
    if (o.batch > 0) {
      if (offset == filled) {  // refill the batch
        filled = std::min<std::uint64_t>(o.batch, o.count - sent);
        offset = 0;
        for (std::size_t i = 0; i < filled; ++i) {
          if (static_cast<std::int64_t>(next) == o.skip) ++next;
          buf[i] = next++;
        }
      }
      pushed = q.push_n(buf.data() + offset, filled - offset);
      offset += pushed;
    } else {
      if (static_cast<std::int64_t>(next) == o.skip) ++next;
      if (q.try_push(next)) {
        ++next;
        pushed = 1;
      }
    }
    if (pushed == 0) {
      backoff.wait();
      if (backoff.spins() == 0) {
        if (shutdown.requested()) throw ipclab::OperationFailed("interrupted");
        if (stall.stalled())
          throw ipclab::OperationFailed(
              fmt::format("timed out: the queue stayed full for {} s after {} of {} items",
                          o.timeout_s, sent, o.count));
      }
      continue;
    }
    backoff.reset();
    stall.progress();
    sent += pushed;
  }
  fmt::print("sent {} items\n", o.count);
  return ipclab::kExitOk;
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  // 2^27 slots of 8 bytes: a 1 GiB queue, the cap of the lab 12 ring programs.
  constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 27;

  CLI::App app{
      "spsc_stream: a stream of sequence numbers through an SpscQueue in POSIX shared memory,\n"
      "between two processes. `consume` creates the queue, prints \"ready\", checks every\n"
      "item and removes the queue on exit; `produce` attaches by name and sends 0..N-1."};
  app.require_subcommand(1);
  Options o;
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--name", o.name, "the queue's name (POSIX name via ipclab::names)")
        ->capture_default_str();
    cmd->add_option("--count", o.count, "items to send/receive")
        ->capture_default_str()
        ->transform(ipclab::cli::count(0, 10'000'000'000'000));
    cmd->add_option("--batch", o.batch, "use push_n/pop_n with batches of B (0: one at a time)")
        ->capture_default_str()
        ->transform(ipclab::cli::count(0, 1 << 20));
    cmd->add_option("--timeout", o.timeout_s, "seconds without progress before giving up")
        ->capture_default_str()
        ->transform(ipclab::cli::seconds(1ms, 24h));
  };
  auto* consume_cmd = app.add_subcommand("consume", "create the queue and check every item");
  add_common(consume_cmd);
  consume_cmd->add_option("--capacity", o.capacity, "slots (a power of two)")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, kMaxCapacity));
  auto* produce_cmd = app.add_subcommand("produce", "attach to the queue and send 0..N-1");
  add_common(produce_cmd);
  produce_cmd->add_option("--skip", o.skip, "test hook: leave this sequence number out")
      ->transform(ipclab::cli::integer(-1, INT64_MAX));

  return ipclab::run_main(app, argc, argv, [&] {
    ipclab::ShutdownSignals shutdown;
    return consume_cmd->parsed() ? consume(o, shutdown) : produce(o, shutdown);
  });
}
