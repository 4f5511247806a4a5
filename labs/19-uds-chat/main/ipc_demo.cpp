// ipc_demo pipe|shm|sock [--seed N] [--size BYTES] — one verified parent↔child exchange
// (pipe: first the course guide's "hello" / "ack");
// ipc_demo bench [--seed N] [--format table|json] — latency and throughput of the three.
#include <unistd.h>  // fork, _exit

#include <array>        // std::array
#include <cstdint>      // std::int64_t, std::uint64_t
#include <cstdio>       // stdout, std::fflush
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "ipclab/bench.hpp"    // corrupt_hook
#include "ipclab/main.hpp"     // run_main, run_guarded, CLI11
#include "ipclab/process.hpp"  // wait_for, WaitStatus
#include "ipclab/signal.hpp"   // ignore_sigpipe
#include "lab19/channel.hpp"   // Channel
#include "lab19/demo.hpp"

namespace {

using ipclab::lab19::BenchResult;

void print_table(const BenchResult& r, const ipclab::lab19::BenchOptions& o) {
  fmt::print("ipc_demo bench: seed {}, {} round(s), mechanisms interleaved in each, {:.2f} s\n",
             o.seed, r.rounds, r.seconds);
  fmt::print(
      "latency: {} ping-pongs of {} B per round; throughput: {} MiB one way in {} KiB "
      "messages per round\n",
      o.pings, o.ping_bytes, o.stream_bytes >> 20, o.chunk_bytes >> 10);
  fmt::print("every message carries a sequence number and checksum that the receiver verifies\n\n");
  fmt::print("{:<12} {:>12} {:>12} {:>10} {:>21} {:>10} {:>9} {:>9}\n", "mechanism", "rtt p50 us",
             "rtt p99 us", "MB/s", "(min-max)", "msg/s", "vs pipe", "verified");
  for (const auto& row : r.rows)
    fmt::print("{:<12} {:>12.1f} {:>12.1f} {:>10.1f} {:>21} {:>10.0f} {:>8.2f}x {:>9}\n", row.name,
               row.rtt_p50_us, row.rtt_p99_us, row.mb_per_s,
               fmt::format("({:.0f}-{:.0f})", row.mb_min, row.mb_max), row.msgs_per_s,
               row.ratio_vs_pipe, row.verified);
  fmt::print(
      "\nall {} messages verified; MB = 1e6 bytes; rtt = round trip; ratios are medians of "
      "per-round ratios\n",
      r.rows[0].verified + r.rows[1].verified + r.rows[2].verified);
}

void print_json(const BenchResult& r, const ipclab::lab19::BenchOptions& o) {
  fmt::print(R"({{"benchmark": "ipc_demo bench", "params": {{"seed": {}, "rounds": {}, )"
             R"("pings": {}, "ping_bytes": {}, "stream_bytes": {}, "chunk_bytes": {}}}, )"
             R"("results": [)",
             o.seed, r.rounds, o.pings, o.ping_bytes, o.stream_bytes, o.chunk_bytes);
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    const auto& row = r.rows[i];
    fmt::print(R"({}{{"name": "{}", "ops_per_s": {:.1f}, "bytes_per_s": {:.1f}, )"
               R"("p50_ns": {:.0f}, "p99_ns": {:.0f}, "verified": {}}})",
               i ? ", " : "", row.name, row.msgs_per_s, row.mb_per_s * 1e6, row.rtt_p50_us * 1e3,
               row.rtt_p99_us * 1e3, row.verified);
  }
  fmt::print(R"(], "ratios": {{"shm+sem/pipe": {:.3f}, "socketpair/pipe": {:.3f}}}}})"
             "\n",
             r.rows[1].ratio_vs_pipe, r.rows[2].ratio_vs_pipe);
}

/// The course guide's pipe exchange, over the lab's pipe Channel: the parent sends "hello",
/// the child prints what it received and answers "ack", the parent prints that. Each line
/// is printed by the side that received the words.
void hello_ack() {
  using ipclab::lab19::Channel;
  Channel ch = Channel::make(ipclab::lab19::Mechanism::kPipe);
  (void)std::fflush(stdout);  // or the child would print again what is buffered
  const pid_t pid = ipclab::check_unix(::fork(), "fork");
  if (pid == 0) {
    const int status = ipclab::run_guarded([&] {
      ch.become_child();
      std::array<char, 5> hello{};
      ch.recv(hello.data(), hello.size());
      fmt::print("parent -> child: {}\n", std::string_view(hello.data(), hello.size()));
      (void)std::fflush(stdout);
      ch.send("ack", 3);
      return 0;
    });
    (void)std::fflush(stdout);
    ::_exit(status);
  }
  ch.become_parent();
  ch.send("hello", 5);
  std::array<char, 3> ack{};
  ch.recv(ack.data(), ack.size());
  const ipclab::WaitStatus st = ipclab::wait_for(pid);
  fmt::print("child -> parent: {}\n", std::string_view(ack.data(), ack.size()));
  (void)std::fflush(stdout);
  if (st.raw() != 0) throw ipclab::OperationFailed(fmt::format("the child {}", st.describe()));
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "ipc_demo: one verified parent<->child exchange over a pipe, POSIX shared memory with\n"
      "semaphores, or a Unix socketpair; or `bench`, a small latency/throughput table of the "
      "three."};
  std::string mode;
  std::uint64_t seed = 42;
  std::int64_t size = 4096;
  std::string format = "table";
  app.add_option("mode", mode, "pipe | shm | sock | bench")
      ->required()
      ->check(CLI::IsMember({"pipe", "shm", "sock", "bench"}));
  app.add_option("--seed", seed, "seed of the test data (default 42)")
      ->transform(ipclab::cli::count(0, UINT64_MAX));
  // Any whole number here: run_demo itself refuses 0, negative and too large sizes (part of
  // the student's task, with its own messages); the validator refuses what is not a number.
  auto* size_opt = app.add_option("--size", size, "bytes to exchange (default 4096, max 64 MiB)")
                       ->transform(ipclab::cli::integer(INT64_MIN, INT64_MAX));
  app.add_option("--format", format, "bench output: table | json")
      ->check(CLI::IsMember({"table", "json"}));

  return ipclab::run_main(app, argc, argv, [&] {
    ipclab::ignore_sigpipe();  // a dead peer must be an EPIPE error, not a silent death
    using ipclab::lab19::Mechanism;
    if (mode == "bench") {
      if (size_opt->count() > 0) throw ipclab::UsageError("--size does not apply to bench");
      ipclab::lab19::BenchOptions o;
      o.seed = seed;
      o.corrupt = ipclab::bench::corrupt_hook();
      if (o.corrupt >= 0)
        fmt::print(stderr, "ipc_demo bench: test hook: damaging message {} of every session\n",
                   o.corrupt);
      const auto r = ipclab::lab19::run_bench(o);
      if (format == "json")
        print_json(r, o);
      else
        print_table(r, o);
      return 0;
    }
    // The guide's words first, when run_demo will accept the size (bad input prints
    // nothing but its error).
    if (mode == "pipe" && size > 0 && size <= ipclab::lab19::kMaxDemoSize) hello_ack();
    const Mechanism m = mode == "pipe"  ? Mechanism::kPipe
                        : mode == "shm" ? Mechanism::kShm
                                        : Mechanism::kSock;
    return ipclab::lab19::run_demo(m, size, seed, stdout);
  });
}
