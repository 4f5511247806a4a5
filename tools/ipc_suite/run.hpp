// ipc_suite's driver: one benchmark cell (a mechanism at a message size) and one stress run,
// each in forked processes around a link, every message verified.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t, std::int64_t
#include <string>   // std::string
#include <vector>   // std::vector

#include "ipclab/bench.hpp"  // bench::Placement
#include "ipclab/error.hpp"  // OperationFailed
#include "transport.hpp"

namespace ipclab {
class ShutdownSignals;
}

namespace ipclab::suite {

/// How long each phase of a cell runs (docs/benchmarking.md: a stream for throughput, then
/// ping-pong for latency), each after a short untimed warm-up.
struct Timing {
  double stream_s = 0.2;
  double pingpong_s = 0.1;
  std::uint64_t max_stream = 2'000'000;  ///< messages
  std::uint64_t max_round_trips = 200'000;
  std::uint64_t warmup = 64;            ///< untimed messages, then untimed round trips
  std::uint64_t min_round_trips = 100;  ///< timed, whatever the time (a p99 needs them)
};

struct CellResult {
  double msgs_per_s = 0;
  double bytes_per_s = 0;
  double p50_ns = 0, p99_ns = 0;
  std::uint64_t verified = 0;  ///< messages checked (both directions)
};

/// Runs one cell: the supervisor (this process) sets the link up, forks A and B (pinned as
/// `place` says), waits for both and tears the link down. Throws OperationFailed naming the
/// mechanism and the message when a check fails, a side fails, or nothing moves for 15 s;
/// Interrupted on SIGINT/SIGTERM (after the teardown).
CellResult run_cell(Adapter& adapter, std::size_t msg_size, const Timing& timing,
                    const bench::Placement& place, const ShutdownSignals& shutdown);

struct StressResult {
  int producers = 0;
  std::vector<std::uint64_t> sent;  ///< per producer
  std::uint64_t verified = 0;
};

/// `producers` processes stream verified messages to one consumer for `seconds`. Throws
/// OperationFailed naming the first lost, duplicated or corrupted message.
StressResult run_stress(Adapter& adapter, int producers, double seconds, std::size_t msg_size,
                        const ShutdownSignals& shutdown);

/// SIGINT or SIGTERM arrived: everything was torn down. what(): "interrupted by SIGINT".
class Interrupted : public OperationFailed {
 public:
  using OperationFailed::OperationFailed;
};

}  // namespace ipclab::suite
