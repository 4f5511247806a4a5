// barrier_test [--processes=N] [--iterations=R] — forks N processes that meet at a
// SysvBarrier R times, prints each arrival and departure, and checks from a shared log that
// nobody left a round before everybody had reached it. Test hooks make one participant die
// (--kill-one-at) or stall (--stall-one-at). The semaphore set is removed at the end, on
// failure, and on SIGINT/SIGTERM.
#include <fcntl.h>      // open, O_APPEND
#include <poll.h>       // poll
#include <signal.h>     // signal, raise, SIGKILL
#include <string.h>     // sigabbrev_np
#include <sys/prctl.h>  // prctl, PR_SET_PDEATHSIG
#include <sys/wait.h>   // WIFSIGNALED
#include <unistd.h>     // fork, _exit, pause, getpid

#include <algorithm>  // std::find
#include <atomic>     // std::atomic
#include <cstdio>     // stdout, std::fflush
#include <fstream>    // std::ifstream
#include <map>        // std::map
#include <new>        // placement new
#include <optional>   // std::optional
#include <string>     // std::string
#include <vector>     // std::vector

#include "ipclab/clock.hpp"    // Deadline
#include "ipclab/fd.hpp"       // Fd
#include "ipclab/main.hpp"     // run_main, CLI11
#include "ipclab/names.hpp"    // names::sysv_key, names::path
#include "ipclab/process.hpp"  // try_wait, kill_and_reap, WaitStatus
#include "ipclab/shm.hpp"      // Mapping::anonymous_shared
#include "ipclab/signal.hpp"   // ShutdownSignals
#include "lab11/barrier.hpp"

namespace lab11 = ipclab::lab11;

