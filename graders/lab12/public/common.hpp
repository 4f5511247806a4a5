// Shared by lab 12's public and hidden tests: producer/consumer child processes
// (grader::Child) around a ShmRing, messages that say what they should be, and counters in
// shared memory that the test reads while its children run.
#pragma once

#include <atomic>   // std::atomic
#include <fstream>  // std::ifstream
#include <string>   // std::string
#include <vector>   // std::vector

#include "grader/grader.hpp"
#include "ipclab/error.hpp"      // SysError, UsageError
#include "ipclab/inventory.hpp"  // inventory, describe
#include "ipclab/shm.hpp"        // Mapping
#include "lab12/payload.hpp"
#include "lab12/shm_ring.hpp"

using namespace std::chrono_literals;

namespace lab12_test {

namespace lab = ipclab::lab12;

using lab::ShmRing;
using Status = ShmRing::Status;

/// Message `seq` of a test stream: any size (0 included). From 16 bytes up it is
/// payload.hpp's message (sequence number + checksum); below, a pattern of the seq.
inline void fill(std::span<std::byte> m, std::uint64_t seq) {
  if (m.size() >= lab::kPayloadHeader) return lab::fill_message(m, seq);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<std::byte>(seq * 31 + i * 7 + 1);
}

/// "" if `m` is exactly message `seq` of `size` bytes, else what differs.
inline std::string mismatch(std::span<const std::byte> m, std::uint64_t seq, std::size_t size) {
  if (m.size() != size)
    return fmt::format(
        "message {}: {} bytes delivered, {} sent (a length header read at the "
        "wrong place, or data overwritten before it was read?)",
        seq, m.size(), size);
  if (size >= lab::kPayloadHeader) {
    const auto why = lab::check_message(m, seq);
    if (why.empty()) return {};
    return fmt::format("message {} ({} bytes): {}; its header says message {}", seq, size, why,
                       lab::message_sequence(m));
  }
  for (std::size_t i = 0; i < size; ++i)
    if (m[i] != static_cast<std::byte>(seq * 31 + i * 7 + 1))
      return fmt::format("message {} ({} bytes): byte {} differs", seq, size, i);
  return {};
}

/// Counters the test and its child processes all see (an anonymous shared mapping):
/// progress(i), how far child i has got; tally(seq), how often message seq arrived.
class SharedCounters {
 public:
  static constexpr int kChildren = 8;
  explicit SharedCounters(std::size_t messages = 0)
      : map_(ipclab::Mapping::anonymous_shared(sizeof(Progress) +
                                               messages * sizeof(std::atomic<std::uint32_t>))),
        progress_(new (map_.data()) Progress{}),
        tally_(reinterpret_cast<std::atomic<std::uint32_t>*>(map_.as<std::byte>() +
                                                             sizeof(Progress))) {}
  std::atomic<std::uint64_t>& progress(int child) const { return progress_->of[child]; }
  std::atomic<std::uint32_t>& tally(std::uint64_t seq) const { return tally_[seq]; }
  /// "a b c d": the progress of the first four children, for a failure message.
  std::string progress_line() const {
    return fmt::format("{} {} {} {}", progress(0).load(), progress(1).load(), progress(2).load(),
                       progress(3).load());
  }

