// Lab 06 — the benchmark harness (given): plan the runs, fork the two sides of every
// run, supervise them, collect the numbers and print them as a table, CSV or JSON.
//
// Method (docs/benchmarking.md): for each of --runs rounds, every mechanism runs once (the order
// turns by one each round, so no mechanism always goes first). A run is one fresh Transport and two
// fresh processes: after a warm-up, side A streams --iterations messages to B and waits for B's
// acknowledgement (throughput), then makes --round-trips timed round trips (latency histogram).
// Each side verifies every message it receives. The report gives, per mechanism, the median over
// runs, the spread (min-max), and ratios against a baseline as the median of the per-round ratios.
#pragma once

#include <chrono>   // std::chrono::milliseconds
#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <string>   // std::string
#include <vector>   // std::vector

#include "ipclab/bench.hpp"   // bench::Pin
#include "lab06/channel.hpp"  // Mechanism

namespace ipclab {
class ShutdownSignals;
}

namespace ipclab::lab06 {

using Pin = bench::Pin;  // --pin same|cross|none (ipclab/bench.hpp)

struct Params {
  std::size_t msg_size = 1024;
  std::uint64_t iterations = 100000;  ///< stream messages per run
  std::uint64_t round_trips = 0;      ///< ping-pong round trips per run; 0: min(iterations, 10000)
  int runs = 5;
  std::uint64_t warmup =
      1000;  ///< untimed messages before the stream and round trips before ping-pong
  Pin pin = Pin::kNone;
  std::vector<Mechanism> mechanisms;  ///< in report order; empty = all six
  bool mechanisms_explicit = false;   ///< named with --mechanisms: a size over a limit is an error
  std::chrono::milliseconds stall_timeout{
      10'000};            ///< a run that makes no progress this long fails
  bool progress = false;  ///< show progress on stderr
};

/// What will run: the mechanisms whose limit fits, the skipped ones with the reason.
struct Plan {
  std::vector<Mechanism> run;
  struct Skip {
    Mechanism mech;
    std::string reason;
  };
  std::vector<Skip> skipped;
  std::vector<int> cpus;  ///< [A's CPU, B's CPU] when pinned
  std::string pin_text;   ///< "cross (A on CPU 0, B on CPU 1)", "none (the scheduler decides)"
  std::uint64_t round_trips = 0;
};

/// Checks the parameters: UsageError (exit 2) for a size below kMinMessageSize, above the
/// limit of a mechanism named with --mechanisms (the message names limit and source), or
/// above every mechanism's limit; for --pin=cross with fewer than two usable CPUs.
Plan make_plan(const Params& params);

/// One mechanism's numbers, one entry per run (in round order).
struct MechanismRuns {
  Mechanism mech;
  std::string skipped;  ///< non-empty: not run, and why
  std::vector<double> msgs_per_s;
  std::vector<double> rtt_avg_ns, rtt_p50_ns, rtt_p99_ns;
};

struct Report {
  Params params;
  Plan plan;
  std::vector<MechanismRuns> results;     ///< in Params::mechanisms order, skipped ones too
  Mechanism baseline = Mechanism::kPipe;  ///< pipe if it ran, else the first that ran
};

/**
 * @brief Runs the plan. Throws OperationFailed (exit 1) when a message fails
 * verification (naming mechanism, direction and sequence number), a side reports end of
 * file, a run makes no progress for stall_timeout, or a shutdown signal arrives; other
 * exceptions of a side are rethrown with the side's message. Every Transport is destroyed
 * (its objects removed) and every child reaped before this returns or throws.
 *
 * Test hook: IPCLAB_BENCH_CORRUPT=N makes side A flip one bit of its message N (A->B
 * numbering: warm-up messages, then the stream, then the round trips) after filling it,
 * so the receiver must report it.
 */
Report run_benchmark(const Params& params, const Plan& plan, const ShutdownSignals& shutdown);

/// A mechanism's summary over its runs.
struct Summary {
  double msgs_per_s = 0, msgs_per_s_min = 0, msgs_per_s_max = 0;
  double bytes_per_s = 0;
  double rtt_avg_ns = 0, rtt_p50_ns = 0, rtt_p50_min_ns = 0, rtt_p50_max_ns = 0, rtt_p99_ns = 0;
  double ratio = 0;  ///< msg/s against the baseline: the median of the per-round ratios
};
Summary summarize(const Report& report, const MechanismRuns& runs);

/// The course guide's block (title, one row a mechanism, the winner), then the detailed table.
std::string format_table(const Report& report);
std::string format_csv(const Report& report);
std::string format_json(const Report& report);

}  // namespace ipclab::lab06
