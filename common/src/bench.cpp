// The benchmark method of docs/benchmarking.md: see bench.hpp.
#include "ipclab/bench.hpp"

#include <sched.h>  // sched_getaffinity, sched_setaffinity, CPU_*

#include <charconv>   // std::from_chars
#include <cmath>      // std::isfinite
#include <cstdlib>    // std::getenv
#include <stdexcept>  // std::out_of_range

#include <fmt/core.h>

#include "ipclab/error.hpp"  // UsageError, check_unix
#include "ipclab/json.hpp"   // json_string, json_number
#include "ipclab/stats.hpp"  // Samples

namespace ipclab::bench {
namespace {

double median_of(const std::vector<double>& v) {
  Samples s;
  for (double x : v)
    if (x >= 0) s.add(x);
  return s.empty() ? 0 : s.median();
}

/// Nanoseconds in the unit that keeps three significant figures readable.
std::string duration(double ns) {
  if (ns >= 1e6) return fmt::format("{:.3g} ms", ns / 1e6);
  if (ns >= 1e3) return fmt::format("{:.3g} us", ns / 1e3);
  return fmt::format("{:.3g} ns", ns);
}

bool usable(const Result& r) { return r.skipped.empty() && !r.ops_per_s.empty(); }

const Result* find(const Report& report, std::string_view name) {
  for (const auto& r : report.results)
    if (r.name == name) return &r;
  return nullptr;
}

std::string format_table(const Report& report) {
  std::string out;
  for (const auto& line : report.notes) out += line + "\n";
  if (!report.notes.empty()) out += "\n";
  bool bytes = false, latency = false;
  std::size_t width = 9;
  for (const auto& r : report.results) {
    const Summary s = summarize(r);
    bytes = bytes || s.has_bytes;
    latency = latency || s.has_latency;
    width = std::max(width, r.name.size());
  }
  out += fmt::format("{:<{}} {:>12}  {:<15}", "Contender", width, report.ops_label, "(min-max)");
  if (bytes) out += fmt::format(" {:>10}", "GB/s");
  if (latency) out += fmt::format(" {:>10} {:>10}", "p50", "p99");
  out += "\n";
  for (const auto& r : report.results) {
    if (!r.skipped.empty()) {
      out += fmt::format("{:<{}} skipped: {}\n", r.name, width, r.skipped);
      continue;
    }
    const Summary s = summarize(r);
    out += fmt::format("{:<{}} {:>12}  {:<15}", r.name, width, si(s.ops_per_s),
                       si(s.ops_min) + "-" + si(s.ops_max));
    if (bytes) out += s.has_bytes ? fmt::format(" {:>10.3f}", s.bytes_per_s / 1e9) : "           ";
    if (latency && s.has_latency)
      out += fmt::format(" {:>10} {:>10}", duration(s.p50_ns), duration(s.p99_ns));
    out += "\n";
  }
  bool first = true;
  for (const auto& [a, b] : report.ratios) {
    const Result *ra = find(report, a), *rb = find(report, b);
    if (ra == nullptr || rb == nullptr || !usable(*ra) || !usable(*rb)) continue;
    out += fmt::format("{}{}/{}: {:.2f}x", first ? "\nratios (median of per-round ratios): " : ", ",
                       a, b, ratio(*ra, *rb));
    first = false;
  }
  if (!first) out += "\n";
  return out;
}

std::string format_csv(const Report& report) {
  std::string out =
      "name,runs,ops_per_s,ops_per_s_min,ops_per_s_max,bytes_per_s,p50_ns,p99_ns,note\n";
  for (const auto& r : report.results) {
    if (!r.skipped.empty()) {
      out += fmt::format("{},0,,,,,,,{}\n", csv_field(r.name), csv_field("skipped: " + r.skipped));
      continue;
    }
    const Summary s = summarize(r);
    auto opt = [](bool has, double v) { return has ? fmt::format("{:.1f}", v) : std::string(); };
    out += fmt::format("{},{},{:.1f},{:.1f},{:.1f},{},{},{},\n", csv_field(r.name), s.runs,
                       s.ops_per_s, s.ops_min, s.ops_max, opt(s.has_bytes, s.bytes_per_s),
                       opt(s.has_latency, s.p50_ns), opt(s.has_latency, s.p99_ns));
  }
  return out;
}

std::string format_json(const Report& report) {
  std::string out =
      fmt::format("{{\"benchmark\": {}, \"params\": {{", json_string(report.benchmark));
  bool first = true;
  for (const auto& [name, value] : report.params) {
    out += fmt::format("{}{}: {}", first ? "" : ", ", json_string(name), value);
    first = false;
  }
  out += "}, \"results\": [";
  first = true;
  for (const auto& r : report.results) {
    out += first ? "" : ", ";
    first = false;
    if (!r.skipped.empty()) {  // fields that do not apply are omitted
      out += fmt::format("{{\"name\": {}, \"skipped\": {}}}", json_string(r.name),
                         json_string(r.skipped));
      continue;
    }
    const Summary s = summarize(r);
    out += fmt::format("{{\"name\": {}, \"ops_per_s\": {}", json_string(r.name),
                       json_number(s.ops_per_s));
    if (s.has_bytes) out += fmt::format(", \"bytes_per_s\": {}", json_number(s.bytes_per_s));
    if (s.has_latency)
      out += fmt::format(", \"p50_ns\": {}, \"p99_ns\": {}", json_number(s.p50_ns),
                         json_number(s.p99_ns));
    out += fmt::format(", \"ops_per_s_min\": {}, \"ops_per_s_max\": {}, \"runs\": {}}}",
                       json_number(s.ops_min), json_number(s.ops_max), s.runs);
  }
  out += "], \"ratios\": {";
  first = true;
  for (const auto& [a, b] : report.ratios) {
    const Result *ra = find(report, a), *rb = find(report, b);
    if (ra == nullptr || rb == nullptr || !usable(*ra) || !usable(*rb)) continue;
    out += fmt::format("{}{}: {}", first ? "" : ", ", json_string(fmt::format("{}/{}", a, b)),
                       json_number(ratio(*ra, *rb)));
    first = false;
  }
  return out + "}}\n";
}

}  // namespace

std::string si(double v) {
  if (v >= 1e9) return fmt::format("{:.3g}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.3g}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.3g}k", v / 1e3);
  return fmt::format("{:.3g}", v);
}

std::string millions(std::uint64_t n) {
  if (n < 1'000'000) return std::to_string(n);
  return fmt::format("{:g} million", static_cast<double>(n) / 1e6);
}

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

Format parse_format(std::string_view text) {
  if (text == "table") return Format::kTable;
  if (text == "csv") return Format::kCsv;
  if (text == "json") return Format::kJson;
  throw UsageError(fmt::format("unknown format '{}' (table, csv or json)", text));
}

Pin parse_pin(std::string_view text) {
  if (text == "none") return Pin::kNone;
  if (text == "same") return Pin::kSame;
  if (text == "cross") return Pin::kCross;
  throw UsageError(fmt::format("unknown pinning '{}' (same, cross or none)", text));
}

std::string_view pin_name(Pin pin) {
  switch (pin) {
    case Pin::kNone:
      return "none";
    case Pin::kSame:
      return "same";
    case Pin::kCross:
      return "cross";
  }
  return "?";
}

std::int64_t corrupt_hook() {
  const char* v = std::getenv("IPCLAB_BENCH_CORRUPT");
  if (v == nullptr || *v == '\0') return -1;
  const std::string_view text(v);
  std::int64_t n = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  return ec == std::errc() && end == text.data() + text.size() ? n : -1;
}

std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  check_unix(::sched_getaffinity(0, sizeof set, &set), "sched_getaffinity");
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

Placement place(Pin pin) {
  Placement p;
  p.pin = pin;
  const std::vector<int> cpus = usable_cpus();
  switch (pin) {
    case Pin::kNone:
      p.text = "none (the scheduler places both sides)";
      break;
    case Pin::kSame:
      p.cpus = {cpus.front(), cpus.front()};
      p.text = fmt::format("same (A and B on CPU {})", cpus.front());
      break;
    case Pin::kCross:
      if (cpus.size() < 2)
        throw UsageError(fmt::format("--pin=cross needs two CPUs; this process may use only CPU {}",
                                     cpus.front()));
      p.cpus = {cpus[0], cpus[1]};
      p.text = fmt::format("cross (A on CPU {}, B on CPU {})", cpus[0], cpus[1]);
      break;
  }
  return p;
}

void pin_this_thread(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  // sched_setaffinity(0, ...) applies to the calling thread on Linux.
  check_unix(::sched_setaffinity(0, sizeof set, &set), "sched_setaffinity(CPU {})", cpu);
}

void Result::record(double ops, double bytes, double p50, double p99) {
  ops_per_s.push_back(ops);
  bytes_per_s.push_back(bytes);
  p50_ns.push_back(p50);
  p99_ns.push_back(p99);
}

Summary summarize(const Result& r) {
  Summary s;
  if (r.ops_per_s.empty()) return s;
  Samples ops;
  for (double x : r.ops_per_s) ops.add(x);
  s.runs = ops.count();
  s.ops_per_s = ops.median();
  s.ops_min = ops.min();
  s.ops_max = ops.max();
  for (double x : r.bytes_per_s) s.has_bytes = s.has_bytes || x >= 0;
  for (double x : r.p50_ns) s.has_latency = s.has_latency || x >= 0;
  s.bytes_per_s = median_of(r.bytes_per_s);
  s.p50_ns = median_of(r.p50_ns);
  s.p99_ns = median_of(r.p99_ns);
  return s;
}

double ratio(const Result& a, const Result& b) {
  Samples ratios;
  for (std::size_t i = 0; i < a.ops_per_s.size() && i < b.ops_per_s.size(); ++i)
    if (b.ops_per_s[i] > 0 && std::isfinite(a.ops_per_s[i]))
      ratios.add(a.ops_per_s[i] / b.ops_per_s[i]);
  return ratios.empty() ? 0 : ratios.median();
}

void Report::param(std::string name, std::string json_value) {
  params.emplace_back(std::move(name), std::move(json_value));
}

void Report::note(std::string line) { notes.push_back(std::move(line)); }

Result& Report::add(std::string name) {
  results.push_back(Result{});
  results.back().name = std::move(name);
  return results.back();
}

Result& Report::at(std::string_view name) {
  for (auto& r : results)
    if (r.name == name) return r;
  throw std::out_of_range(fmt::format("no contender named '{}'", name));
}

const Result& Report::at(std::string_view name) const {
  const Result* r = find(*this, name);
  if (r == nullptr) throw std::out_of_range(fmt::format("no contender named '{}'", name));
  return *r;
}

void Report::ratio(std::string a, std::string b) {
  ratios.emplace_back(std::move(a), std::move(b));
}

std::string format(const Report& report, Format format) {
  switch (format) {
    case Format::kTable:
      return format_table(report);
    case Format::kCsv:
      return format_csv(report);
    case Format::kJson:
      return format_json(report);
  }
  return {};
}

void interleave(int runs, std::size_t contenders,
                const std::function<void(int round, std::size_t contender)>& body) {
  for (int round = 0; round < runs; ++round)
    for (std::size_t k = 0; k < contenders; ++k)
      body(round, (k + static_cast<std::size_t>(round)) % contenders);
}

}  // namespace ipclab::bench