 private:
  struct Progress {
    std::atomic<std::uint64_t> of[kChildren] = {};
  };
  ipclab::Mapping map_;
  Progress* progress_;
  std::atomic<std::uint32_t>* tally_;
};

/// Streams `n` messages of sizes message_size(seed, seq, lo, hi) through `ring` from a
/// forked producer; `consumers` forked consumers verify each one. With one consumer the
/// order is checked too (seq must be consecutive); with several, the tally counts each seq.
inline void stream(const std::string& name, std::size_t capacity, std::uint64_t n, std::size_t lo,
                   std::size_t hi, int consumers, std::uint64_t seed, grader::Timeout timeout) {
  SharedCounters counters(consumers > 1 ? n : 0);
  ShmRing ring = ShmRing::create(name, capacity);
  struct Remove {
    std::string name;
    ~Remove() { ShmRing::remove(name); }
  } remove{name};
  hi = std::min(hi, ring.max_message());
  std::vector<grader::Child> kids;
  kids.emplace_back(
      [&] {
        std::vector<std::byte> buf(hi);
        for (std::uint64_t seq = 0; seq < n; ++seq) {
          const std::size_t size = lab::message_size(seed, seq, lo, hi);
          if (seq % 3 == 0) {  // every third message through push(), the rest built in place
            fill({buf.data(), size}, seq);
            if (!ring.push({buf.data(), size}, grader::deadline(20s)))
              throw std::runtime_error(fmt::format("producer: push of message {} timed out", seq));
          } else {
            auto slot = ring.reserve(size, grader::deadline(20s));
            if (!slot)
              throw std::runtime_error(
                  fmt::format("producer: reserve for message {} timed out", seq));
            if (slot->size() != size)
              throw std::runtime_error(
                  fmt::format("producer: reserve({}) gave {} bytes", size, slot->size()));
            fill(*slot, seq);
            ring.commit();
          }
          counters.progress(0).store(seq + 1, std::memory_order_relaxed);
        }
        ring.close();
      },
      "producer");
  for (int c = 0; c < consumers; ++c) {
    kids.emplace_back(
        [&, c] {
          ShmRing r = ShmRing::open(name, grader::deadline(10s));
          std::vector<std::byte> buf;
          std::uint64_t expect = 0, got = 0;
          for (;;) {
            Status st = Status::kTimeout;
            std::span<const std::byte> msg;
            if (got % 2 == 0) {
              st = r.peek(msg, grader::deadline(20s));
            } else {
              st = r.pop(buf, grader::deadline(20s));
              msg = buf;
            }
            if (st == Status::kClosed) break;
            if (st == Status::kTimeout)
              throw std::runtime_error(fmt::format(
                  "consumer {}: no message for 20 s after {} messages (a lost wake-up?)", c, got));
            const std::uint64_t seq =
                consumers == 1 ? expect : (msg.size() >= 8 ? lab::message_sequence(msg) : 0);
            if (consumers > 1 && msg.size() < lab::kPayloadHeader)
              throw std::runtime_error(
                  "consumer: a message below 16 bytes in a multi-consumer test");
            if (seq >= n)
              throw std::runtime_error(
                  fmt::format("consumer {}: message with sequence number {} "
                              "(only {} were sent)",
                              c, seq, n));
            const std::string why = mismatch(msg, seq, lab::message_size(seed, seq, lo, hi));
            if (got % 2 == 0) r.release();
            if (!why.empty()) throw std::runtime_error(fmt::format("consumer {}: {}", c, why));
            if (consumers > 1) counters.tally(seq).fetch_add(1, std::memory_order_relaxed);
            ++expect;
            ++got;
            counters.progress(1 + c).store(got, std::memory_order_relaxed);
          }
          if (consumers == 1 && got != n)
            throw std::runtime_error(
                fmt::format("consumer: the ring said closed after {} of {} messages", got, n));
        },
        fmt::format("consumer {}", c));
  }
  // The first child to fail ends the wait: its peers may be blocked on it.
  const std::string why = grader::join(kids, timeout);
  EXPECT_TRUE(why.empty()) << fmt::format(
      "{} messages, sizes {}..{}, ring of {} bytes, {} consumer(s), seed {}: {}\nmessages moved "
      "per child: {} (a side still running waits forever: a lost wake-up, or room or data "
      "never published?)",
      n, lo, hi, capacity, consumers, seed, why, counters.progress_line());
  if (consumers > 1 && !::testing::Test::HasFailure()) {
    std::uint64_t lost = 0, twice = 0, first_bad = n;
    for (std::uint64_t s = 0; s < n; ++s) {
      const auto t = counters.tally(s).load();
      if (t != 1 && first_bad == n) first_bad = s;
      lost += t == 0;
      twice += t > 1;
    }
    EXPECT_TRUE(lost == 0 && twice == 0)
        << n << " messages, " << consumers << " consumers: " << lost << " never delivered, "
        << twice << " delivered more than once (first: message " << first_bad << ")";
  }
}

/// How many times process `pid` has gone to sleep so far (voluntary_ctxt_switches in
/// /proc/<pid>/status): a process asleep in the kernel until it is woken adds none.
inline std::uint64_t sleeps_begun(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("voluntary_ctxt_switches:"))
      return std::stoull(line.substr(line.find(':') + 1));
  return 0;
}

/// What this test's namespace holds right now, one object a line ("" = nothing).
inline std::string objects_now() {
  std::string out;
  for (const auto& o : ipclab::inventory(grader::ns(), grader::rundir()))
    out += ipclab::describe(o) + "\n";
  return out;
}

}  // namespace lab12_test
