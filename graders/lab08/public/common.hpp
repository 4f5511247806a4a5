// Shared by lab 08's public and hidden tests: threads that call into the lock and can be
// watched from outside (has it returned? is it asleep in the kernel? how much CPU did it
// burn?), and a stress driver that checks mutual exclusion on every acquisition.
//
// A test never joins a thread that may be stuck in a broken lock: such a thread is detached
// (its state is shared_ptr-owned) so the test fails with a message instead of a TIMEOUT.
#pragma once

#include <sys/syscall.h>  // SYS_gettid
#include <unistd.h>       // syscall, sysconf

#include <atomic>      // std::atomic
#include <fstream>     // std::ifstream
#include <functional>  // std::function
#include <memory>      // std::shared_ptr
#include <random>      // std::mt19937_64
#include <sstream>     // std::istringstream
#include <string>      // std::string
#include <thread>      // std::thread
#include <vector>      // std::vector

#include "grader/grader.hpp"
#include "ipclab/clock.hpp"  // now_ns
#include "lab08/rwlock.hpp"

using namespace std::chrono_literals;

namespace lab08_test {

namespace lab = ipclab::lab08;

using lab::Policy;
using lab::RwLock;

inline const std::vector<Policy> kAllPolicies = {Policy::reader, Policy::writer, Policy::fair};

inline pid_t this_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

/// Fields of /proc/self/task/<tid>/stat after the command name: [0] is the state.
inline std::vector<std::string> task_stat(pid_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(f, line);
  const auto close = line.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos) return fields;
  std::istringstream in(line.substr(close + 2));
  for (std::string w; in >> w;) fields.push_back(w);
  return fields;
}

/// 'R' running, 'S' asleep (blocked in the kernel), ... ; '?' if the thread is gone.
inline char thread_state(pid_t tid) {
  auto f = task_stat(tid);
  return f.empty() ? '?' : f[0][0];
}

