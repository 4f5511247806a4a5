// ipc_suite: every IPC mechanism the kit implements, behind one transport interface, in one
// verified benchmark and one stress test (docs/ipc_suite.md).
//
//   ipc_suite benchmark --all [--sizes 64,1024,65536] [--runs N] [--quick]
//                       [--format table|csv|json] [--report DIR] [--pin cross|same|none]
//   ipc_suite benchmark --mechanisms pipe,shm_ring ...
//   ipc_suite stress MECH [--producers N] [--seconds S] [--size BYTES]
//   ipc_suite list
#include <unistd.h>  // isatty

#include <algorithm>  // std::find_if, std::sort
#include <cstdio>     // stdout, stderr
#include <sstream>    // std::istringstream

#include "ipclab/bench.hpp"   // bench::place, bench::interleave
#include "ipclab/main.hpp"    // run_main, CLI11, ipclab::cli
#include "ipclab/signal.hpp"  // ShutdownSignals
#include "report.hpp"
#include "run.hpp"
#include "transport.hpp"

namespace {

using namespace ipclab::suite;
using ipclab::UsageError;

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

Adapter& find_adapter(const std::vector<std::unique_ptr<Adapter>>& all, std::string_view name) {
  for (const auto& a : all)
    if (a->name() == name) return *a;
  std::string names;
  for (const auto& a : all) names += (names.empty() ? "" : ", ") + std::string(a->name());
  throw UsageError(fmt::format("no mechanism '{}' (known: {})", name, names));
}

struct BenchOptions {
  bool all = false;
  std::string mechanisms;
  std::string sizes = "64,1024,65536";
  int runs = 5;
  bool quick = false;
  std::string format = "table";
  std::string report;
  std::string pin = "cross";
};

/// The rows: each mechanism at each size it carries (a fixed-size one at its one size), a
/// row saying why at a size it does not carry, or one row saying why it does not run here.
Results plan(const std::vector<Adapter*>& chosen, const std::vector<std::size_t>& sizes) {
  Results r;
  r.sizes = sizes;
  for (Adapter* a : chosen) {
    const Caps caps = a->caps();
    Row base;
    base.mechanism = std::string(a->name());
    base.description = std::string(a->description());
    base.caps = caps;
    base.result.name = base.mechanism;
    if (const std::string why = a->unavailable(); !why.empty()) {
      base.result.skipped = why;
      r.rows.push_back(base);
      continue;
    }
    std::vector<Row> mine;
    const bool fixed = caps.min_size == caps.max_size;
    for (std::size_t s : sizes) {
      Row row = base;
      row.msg_size = s;
      if (s > caps.max_size)
        row.result.skipped =
            fmt::format("{} bytes > its limit {} ({})", s, caps.max_size, caps.limit_source);
      else if (s < caps.min_size)
        row.result.skipped = fmt::format("{} bytes < its {}-byte minimum", s, caps.min_size);
      if (!fixed || row.result.skipped.empty()) mine.push_back(row);
    }
    if (fixed && mine.empty()) {  // shown at the one size it carries
      Row row = base;
      row.msg_size = caps.min_size;
      mine.push_back(row);
    }
    r.rows.insert(r.rows.end(), mine.begin(), mine.end());
  }
  return r;
}

int benchmark(const BenchOptions& o) {
  if (!o.all && o.mechanisms.empty())
    throw UsageError("benchmark: say --all or --mechanisms NAME,... (ipc_suite list names them)");
  const auto format = ipclab::bench::parse_format(o.format);
  const auto place = ipclab::bench::place(ipclab::bench::parse_pin(o.pin));
  std::vector<std::size_t> sizes;
  for (const std::string& s : split(o.sizes))
    sizes.push_back(ipclab::parse_size("--sizes", s, 16, std::size_t{16} << 20));
  if (sizes.empty()) throw UsageError("--sizes: no size given");
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());

  const auto adapters = all_adapters();
  std::vector<Adapter*> chosen;
  if (o.all) {
    for (const auto& a : adapters) chosen.push_back(a.get());
  } else {
    for (const std::string& n : split(o.mechanisms)) chosen.push_back(&find_adapter(adapters, n));
  }
  Results results = plan(chosen, sizes);
  results.runs = o.runs;
  results.quick = o.quick;
  results.placement = place.text;

  Timing timing;
  if (o.quick) timing = Timing{0.02, 0.015, 200'000, 20'000, 16, 50};
  // A fixed-size mechanism (RPC) adds its size to the plot's axis.
  for (const Row& row : results.rows)
    if (row.msg_size != 0 &&
        std::find(results.sizes.begin(), results.sizes.end(), row.msg_size) == results.sizes.end())
      results.sizes.push_back(row.msg_size);
  std::sort(results.sizes.begin(), results.sizes.end());
  std::vector<std::size_t> cells;  // rows that run
  for (std::size_t i = 0; i < results.rows.size(); ++i)
    if (results.rows[i].result.skipped.empty()) cells.push_back(i);

