// shm_ring_bench --buffer-size=1MB --iterations=1M [--msg-size=1024] [--runs=5]
//                [--pin=same|cross|none] [--format=table|csv|json] [--timeout=SECONDS]
// The ring against a pipe, a Unix stream socketpair and boost::interprocess::message_queue,
// measured the same way in the same run (docs/benchmarking.md): per contender and round, two fresh
// processes; side A streams --iterations messages to side B (throughput), then makes
// ping-pong round trips (latency: avg, p50, p99 from a histogram). Every message carries a
// sequence number and a checksum on 64-bit words that the receiver verifies. Contenders
// are interleaved round by round; the report gives medians and same-round ratios, plus
// the memcpy bound (one core copying the same messages into a buffer of the same size).
//
// Test hook: IPCLAB_BENCH_CORRUPT=N flips one bit of stream message N on side A (every
// contender), so the receiver must fail loudly.
#include <poll.h>      // poll
#include <sys/wait.h>  // waitpid
#include <unistd.h>    // fork, _exit

#include <algorithm>    // std::max, std::sort
#include <bit>          // std::has_single_bit
#include <cstdio>       // stdout, stderr
#include <cstring>      // std::memcpy
#include <memory>       // std::unique_ptr
#include <new>          // placement new
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::pair
#include <vector>       // std::vector

#include <sys/prctl.h>  // PR_SET_PDEATHSIG

#include "../given/peers.hpp"
#include "ipclab/bench.hpp"        // Report, interleave, place, format, si, millions
#include "ipclab/cli_numbers.hpp"  // format_size
#include "ipclab/json.hpp"         // json_number, json_string
#include "ipclab/main.hpp"         // run_main, CLI11
#include "ipclab/process.hpp"      // wait_for, kill_and_reap
#include "ipclab/shm.hpp"          // Mapping::anonymous_shared
#include "ipclab/signal.hpp"       // ShutdownSignals
#include "ipclab/stats.hpp"        // Histogram
#include "lab12/payload.hpp"
#include "lab12/shm_ring.hpp"  // kMaxCapacity

using namespace std::chrono_literals;

namespace {

namespace b = ipclab::bench;
namespace lb = ipclab::lab12::bench;
using ipclab::Deadline;

struct Params {
  std::size_t msg_size = 1024;
  std::size_t buffer_size = 1 << 20;
  std::uint64_t iterations = 1'000'000;
  std::uint64_t round_trips = 0;
  std::uint64_t warmup = 10'000;
  int runs = 5;
  double timeout_s = 60;
  b::Placement place;
  std::int64_t corrupt = -1;
};

/// What the two sides of one run report back (in an anonymous shared mapping).
struct Shared {
  std::int64_t stream_ns = 0;
  std::uint64_t round_trips = 0;
  ipclab::Histogram rtt;
  int failed_side = -1;
  char error[512] = {};
};

struct Numbers {
  double msgs_per_s = 0, rtt_avg = 0, rtt_p50 = 0, rtt_p99 = 0;
};

void fail(Shared& sh, int side, const std::string& what) {
  sh.failed_side = side;
  const std::size_t n = std::min(what.size(), sizeof sh.error - 1);
  std::memcpy(sh.error, what.data(), n);
  sh.error[n] = '\0';
}

void side_a(lb::Endpoint& e, const Params& p, Shared& sh, std::uint64_t rts) {
  std::uint64_t out = 0, in = 0;
  auto recv = [&](const char* phase) {
    const std::string why = e.recv(in, p.msg_size);
    if (!why.empty())
      throw ipclab::OperationFailed(
          fmt::format("verification failed: B->A message {} ({}): {}", in, phase, why));
    ++in;
  };
  recv("ready");
  for (std::uint64_t i = 0; i < p.warmup; ++i) e.send(out++, p.msg_size, false);
  recv("ack");
  const std::int64_t t0 = ipclab::now_ns();
  for (std::uint64_t i = 0; i < p.iterations; ++i, ++out)
    e.send(out, p.msg_size, static_cast<std::int64_t>(i) == p.corrupt);
  recv("ack");
  sh.stream_ns = ipclab::now_ns() - t0;
  for (std::uint64_t i = 0; i < rts + 100; ++i) {  // the first 100: warm-up
    const std::int64_t t = ipclab::now_ns();
    e.send(out++, p.msg_size, false);
    recv("round trip");
    if (i >= 100) sh.rtt.record(ipclab::now_ns() - t);
  }
}

void side_b(lb::Endpoint& e, const Params& p, std::uint64_t rts) {
  std::uint64_t out = 0, in = 0;
  auto recv = [&](const char* phase) {
    const std::string why = e.recv(in, p.msg_size);
    if (!why.empty())
      throw ipclab::OperationFailed(
          fmt::format("verification failed: A->B message {} ({}): {}", in, phase, why));
    ++in;
  };
  e.send(out++, p.msg_size, false);  // ready
  for (std::uint64_t i = 0; i < p.warmup; ++i) recv("warm-up");
  e.send(out++, p.msg_size, false);
  for (std::uint64_t i = 0; i < p.iterations; ++i) recv("stream");
  e.send(out++, p.msg_size, false);
  for (std::uint64_t i = 0; i < rts + 100; ++i) {
    recv("round trip");
    e.send(out++, p.msg_size, false);
  }
}

[[noreturn]] void child(lb::Link& link, int side, const Params& p, Shared& sh, std::uint64_t rts) {
  try {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGINT, &dfl, nullptr);
    ::sigaction(SIGTERM, &dfl, nullptr);
    ipclab::ignore_sigpipe();
    if (!p.place.cpus.empty()) b::pin_this_thread(p.place.cpus[static_cast<std::size_t>(side)]);
    auto e = link.open(side);
    if (side == 0)
      side_a(*e, p, sh, rts);
    else
      side_b(*e, p, rts);
    ::_exit(0);
  } catch (const std::exception& ex) {
    fail(sh, side, ex.what());
  } catch (...) {
    fail(sh, side, "unknown exception");
  }
  ::_exit(1);
}

