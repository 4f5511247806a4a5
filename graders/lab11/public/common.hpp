// Shared by lab 11's public and hidden tests: participants (child processes of the test)
// that meet at a SysvBarrier and write a shared sequence log (one O_APPEND file), the
// log's checker, and looking at semaphore sets by id (semctl and `ipcs -s`).
#pragma once

#include <fcntl.h>    // open, O_APPEND
#include <sched.h>    // sched_yield
#include <sys/ipc.h>  // IPC_STAT
#include <sys/sem.h>  // semctl, semid_ds
#include <unistd.h>   // write, usleep

#include <algorithm>   // std::ranges::count
#include <fstream>     // std::ifstream
#include <functional>  // std::function
#include <map>         // std::map
#include <random>      // std::mt19937_64
#include <sstream>     // std::istringstream
#include <string>      // std::string
#include <vector>      // std::vector

#include "grader/grader.hpp"
#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/names.hpp"  // names::sysv_key
#include "lab11/barrier.hpp"

using namespace std::chrono_literals;

namespace lab11_test {

namespace lab = ipclab::lab11;

/// True if a semaphore set with this id exists.
inline bool set_exists(int id) {
  semid_ds ds{};
  return id >= 0 && ::semctl(id, 0, IPC_STAT, &ds) == 0;
}

/// EXPECT the set `id` is gone, by semctl and by `ipcs -s`.
inline void expect_set_gone(int id, const std::string& when) {
  EXPECT_FALSE(set_exists(id)) << "semaphore set id " << id << " still exists " << when
                               << " (semctl(IPC_STAT) succeeds): IPC_RMID was not done";
  EXPECT_EQ(std::ranges::count(grader::ipcs_ids('s'), id), 0)
      << "`ipcs -s` still lists set id " << id << " " << when;
}

/// One line, one write(2) on an O_APPEND descriptor: the log is totally ordered.
inline void log_line(int fd, const std::string& line) {
  (void)!::write(fd, line.data(), line.size());
}

/// What a participant does after join(). It passes if it returns without a failure.
using Body = std::function<void(lab::SysvBarrier&, int me, int log_fd)>;

/// A barrier (created on the default key) and participants: child processes of the test
/// (grader::Child). The destructor kills the participants that are left and removes the
/// set, so the leak guard only judges what the code under test did.
class Group {
 public:
  explicit Group(int n)
      : n_(n),
        log_path_(grader::scratch() + "/sequence.log"),
        barrier_(lab::SysvBarrier::create(ipclab::names::sysv_key(lab::kKeyName), n)) {
    log_fd_ = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  }
  ~Group() {
    for (auto& p : participants_) p.kill();
    if (log_fd_ >= 0) ::close(log_fd_);
    try {
      barrier_.remove();
    } catch (const std::exception&) {  // the leak guard reports what is left
    }
  }
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  lab::SysvBarrier& barrier() { return barrier_; }
  int id() const { return barrier_.id(); }
  const std::string& log_path() const { return log_path_; }
  pid_t pid(int me) const { return participant(me).pid(); }

  /// Starts participant number (participants so far + 1) running `body` after join().
  /// jitter: IPCLAB_BARRIER_JITTER=1 in the child (the test hook yields at random).
  void start(const Body& body, bool jitter) {
    const int me = static_cast<int>(participants_.size()) + 1;
    participants_.emplace_back(
        [this, body, jitter, me] {
          if (jitter) ::setenv("IPCLAB_BARRIER_JITTER", "1", 1);
          barrier_.join();
          body(barrier_, me, log_fd_);
        },
        fmt::format("participant {}", me));
  }

  /// Waits for participant `me` until `by` (from grader::deadline); killed if still running.
  grader::ChildResult finish(int me, const ipclab::Deadline& by) {
    return participant(me).finish(by);
  }

