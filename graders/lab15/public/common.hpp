// Shared by lab 15's public and hidden tests: queues in aligned memory, a single-threaded
// model check against std::deque, and a two-thread stream that checks every item and never
// hangs (both sides give up at a deadline, so a lost item fails the test with a message).
#pragma once

#include <atomic>   // std::atomic
#include <cstdint>  // std::uint64_t
#include <deque>    // std::deque
#include <fstream>  // std::ifstream
#include <random>   // std::mt19937_64
#include <sstream>  // std::stringstream
#include <string>   // std::string
#include <thread>   // std::thread
#include <vector>   // std::vector

#include "grader/grader.hpp"
#include "ipclab/clock.hpp"  // now_ns
#include "ipclab/shm.hpp"    // Mapping
#include "lab15/spin.hpp"
#include "lab15/spsc_queue.hpp"

using namespace std::chrono_literals;

namespace lab15_test {

namespace lab = ipclab::lab15;

using lab::SpscQueue;

/// Sanitizer builds run the same scenarios with fewer items (TSan is 5-15x slower).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
inline std::uint64_t items(std::uint64_t plain, std::uint64_t sanitized) {
  return kSanitized ? sanitized : plain;
}

/// A 32-byte item whose fields all derive from its sequence number: a torn, stale or
/// half-written slot shows up as a mismatch.
struct Fat {
  std::uint64_t seq = 0;
  std::uint64_t inv = 0;
  std::uint64_t sq = 0;
  std::uint64_t tag = 0;
};
inline Fat make_fat(std::uint64_t s) { return {s, ~s, s * s, s ^ 0x5a5a5a5a5a5a5a5aULL}; }
inline bool fat_ok(const Fat& f, std::uint64_t s) {
  return f.seq == s && f.inv == ~s && f.sq == s * s && f.tag == (s ^ 0x5a5a5a5a5a5a5a5aULL);
}

template <typename T>
T make_item(std::uint64_t s) {
  if constexpr (std::is_same_v<T, Fat>) {
    return make_fat(s);
  } else {
    return static_cast<T>(s);
  }
}
template <typename T>
bool item_ok(const T& v, std::uint64_t s) {
  if constexpr (std::is_same_v<T, Fat>) {
    return fat_ok(v, s);
  } else {
    return v == static_cast<T>(s);
  }
}
template <typename T>
std::uint64_t item_seq(const T& v) {
  if constexpr (std::is_same_v<T, Fat>) {
    return v.seq;
  } else {
    return static_cast<std::uint64_t>(v);
  }
}

/// A queue of T with `capacity` slots in a fresh (page-aligned, zeroed) mapping.
template <typename T>
struct Owned {
  ipclab::Mapping mem;
  SpscQueue<T>* q = nullptr;
  explicit Owned(std::size_t capacity)
      : mem(ipclab::Mapping::anonymous_shared(SpscQueue<T>::bytes_for(capacity))),
        q(SpscQueue<T>::create_in(mem.data(), mem.size(), capacity)) {}
  SpscQueue<T>& operator*() const { return *q; }
  SpscQueue<T>* operator->() const { return q; }
};

/// Random single-threaded operations (try_push, try_pop, push_n, pop_n) checked against a
/// std::deque of at most `capacity` items. Returns "" or what went wrong first.
inline std::string model_check(std::size_t capacity, std::uint64_t seed, int steps) {
  Owned<std::uint64_t> q(capacity);
  std::deque<std::uint64_t> model;
  std::mt19937_64 rng(seed);
  std::uint64_t next = 0;
  std::vector<std::uint64_t> buf;
  for (int step = 0; step < steps; ++step) {
    const auto where = [&] {
      return fmt::format("capacity {}, step {}, {} items in the model: ", capacity, step,
                         model.size());
    };
    const int op = static_cast<int>(rng() % 4);
    const std::size_t k = 1 + rng() % (2 * capacity + 1);
    if (op == 0) {
      const bool fits = model.size() < capacity;
      const bool ok = q->try_push(next);
      if (ok != fits) return where() + fmt::format("try_push returned {}, expected {}", ok, fits);
      if (ok) model.push_back(next++);
    } else if (op == 1) {
      std::uint64_t v = 777;
      const bool ok = q->try_pop(v);
      if (ok != !model.empty())
        return where() + fmt::format("try_pop returned {}, expected {}", ok, !model.empty());
      if (ok) {
        if (v != model.front())
          return where() + fmt::format("try_pop gave {}, expected {}", v, model.front());
        model.pop_front();
      } else if (v != 777) {
        return where() + "a failed try_pop changed its argument";
      }
    } else if (op == 2) {
      buf.resize(k);
      for (std::size_t i = 0; i < k; ++i) buf[i] = next + i;
      const std::size_t want = std::min(k, capacity - model.size());
      const std::size_t got = q->push_n(buf.data(), k);
      if (got != want)
        return where() + fmt::format("push_n of {} pushed {}, expected {} (room for {})", k, got,
                                     want, capacity - model.size());
      for (std::size_t i = 0; i < got; ++i) model.push_back(next++);
    } else {
      buf.assign(k, 777);
      const std::size_t want = std::min(k, model.size());
      const std::size_t got = q->pop_n(buf.data(), k);
      if (got != want)
        return where() + fmt::format("pop_n of {} took {}, expected {}", k, got, want);
      for (std::size_t i = 0; i < got; ++i) {
        if (buf[i] != model.front())
          return where() + fmt::format("pop_n item {} of {} is {}, expected {}", i, got, buf[i],
                                       model.front());
        model.pop_front();
      }
    }
    if (q->size_approx() != model.size())
      return where() + fmt::format("size_approx() is {} at rest", q->size_approx());
  }
  return "";
}

struct StreamOptions {
  std::uint64_t count = 100'000;
  std::size_t producer_batch = 0;  // 0: try_push; else random batches of 1..this (push_n)
  std::size_t consumer_batch = 0;  // 0: try_pop;  else random batches of 1..this (pop_n)
  std::uint64_t seed = 1;
  grader::Timeout timeout = 15'000ms;  // a side gives up (no hang) after this long without progress
};

/// Producer thread and consumer thread through `q`; the consumer checks every item.
/// Returns "" or the first error (a wrong item, or the deadline with what was moved).
template <typename T>
std::string two_thread_stream(SpscQueue<T>& q, const StreamOptions& o) {
  // Each side gives up after `timeout` without progress (a stall, not a slow machine).
  const std::int64_t patience = std::chrono::nanoseconds(grader::scaled(o.timeout)).count();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> sent{0};
  std::string error;
  std::thread producer([&] {
    std::mt19937_64 rng(o.seed);
    std::vector<T> buf(std::max<std::size_t>(o.producer_batch, 1));
    lab::Backoff b;
    std::uint64_t next = 0;
    std::int64_t deadline = ipclab::now_ns() + patience;
    while (next < o.count && !stop.load(std::memory_order_relaxed)) {
      std::size_t done = 0;
      if (o.producer_batch == 0) {
        done = q.try_push(make_item<T>(next)) ? 1 : 0;
      } else {
        const std::size_t k = std::min<std::uint64_t>(1 + rng() % o.producer_batch, o.count - next);
        for (std::size_t i = 0; i < k; ++i) buf[i] = make_item<T>(next + i);
        done = q.push_n(buf.data(), k);
      }
      if (done == 0) {
        b.wait();
        if (b.spins() == 0 && ipclab::now_ns() > deadline) break;
        continue;
      }
      b.reset();
      next += done;
      sent.store(next, std::memory_order_relaxed);
      if (next % 1024 < done) deadline = ipclab::now_ns() + patience;
    }
  });
  std::mt19937_64 rng(o.seed * 31 + 7);
  std::vector<T> buf(std::max<std::size_t>(o.consumer_batch, 1));
  lab::Backoff b;
  std::uint64_t expected = 0;
  std::int64_t deadline = ipclab::now_ns() + patience;
  while (expected < o.count && error.empty()) {
    std::size_t got = 0;
    if (o.consumer_batch == 0) {
      got = q.try_pop(buf[0]) ? 1 : 0;
    } else {
      const std::size_t k = 1 + rng() % o.consumer_batch;
      got = q.pop_n(buf.data(), k);
      if (got > k) error = fmt::format("pop_n({}) returned {}", k, got);
    }
    if (got == 0) {
      b.wait();
      if (b.spins() == 0 && ipclab::now_ns() > deadline)
        error = fmt::format(
            "no item {} for {} s: the producer had pushed {} of {} (a lost item, or a push that "
            "never became visible)",
            expected, grader::scaled(o.timeout).count() / 1000, sent.load(), o.count);
      continue;
    }
    b.reset();
    if ((expected + got) % 1024 < got) deadline = ipclab::now_ns() + patience;
    for (std::size_t i = 0; i < got && error.empty(); ++i, ++expected) {
      if (!item_ok(buf[i], expected))
        error = fmt::format(
            "item {} is wrong: sequence number {}{} ({})", expected, item_seq(buf[i]),
            item_seq(buf[i]) == expected ? " with damaged fields" : "",
            item_seq(buf[i]) < expected ? "a duplicate or a stale slot: read before written?"
                                        : "items lost, reordered or overwritten");
    }
  }
  stop.store(true);
  producer.join();
  if (error.empty() && q.size_approx() != 0)
    error =
        fmt::format("after the last item the queue still holds {} (duplicates?)", q.size_approx());
  return error;
}

/// Lines of a text file.
inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(f, line);) lines.push_back(line);
  return lines;
}

}  // namespace lab15_test
