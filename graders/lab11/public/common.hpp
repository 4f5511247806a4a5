// Shared by lab 11's public and hidden tests: participants forked from the test process
// that meet at a SysvBarrier and write a shared sequence log (one O_APPEND file), the
// log's checker, and looking at semaphore sets by id (semctl and `ipcs -s`).
#pragma once

#include <fcntl.h>      // open, O_APPEND
#include <sched.h>      // sched_yield
#include <signal.h>     // SIGKILL
#include <sys/ipc.h>    // IPC_STAT
#include <sys/prctl.h>  // prctl, PR_SET_PDEATHSIG
#include <sys/sem.h>    // semctl, semid_ds
#include <unistd.h>     // fork, _exit, write, usleep

#include <algorithm>   // std::ranges::count
#include <fstream>     // std::ifstream
#include <functional>  // std::function
#include <map>         // std::map
#include <optional>    // std::optional
#include <random>      // std::mt19937_64
#include <sstream>     // std::istringstream
#include <string>      // std::string
#include <vector>      // std::vector

#include "grader/grader.hpp"
#include "ipclab/clock.hpp"    // Deadline
#include "ipclab/names.hpp"    // names::sysv_key
#include "ipclab/process.hpp"  // wait_for, kill_and_reap, process_state
#include "lab11/barrier.hpp"

using namespace std::chrono_literals;

namespace lab11_test {

namespace l11 = ipclab::lab11;

/// Exit codes of a forked participant.
inline constexpr int kOk = 0;
inline constexpr int kBroken = 7;  ///< wait() threw BarrierBroken
inline constexpr int kError = 8;   ///< anything else was thrown (message on stderr)

inline std::string describe_code(const ipclab::WaitStatus& st) {
  if (st.exited() && st.exit_code() == kOk) return "finished all rounds";
  if (st.exited() && st.exit_code() == kBroken) return "reported barrier broken";
  if (st.exited() && st.exit_code() == kError)
    return "threw an exception other than BarrierBroken (see stderr)";
  return st.describe();
}

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

/// What a forked participant does; its return value is its exit code.
using Body = std::function<int(l11::SysvBarrier&, int me, int log_fd)>;

/// A barrier (created on the default key) and participants forked from the test process.
/// The destructor SIGKILLs and reaps the participants that are left and removes the set,
/// so the leak guard only judges what the code under test did.
class Group {
 public:
  explicit Group(int n)
      : n_(n),
        log_path_(grader::scratch() + "/sequence.log"),
        barrier_(l11::SysvBarrier::create(ipclab::names::sysv_key(l11::kKeyName), n)) {
    log_fd_ = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  }
  ~Group() {
    for (const pid_t p : pids_)
      if (!status_.contains(p)) ipclab::kill_and_reap(p);
    if (log_fd_ >= 0) ::close(log_fd_);
    try {
      barrier_.remove();
    } catch (const std::exception&) {  // the leak guard reports what is left
    }
  }
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  l11::SysvBarrier& barrier() { return barrier_; }
  int id() const { return barrier_.id(); }
  const std::string& log_path() const { return log_path_; }
  pid_t pid(int me) const { return pids_.at(static_cast<std::size_t>(me - 1)); }

  /// Forks participant number pids_.size() + 1 running `body` after join().
  /// jitter: IPCLAB_BARRIER_JITTER=1 in the child (the test hook yields at random).
  pid_t fork_participant(const Body& body, bool jitter) {
    const int me = static_cast<int>(pids_.size()) + 1;
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (jitter) ::setenv("IPCLAB_BARRIER_JITTER", "1", 1);
      int code = kError;
      try {
        barrier_.join();
        code = body(barrier_, me, log_fd_);
      } catch (const l11::BarrierBroken&) {
        code = kBroken;
      } catch (const std::exception& e) {
        const std::string msg = fmt::format("participant {}: {}\n", me, e.what());
        (void)!::write(2, msg.data(), msg.size());
      }
      ::_exit(code);
    }
    pids_.push_back(pid);
    return pid;
  }

  /// Waits for participant `me` until `deadline`; nullopt if it is still running.
  std::optional<ipclab::WaitStatus> wait(int me, const ipclab::Deadline& deadline) {
    const pid_t p = pid(me);
    if (auto it = status_.find(p); it != status_.end()) return it->second;
    auto st = ipclab::wait_for(p, deadline);
    if (st) status_[p] = *st;
    return st;
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
  int n_;
  std::string log_path_;
  l11::SysvBarrier barrier_;
  int log_fd_ = -1;
  std::vector<pid_t> pids_;
  std::map<pid_t, ipclab::WaitStatus> status_;
};

/// The body of a participant doing `rounds` rounds: "round me enter" before wait(),
/// "round me leave" after it; with `rng_seed` != 0, a random pause between rounds too.
inline Body rounds_body(int rounds, std::uint64_t rng_seed = 0) {
  return [rounds, rng_seed](l11::SysvBarrier& b, int me, int log_fd) {
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
    return kOk;
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
inline void no_lap_run(int n, int rounds, std::uint64_t seed,
                       std::chrono::milliseconds budget = 20'000ms) {
  Group g(n);
  for (int i = 0; i < n; ++i) g.fork_participant(rounds_body(rounds, seed), true);
  const ipclab::Deadline deadline(grader::scaled(budget));
  std::vector<std::optional<ipclab::WaitStatus>> status;
  for (int me = 1; me <= n; ++me) status.push_back(g.wait(me, deadline));
  // The lap first: it is the cause when a lapped process then hangs or errs.
  const auto lines = g.log();
  const std::string bad = check_sequence(lines, n, rounds);
  ASSERT_FALSE(bad.rfind("process ", 0) == 0)
      << n << " processes x " << rounds << " rounds: " << bad;
  for (int me = 1; me <= n; ++me) {
    const auto& st = status[static_cast<std::size_t>(me - 1)];
    ASSERT_TRUE(st.has_value()) << n << " processes x " << rounds << " rounds: process " << me
                                << " hung — still in the barrier after "
                                << grader::scaled(budget).count() << " ms (log has " << lines.size()
                                << " of " << 2 * n * rounds << " lines; last: `"
                                << (lines.empty() ? "" : lines.back()) << "`)";
    ASSERT_TRUE(st->exited() && st->exit_code() == kOk)
        << n << " processes x " << rounds << " rounds: process " << me << " " << describe_code(*st)
        << " (no one died: a false `barrier broken`?)";
  }
  ASSERT_EQ(bad, "") << n << " processes x " << rounds << " rounds: " << bad;
}

}  // namespace lab11_test
