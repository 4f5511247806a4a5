// Lab 19 — the IPC toolkit demo: one parent↔child exchange over a pipe, POSIX shared memory
// with semaphores, or a Unix socketpair, verified by checksum; and a small benchmark of the
// three. You write src/demo.cpp (the exchange) and src/bench.cpp (the benchmark).
#pragma once

#include <cstddef>      // std::size_t, std::byte
#include <cstdint>      // std::uint64_t, std::int64_t
#include <cstdio>       // FILE
#include <span>         // std::span
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

namespace ipclab::lab19 {

enum class Mechanism { kPipe, kShm, kSock };

/// "pipe", "shm", "sock".
constexpr std::string_view mechanism_name(Mechanism m) {
  return m == Mechanism::kPipe ? "pipe" : m == Mechanism::kShm ? "shm" : "sock";
}

/// The largest --size ipc_demo accepts (64 MiB).
inline constexpr std::int64_t kMaxDemoSize = std::int64_t{64} << 20;

/// Deterministic test bytes: xorshift64* from `seed`, 8 bytes at a time (given).
inline void fill_payload(std::span<std::byte> buf, std::uint64_t seed) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::size_t i = 0; i < buf.size(); ++i) {
    if (i % 8 == 0) {
      x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    }
    buf[i] = static_cast<std::byte>((x * 0x2545F4914F6CDD1DULL) >> (8 * (i % 8)));
  }
}

/// A 64-bit checksum over 64-bit words (FNV-1a style, then the tail bytes): cheap enough
/// that it costs every transport the same and does not hide the transport (given).
inline std::uint64_t checksum(std::span<const std::byte> buf) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  std::size_t i = 0;
  for (; i + 8 <= buf.size(); i += 8) {
    std::uint64_t w = 0;
    for (std::size_t k = 0; k < 8; ++k) w |= std::uint64_t(buf[i + k]) << (8 * k);
    h = (h ^ w) * 0x100000001b3ULL;
  }
  for (; i < buf.size(); ++i) h = (h ^ std::uint64_t(buf[i])) * 0x100000001b3ULL;
  return h;
}

/**
 * @brief One verified parent↔child exchange of `size` bytes over `m`.
 *
 * The parent (writer) makes the channel — two pipes; or a POSIX shm object named
 * names::posix("ipc_demo.<pid>") holding process-shared semaphores; or a socketpair —
 * forks the child (reader), sends a header (size and checksum) and `size` bytes of
 * fill_payload(seed), and prints `writer: wrote N bytes`. Only then does the child print
 * its verdict, `reader: checksum OK` (or `reader: checksum mismatch ...`, exit 1), and
 * send its checksum back, which the parent compares with its own. So the output is
 * exactly these two lines, in this order. Every wait has a deadline (a dead peer is an
 * error, not a hang); the child is always reaped and the shm object always unlinked.
 *
 * @param out  where both processes print (flushed before fork and after each line)
 * @return 0 if both sides verified, 1 otherwise
 * @throws ipclab::UsageError `size must be > 0` for size <= 0, `size must be <= 67108864`
 *         above kMaxDemoSize (checked before anything is created)
 * @throws ipclab::SysError if a system call fails
 *
 * TODO(lab19): implement in src/demo.cpp.
 */
int run_demo(Mechanism m, std::int64_t size, std::uint64_t seed, std::FILE* out);

struct BenchOptions {
  std::uint64_t seed = 42;
  int max_rounds = 5;     ///< rounds, each running the three mechanisms in turn
  double budget_s = 2.0;  ///< no new round starts after this (at least one runs)
  int pings = 1000;       ///< ping-pongs per mechanism and round (latency)
  std::size_t ping_bytes = 64;
  std::size_t stream_bytes = 16u << 20;  ///< one-way stream per mechanism and round
  std::size_t chunk_bytes = 64u << 10;   ///< message size of the stream
  /// The test hook (IPCLAB_BENCH_CORRUPT=N, read by the given program): the sender damages
  /// message N of every session after stamping it, so the receiver's check must fail. A
  /// session's messages are numbered pings first (0 .. pings-1), then the stream's. -1: off.
  std::int64_t corrupt = -1;
};

struct BenchRow {
  std::string name;  ///< "pipe", "shm+sem", "socketpair"
  /// Every round trip measured (ns), all rounds' samples pooled; rtt_p50_us and rtt_p99_us
  /// are their nearest-rank 50th and 99th percentiles (ipclab::Samples::percentile) / 1e3.
  std::vector<double> rtt_ns;
  double rtt_p50_us = 0;
  double rtt_p99_us = 0;
  double mb_per_s = 0;            ///< throughput, median over rounds (MB = 1e6 bytes)
  double mb_min = 0, mb_max = 0;  ///< its spread over rounds
  double msgs_per_s = 0;          ///< stream messages per second (median)
  double ratio_vs_pipe = 1;       ///< median over rounds of this/pipe throughput
  std::uint64_t verified = 0;     ///< messages whose sequence and checksum were checked
};

struct BenchResult {
  std::vector<BenchRow> rows;  ///< pipe, shm+sem, socketpair, in that order
  int rounds = 0;
  double seconds = 0;
};

/**
 * @brief Measures the three mechanisms parent↔child, interleaved round by round: latency
 * from ping-pong (each ping and its echo verified), throughput from a one-way stream of
 * chunk_bytes messages, each carrying a sequence number and checksum the child verifies.
 * No new round starts once budget_s has passed (the first always runs).
 * @throws ipclab::UsageError before anything starts if the options cannot work: max_rounds
 *         or pings < 1, ping_bytes or chunk_bytes too small for a message's sequence number
 *         and checksum (< 24 bytes: 8 each and a payload of at least one 64-bit word),
 *         stream_bytes < chunk_bytes
 * @throws ipclab::OperationFailed `MECH: verification failed: ...` if any message (a ping,
 *         its echo or a stream message) fails verification, e.g. the one opts.corrupt damaged
 *
 * TODO(lab19): implement in src/bench.cpp.
 */
BenchResult run_bench(const BenchOptions& opts);

}  // namespace ipclab::lab19
