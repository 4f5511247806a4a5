// ipc_suite's output: see report.hpp.
#include "report.hpp"

#include <sys/stat.h>     // mkdir
#include <sys/utsname.h>  // uname
#include <unistd.h>       // sysconf

#include <algorithm>  // std::max, std::find
#include <array>      // std::array
#include <cerrno>     // errno
#include <fstream>    // std::ofstream
#include <map>        // std::map
#include <sstream>    // std::istringstream

#include <fmt/core.h>

#include "ipclab/error.hpp"    // OperationFailed, throw_errno
#include "ipclab/io.hpp"       // read_file
#include "ipclab/json.hpp"     // json_string, json_number
#include "ipclab/process.hpp"  // spawn, wait_for

namespace ipclab::suite {
namespace {

bool ran(const Row& row) { return row.result.skipped.empty() && !row.result.ops_per_s.empty(); }

/// The row of `mech` at `size`, if it ran.
const Row* find(const Results& r, std::string_view mech, std::size_t size) {
  for (const Row& row : r.rows)
    if (row.mechanism == mech && row.msg_size == size && ran(row)) return &row;
  return nullptr;
}

std::string size_text(std::size_t n) {
  constexpr std::size_t kKiB = 1024, kMiB = kKiB * kKiB;
  if (n >= kMiB && n % kMiB == 0) return fmt::format("{} MiB", n / kMiB);
  if (n >= kKiB && n % kKiB == 0) return fmt::format("{} KiB", n / kKiB);
  return fmt::format("{} B", n);
}

std::string ns_text(double ns) {
  if (ns >= 1e6) return fmt::format("{:.3g} ms", ns / 1e6);
  if (ns >= 1e3) return fmt::format("{:.3g} us", ns / 1e3);
  return fmt::format("{:.3g} ns", ns);
}

std::string rate_text(double bytes_per_s) {
  if (bytes_per_s >= 1e9) return fmt::format("{:.3g} GB/s", bytes_per_s / 1e9);
  return fmt::format("{:.3g} MB/s", bytes_per_s / 1e6);
}

std::string ratio_text(const Results& r, const Row& row, std::string_view base) {
  const Row* b = find(r, base, row.msg_size);
  if (b == nullptr) return "-";
  return fmt::format("{:.2f}", bench::ratio(row.result, b->result));
}

std::string cell_name(const Row& row) { return fmt::format("{}:{}", row.mechanism, row.msg_size); }

/// The best row at each size by `better`, e.g. "spsc at 64 B (x), shm_ring at 64 KiB (y)".
template <typename Key, typename Say>
std::string best_per_size(const Results& r, const std::vector<const Row*>& pool, Key key, Say say) {
  std::vector<std::string> parts;
  for (std::size_t size : r.sizes) {
    const Row* best = nullptr;
    for (const Row* row : pool)
      if (row->msg_size == size && (best == nullptr || key(*row) > key(*best))) best = row;
    if (best != nullptr)
      parts.push_back(fmt::format("{} at {} ({})", best->mechanism, size_text(size), say(*best)));
  }
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : "") + parts[i];
  return out.empty() ? "(nothing ran)" : out;
}

}  // namespace

std::string format_table(const Results& r) {
  std::string out = fmt::format(
      "ipc_suite benchmark: {} runs{}, interleaved; pin: {}\n"
      "throughput: a one-way stream; latency: ping-pong round trips; every message verified\n"
      "(sequence number + checksum). Medians over runs; x pipe, x tcp: median of same-round "
      "ratios.\n\n",
      r.runs, r.quick ? " (--quick)" : "", r.placement);
  std::size_t w = 9;
  for (const Row& row : r.rows) w = std::max(w, row.mechanism.size());
  out += fmt::format("{:<{}} {:>7} {:>9} {:<15} {:>10} {:>9} {:>9} {:>7} {:>7} {:>9}\n",
                     "mechanism", w, "size", "msg/s", "(min-max)", "throughput", "p50", "p99",
                     "x pipe", "x tcp", "verified");
  for (const Row& row : r.rows) {
    if (!ran(row)) {
      out += fmt::format("{:<{}} {:>7} skipped: {}\n", row.mechanism, w,
                         row.msg_size ? std::to_string(row.msg_size) : "-", row.result.skipped);
      continue;
    }
    const bench::Summary s = bench::summarize(row.result);
    out += fmt::format("{:<{}} {:>7} {:>9} {:<15} {:>10} {:>9} {:>9} {:>7} {:>7} {:>9}\n",
                       row.mechanism, w, row.msg_size, bench::si(s.ops_per_s),
                       "(" + bench::si(s.ops_min) + "-" + bench::si(s.ops_max) + ")",
                       rate_text(s.bytes_per_s), ns_text(s.p50_ns), ns_text(s.p99_ns),
                       ratio_text(r, row, "pipe"), ratio_text(r, row, "tcp"),
                       bench::si(static_cast<double>(row.verified)));
  }
  return out;
}

