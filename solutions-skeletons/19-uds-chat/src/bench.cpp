// Lab 19: `ipc_demo bench`. Read the contract in include/lab19/demo.hpp (run_bench) and
// the README's "Bench" section.
#include <unistd.h>  // fork, _exit

#include "ipclab/clock.hpp"  // Stopwatch, now_ns
#include "ipclab/error.hpp"  // OperationFailed, NotImplemented
#include "ipclab/stats.hpp"  // Samples
#include "lab19/channel.hpp"
#include "lab19/demo.hpp"

namespace ipclab::lab19 {

BenchResult run_bench([[maybe_unused]] const BenchOptions& opts) {
  // TODO(lab19): first refuse options that cannot work (UsageError: see demo.hpp). Then,
  // for each round (until max_rounds, or the budget is spent), for each of
  // pipe, shm, sock in turn: fork a child on a fresh Channel; time `pings` ping-pongs of
  // ping_bytes (each stamped with a sequence number and checksum, verified on both ends),
  // then a one-way stream of stream_bytes in chunk_bytes messages that the child verifies
  // and acknowledges with a count at the end (a failure: kill and reap the child, then
  // throw). Pool the round trips (each row keeps them: rtt_ns) for p50/p99, nearest rank;
  // take the median throughput over rounds and the median of per-round ratios against
  // the pipe.
  throw NotImplemented("TODO(lab19): implement run_bench() in src/bench.cpp");
}

}  // namespace ipclab::lab19
