// Shared by lab 12's public and hidden tests: forked producer/consumer processes around a
// ShmRing, messages that say what they should be, and a scoreboard in shared memory.
#pragma once

#include <sys/prctl.h>  // PR_SET_PDEATHSIG
#include <unistd.h>     // fork, _exit

#include <atomic>      // std::atomic
#include <cstdio>      // stderr
#include <cstring>     // std::memcpy
#include <functional>  // std::function
#include <optional>    // std::optional
#include <string>      // std::string
#include <vector>      // std::vector

#include "grader/grader.hpp"
#include "ipclab/error.hpp"      // SysError, UsageError
#include "ipclab/inventory.hpp"  // inventory, describe
#include "ipclab/process.hpp"    // wait_for, kill_and_reap
#include "ipclab/shm.hpp"        // Mapping
#include "lab12/payload.hpp"
#include "lab12/shm_ring.hpp"

using namespace std::chrono_literals;

namespace lab12_test {

using ipclab::Deadline;
using ipclab::lab12::ShmRing;
using Status = ShmRing::Status;

/// A deadline `t` from now, stretched under sanitizers (IPCLAB_TIMEOUT_SCALE).
inline Deadline in(std::chrono::milliseconds t) { return Deadline(grader::scaled(t)); }

/// Message `seq` of a test stream: any size (0 included). From 16 bytes up it is
/// payload.hpp's message (sequence number + checksum); below, a pattern of the seq.
inline void fill(std::span<std::byte> m, std::uint64_t seq) {
  if (m.size() >= ipclab::lab12::kPayloadHeader) return ipclab::lab12::fill_message(m, seq);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = static_cast<std::byte>(seq * 31 + i * 7 + 1);
}

/// "" if `m` is exactly message `seq` of `size` bytes, else what differs.
inline std::string check(std::span<const std::byte> m, std::uint64_t seq, std::size_t size) {
  if (m.size() != size)
    return fmt::format(
        "message {}: {} bytes delivered, {} sent (a length header read at the "
        "wrong place, or data overwritten before it was read?)",
        seq, m.size(), size);
  if (size >= ipclab::lab12::kPayloadHeader) {
    const auto why = ipclab::lab12::check_message(m, seq);
    if (why.empty()) return {};
    return fmt::format("message {} ({} bytes): {}; its header says message {}", seq, size, why,
                       ipclab::lab12::message_sequence(m));
  }
  for (std::size_t i = 0; i < size; ++i)
    if (m[i] != static_cast<std::byte>(seq * 31 + i * 7 + 1))
      return fmt::format("message {} ({} bytes): byte {} differs", seq, size, i);
  return {};
}

/// What forked children report to the test: one error text, counters, a tally per seq.
struct Board {
  std::atomic<int> failed{0};
  char error[1024] = {};
  std::atomic<std::uint64_t> progress[8] = {};  // messages moved, per child
  std::atomic<std::uint64_t> done[8] = {};      // 1 once the child finished its loop

  void fail(const std::string& what) {
    if (failed.exchange(1) != 0) return;  // the first failure is the root cause
    const std::size_t n = std::min(what.size(), sizeof error - 1);
    std::memcpy(error, what.data(), n);
  }
};

/// A Board plus `tally_size` per-message counters, in an anonymous shared mapping.
class Shared {
 public:
  explicit Shared(std::size_t tally_size = 0)
      : map_(ipclab::Mapping::anonymous_shared(sizeof(Board) +
                                               tally_size * sizeof(std::atomic<std::uint32_t>))),
        board_(new (map_.data()) Board{}),
        tally_(reinterpret_cast<std::atomic<std::uint32_t>*>(map_.as<std::byte>() + sizeof(Board))),
        tally_size_(tally_size) {}
  Board& board() const { return *board_; }
  std::atomic<std::uint32_t>& tally(std::size_t i) const { return tally_[i]; }
  std::size_t tally_size() const { return tally_size_; }