std::string format_csv(const Results& r) {
  std::string out =
      "mechanism,msg_size,throughput_msgs,throughput_bytes,p50_ns,p99_ns,runs,verified\n";
  for (const Row& row : r.rows) {
    if (!ran(row)) continue;  // skipped rows: in the table and the JSON, with the reason
    const bench::Summary s = bench::summarize(row.result);
    out += fmt::format("{},{},{:.1f},{:.1f},{:.0f},{:.0f},{},{}\n", bench::csv_field(row.mechanism),
                       row.msg_size, s.ops_per_s, s.bytes_per_s, s.p50_ns, s.p99_ns, s.runs,
                       row.verified);
  }
  return out;
}

std::string format_json(const Results& r) {
  std::string sizes;
  for (std::size_t s : r.sizes) sizes += (sizes.empty() ? "" : ", ") + std::to_string(s);
  std::string out = fmt::format(
      "{{\"benchmark\": \"ipc_suite\", \"params\": {{\"sizes\": [{}], \"runs\": {}, \"quick\": {}, "
      "\"pin\": {}}}, \"results\": [",
      sizes, r.runs, r.quick ? "true" : "false", json_string(r.placement));
  bool first = true;
  for (const Row& row : r.rows) {
    out += first ? "" : ", ";
    first = false;
    out += fmt::format("{{\"name\": {}, \"mechanism\": {}, \"msg_size\": {}",
                       json_string(cell_name(row)), json_string(row.mechanism), row.msg_size);
    if (!ran(row)) {
      out += fmt::format(", \"skipped\": {}}}", json_string(row.result.skipped));
      continue;
    }
    const bench::Summary s = bench::summarize(row.result);
    out += fmt::format(
        ", \"ops_per_s\": {}, \"bytes_per_s\": {}, \"p50_ns\": {}, \"p99_ns\": {}, "
        "\"ops_per_s_min\": {}, \"ops_per_s_max\": {}, \"runs\": {}, \"verified\": {}}}",
        json_number(s.ops_per_s), json_number(s.bytes_per_s), json_number(s.p50_ns),
        json_number(s.p99_ns), json_number(s.ops_min), json_number(s.ops_max), s.runs,
        row.verified);
  }
  out += "], \"ratios\": {";
  first = true;
  for (const Row& row : r.rows) {
    if (!ran(row)) continue;
    for (std::string_view base : {"pipe", "tcp"}) {
      const Row* b = find(r, base, row.msg_size);
      if (b == nullptr || b == &row) continue;
      out += fmt::format("{}{}: {}", first ? "" : ", ",
                         json_string(cell_name(row) + "/" + cell_name(*b)),
                         json_number(bench::ratio(row.result, b->result)));
      first = false;
    }
  }
  return out + "}}\n";
}