  /// Lines of the sequence log.
  std::vector<std::string> log() const {
    std::ifstream in(log_path_);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  /// How many "R P enter" lines there are for round `round`.
  int entered(int round) const {
    int count = 0;
    for (const auto& line : log()) {
      std::istringstream words(line);
      int r = 0;
      int p = 0;
      std::string what;
      if (words >> r >> p >> what && r == round && what == "enter") ++count;
    }
    return count;
  }

 private:
  const grader::Child& participant(int me) const {
    return participants_.at(static_cast<std::size_t>(me - 1));
  }
  grader::Child& participant(int me) { return participants_.at(static_cast<std::size_t>(me - 1)); }

  int n_;
  std::string log_path_;
  lab::SysvBarrier barrier_;
  int log_fd_ = -1;
  std::vector<grader::Child> participants_;
};

/// The body of a participant doing `rounds` rounds: "round me enter" before wait(),
/// "round me leave" after it; with `rng_seed` != 0, a random pause between rounds too.
inline Body rounds_body(int rounds, std::uint64_t rng_seed = 0) {
  return [rounds, rng_seed](lab::SysvBarrier& b, int me, int log_fd) {
    std::mt19937_64 rng(rng_seed + static_cast<std::uint64_t>(me));
    for (int r = 1; r <= rounds; ++r) {
      if (rng_seed != 0) {
        const auto dice = rng() % 16;
        if (dice < 4) ::sched_yield();
        if (dice == 5) ::usleep(static_cast<useconds_t>(rng() % 300));
      }
      log_line(log_fd, fmt::format("{} {} enter\n", r, me));
      b.wait();
      log_line(log_fd, fmt::format("{} {} leave\n", r, me));
    }
  };
}

/// `body`, which must end with wait() throwing BarrierBroken (a participant died, or the
/// set was removed): returning, or another exception, fails the participant.
inline Body until_broken(Body body) {
  return [body = std::move(body)](lab::SysvBarrier& b, int me, int log_fd) {
    try {
      body(b, me, log_fd);
    } catch (const lab::BarrierBroken&) {
      return;
    }
    ADD_FAILURE() << "participant " << me
                  << " finished its rounds; expected wait() to throw BarrierBroken";
  };
}

/// The barrier property over a sequence log: for every round, every one of the n
/// participants entered and left it once, and nobody left it before all had entered.
/// Returns "" or what went wrong (the first violation, with the log around it).
inline std::string check_sequence(const std::vector<std::string>& lines, int n, int rounds) {
  std::map<int, int> entered;
  std::map<int, int> left;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::istringstream words(lines[i]);
    int r = 0;
    int p = 0;
    std::string what;
    if (!(words >> r >> p >> what)) return fmt::format("malformed log line `{}`", lines[i]);
    if (what == "enter") {
      ++entered[r];
      continue;
    }
    if (entered[r] < n) {
      std::string around;
      for (std::size_t k = i >= 12 ? i - 12 : 0; k < std::min(lines.size(), i + 4); ++k)
        around += fmt::format("  {:5}: {}{}\n", k + 1, lines[k], k == i ? "   <== here" : "");
      return fmt::format(
          "process {} left round {} when only {} of {} processes had reached it: a fast "
          "process lapped a slow one (log line {}; log lines are `round process "
          "enter|leave`):\n{}",
          p, r, entered[r], n, i + 1, around);
    }
    ++left[r];
  }
  for (int r = 1; r <= rounds; ++r)
    if (entered[r] != n || left[r] != n)
      return fmt::format("round {}: {} entered and {} left, expected {} of each", r, entered[r],
                         left[r], n);
  return "";
}

/// Runs n participants for `rounds` rounds (random pauses from `seed`, the test hook on)
/// and checks the log. Every participant must finish within `budget`: a hang is a failure
/// named as such, not a watchdog TIMEOUT.
inline void no_lap_run(int n, int rounds, std::uint64_t seed, grader::Timeout budget = 20'000ms) {
  Group g(n);
  for (int i = 0; i < n; ++i) g.start(rounds_body(rounds, seed), true);
  const ipclab::Deadline by = grader::deadline(budget);
  std::vector<grader::ChildResult> ends;
  for (int me = 1; me <= n; ++me) ends.push_back(g.finish(me, by));
  // The lap first: it is the cause when a lapped process then hangs or errs.
  const auto lines = g.log();
  const std::string bad = check_sequence(lines, n, rounds);
  ASSERT_FALSE(bad.rfind("process ", 0) == 0)
      << n << " processes x " << rounds << " rounds: " << bad;
  for (int me = 1; me <= n; ++me) {
    const auto& end = ends[static_cast<std::size_t>(me - 1)];
    ASSERT_FALSE(end.timed_out) << n << " processes x " << rounds << " rounds: process " << me
                                << " hung — still in the barrier after " << budget.scaled().count()
                                << " ms (log has " << lines.size() << " of " << 2 * n * rounds
                                << " lines; last: `" << (lines.empty() ? "" : lines.back()) << "`)";
    ASSERT_TRUE(end.passed()) << n << " processes x " << rounds << " rounds: " << end.describe()
                              << "\n(no one died: a false `barrier broken`?)";
  }
  ASSERT_EQ(bad, "") << n << " processes x " << rounds << " rounds: " << bad;
}

}  // namespace lab11_test