 private:
  ipclab::Mapping map_;
  Board* board_;
  std::atomic<std::uint32_t>* tally_;
  std::size_t tally_size_;
};

/// A forked child running `body` (it must not return into the test): exit 0 if body
/// returns, 1 if it throws (the text goes to the board). Killed and reaped on destruction.
class Child {
 public:
  Child(Board& board, std::function<void()> body) {
    (void)std::fflush(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) ipclab::throw_errno("fork");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      try {
        body();
        ::_exit(0);
      } catch (const std::exception& e) {
        board.fail(e.what());
      } catch (...) {
        board.fail("unknown exception");
      }
      ::_exit(1);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  Child(Child&& o) noexcept : pid_(std::exchange(o.pid_, -1)), status_(o.status_) {}
  ~Child() {
    if (pid_ > 0 && !status_) ipclab::kill_and_reap(pid_);
  }
  pid_t pid() const { return pid_; }
  /// Waits up to `timeout` (scaled); nullopt if still running.
  std::optional<ipclab::WaitStatus> wait(std::chrono::milliseconds timeout) {
    if (!status_) status_ = ipclab::wait_for(pid_, in(timeout));
    return status_;
  }
  bool running() {
    if (!status_) status_ = ipclab::try_wait(pid_);
    return !status_;
  }

 private:
  pid_t pid_ = -1;
  std::optional<ipclab::WaitStatus> status_;
};

/// Waits for every child; EXPECTs that each exited 0 in time and nothing was reported.
inline void expect_all_ok(std::vector<Child>& kids, const Board& board,
                          std::chrono::milliseconds timeout, const std::string& what) {
  // Watch them all: the first failure is reported at once (its peers may be blocked on
  // it until their own deadlines).
  std::vector<std::optional<ipclab::WaitStatus>> st(kids.size());
  const bool ended = grader::wait_until(
      [&] {
        bool all = true;
        for (std::size_t i = 0; i < kids.size(); ++i) {
          if (!st[i] && !kids[i].running()) st[i] = kids[i].wait(0ms);
          all = all && st[i].has_value();
        }
        return all || board.failed.load() != 0;
      },
      grader::scaled(timeout));
  if (board.failed.load() != 0) {
    ADD_FAILURE() << what << ": " << board.error;
    return;  // the destructors kill the rest
  }
  if (!ended) {
    ADD_FAILURE() << what << ": still running after " << grader::scaled(timeout).count()
                  << " ms (a side waits forever: a lost wake-up, or room/data never "
                  << "published?); messages moved per child:"
                  << fmt::format(" {} {} {} {}", board.progress[0].load(), board.progress[1].load(),
                                 board.progress[2].load(), board.progress[3].load());
    return;
  }
  for (std::size_t i = 0; i < kids.size(); ++i)
    EXPECT_TRUE(st[i]->exited() && st[i]->exit_code() == 0)
        << what << ": child " << i << " " << st[i]->describe();
}

/// Streams `n` messages of sizes message_size(seed, seq, lo, hi) through `ring` from a
/// forked producer; `consumers` forked consumers verify each one. With one consumer the
/// order is checked too (seq must be consecutive); with several, the tally counts each seq.
inline void stream(const std::string& name, std::size_t capacity, std::uint64_t n, std::size_t lo,
                   std::size_t hi, int consumers, std::uint64_t seed,
                   std::chrono::milliseconds timeout) {
  Shared shared(consumers > 1 ? n : 0);
  Board& board = shared.board();
  ShmRing ring = ShmRing::create(name, capacity);
  struct Remove {
    std::string name;
    ~Remove() { ShmRing::remove(name); }
  } remove{name};
  hi = std::min(hi, ring.max_message());
  std::vector<Child> kids;
  kids.emplace_back(board, [&] {
    std::vector<std::byte> buf(hi);
    for (std::uint64_t seq = 0; seq < n; ++seq) {
      const std::size_t size = ipclab::lab12::message_size(seed, seq, lo, hi);
      if (seq % 3 == 0) {  // every third message through push(), the rest built in place
        fill({buf.data(), size}, seq);
        if (!ring.push({buf.data(), size}, in(20s)))
          throw std::runtime_error(fmt::format("producer: push of message {} timed out", seq));
      } else {
        auto slot = ring.reserve(size, in(20s));
        if (!slot)
          throw std::runtime_error(fmt::format("producer: reserve for message {} timed out", seq));
        if (slot->size() != size)
          throw std::runtime_error(
              fmt::format("producer: reserve({}) gave {} bytes", size, slot->size()));
        fill(*slot, seq);
        ring.commit();
      }
      board.progress[0].store(seq + 1, std::memory_order_relaxed);
    }
    ring.close();
  });
  for (int c = 0; c < consumers; ++c) {
    kids.emplace_back(board, [&, c] {
      ShmRing r = ShmRing::open(name, in(10s));
      std::vector<std::byte> buf;
      std::uint64_t expect = 0, got = 0;
      for (;;) {
        Status st = Status::kTimeout;
        std::span<const std::byte> msg;
        if (got % 2 == 0) {
          st = r.peek(msg, in(20s));
        } else {
          st = r.pop(buf, in(20s));
          msg = buf;
        }
        if (st == Status::kClosed) break;
        if (st == Status::kTimeout)
          throw std::runtime_error(fmt::format(
              "consumer {}: no message for 20 s after {} messages (a lost wake-up?)", c, got));
        const std::uint64_t seq =
            consumers == 1 ? expect : (msg.size() >= 8 ? ipclab::lab12::message_sequence(msg) : 0);
        if (consumers > 1 && msg.size() < ipclab::lab12::kPayloadHeader)
          throw std::runtime_error("consumer: a message below 16 bytes in a multi-consumer test");
        if (seq >= n)
          throw std::runtime_error(
              fmt::format("consumer {}: message with sequence number {} "
                          "(only {} were sent)",
                          c, seq, n));
        const std::string why = check(msg, seq, ipclab::lab12::message_size(seed, seq, lo, hi));
        if (got % 2 == 0) r.release();
        if (!why.empty()) throw std::runtime_error(fmt::format("consumer {}: {}", c, why));
        if (consumers > 1) shared.tally(seq).fetch_add(1, std::memory_order_relaxed);
        ++expect;
        ++got;
        board.progress[1 + c].store(got, std::memory_order_relaxed);
      }
      if (consumers == 1 && got != n)
        throw std::runtime_error(
            fmt::format("consumer: the ring said closed after {} of {} messages", got, n));
    });
  }
  expect_all_ok(kids, board, timeout,
                fmt::format("{} messages, sizes {}..{}, ring of {} bytes, {} consumer(s), seed {}",
                            n, lo, hi, capacity, consumers, seed));
  if (consumers > 1 && !::testing::Test::HasFailure()) {
    std::uint64_t lost = 0, twice = 0, first_bad = n;
    for (std::uint64_t s = 0; s < n; ++s) {
      const auto t = shared.tally(s).load();
      if (t != 1 && first_bad == n) first_bad = s;
      lost += t == 0;
      twice += t > 1;
    }
    EXPECT_TRUE(lost == 0 && twice == 0)
        << n << " messages, " << consumers << " consumers: " << lost << " never delivered, "
        << twice << " delivered more than once (first: message " << first_bad << ")";
  }
}

/// What this test's namespace holds right now, one object a line ("" = nothing).
inline std::string objects_now() {
  std::string out;
  for (const auto& o : ipclab::inventory(grader::ns(), grader::rundir()))
    out += ipclab::describe(o) + "\n";
  return out;
}

}  // namespace lab12_test