/// User + system CPU seconds of one thread of this process.
inline double thread_cpu_seconds(pid_t tid) {
  auto f = task_stat(tid);  // utime, stime are fields 14 and 15 of stat: [11], [12] here
  if (f.size() < 13) return 0;
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// One call into the lock (or any function) on a thread of its own.
class Call {
 public:
  explicit Call(std::function<bool()> fn) : st_(std::make_shared<State>()) {
    st_->fn = std::move(fn);
    thread_ = std::thread([st = st_] {
      st->tid.store(this_tid());
      st->started.store(true);
      const bool r = st->fn();
      st->result.store(r);
      st->done.store(true);
    });
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  ~Call() {
    if (st_->done.load()) {
      thread_.join();
    } else {
      thread_.detach();  // stuck in a broken lock: leave it, the test has failed already
    }
  }

  bool done() const { return st_->done.load(); }
  bool result() const { return st_->result.load(); }
  pid_t tid() const { return st_->tid.load(); }

  /// True once the call has returned; false at the deadline.
  bool wait_done(grader::Timeout timeout = 5'000ms) const {
    return grader::wait_until([&] { return done(); }, timeout);
  }
  /// True once the thread sleeps in the kernel inside the call (blocked on the lock);
  /// false if the call returned instead or the deadline passed.
  bool wait_blocked(grader::Timeout timeout = 5'000ms) const {
    bool blocked = false;
    grader::wait_until(
        [&] {
          if (done()) return true;
          if (!st_->started.load()) return false;
          // Twice, a little apart: a thread that sleeps for good, not one passing through.
          if (thread_state(tid()) != 'S') return false;
          std::this_thread::sleep_for(2ms);
          blocked = !done() && thread_state(tid()) == 'S';
          return blocked;
        },
        timeout);
    return blocked && !done();
  }

 private:
  struct State {
    std::function<bool()> fn;
    std::atomic<pid_t> tid{0};
    std::atomic<bool> started{false};
    std::atomic<bool> done{false};
    std::atomic<bool> result{false};
  };
  std::shared_ptr<State> st_;
  std::thread thread_;
};

/// A lock plus the counters threads use to report who is inside (heap-owned: threads that
/// outlive a failed test keep it alive).
struct Room {
  explicit Room(Policy p) : lock(p) {}
  RwLock lock;
  std::atomic<int> readers_inside{0};
  std::atomic<int> writers_inside{0};
  std::atomic<int> max_readers{0};
  std::atomic<long> violations{0};
  std::atomic<long> reads{0};
  std::atomic<long> writes{0};

  void reader_in() {
    const int n = readers_inside.fetch_add(1) + 1;
    int seen = max_readers.load();
    while (n > seen && !max_readers.compare_exchange_weak(seen, n)) {
    }
    if (writers_inside.load() != 0) violations++;
  }
  void reader_out() { readers_inside.fetch_sub(1); }
  void writer_in() {
    if (writers_inside.fetch_add(1) != 0 || readers_inside.load() != 0) violations++;
  }
  void writer_out() {
    if (readers_inside.load() != 0 || writers_inside.load() != 1) violations++;
    writers_inside.fetch_sub(1);
  }
};

/// Spins a few hundred iterations (with yields when the hook is on): time inside the lock
/// for others to run into.
inline void dwell(std::mt19937_64& rng) {
  const auto n = rng() % 64;
  for (std::uint64_t i = 0; i < n; ++i) {
    lab::test_yield_point();
    asm volatile("" ::: "memory");
  }
}

struct StressShape {
  Policy policy;
  int readers;
  int writers;
  int ops;             // per thread
  bool timed = false;  // mix in try_lock_*_for and try_lock_* calls
};

/// Runs the shape with yields on; checks exclusion on every acquisition and that the lock
/// is free at the end. Returns a description of the first problem, or "" if none.
inline std::string run_stress(const StressShape& shape, std::uint64_t seed,
                              grader::Timeout timeout = 8'000ms) {
  auto room = std::make_shared<Room>(shape.policy);
  lab::set_test_yield(true);
  std::vector<std::unique_ptr<Call>> calls;
  for (int t = 0; t < shape.readers + shape.writers; ++t) {
    const bool is_writer = t >= shape.readers;
    calls.push_back(std::make_unique<Call>([room, shape, is_writer, s = seed + t * 7919] {
      std::mt19937_64 rng(s);
      for (int i = 0; i < shape.ops; ++i) {
        const auto mode = shape.timed ? rng() % 4 : 0;
        if (is_writer) {
          bool got = true;
          if (mode == 0) {
            room->lock.lock_write();
          } else if (mode == 1) {
            got = room->lock.try_lock_write();
          } else {
            got = room->lock.try_lock_write_for(std::chrono::microseconds(rng() % 300));
          }
          if (!got) continue;
          room->writer_in();
          room->writes++;
          dwell(rng);
          room->writer_out();
          room->lock.unlock_write();
        } else {
          bool got = true;
          if (mode == 0) {
            room->lock.lock_read();
          } else if (mode == 1) {
            got = room->lock.try_lock_read();
          } else {
            got = room->lock.try_lock_read_for(std::chrono::microseconds(rng() % 300));
          }
          if (!got) continue;
          room->reader_in();
          room->reads++;
          dwell(rng);
          room->reader_out();
          room->lock.unlock_read();
        }
      }
      return true;
    }));
  }
  std::string problem;
  for (auto& c : calls) {
    if (!c->wait_done(timeout)) {
      problem = fmt::format(
          "threads still blocked after {} ms: a lost wake-up (a waiter never notified) "
          "or a count left wrong ({} reads, {} writes done)",
          grader::scaled(timeout).count(), room->reads.load(), room->writes.load());
      break;
    }
  }
  lab::set_test_yield(false);
  const std::string what =
      fmt::format("policy {}, {} readers, {} writers, {} ops each{}, seed {}",
                  lab::policy_name(shape.policy), shape.readers, shape.writers, shape.ops,
                  shape.timed ? ", timed and try calls mixed in" : "", seed);
  if (room->violations.load() != 0)
    return fmt::format("{}: mutual exclusion violated {} times (a writer shared the lock)", what,
                       room->violations.load());
  if (!problem.empty()) return what + ": " + problem;
  // The lock must be free now: the counts went back to zero.
  if (!room->lock.try_lock_write())
    return what +
           ": all threads are done, but try_lock_write() fails: a reader count or "
           "writer flag was left wrong";
  room->lock.unlock_write();
  if (!room->lock.try_lock_read())
    return what + ": all threads are done, but try_lock_read() fails";
  room->lock.unlock_read();
  return "";
}

}  // namespace lab08_test