namespace {

struct Options {
  int processes = 5;
  int iterations = 3;
  int kill_at = 0;   // round at which the victim SIGKILLs itself (0: never)
  int stall_at = 0;  // round at which the victim stops taking part, alive (0: never)
  int victim = 0;    // which process (1..N; 0: the last)
  std::string log;   // the shared sequence log ("" = a file in the run directory, removed)
  bool quiet = false;
  int timeout_ms = 30'000;
};

/// One line, one write(2): lines of different processes never interleave.
void say(int fd, const std::string& line) { (void)!::write(fd, line.data(), line.size()); }

/// The body of participant `me` (1-based). Never returns.
/// `passes` counts every departure of every process, shared by all of them: the one whose
/// departure completes round r (passes reaches r * N) prints the course guide's "--- All
/// processes passed barrier r ---". No departure of round r + 1 can come before it.
[[noreturn]] void participant(lab11::SysvBarrier barrier, int me, const Options& o, int log_fd,
                              std::atomic<long>& passes) {
  (void)::signal(SIGINT, SIG_DFL);
  (void)::signal(SIGTERM, SIG_DFL);
  (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the coordinator gone: nobody would clean up
  int round = 0;
  try {
    barrier.join();
    for (round = 1; round <= o.iterations; ++round) {
      if (me == o.victim && round == o.kill_at) {
        say(1, fmt::format("Process {}: dying at round {} (--kill-one-at)\n", me, round));
        (void)::raise(SIGKILL);
      }
      if (me == o.victim && round == o.stall_at) {
        say(1, fmt::format("Process {}: stalling at round {} (--stall-one-at)\n", me, round));
        for (;;) ::pause();
      }
      if (!o.quiet) say(1, fmt::format("[P{}] Reached barrier {}\n", me, round));
      say(log_fd, fmt::format("{} {} enter\n", round, me));
      barrier.wait();
      say(log_fd, fmt::format("{} {} leave\n", round, me));
      if (!o.quiet) say(1, fmt::format("[P{}] Passed barrier {}\n", me, round));
      if ((passes.fetch_add(1) + 1) % o.processes == 0 && !o.quiet)
        say(1, fmt::format("--- All processes passed barrier {} ---\n", round));
    }
  } catch (const lab11::BarrierBroken& e) {
    say(1, fmt::format("Process {}: barrier broken (round {})\n", me, round));
    say(2, fmt::format("error: {}\n", e.what()));
    ::_exit(ipclab::kExitFailed);
  } catch (const std::exception& e) {
    say(2, fmt::format("error: process {}: {}\n", me, e.what()));
    ::_exit(ipclab::kExitSystem);
  }
  ::_exit(ipclab::kExitOk);
}

/// Checks the shared log: every process entered and left every round, and nobody left
/// round r before every process had entered it. "" if all is well, else the failure.
std::string check_log(const std::string& path, const Options& o) {
  std::ifstream in(path);
  std::map<int, std::vector<std::pair<int, std::string>>> rounds;  // round -> (who, what)
  int r = 0;
  int who = 0;
  std::string what;
  while (in >> r >> who >> what) rounds[r].emplace_back(who, what);
  for (r = 1; r <= o.iterations; ++r) {
    int entered = 0;
    int left = 0;
    for (const auto& [p, w] : rounds[r]) {
      if (w == "enter") {
        ++entered;
      } else {
        if (entered < o.processes)
          return fmt::format("process {} left round {} when only {} of {} had reached it", p, r,
                             entered, o.processes);
        ++left;
      }
    }
    if (entered != o.processes || left != o.processes)
      return fmt::format("round {}: {} reached and {} passed the barrier, expected {}", r, entered,
                         left, o.processes);
  }
  return "";
}

int run(const Options& given) {
  Options o = given;
  if (o.victim == 0) o.victim = o.processes;
  if (o.victim < 1 || o.victim > o.processes)
    throw ipclab::UsageError(fmt::format("--victim {} out of range 1..{}", o.victim, o.processes));

  ipclab::ShutdownSignals signals;  // before the set exists: a signal never leaks it
  const key_t key = ipclab::names::sysv_key(lab11::kKeyName);
  if (auto stale = ipclab::SysvSemSet::open(key)) {
    fmt::print(stderr, "barrier_test: removed a stale semaphore set (id {})\n", stale->id());
    stale->remove();
  }
  auto barrier = lab11::SysvBarrier::create(key, o.processes);
  std::vector<pid_t> kids;
  // Whatever happens from here on, the children die and the set goes.
  struct Cleanup {
    lab11::SysvBarrier& b;
    std::vector<pid_t>& kids;
    ~Cleanup() {
      for (const pid_t k : kids) ipclab::kill_and_reap(k);
      try {
        b.remove();
      } catch (const std::exception&) {  // a destructor; ipc-clean reports what is left
      }
    }
  } cleanup{barrier, kids};

  const bool own_log = o.log.empty();
  const std::string log =
      own_log ? ipclab::names::path(fmt::format("barrier_test.{}.log", ::getpid())) : o.log;
  ipclab::Fd log_fd(ipclab::check_unix(
      ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600),
      "open(\"{}\")", log));

  // Zero-filled, shared with every participant (inherited across fork).
  auto shared = ipclab::Mapping::anonymous_shared(sizeof(std::atomic<long>));
  auto& passes = *new (shared.data()) std::atomic<long>(0);
  fmt::print("Barrier Test ({} processes, {} iterations)\n", o.processes, o.iterations);
  fmt::print("barrier_test: semaphore set id {}, {} processes, {} rounds\n", barrier.id(),
             o.processes, o.iterations);
  (void)std::fflush(stdout);  // before fork: the children must not inherit a full buffer
  for (int i = 1; i <= o.processes; ++i) {
    const pid_t pid = ipclab::check_unix(::fork(), "fork");
    if (pid == 0) participant(barrier, i, o, log_fd.get(), passes);
    kids.push_back(pid);
  }

  std::map<pid_t, ipclab::WaitStatus> done;
  const ipclab::Deadline deadline{std::chrono::milliseconds(o.timeout_ms)};
  std::string failure;
  while (done.size() < kids.size()) {
    pollfd pfd{signals.fd(), POLLIN, 0};
    (void)::poll(&pfd, 1, 20);  // the coordinator's own wait: children exiting, or a signal
    for (const pid_t k : kids)
      if (!done.contains(k))
        if (auto st = ipclab::try_wait(k)) done[k] = *st;
    if (signals.requested()) {
      failure = fmt::format("interrupted by SIG{}", sigabbrev_np(signals.signal()));
      break;
    }
    if (deadline.expired()) {
      failure = fmt::format("timed out after {} ms with {} of {} processes still running",
                            o.timeout_ms, kids.size() - done.size(), kids.size());
      break;
    }
  }
  const std::vector<pid_t> pids = kids;  // process i is pids[i - 1]
  for (const pid_t k : kids)             // the survivors of a failure (reaped ones are skipped)
    if (!done.contains(k)) done[k] = ipclab::kill_and_reap(k);
  kids.clear();
  const int id = barrier.id();
  barrier.remove();

  if (failure.empty()) {
    int broken = 0;
    std::string died;
    for (const auto& [pid, st] : done) {
      const auto at = std::find(pids.begin(), pids.end(), pid);
      const auto who = at - pids.begin() + 1;
      if (st.signaled() && died.empty())
        died = fmt::format("process {} was {}", who, st.describe());
      else if (st.exited() && st.exit_code() == ipclab::kExitFailed)
        ++broken;
      else if (!st.exited() || st.exit_code() != 0)
        failure = fmt::format("process {} {}", who, st.describe());
    }
    if (!died.empty() || broken > 0)
      failure = fmt::format("barrier broken: {}{} process{} reported barrier broken",
                            died.empty() ? "" : died + "; ", broken, broken == 1 ? "" : "es");
  }
  if (failure.empty()) failure = check_log(log, o);
  if (own_log) (void)::unlink(log.c_str());

  if (!failure.empty()) {
    fmt::print("FAIL: {} (semaphore set id {} removed)\n", failure, id);
    return ipclab::kExitFailed;
  }
  fmt::print("All processes synchronized correctly. PASS\n");
  return ipclab::kExitOk;
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "barrier_test: N processes meet at a System V semaphore barrier, round after round.\n"
      "  Ends with `All processes synchronized correctly. PASS` (exit 0) or a `FAIL: ...`\n"
      "  line (exit 1). The semaphore set is removed at the end, on failure and on\n"
      "  SIGINT/SIGTERM."};
  Options o;
  app.add_option("--processes", o.processes, "participants")
      ->transform(ipclab::cli::count(1, 1000))
      ->capture_default_str();
  app.add_option("--iterations", o.iterations, "rounds")
      ->transform(ipclab::cli::count(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--kill-one-at", o.kill_at,
                 "test hook: the victim SIGKILLs itself on reaching this round (0: never)")
      ->transform(ipclab::cli::count(0, 1'000'000));
  app.add_option("--stall-one-at", o.stall_at,
                 "test hook: the victim stops (alive) on reaching this round (0: never)")
      ->transform(ipclab::cli::count(0, 1'000'000));
  app.add_option("--victim", o.victim, "the process the test hooks pick, 1..N (default: N)")
      ->transform(ipclab::cli::count(0, 1000));
  app.add_option("--log", o.log, "the shared sequence log (default: a temporary file)");
  app.add_flag("--quiet", o.quiet, "no per-round lines");
  app.add_option("--timeout", o.timeout_ms, "give up (FAIL) after this many ms")
      ->transform(ipclab::cli::milliseconds(1ms, 1h))
      ->capture_default_str();
  return ipclab::run_main(app, argc, argv, [&] { return run(o); });
}
