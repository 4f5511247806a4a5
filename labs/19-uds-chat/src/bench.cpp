// Lab 19 reference: `ipc_demo bench` (see demo.hpp, run_bench).
//
// Method (docs/benchmarking.md, scaled down to stay under a few seconds): the three mechanisms run
// in turn within each round (interleaved, so a noisy moment hurts all of them alike); a fresh child
// per mechanism and round; latency from ping-pong (each ping and its echo carry a sequence number
// and checksum, checked on arrival); throughput from a one-way stream of chunk_bytes messages, each
// verified by the child, which reports back how many passed. The clock stops only when that report
// arrives, so nothing is counted before it is delivered and checked. The test hook
// (BenchOptions::corrupt) damages one message on purpose: its receiver must catch it.
#include <signal.h>  // kill, SIGKILL
#include <unistd.h>  // fork, _exit

#include <algorithm>  // std::max
#include <cstring>    // std::memcpy
#include <utility>    // std::move
#include <vector>     // std::vector

#include <fmt/core.h>  // fmt::format

#include "ipclab/clock.hpp"    // Stopwatch, now_ns
#include "ipclab/error.hpp"    // OperationFailed, throw_errno
#include "ipclab/process.hpp"  // wait_for
#include "ipclab/stats.hpp"    // Samples
#include "lab19/channel.hpp"
#include "lab19/demo.hpp"

namespace ipclab::lab19 {
namespace {

struct MsgHeader {
  std::uint64_t seq;
  std::uint64_t sum;  // checksum of the payload that follows
};
struct Summary {
  std::uint64_t verified;
  std::uint64_t failed;
};
constexpr std::size_t kHdr = sizeof(MsgHeader);

/// Stamps `seq` into the header and the payload's first word, and checksums the payload.
void stamp(std::vector<std::byte>& msg, std::uint64_t seq) {
  std::memcpy(msg.data() + kHdr, &seq, sizeof seq);
  const MsgHeader h{seq, checksum(std::span(msg).subspan(kHdr))};
  std::memcpy(msg.data(), &h, kHdr);
}

bool verify(const std::vector<std::byte>& msg, std::uint64_t seq) {
  MsgHeader h{};
  std::uint64_t first = 0;
  std::memcpy(&h, msg.data(), kHdr);
  std::memcpy(&first, msg.data() + kHdr, sizeof first);
  return h.seq == seq && first == seq && h.sum == checksum(std::span(msg).subspan(kHdr));
}

/// The test hook: flips one bit of the payload's last byte (twice restores it).
void damage(std::vector<std::byte>& msg) { msg.back() ^= std::byte{0x10}; }

/// The child: verify and echo every ping, verify every stream message, report.
int child_session(Channel& ch, const BenchOptions& o) {
  std::vector<std::byte> ping(o.ping_bytes), chunk(o.chunk_bytes);
  Summary s{0, 0};
  for (int k = 0; k < o.pings; ++k) {
    ch.recv(ping.data(), ping.size());
    if (!verify(ping, static_cast<std::uint64_t>(k))) ++s.failed;
    ch.send(ping.data(), ping.size());  // as received: the parent checks the echo too
  }
  const std::size_t msgs = o.stream_bytes / o.chunk_bytes;
  for (std::size_t k = 0; k < msgs; ++k) {
    ch.recv(chunk.data(), chunk.size());
    ++(verify(chunk, k) ? s.verified : s.failed);
  }
  ch.send(&s, sizeof s);
  return s.failed == 0 ? 0 : 1;
}

struct SessionResult {
  std::vector<double> rtt_ns;
  double bytes_per_s = 0;
  double msgs_per_s = 0;
  std::uint64_t verified = 0;
};

SessionResult parent_session(Channel& ch, const BenchOptions& o, std::uint64_t round_seed) {
  SessionResult r;
  std::vector<std::byte> ping(o.ping_bytes), echo(o.ping_bytes), chunk(o.chunk_bytes);
  fill_payload(ping, round_seed);
  fill_payload(chunk, round_seed + 1);
  const char* name = mechanism_name(ch.mechanism()).data();
  for (int k = 0; k < o.pings; ++k) {
    stamp(ping, static_cast<std::uint64_t>(k));
    const bool hit = o.corrupt == k;
    if (hit) damage(ping);
    const std::int64_t t0 = now_ns();
    ch.send(ping.data(), ping.size());
    ch.recv(echo.data(), echo.size());
    r.rtt_ns.push_back(static_cast<double>(now_ns() - t0));
    if (echo != ping || !verify(echo, static_cast<std::uint64_t>(k)))
      throw OperationFailed(
          fmt::format("{}: verification failed: ping {} came back damaged", name, k));
    if (hit) damage(ping);
  }
  r.verified += static_cast<std::uint64_t>(o.pings);
  const std::size_t msgs = o.stream_bytes / o.chunk_bytes;
  const std::int64_t t0 = now_ns();
  for (std::size_t k = 0; k < msgs; ++k) {
    stamp(chunk, k);
    const bool hit = o.corrupt == o.pings + static_cast<std::int64_t>(k);
    if (hit) damage(chunk);
    ch.send(chunk.data(), chunk.size());
    if (hit) damage(chunk);
  }
  Summary s{};
  ch.recv(&s, sizeof s);
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  if (s.failed != 0 || s.verified != msgs)
    throw OperationFailed(fmt::format("{}: verification failed: {} of {} stream messages", name,
                                      msgs - s.verified, msgs));
  r.verified += s.verified;
  r.bytes_per_s = static_cast<double>(msgs * o.chunk_bytes) / secs;
  r.msgs_per_s = static_cast<double>(msgs) / secs;
  return r;
}

SessionResult session(Mechanism m, const BenchOptions& o, std::uint64_t round_seed) {
  Channel ch = Channel::make(m);
  (void)std::fflush(stdout);
  (void)std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    int status = 1;
    try {
      ch.become_child();
      status = child_session(ch, o);
    } catch (...) {  // the parent reports what went wrong
    }
    ::_exit(status);
  }
  try {
    ch.become_parent();
    SessionResult r = parent_session(ch, o, round_seed);
    const WaitStatus st = wait_for(pid);
    if (st.exit_code() != 0)
      throw OperationFailed(fmt::format("{}: the child {}", mechanism_name(m), st.describe()));
    return r;
  } catch (...) {
    ::kill(pid, SIGKILL);
    (void)wait_for(pid);
    throw;
  }
}

double median(const std::vector<double>& v) {
  Samples s;
  for (double x : v) s.add(x);
  return s.median();
}

}  // namespace

