// The benchmark method of docs/benchmarking.md, shared by every measured program (labs 06, 12-15):
// contenders interleaved round by round, medians with their spread, ratios as the median
// of per-round ratios, CPU placement (--pin same|cross|none), and one report printed as a
// table, CSV or JSON (that page's shape). What is measured, and how, stays in the lab.
//
//   bench::Report report{"shm_ring_bench"};
//   report.param("msg_size", json_number(1024));
//   auto& ring = report.add("shm_ring");  auto& pipe = report.add("pipe");
//   bench::interleave(runs, 2, [&](int, std::size_t i) { (i ? pipe : ring).record(...); });
//   report.ratio("shm_ring", "pipe");
//   fmt::print("{}", bench::format(report, bench::parse_format(format_flag)));
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::int64_t
#include <functional>   // std::function
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::pair
#include <vector>       // std::vector

namespace ipclab::bench {

enum class Format { kTable, kCsv, kJson };
/// "table", "csv" or "json"; UsageError (exit 2) for anything else.
Format parse_format(std::string_view text);

enum class Pin { kNone, kSame, kCross };
/// "none", "same" or "cross"; UsageError for anything else.
Pin parse_pin(std::string_view text);
std::string_view pin_name(Pin pin);

/// The CPUs this process may run on (sched_getaffinity), ascending.
std::vector<int> usable_cpus();

/// "1.05M", "987k", "950": three significant figures (tables' spread columns).
std::string si(double v);
/// A count in words, as the course guide writes it: 10000000 -> "10 million", 1500000 ->
/// "1.5 million"; below a million, the number itself.
std::string millions(std::uint64_t n);
/// A CSV field: quoted (with "" for ") when it holds a comma, a quote or a newline.
std::string csv_field(std::string_view s);

/// Where the two sides of a benchmark run: cpus = {side A, side B}, empty for kNone.
struct Placement {
  Pin pin = Pin::kNone;
  std::vector<int> cpus;
  std::string text;  ///< "cross (A on CPU 0, B on CPU 1)", "none (the scheduler places both sides)"
};
/// kSame: both on the first usable CPU; kCross: the first two. UsageError for kCross with
/// fewer than two usable CPUs.
Placement place(Pin pin);

/// Pins the calling thread to `cpu` (a no-op for cpu < 0). Call it in each side: in a
/// child process after fork, or first thing in a thread. Throws SystemError.
void pin_this_thread(int cpu);

/// The test hook every benchmark honours: IPCLAB_BENCH_CORRUPT=N asks it to damage
/// message (or item) N on purpose, to prove that its receiver's check fails loudly.
/// Returns N, or -1 when the variable is unset, empty or not a whole number.
std::int64_t corrupt_hook();

/// One contender's numbers, one entry per round, in round order. A field never recorded
/// (bytes for an 8-byte queue, latency for a throughput-only run) is left out of the
/// report.
struct Result {
  std::string name;
  std::vector<double> ops_per_s, bytes_per_s, p50_ns, p99_ns;
  std::string skipped;  ///< non-empty: not run, and why (shown instead of numbers)

  /// Appends one round: ops/s, bytes/s (< 0: not applicable), p50/p99 in ns (< 0: n/a).
  void record(double ops, double bytes = -1, double p50 = -1, double p99 = -1);
};

/// A contender's summary over its rounds (0 where nothing was recorded).
struct Summary {
  std::size_t runs = 0;
  double ops_per_s = 0, ops_min = 0, ops_max = 0;
  double bytes_per_s = 0;
  double p50_ns = 0, p99_ns = 0;
  bool has_bytes = false, has_latency = false;
};
Summary summarize(const Result& result);

/// The median over rounds of a.ops_per_s[i] / b.ops_per_s[i] (same-round ratios hold when
/// absolute numbers drift; docs/benchmarking.md). 0 when no round has both.
double ratio(const Result& a, const Result& b);

struct Report {
  Report() = default;
  explicit Report(std::string name) : benchmark(std::move(name)) {}

  std::string benchmark;  ///< the program's name: JSON "benchmark"
  /// JSON "params": name and an already-encoded JSON value (json_number/json_string).
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::string> notes;   ///< lines printed above the table (what, how, pinning)
  std::string ops_label = "ops/s";  ///< the table's column title for ops_per_s ("msg/s")
  std::vector<Result> results;      ///< in report order
  std::vector<std::pair<std::string, std::string>> ratios;  ///< {contender, baseline}

  void param(std::string name, std::string json_value);
  void note(std::string line);
  /// Adds a contender. The reference stays valid until the next add().
  Result& add(std::string name);
  /// The contender named `name`; std::out_of_range if none.
  Result& at(std::string_view name);
  const Result& at(std::string_view name) const;
  /// Reports a.ops / b.ops ("a/b" in JSON "ratios"); a or b skipped: left out.
  void ratio(std::string a, std::string b);
};

/// Table (one row a contender, then the ratios), CSV (one row a contender) or JSON
/// (docs/benchmarking.md: {"benchmark", "params", "results": [{name, ops_per_s, bytes_per_s,
/// p50_ns, p99_ns, ops_per_s_min, ops_per_s_max, runs}], "ratios": {"a/b": x}}), ending in '\n'.
std::string format(const Report& report, Format format);

/// Runs `runs` rounds; in round r calls body(r, i) for every contender i in 0..n-1, the
/// order turning by one each round so that no contender always goes first (docs/benchmarking.md).
void interleave(int runs, std::size_t contenders,
                const std::function<void(int round, std::size_t contender)>& body);

}  // namespace ipclab::bench
