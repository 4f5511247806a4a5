// Lab 06, given: the report. Medians over runs, the spread (min-max), ratios as the median
// of per-round ratios; printed as a table (the course guide's block, then one row a
// mechanism), CSV or JSON (docs/benchmarking.md).
#include <algorithm>    // std::max
#include <cstdint>      // std::uint64_t
#include <string>       // std::string, std::to_string
#include <string_view>  // std::string_view

#include <fmt/core.h>

#include "ipclab/bench.hpp"  // si, csv_field, pin_name
#include "ipclab/json.hpp"   // json_string, json_number
#include "ipclab/stats.hpp"  // Samples
#include "lab06/bench.hpp"

namespace ipclab::lab06 {
namespace {

Samples samples_of(const std::vector<double>& v) {
  Samples s;
  for (double x : v) s.add(x);
  return s;
}

const MechanismRuns* find_runs(const Report& r, Mechanism m) {
  for (const auto& x : r.results)
    if (x.mech == m) return &x;
  return nullptr;
}

/// The course guide's name of a mechanism: "Pipe", "Unix Domain Socket", ...
std::string_view guide_name(Mechanism m) {
  switch (m) {
    case Mechanism::kPipe:
      return "Pipe";
    case Mechanism::kFifo:
      return "FIFO";
    case Mechanism::kUds:
      return "Unix Domain Socket";
    case Mechanism::kPosixMq:
      return "POSIX Message Queue";
    case Mechanism::kSysvMq:
      return "System V Message Queue";
    case Mechanism::kShmSem:
      return "Shared Memory + Sem";
  }
  return "?";
}

/// 1024 -> "1KB", 100000 -> "100K": the guide's short numbers, exact or left whole.
std::string short_count(std::uint64_t n, std::uint64_t unit, const char* k, const char* m) {
  if (n >= unit * unit && n % (unit * unit) == 0) return fmt::format("{}{}", n / unit / unit, m);
  if (n >= unit && n % unit == 0) return fmt::format("{}{}", n / unit, k);
  return std::to_string(n);
}

/// The course guide's block: its title, one row a mechanism (throughput, round-trip
/// latency), the winner by throughput. Latencies are round trips (ping-pong), as in the
/// detailed table.
std::string format_guide(const Report& report) {
  const Params& p = report.params;
  std::string out =
      fmt::format("IPC Mechanism Benchmark ({} messages, {} iterations)\n\n",
                  short_count(p.msg_size, 1024, "KB", "MB") + (p.msg_size % 1024 == 0 ? "" : "B"),
                  short_count(p.iterations, 1000, "K", "M"));
  out += fmt::format("{:<24} {:>16} {:>15} {:>15}\n", "Mechanism", "Throughput", "Latency (avg)",
                     "Latency (p99)");
  const MechanismRuns* winner = nullptr;
  double best = 0;
  for (const auto& r : report.results) {
    if (!r.skipped.empty()) {
      out += fmt::format("{:<24} skipped: {}\n", guide_name(r.mech), r.skipped);
      continue;
    }
    const Summary s = summarize(report, r);
    if (winner == nullptr || s.msgs_per_s > best) {
      winner = &r;
      best = s.msgs_per_s;
    }
    out += fmt::format("{:<24} {:>10.0f} msg/s {:>12.2f} μs {:>12.2f} μs\n", guide_name(r.mech),
                       s.msgs_per_s, s.rtt_avg_ns / 1e3, s.rtt_p99_ns / 1e3);
  }
  out += "(latency: a ping-pong round trip)\n\n";
  if (winner != nullptr)
    out += fmt::format("Winner: {} (for raw throughput)\n", guide_name(winner->mech));
  out += "Best simplicity: Unix Domain Socket\n\n";
  return out;
}

}  // namespace

Summary summarize(const Report& report, const MechanismRuns& runs) {
  Summary s;
  if (!runs.skipped.empty() || runs.msgs_per_s.empty()) return s;
  const Samples rate = samples_of(runs.msgs_per_s), p50 = samples_of(runs.rtt_p50_ns);
  s.msgs_per_s = rate.median();
  s.msgs_per_s_min = rate.min();
  s.msgs_per_s_max = rate.max();
  s.bytes_per_s = s.msgs_per_s * static_cast<double>(report.params.msg_size);
  s.rtt_avg_ns = samples_of(runs.rtt_avg_ns).median();
  s.rtt_p50_ns = p50.median();
  s.rtt_p50_min_ns = p50.min();
  s.rtt_p50_max_ns = p50.max();
  s.rtt_p99_ns = samples_of(runs.rtt_p99_ns).median();
  // Same-round ratios hold when absolute numbers drift between rounds (docs/benchmarking.md).
  if (const MechanismRuns* base = find_runs(report, report.baseline)) {
    Samples ratios;
    for (std::size_t i = 0; i < runs.msgs_per_s.size() && i < base->msgs_per_s.size(); ++i)
      if (base->msgs_per_s[i] > 0) ratios.add(runs.msgs_per_s[i] / base->msgs_per_s[i]);
    if (!ratios.empty()) s.ratio = ratios.median();
  }
  return s;
}

std::string format_table(const Report& report) {
  const Params& p = report.params;
  const std::string base(mechanism_name(report.baseline));
  std::string out = format_guide(report);
  out += fmt::format(
      "ipc_benchmark: {}-byte messages; stream: {} messages a run; ping-pong: {} round trips a "
      "run\n"
      "runs: {} (median; spread = min-max over runs); warm-up: {} messages; pinning: {}\n\n",
      p.msg_size, p.iterations, report.plan.round_trips, p.runs, p.warmup, report.plan.pin_text);
  out += fmt::format("{:<10} {:>10}  {:<13} {:>9} {:>9} {:>9} {:>9}  {:<13} {:>8}\n", "Mechanism",
                     "Msg/s", "(min-max)", "MB/s", "Avg(us)", "P50(us)", "P99(us)", "P50 (min-max)",
                     "vs " + base);
  for (const auto& r : report.results) {
    if (!r.skipped.empty()) {
      out += fmt::format("{:<10} skipped: {}\n", mechanism_name(r.mech), r.skipped);
      continue;
    }
    const Summary s = summarize(report, r);
    out += fmt::format(
        "{:<10} {:>10.0f}  {:<13} {:>9.1f} {:>9.2f} {:>9.2f} {:>9.2f}  {:<13} {:>7.2f}x\n",
        mechanism_name(r.mech), s.msgs_per_s,
        bench::si(s.msgs_per_s_min) + "-" + bench::si(s.msgs_per_s_max), s.bytes_per_s / 1e6,
        s.rtt_avg_ns / 1e3, s.rtt_p50_ns / 1e3, s.rtt_p99_ns / 1e3,
        fmt::format("{:.3g}-{:.3g}", s.rtt_p50_min_ns / 1e3, s.rtt_p50_max_ns / 1e3), s.ratio);
  }
  out += fmt::format(
      "\nMsg/s, MB/s (10^6 bytes/s): one-way stream. Avg/P50/P99: ping-pong round trip.\n"
      "vs {}: median of the per-round msg/s ratios. Every message verified (sequence number + "
      "checksum).\n",
      base);
  return out;
}

std::string format_csv(const Report& report) {
  const std::string base(mechanism_name(report.baseline));
  std::string out =
      "mechanism,msg_size,runs,msgs_per_s,msgs_per_s_min,msgs_per_s_max,mb_per_s,rtt_avg_us,"
      "rtt_p50_us,rtt_p50_min_us,rtt_p50_max_us,rtt_p99_us,ratio_vs_" +
      base + ",note\n";
  for (const auto& r : report.results) {
    if (!r.skipped.empty()) {
      out += fmt::format("{},{},0,,,,,,,,,,,{}\n", mechanism_name(r.mech), report.params.msg_size,
                         bench::csv_field("skipped: " + r.skipped));
      continue;
    }
    const Summary s = summarize(report, r);
    out += fmt::format(
        "{},{},{},{:.1f},{:.1f},{:.1f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{:.4f},\n",
        mechanism_name(r.mech), report.params.msg_size, r.msgs_per_s.size(), s.msgs_per_s,
        s.msgs_per_s_min, s.msgs_per_s_max, s.bytes_per_s / 1e6, s.rtt_avg_ns / 1e3,
        s.rtt_p50_ns / 1e3, s.rtt_p50_min_ns / 1e3, s.rtt_p50_max_ns / 1e3, s.rtt_p99_ns / 1e3,
        s.ratio);
  }
  return out;
}

std::string format_json(const Report& report) {
  const Params& p = report.params;
  const std::string base(mechanism_name(report.baseline));
  std::string out = "{\"benchmark\": \"ipc_benchmark\", \"params\": {";
  out += fmt::format(
      "\"msg_size\": {}, \"iterations\": {}, \"round_trips\": {}, \"runs\": {}, \"warmup\": {}, "
      "\"pin\": \"{}\", \"latency\": \"round_trip\", \"baseline\": {}",
      p.msg_size, p.iterations, report.plan.round_trips, p.runs, p.warmup, bench::pin_name(p.pin),
      json_string(base));
  if (!report.plan.cpus.empty())
    out += fmt::format(", \"cpus\": [{}, {}]", report.plan.cpus[0], report.plan.cpus[1]);
  out += "}, \"results\": [";
  std::string ratios;
  bool first = true;
  for (const auto& r : report.results) {
    out += first ? "" : ", ";
    first = false;
    const std::string name = json_string(mechanism_name(r.mech));
    if (!r.skipped.empty()) {  // fields that do not apply are omitted
      out += fmt::format("{{\"name\": {}, \"skipped\": {}}}", name, json_string(r.skipped));
      continue;
    }
    const Summary s = summarize(report, r);
    out += fmt::format(
        "{{\"name\": {}, \"ops_per_s\": {}, \"bytes_per_s\": {}, \"p50_ns\": {}, \"p99_ns\": {}, "
        "\"avg_ns\": {}, \"ops_per_s_min\": {}, \"ops_per_s_max\": {}, \"p50_ns_min\": {}, "
        "\"p50_ns_max\": {}, \"runs\": {}}}",
        name, json_number(s.msgs_per_s), json_number(s.bytes_per_s), json_number(s.rtt_p50_ns),
        json_number(s.rtt_p99_ns), json_number(s.rtt_avg_ns), json_number(s.msgs_per_s_min),
        json_number(s.msgs_per_s_max), json_number(s.rtt_p50_min_ns), json_number(s.rtt_p50_max_ns),
        r.msgs_per_s.size());
    if (r.mech != report.baseline)
      ratios += fmt::format("{}{}: {}", ratios.empty() ? "" : ", ",
                            json_string(fmt::format("{}/{}", mechanism_name(r.mech), base)),
                            json_number(s.ratio));
  }
  out += "], \"ratios\": {" + ratios + "}}\n";
  return out;
}

}  // namespace ipclab::lab06
