// Shared by lab 07's public and hidden tests: driving a buffer with many threads and
// checking the multiset of items, watching a blocked thread's state and CPU time, and
// reading producer_consumer's per-item lines.
#pragma once

#include <sys/syscall.h>  // SYS_gettid
#include <unistd.h>       // syscall

#include <atomic>   // std::atomic
#include <cstdint>  // std::uint64_t
#include <map>      // std::map
#include <memory>   // std::unique_ptr
#include <regex>    // std::regex
#include <sstream>  // std::istringstream
#include <string>   // std::string
#include <thread>   // std::thread
#include <vector>   // std::vector

#include "grader/grader.hpp"
#include "ipclab/process.hpp"  // proc_stat
#include "lab07/bounded_buffer.hpp"
#include "lab07/shared_buffer.hpp"

using namespace std::chrono_literals;

namespace lab07_test {

inline pid_t gettid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

/// A thread of this process: its state letter ('S' blocked, 'R' running), 0 if gone.
inline char thread_state(pid_t tid) { return ipclab::process_state(tid); }
/// Its user + system CPU time in clock ticks.
inline std::uint64_t thread_ticks(pid_t tid) {
  auto st = ipclab::proc_stat(tid);
  return st ? st->utime_ticks + st->stime_ticks : 0;
}

struct Shape {
  int producers;
  int consumers;
  std::size_t capacity;
  std::uint64_t items;
};

inline std::string describe(const Shape& s) {
  return fmt::format("{} producers x {} consumers, buffer {}, {} items", s.producers, s.consumers,
                     s.capacity, s.items);
}

/// Runs producers and consumers on `buf` (empty, open): producers push 1..items from a
/// ticket counter, then the test closes the buffer and consumers drain it. Returns "" if
/// every item was popped exactly once, no push failed, no pop ended before close(), and
/// the size never exceeded the capacity; else what went wrong. Hangs end the test
/// (grader::abandon_test: stuck threads can be neither joined nor cancelled).
template <typename Buffer>
std::string run_shape(Buffer& buf, const Shape& s) {
  std::atomic<std::uint64_t> next{0};
  std::vector<std::atomic<std::uint32_t>> seen(s.items + 1);
  std::atomic<bool> closing{false};
  std::atomic<int> producers_done{0}, consumers_done{0};
  std::atomic<std::uint64_t> rejected{0}, early_end{0}, bogus{0}, overfull{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < s.consumers; ++i)
    threads.emplace_back([&] {
      for (std::uint64_t n = 0;; ++n) {
        auto v = buf.pop();
        if (!v) {
          if (!closing.load()) early_end.fetch_add(1);
          break;
        }
        if (*v < 1 || *v > s.items)
          bogus.fetch_add(1);
        else
          seen[*v].fetch_add(1);
        if (n % 16 == 0 && buf.size() > s.capacity) overfull.fetch_add(1);
      }
      consumers_done.fetch_add(1);
    });
  for (int i = 0; i < s.producers; ++i)
    threads.emplace_back([&] {
      for (std::uint64_t item; (item = next.fetch_add(1) + 1) <= s.items;) {
        if (!buf.push(item)) {
          rejected.fetch_add(1);
          break;
        }
      }
      producers_done.fetch_add(1);
    });
  if (!grader::wait_until([&] { return producers_done.load() == s.producers; }, 20'000ms))
    grader::abandon_test(
        fmt::format("{}: producers still blocked in push() after 20 s ({} of {} done); "
                    "items popped so far are lost or consumers stopped early ({} pops ended "
                    "before close())",
                    describe(s), producers_done.load(), s.producers, early_end.load()));
  closing.store(true);
  buf.close();
  if (!grader::wait_until([&] { return consumers_done.load() == s.consumers; }, 5'000ms))
    grader::abandon_test(
        fmt::format("{}: after close(), {} of {} consumers are still blocked in pop(): "
                    "close() must wake every waiting consumer",
                    describe(s), s.consumers - consumers_done.load(), s.consumers));
  for (auto& t : threads) t.join();

  std::string problems;
  if (early_end.load() != 0)
    problems += fmt::format(
        "  pop() returned nullopt {} time(s) before close() was called (an empty buffer after "
        "a wakeup is not the end: wait again)\n",
        early_end.load());
  if (rejected.load() != 0)
    problems +=
        fmt::format("  push() returned false {} time(s) on an open buffer\n", rejected.load());
  if (bogus.load() != 0)
    problems += fmt::format("  pop() returned {} value(s) never pushed\n", bogus.load());
  if (overfull.load() != 0)
    problems += fmt::format("  size() exceeded the capacity {} time(s)\n", overfull.load());
  std::vector<std::string> missing, dup;
  for (std::uint64_t i = 1; i <= s.items; ++i) {
    const auto n = seen[i].load();
    if (n == 0 && missing.size() < 8) missing.push_back(std::to_string(i));
    if (n > 1 && dup.size() < 8) dup.push_back(fmt::format("{} ({}x)", i, n));
  }
  if (!missing.empty())
    problems += fmt::format("  never popped: {} ...\n", fmt::join(missing, ", "));
  if (!dup.empty()) problems += fmt::format("  popped twice: {} ...\n", fmt::join(dup, ", "));
  if (!problems.empty()) problems = describe(s) + ":\n" + problems;
  return problems;
}

/// Waits until thread `tid` sleeps in the kernel (state 'S'); false at the deadline.
inline bool wait_blocked(pid_t tid, grader::Timeout timeout = 5'000ms) {
  return grader::wait_until([&] { return thread_state(tid) == 'S'; }, timeout);
}

/// The CPU ticks a blocked thread uses over a 0.5 s window; the window is an observation,
/// not a deadline (a busy-waiting thread burns tens of ticks in it even on a loaded box).
inline std::uint64_t ticks_over_window(pid_t tid) {
  const auto before = thread_ticks(tid);
  std::this_thread::sleep_for(500ms);
  return thread_ticks(tid) - before;
}

/// producer_consumer's per-item lines, counted per item.
struct ItemLines {
  std::map<std::uint64_t, int> produced, consumed;
  std::map<int, int> by_producer, by_consumer;
  int other_item_lines = 0;
};

inline ItemLines parse_lines(const std::string& out) {
  static const std::regex kProduced(R"(^\[P(\d+)\] Produced item (\d+)$)");
  static const std::regex kConsumed(R"(^\[C(\d+)\] Consumed item (\d+)$)");
  ItemLines r;
  std::istringstream in(out);
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, m, kProduced)) {
      ++r.produced[std::stoull(m[2])];
      ++r.by_producer[std::stoi(m[1])];
    } else if (std::regex_match(line, m, kConsumed)) {
      ++r.consumed[std::stoull(m[2])];
      ++r.by_consumer[std::stoi(m[1])];
    } else if (line.find(" item ") != std::string::npos) {
      ++r.other_item_lines;
    }
  }
  return r;
}

/// "" if items 1..n each appear exactly once in `counts`; else the first few exceptions.
inline std::string exactly_once(const std::map<std::uint64_t, int>& counts, std::uint64_t n,
                                const char* what) {
  std::vector<std::string> bad;
  for (std::uint64_t i = 1; i <= n && bad.size() < 8; ++i) {
    auto it = counts.find(i);
    const int c = it == counts.end() ? 0 : it->second;
    if (c != 1) bad.push_back(fmt::format("item {} {} {}x", i, what, c));
  }
  for (const auto& [item, c] : counts)
    if ((item < 1 || item > n) && bad.size() < 8)
      bad.push_back(fmt::format("item {} (out of range) {} {}x", item, what, c));
  return bad.empty() ? "" : fmt::format("{} ...\n", fmt::join(bad, "; "));
}

/// Checks a full producer_consumer run: every item produced and consumed exactly once (from
/// the per-item lines), worker ids in range, the PASS line last, exit 0.
inline void expect_good_run(const grader::RunResult& r, const Shape& s) {
  grader::expect_finished(r);
  const auto lines = parse_lines(r.out);
  const std::string p = exactly_once(lines.produced, s.items, "produced");
  const std::string c = exactly_once(lines.consumed, s.items, "consumed");
  EXPECT_EQ(p + c, "") << describe(s) << "\n" << r.describe();
  for (const auto& [id, n] : lines.by_producer)
    EXPECT_TRUE(id >= 1 && id <= s.producers) << "producer id " << id << " out of range";
  for (const auto& [id, n] : lines.by_consumer)
    EXPECT_TRUE(id >= 1 && id <= s.consumers) << "consumer id " << id << " out of range";
  EXPECT_EQ(lines.other_item_lines, 0) << "garbled per-item lines\n" << r.describe();
  EXPECT_NE(r.out.find("Statistics:"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("\nPASS: All items produced and consumed correctly\n"), std::string::npos)
      << r.describe();
  grader::expect_exit(r, 0);
}

inline std::vector<std::string> program_args(const Shape& s, const std::string& mode,
                                             bool quiet = false) {
  std::vector<std::string> argv = {"producer_consumer",
                                   fmt::format("--producers={}", s.producers),
                                   fmt::format("--consumers={}", s.consumers),
                                   fmt::format("--buffer-size={}", s.capacity),
                                   fmt::format("--items={}", s.items),
                                   "--mode=" + mode};
  if (quiet) argv.emplace_back("--quiet");
  return argv;
}

}  // namespace lab07_test