std::string recommendation(const Results& r) {
  std::vector<const Row*> all, simple;
  for (const Row& row : r.rows) {
    if (!ran(row) || row.caps.request_reply) continue;  // RPC: a call, not a channel
    all.push_back(&row);
    if (row.caps.boundaries && row.caps.kernel_synchronized) simple.push_back(&row);
  }
  auto msgs = [](const Row& row) { return bench::summarize(row.result).ops_per_s; };
  auto fast = [&](const Row& row) {
    const bench::Summary s = bench::summarize(row.result);
    const Row* pipe = find(r, "pipe", row.msg_size);
    return fmt::format(
        "{} msg/s, {}{}", bench::si(s.ops_per_s), rate_text(s.bytes_per_s),
        pipe ? fmt::format(", {:.1f}x pipe", bench::ratio(row.result, pipe->result)) : "");
  };
  auto low = [](const Row& row) { return -bench::summarize(row.result).p50_ns; };
  auto lat = [](const Row& row) {
    const bench::Summary s = bench::summarize(row.result);
    return fmt::format("p50 {}, p99 {}", ns_text(s.p50_ns), ns_text(s.p99_ns));
  };
  return fmt::format(
      "Recommendation:\n"
      "  fastest:        {}\n"
      "  lowest latency: {}\n"
      "  simplest with message boundaries (the kernel keeps each message whole and does the "
      "waiting; no shared-memory protocol to get right):\n"
      "                  {}\n",
      best_per_size(r, all, msgs, fast), best_per_size(r, all, low, lat),
      best_per_size(r, simple, msgs, fast));
}

std::string machine_description() {
  std::string model = "unknown CPU";
  std::istringstream cpuinfo(read_file("/proc/cpuinfo"));
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  utsname u{};
  ::uname(&u);
  return fmt::format("{}, {} cores online ({} usable here), Linux {} ({})", model,
                     ::sysconf(_SC_NPROCESSORS_ONLN), bench::usable_cpus().size(), u.release,
                     u.machine);
}

