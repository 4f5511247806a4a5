// ipc_benchmark --msg-size=1024 --iterations=100000 [--mechanisms=LIST] [--runs N]
//               [--warmup N] [--pin[=same|cross|none]] [--format=table|csv|json]
// Throughput (one-way stream) and round-trip latency (ping-pong) of six IPC mechanisms,
// measured the same way in the same run; every message verified. README.md says what the
// numbers mean and what they do not.
#include <unistd.h>  // isatty

#include <cstdio>  // stderr, stdout
#include <string>  // std::string
#include <vector>  // std::vector

#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/signal.hpp"  // ShutdownSignals
#include "lab06/bench.hpp"

using ipclab::lab06::Mechanism;

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "ipc_benchmark: throughput and latency of pipe, fifo, uds (Unix stream socket), posix_mq,\n"
      "sysv_mq and shm_sem (POSIX shared memory + named semaphores), between two processes.\n"
      "Throughput: a one-way stream of --iterations messages. Latency: --round-trips ping-pong\n"
      "round trips (avg, p50, p99 from a histogram). Medians over --runs rounds, every\n"
      "mechanism once per round. Every message carries a sequence number and a checksum that\n"
      "the receiver verifies: a wrong message stops the benchmark with exit status 1."};
  ipclab::lab06::Params p;
  std::vector<std::string> mechanisms;
  std::string pin = "none", format = "table";
  double timeout_s = 10;
  // Finite bounds for the counts: a run of 10^12 messages is already days long.
  constexpr std::uint64_t kMaxMessages = 1'000'000'000'000;
  app.add_option("--msg-size", p.msg_size, "bytes per message (16 to the mechanism's limit)")
      ->capture_default_str()
      ->transform(ipclab::cli::size(16, std::uint64_t{1} << 30));
  app.add_option("--iterations", p.iterations, "stream messages per run")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, kMaxMessages));
  app.add_option("--round-trips", p.round_trips,
                 "ping-pong round trips per run [default: min(iterations, 10000)]")
      ->transform(ipclab::cli::count(1, kMaxMessages));
  app.add_option("--mechanisms", mechanisms,
                 "comma-separated, in report order [default: pipe,fifo,uds,posix_mq,sysv_mq,"
                 "shm_sem]; a mechanism named here whose limit is below --msg-size is an error, "
                 "one left implicit is skipped with a note")
      ->delimiter(',');
  app.add_option("--runs", p.runs, "rounds; medians and spreads are over these")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, 1000));
  app.add_option("--warmup", p.warmup,
                 "untimed messages before the stream, and round trips before the ping-pong")
      ->capture_default_str()
      ->transform(ipclab::cli::count(0, kMaxMessages));
  app.add_option("--pin", pin,
                 "pin the two sides: cross (two CPUs), same (one CPU) or none; --pin alone "
                 "means cross (the =cross above), no --pin means none")
      ->expected(0, 1)
      ->default_str("cross")
      ->check(CLI::IsMember({"none", "same", "cross"}));
  app.add_option("--format", format, "table, csv or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "csv", "json"}));
  app.add_option("--timeout", timeout_s,
                 "seconds a run may make no progress before it fails (a lost message, a side "
                 "blocked forever)")
      ->capture_default_str()
      ->transform(ipclab::cli::seconds(1ms, 24h));

  return ipclab::run_main(app, argc, argv, [&] {
    for (const auto& name : mechanisms) {
      const auto m = ipclab::lab06::parse_mechanism(name);
      if (!m)
        throw ipclab::UsageError(fmt::format(
            "--mechanisms: unknown mechanism \"{}\" (known: pipe, fifo, uds, posix_mq, sysv_mq, "
            "shm_sem)",
            name));
      bool seen = false;
      for (Mechanism x : p.mechanisms) seen = seen || x == *m;
      if (!seen) p.mechanisms.push_back(*m);
    }
    p.mechanisms_explicit = !p.mechanisms.empty();
    p.pin = ipclab::bench::parse_pin(pin);
    p.stall_timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
    p.progress = ::isatty(2) == 1 && format == "table";

    const auto plan = ipclab::lab06::make_plan(p);
    ipclab::ShutdownSignals shutdown;  // Ctrl-C: stop, kill both sides, remove every object
    const auto report = ipclab::lab06::run_benchmark(p, plan, shutdown);
    const std::string text = format == "csv"    ? ipclab::lab06::format_csv(report)
                             : format == "json" ? ipclab::lab06::format_json(report)
                                                : ipclab::lab06::format_table(report);
    fmt::print("{}", text);
    return ipclab::kExitOk;
  });
}