Numbers run_once(const std::string& name, lb::Link& link, const Params& p,
                 const ipclab::ShutdownSignals& shutdown) {
  ipclab::Mapping mem = ipclab::Mapping::anonymous_shared(sizeof(Shared));
  auto* sh = new (mem.data()) Shared{};
  const std::uint64_t rts =
      p.round_trips != 0 ? p.round_trips : std::min<std::uint64_t>(p.iterations / 10 + 1, 20'000);
  pid_t kids[2] = {-1, -1};
  auto kill_all = [&] {
    for (pid_t& k : kids)
      if (k > 0) ipclab::kill_and_reap(std::exchange(k, -1));
  };
  try {
    for (int side = 0; side < 2; ++side) {
      (void)std::fflush(nullptr);
      const pid_t pid = ipclab::check_unix(::fork(), "fork");
      if (pid == 0) child(link, side, p, *sh, rts);
      kids[side] = pid;
    }
    // Watch both sides at once: the first to fail (often the receiver that found a bad
    // message, while its peer blocks on a full transport) is the news.
    const Deadline deadline(std::chrono::milliseconds(static_cast<long long>(p.timeout_s * 1000)));
    ipclab::Fd pidfd[2] = {ipclab::pidfd_open(kids[0]), ipclab::pidfd_open(kids[1])};
    while (kids[0] > 0 || kids[1] > 0) {
      if (shutdown.requested())
        throw ipclab::OperationFailed(
            fmt::format("interrupted by {}: every IPC object removed, nothing reported",
                        shutdown.signal() == SIGTERM ? "SIGTERM" : "SIGINT"));
      pollfd fds[3] = {
          {pidfd[0].get(), POLLIN, 0}, {pidfd[1].get(), POLLIN, 0}, {shutdown.fd(), POLLIN, 0}};
      if (::poll(fds, 3, 100) < 0 && errno != EINTR) ipclab::throw_errno("poll");
      for (int side = 0; side < 2; ++side) {
        if (kids[side] <= 0) continue;
        auto st = ipclab::try_wait(kids[side]);
        if (!st) continue;
        kids[side] = -1;
        pidfd[side].reset();
        if (st->exited() && st->exit_code() == 0) continue;
        kill_all();
        if (sh->failed_side >= 0)
          throw ipclab::OperationFailed(
              fmt::format("{}: side {}: {}", name, sh->failed_side == 0 ? "A" : "B", sh->error));
        throw ipclab::OperationFailed(
            fmt::format("{}: side {} {}", name, side == 0 ? "A" : "B", st->describe()));
      }
      if (deadline.expired())
        throw ipclab::OperationFailed(fmt::format(
            "{}: a run took more than {} s (--timeout): a side is stuck", name, p.timeout_s));
    }
  } catch (...) {
    kill_all();
    throw;
  }
  Numbers n;
  n.msgs_per_s = static_cast<double>(p.iterations) * 1e9 / static_cast<double>(sh->stream_ns);
  n.rtt_avg = sh->rtt.mean();
  n.rtt_p50 = static_cast<double>(sh->rtt.percentile(50));
  n.rtt_p99 = static_cast<double>(sh->rtt.percentile(99));
  sh->~Shared();
  return n;
}

/// The memcpy bound: one core copying the same messages into a buffer of the same size.
double memcpy_bound(const Params& p) {
  std::vector<std::byte> src(p.msg_size), dst(p.buffer_size + p.msg_size);
  ipclab::lab12::fill_message(src, 1);
  const std::size_t slots = std::max<std::size_t>(1, p.buffer_size / p.msg_size);
  const std::int64_t t0 = ipclab::now_ns();
  for (std::uint64_t i = 0; i < p.iterations; ++i) {
    std::memcpy(dst.data() + (i % slots) * p.msg_size, src.data(), p.msg_size);
    asm volatile("" : : "r"(dst.data()) : "memory");  // keep every copy
  }
  return static_cast<double>(p.iterations) * 1e9 / static_cast<double>(ipclab::now_ns() - t0);
}

/// The course guide's results block: the ring's median throughput, bandwidth and ping-pong
/// latency, and its same-round ratios to the pipe and the Unix socket of this run.
void print_guide_results(const b::Report& report, double rtt_avg_ns) {
  const b::Summary ring = b::summarize(report.at("shm_ring"));
  fmt::print("Results:\n");
  fmt::print("Throughput: {:.2f} million msg/sec\n", ring.ops_per_s / 1e6);
  fmt::print("Bandwidth: {:.2f} GB/sec\n", ring.bytes_per_s / 1e9);
  fmt::print("Latency (avg): {:.2f} μs (ping-pong round trip)\n", rtt_avg_ns / 1e3);
  fmt::print("Latency (p99): {:.2f} μs (ping-pong round trip)\n", ring.p99_ns / 1e3);
  fmt::print("Zero-copy: Yes (each message is built and verified in place in the ring)\n");
  for (const auto& [peer, name] : {std::pair{"pipe", "pipe"}, {"unix_socket", "Unix socket"}}) {
    const double r = b::ratio(report.at("shm_ring"), report.at(peer));
    fmt::print("Comparison to {}: {:.1f}x {}\n", name, r >= 1 || r <= 0 ? r : 1 / r,
               r >= 1 || r <= 0 ? "faster" : "slower");
  }
  fmt::print("\n");
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "shm_ring_bench: the shared-memory ring against a pipe, a Unix socketpair and\n"
      "boost::interprocess::message_queue, in the same run: throughput of a one-way stream\n"
      "(msg/s, GB/s), ping-pong latency (avg, p50, p99), medians over --runs interleaved\n"
      "rounds, ratios as medians of same-round ratios, and the memcpy bound. Every message\n"
      "carries a sequence number and a checksum that the receiver verifies."};
  using namespace std::chrono_literals;
  // Finite bounds for the counts: a run of 10^12 messages is already days long.
  constexpr std::uint64_t kMaxMessages = 1'000'000'000'000;
  Params p;
  std::string pin = "cross", format = "table";
  app.add_option("--buffer-size", p.buffer_size,
                 "ring capacity (a power of two); also the pipe's, socket's and queue's buffer")
      ->capture_default_str()
      ->transform(ipclab::cli::size(4096, ipclab::lab12::kMaxCapacity));
  app.add_option("--iterations", p.iterations, "stream messages per run (1M, 10M)")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, kMaxMessages));
  app.add_option("--msg-size", p.msg_size, "bytes per message (>= 16)")
      ->capture_default_str()
      ->transform(ipclab::cli::size(16, std::uint64_t{1} << 26));
  app.add_option("--round-trips", p.round_trips,
                 "ping-pong round trips per run [default: min(iterations/10, 20000)]")
      ->transform(ipclab::cli::count(1, kMaxMessages));
  app.add_option("--warmup", p.warmup, "untimed stream messages before the timed ones")
      ->capture_default_str()
      ->transform(ipclab::cli::count(0, kMaxMessages));
  app.add_option("--runs", p.runs, "interleaved rounds; medians are over these")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, 1000));
  app.add_option("--pin", pin, "same (one CPU), cross (two CPUs) or none")->capture_default_str();
  app.add_option("--format", format, "table, csv or json")->capture_default_str();
  app.add_option("--timeout", p.timeout_s, "seconds a run may take before it is called stuck")
      ->capture_default_str()
      ->transform(ipclab::cli::seconds(1ms, 24h));

  return ipclab::run_main(app, argc, argv, [&] {
    const b::Format fmt_kind = b::parse_format(format);
    b::Pin pin_kind = b::parse_pin(pin);
    if (pin_kind == b::Pin::kCross && b::usable_cpus().size() < 2 && pin == "cross" &&
        app.count("--pin") == 0)
      pin_kind = b::Pin::kNone;  // the default on a one-CPU machine
    p.place = b::place(pin_kind);
    if (!std::has_single_bit(p.buffer_size) || p.buffer_size < 4096 ||
        p.buffer_size > ipclab::lab12::kMaxCapacity)
      throw ipclab::UsageError(
          fmt::format("--buffer-size {} must be a power of two from 4KiB to 1GiB", p.buffer_size));
    if (p.msg_size > p.buffer_size / 2 - 8)
      throw ipclab::UsageError(
          fmt::format("--msg-size {} is above the ring's limit {} "
                      "(--buffer-size / 2 - 8)",
                      p.msg_size, p.buffer_size / 2 - 8));
    if (p.iterations == 0) throw ipclab::UsageError("--iterations must be at least 1");
    p.corrupt = b::corrupt_hook();

    ipclab::ShutdownSignals shutdown;  // Ctrl-C: kill both sides, remove every object
    b::Report report("shm_ring_bench");
    report.ops_label = "msg/s";
    report.param("msg_size", ipclab::json_number(static_cast<double>(p.msg_size)));
    report.param("buffer_size", ipclab::json_number(static_cast<double>(p.buffer_size)));
    report.param("iterations", ipclab::json_number(static_cast<double>(p.iterations)));
    report.param("runs", ipclab::json_number(p.runs));
    report.param("pin", ipclab::json_string(b::pin_name(p.place.pin)));
    report.note(fmt::format(
        "{} messages of {} bytes a run, one-way stream from side A to side B; {} rounds, "
        "contenders interleaved; buffer {} bytes for every contender",
        p.iterations, p.msg_size, p.runs, p.buffer_size));
    report.note(fmt::format("placement: {}", p.place.text));
    report.note("every message verified by its receiver (sequence number + 64-bit-word checksum)");

    const bool guide = fmt_kind == b::Format::kTable;  // CSV and JSON stay machine-readable
    if (guide) {
      fmt::print("Shared Memory Ring Buffer Benchmark\nBuffer: {}, Messages: {}\n",
                 ipclab::format_size(p.buffer_size), b::millions(p.iterations));
      fmt::print("Producer: Writing {} messages...\nConsumer: Reading {} messages...\n",
                 b::si(static_cast<double>(p.iterations)),
                 b::si(static_cast<double>(p.iterations)));
      fmt::print("(each of {} rounds, against a pipe, a Unix socket and boost's queue)\n\n",
                 p.runs);
      (void)std::fflush(stdout);
    }
    const char* names[] = {"shm_ring", "pipe", "unix_socket", "boost_mq", "memcpy"};
    for (const char* n : names) report.add(n);
    std::vector<double> avg[4];
    lb::LinkParams lp{p.msg_size, p.buffer_size, 10};
    b::interleave(p.runs, 5, [&](int, std::size_t i) {
      if (i == 4) {
        const double m = memcpy_bound(p);
        report.at("memcpy").record(m, m * static_cast<double>(p.msg_size));
        return;
      }
      std::unique_ptr<lb::Link> link = i == 0   ? lb::make_ring_link(lp)
                                       : i == 1 ? lb::make_pipe_link(lp)
                                       : i == 2 ? lb::make_socket_link(lp)
                                                : lb::make_boost_mq_link(lp);
      const Numbers n = run_once(names[i], *link, p, shutdown);
      report.at(names[i]).record(n.msgs_per_s, n.msgs_per_s * static_cast<double>(p.msg_size),
                                 n.rtt_p50, n.rtt_p99);
      avg[i].push_back(n.rtt_avg);
    });
    for (const char* peer : {"pipe", "unix_socket", "boost_mq", "memcpy"})
      report.ratio("shm_ring", peer);
    std::string avgs = "ping-pong latency avg (median over rounds):";
    for (std::size_t i = 0; i < 4; ++i) {
      std::sort(avg[i].begin(), avg[i].end());
      if (i == 0 && guide) print_guide_results(report, avg[0][avg[0].size() / 2]);
      avgs += fmt::format(" {} {:.2f} us{}", names[i], avg[i][avg[i].size() / 2] / 1000,
                          i < 3 ? "," : "");
    }
    report.note(avgs);
    report.note(fmt::format("shm_ring reaches {:.0f}% of the memcpy bound",
                            100 * b::ratio(report.at("shm_ring"), report.at("memcpy"))));
    fmt::print("{}", b::format(report, fmt_kind));
    return ipclab::kExitOk;
  });
}