void write_report(const Results& r, const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir {}", dir);
  // The data: one file per mechanism (size, msg/s, bytes/s, p50, p99), for gnuplot.
  std::map<std::string, std::vector<const Row*>> by_mech;
  std::vector<std::string> order;
  for (const Row& row : r.rows) {
    if (!ran(row)) continue;
    if (!by_mech.contains(row.mechanism)) order.push_back(row.mechanism);
    by_mech[row.mechanism].push_back(&row);
  }
  if (order.empty()) throw OperationFailed("--report: no mechanism ran, nothing to plot");
  const std::string data = dir + "/data";
  if (::mkdir(data.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir {}", data);
  for (const auto& [mech, rows] : by_mech) {
    std::ofstream f(fmt::format("{}/{}.dat", data, mech));
    f << "# msg_size msgs_per_s bytes_per_s p50_ns p99_ns\n";
    for (const Row* row : rows) {
      const bench::Summary s = bench::summarize(row->result);
      f << fmt::format("{} {:.1f} {:.1f} {:.0f} {:.0f}\n", row->msg_size, s.ops_per_s,
                       s.bytes_per_s, s.p50_ns, s.p99_ns);
    }
    if (!f) throw OperationFailed(fmt::format("cannot write {}/{}.dat", data, mech));
  }
  // The plots: log-log, one line per mechanism; solid lines for kernel mechanisms, dashes for
  // the shared-memory ones, so the two families read apart. 14 colours that stay distinct.
  static constexpr std::array<const char*, 14> kColours = {
      "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
      "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#e6ab02", "#66a61e", "#a6761d"};
  std::string plot_tp, plot_p50, plot_p99;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const Row& first = *by_mech[order[i]].front();
    const std::string src = fmt::format("'data/{}.dat'", order[i]);
    const std::string style =
        fmt::format("with linespoints lw 2 ps 1.3 pt {} dt {} lc rgb '{}' title '{}'",
                    4 + (i % 4) * 2 + (i / 7), first.caps.kernel_synchronized ? 1 : 2,
                    kColours[i % kColours.size()], order[i]);
    const char* sep = i ? ", " : "";
    plot_tp += fmt::format("{}{} using 1:($3/1e6) {}", sep, src, style);
    plot_p50 += fmt::format("{}{} using 1:($4/1e3) {}", sep, src, style);
    plot_p99 += fmt::format("{}{} using 1:($5/1e3) {}", sep, src, style);
  }
  std::string xtics;
  for (std::size_t s : r.sizes)
    xtics += fmt::format("{}\"{}\" {}", xtics.empty() ? "" : ", ", size_text(s), s);
  const std::string pin = r.placement.substr(0, r.placement.find(' '));
  const std::string note = fmt::format("{} run{}, medians, pin {}{}", r.runs,
                                       r.runs == 1 ? "" : "s", pin, r.quick ? ", --quick" : "");
  const std::string script = fmt::format(
      "set terminal pngcairo size 1000,600 noenhanced font 'DejaVu Sans,11'\n"
      "set logscale x 2\nset logscale y 10\nset grid xtics ytics lc rgb '#dddddd'\n"
      "set key outside right top\nset xrange [{}:{}]\nset xtics ({})\n"
      "set xlabel 'message size'\n"
      "set output 'throughput.png'\nset title 'Throughput of a one-way stream, MB/s ({})'\n"
      "set ylabel 'MB/s (log scale; higher is better)'\nplot {}\n"
      "set output 'latency_p50.png'\nset title 'Median round trip, ping-pong ({})'\n"
      "set ylabel 'microseconds (log scale; lower is better)'\nplot {}\n"
      "set output 'latency_p99.png'\nset title 'p99 round trip, ping-pong ({})'\n"
      "plot {}\n",
      static_cast<double>(r.sizes.front()) / 1.6, static_cast<double>(r.sizes.back()) * 1.6, xtics,
      note, plot_tp, note, plot_p50, note, plot_p99);
  {
    std::ofstream f(dir + "/plots.gp");
    f << script;
    if (!f) throw OperationFailed(fmt::format("cannot write {}/plots.gp", dir));
  }
  SpawnOptions opts;
  opts.cwd = dir;
  pid_t pid = -1;
  try {
    pid = spawn({"gnuplot", "plots.gp"}, opts);
  } catch (const SysError& e) {
    throw OperationFailed(fmt::format(
        "--report: cannot run gnuplot ({}); tools/install-deps installs it (gnuplot-nox)",
        e.what()));
  }
  const WaitStatus st = wait_for(pid);
  if (!st.exited() || st.exit_code() != 0)
    throw OperationFailed(fmt::format("--report: gnuplot {} on {}/plots.gp", st.describe(), dir));

  // report.md
  std::string md = fmt::format(
      "# IPC mechanisms compared: ipc_suite benchmark\n\n"
      "Machine: {}  \nMethod: {} runs{}, mechanisms interleaved round by round, medians; pin: "
      "{}. Throughput from a one-way stream, latency from ping-pong round trips; every message "
      "carries a sequence number and a checksum that the receiver verifies.\n\n"
      "![throughput](throughput.png)\n\n![median latency](latency_p50.png)\n\n"
      "![p99 latency](latency_p99.png)\n\n"
      "Solid lines: the kernel keeps the messages and does the waiting; dashed: shared memory "
      "with a protocol of the kit's own (lab 06/12/13/14/15).\n\n"
      "## The numbers\n\n```\n{}```\n\n```\n{}```\n\n",
      machine_description(), r.runs, r.quick ? " (--quick: short phases, rough numbers)" : "",
      r.placement, format_table(r), recommendation(r));
  md +=
      "## Trade-offs\n\n"
      "| mechanism | persistence | naming | boundaries | blocking | cross-host |\n"
      "|---|---|---|---|---|---|\n";
  std::vector<std::string> seen;
  for (const Row& row : r.rows) {
    if (std::find(seen.begin(), seen.end(), row.mechanism) != seen.end()) continue;
    seen.push_back(row.mechanism);
    md += fmt::format("| {} | {} | {} | {} | {} | {} |\n", row.mechanism,
                      row.caps.trade_offs.persistence, row.caps.trade_offs.naming,
                      row.caps.boundaries ? "kept" : "byte stream: fixed sizes or framing",
                      row.caps.trade_offs.blocking, row.caps.cross_host ? "yes" : "no");
  }
  md += "\nWhat each row is:\n\n";
  seen.clear();
  for (const Row& row : r.rows) {
    if (std::find(seen.begin(), seen.end(), row.mechanism) != seen.end()) continue;
    seen.push_back(row.mechanism);
    md += fmt::format("- `{}`: {}{}\n", row.mechanism, row.description,
                      row.result.skipped.empty() || !row.result.ops_per_s.empty()
                          ? ""
                          : fmt::format(" (skipped here: {})", row.result.skipped));
  }
  std::ofstream f(dir + "/report.md");
  f << md;
  if (!f) throw OperationFailed(fmt::format("cannot write {}/report.md", dir));
}

}  // namespace ipclab::suite