  ipclab::ShutdownSignals shutdown;
  ipclab::ignore_sigpipe();
  const bool progress = ::isatty(2) != 0;
  std::size_t done = 0;
  const std::size_t total = cells.size() * static_cast<std::size_t>(o.runs);
  ipclab::bench::interleave(o.runs, cells.size(), [&](int round, std::size_t k) {
    Row& row = results.rows[cells[k]];
    if (progress)
      fmt::print(stderr, "\r\033[Kround {}/{}: {} at {} bytes ({}/{})", round + 1, o.runs,
                 row.mechanism, row.msg_size, ++done, total);
    Adapter& a = find_adapter(adapters, row.mechanism);
    const CellResult c = run_cell(a, row.msg_size, timing, place, shutdown);
    row.result.record(c.msgs_per_s, c.bytes_per_s, c.p50_ns, c.p99_ns);
    row.verified += c.verified;
  });
  if (progress) fmt::print(stderr, "\r\033[K");

  switch (format) {
    case ipclab::bench::Format::kTable:
      fmt::print("{}\n{}", format_table(results), recommendation(results));
      break;
    case ipclab::bench::Format::kCsv:
      fmt::print("{}", format_csv(results));
      break;
    case ipclab::bench::Format::kJson:
      fmt::print("{}", format_json(results));
      break;
  }
  (void)std::fflush(stdout);
  if (!o.report.empty()) {
    write_report(results, o.report);
    fmt::print(stderr, "report: {}/report.md\n", o.report);
  }
  return 0;
}

int stress(const std::string& mech, int producers, double seconds, std::size_t size) {
  const auto adapters = all_adapters();
  Adapter& a = find_adapter(adapters, mech);
  if (const std::string why = a.unavailable(); !why.empty())
    throw ipclab::OperationFailed(fmt::format("stress {}: cannot run here: {}", mech, why));
  const Caps caps = a.caps();
  std::string note;
  if (producers > 1 && !caps.multi_producer) {
    note = fmt::format(" ({} takes one producer only)", mech);
    producers = 1;
  }
  size = std::clamp(size, caps.min_size, caps.max_size);
  ipclab::ShutdownSignals shutdown;
  ipclab::ignore_sigpipe();
  const StressResult r = run_stress(a, producers, seconds, size, shutdown);
  std::string per;
  for (std::size_t i = 0; i < r.sent.size(); ++i)
    per += fmt::format("{}{}", i ? ", " : "", r.sent[i]);
  fmt::print(
      "stress {}: {} producer(s){}, {} s, {}-byte messages: {} messages verified "
      "(sent per producer: {}); none lost, duplicated or corrupted\n",
      mech, producers, note, seconds, size, r.verified, per);
  return 0;
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{"ipc_suite: every IPC mechanism of the kit in one verified benchmark"};
  app.require_subcommand(1);

  BenchOptions b;
  auto* bench = app.add_subcommand("benchmark", "throughput and latency of every mechanism");
  bench->add_flag("--all", b.all, "every mechanism");
  bench->add_option("--mechanisms", b.mechanisms, "a comma-separated list instead of --all");
  bench->add_option("--sizes", b.sizes, "message sizes, comma-separated (K = 1024)");
  bench->add_option("--runs", b.runs, "rounds, mechanisms interleaved")
      ->transform(ipclab::cli::count(1, 1000));
  bench->add_flag("--quick", b.quick, "short phases: rough numbers in seconds");
  bench->add_option("--format", b.format, "table, csv or json");
  bench->add_option("--report", b.report, "write DIR/report.md with PNG plots");
  bench->add_option("--pin", b.pin, "cross (A and B on two CPUs), same or none");

  std::string mech;
  int producers = 4;
  double seconds = 2;
  std::size_t size = 256;
  auto* st = app.add_subcommand("stress", "several producers, every message verified");
  st->add_option("mechanism", mech, "the mechanism (ipc_suite list)")->required();
  st->add_option("--producers", producers, "producer processes (1 where only one is allowed)")
      ->transform(ipclab::cli::count(1, 64));
  st->add_option("--seconds", seconds, "how long the producers send")
      ->transform(ipclab::cli::seconds(std::chrono::milliseconds(10), std::chrono::hours(24)));
  st->add_option("--size", size, "message size (at most PIPE_BUF for a shared pipe or FIFO)")
      ->transform(ipclab::cli::size(16, 4096));

  auto* list = app.add_subcommand("list", "the mechanisms and what they support");

  return ipclab::run_main(app, argc, argv, [&] {
    if (*bench) return benchmark(b);
    if (*st) return stress(mech, producers, seconds, size);
    (void)list;
    for (const auto& a : all_adapters()) {
      const Caps c = a->caps();
      const std::string why = a->unavailable();
      fmt::print("{:<12} {}; sizes {}..{}{}{}\n", a->name(), a->description(), c.min_size,
                 c.max_size, c.multi_producer ? "; several producers" : "",
                 why.empty() ? "" : "; unavailable: " + why);
    }
    return 0;
  });
}
