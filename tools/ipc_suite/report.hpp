// ipc_suite's output: the comparison table, CSV, JSON (docs/benchmarking.md's shape), the
// Recommendation block, and --report DIR (report.md with gnuplot's PNG plots).
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <string>   // std::string
#include <vector>   // std::vector

#include "ipclab/bench.hpp"  // bench::Result, bench::Format
#include "transport.hpp"     // Caps

namespace ipclab::suite {

/// One mechanism at one message size: its rounds, or why it did not run.
struct Row {
  std::string mechanism;
  std::string description;
  Caps caps;
  std::size_t msg_size = 0;
  bench::Result result;  ///< per round: msg/s, bytes/s, p50, p99; result.skipped: why not
  std::uint64_t verified = 0;
};

struct Results {
  std::vector<Row> rows;  ///< mechanism by mechanism, sizes ascending
  std::vector<std::size_t> sizes;
  int runs = 0;
  bool quick = false;
  std::string placement;  ///< bench::Placement::text
};

std::string format_table(const Results& r);
/// mechanism,msg_size,throughput_msgs,throughput_bytes,p50_ns,p99_ns,runs,verified
std::string format_csv(const Results& r);
std::string format_json(const Results& r);
std::string recommendation(const Results& r);
/// CPU model, cores, kernel: one line.
std::string machine_description();
/// Writes DIR/report.md, DIR/throughput.png, latency_p50.png, latency_p99.png (gnuplot), the data
/// behind them. Throws SysError / OperationFailed (gnuplot missing or failing).
void write_report(const Results& r, const std::string& dir);

}  // namespace ipclab::suite