BenchResult run_bench(const BenchOptions& o) {
  if (o.ping_bytes < kHdr + 8 || o.chunk_bytes < kHdr + 8 || o.stream_bytes < o.chunk_bytes ||
      o.pings < 1 || o.max_rounds < 1)
    throw UsageError("bench: sizes too small");
  constexpr Mechanism kOrder[] = {Mechanism::kPipe, Mechanism::kShm, Mechanism::kSock};
  constexpr const char* kNames[] = {"pipe", "shm+sem", "socketpair"};
  std::vector<double> rtt[3], bps[3], mps[3], ratio[3];
  std::uint64_t verified[3] = {0, 0, 0};
  Stopwatch clock;
  BenchResult result;
  for (int round = 0; round < o.max_rounds; ++round) {
    if (round > 0 && clock.elapsed_s() > o.budget_s) break;
    double round_bps[3] = {};
    for (int i = 0; i < 3; ++i) {
      const auto r = session(kOrder[i], o, o.seed * 1000 + static_cast<std::uint64_t>(round));
      rtt[i].insert(rtt[i].end(), r.rtt_ns.begin(), r.rtt_ns.end());
      bps[i].push_back(r.bytes_per_s);
      mps[i].push_back(r.msgs_per_s);
      verified[i] += r.verified;
      round_bps[i] = r.bytes_per_s;
    }
    for (int i = 0; i < 3; ++i) ratio[i].push_back(round_bps[i] / round_bps[0]);
    result.rounds = round + 1;
  }
  for (int i = 0; i < 3; ++i) {
    BenchRow row;
    row.name = kNames[i];
    Samples round_trips;
    for (const double x : rtt[i]) round_trips.add(x);
    row.rtt_p50_us = round_trips.percentile(50) / 1e3;
    row.rtt_p99_us = round_trips.percentile(99) / 1e3;
    row.rtt_ns = std::move(rtt[i]);
    row.mb_per_s = median(bps[i]) / 1e6;
    row.mb_min = *std::min_element(bps[i].begin(), bps[i].end()) / 1e6;
    row.mb_max = *std::max_element(bps[i].begin(), bps[i].end()) / 1e6;
    row.msgs_per_s = median(mps[i]);
    row.ratio_vs_pipe = median(ratio[i]);
    row.verified = verified[i];
    result.rows.push_back(row);
  }
  result.seconds = clock.elapsed_s();
  return result;
}

}  // namespace ipclab::lab19
