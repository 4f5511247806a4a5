// pool_manager --max-connections=N — creates the connection pool (a named semaphore and a
// shared-memory table of N slots), reclaims the slots of workers that died holding one,
// and removes both objects on SIGINT/SIGTERM. --stats prints a running pool's counters;
// --unlink removes a pool left behind by a killed manager. One live manager at a time:
// serving and --unlink both hold the single-instance lock <rundir>/pool_manager.lock
// (ipclab::InstanceLock), so a second manager, or --unlink of a live manager's pool, is
// refused with exit 1 ("already running"). A clean exit removes the lock file.
#include <poll.h>    // poll
#include <string.h>  // sigabbrev_np

#include <cerrno>     // EEXIST, ENOENT
#include <cstdio>     // stdout, std::fflush
#include <stdexcept>  // std::runtime_error

#include "ipclab/error.hpp"          // SysError, check_unix
#include "ipclab/instance_lock.hpp"  // InstanceLock
#include "ipclab/main.hpp"           // run_main, CLI11
#include "ipclab/signal.hpp"         // ShutdownSignals
#include "lab10/pool.hpp"

namespace lab10 = ipclab::lab10;

namespace {

/// How often the manager looks for dead owners: reclamation happens within ~this, well
/// under the 1 s the lab promises.
constexpr int kReclaimPeriodMs = 100;

int print_stats() {
  lab10::Pool pool = [] {
    try {
      return lab10::Pool::open();
    } catch (const ipclab::SysError& e) {
      if (e.err() != ENOENT) throw;
      throw std::runtime_error(fmt::format("no pool (is pool_manager running?): {}", e.what()));
    }
  }();
  const lab10::Stats s = pool.stats();
  fmt::print(
      "pool: {} connections, {} available, {} holders, high-water {}, {} acquisitions, {} "
      "reclaimed\n",
      s.max_connections, s.available, s.holders, s.high_water, s.acquisitions, s.reclaimed);
  return ipclab::kExitOk;
}

/// The course guide's "All workers completed successfully": said once every slot handed
/// out since the last time has come back (nobody holds one, the semaphore is full, so
/// nobody waits). "successfully" only if no slot had to be reclaimed from a dead worker.
void announce_when_idle(const lab10::Pool& pool, lab10::Stats& announced) {
  const lab10::Stats s = pool.stats();
  if (s.acquisitions == announced.acquisitions || s.holders != 0 ||
      s.available != static_cast<int>(s.max_connections))
    return;
  if (s.reclaimed == announced.reclaimed)
    fmt::print("All workers completed successfully\n");
  else
    fmt::print("All workers completed ({} slots reclaimed from dead workers)\n",
               s.reclaimed - announced.reclaimed);
  announced = s;
}

/// The single-instance lock of the pool's manager (the pool's names are per namespace).
constexpr const char* kLockName = "pool_manager";

int serve(unsigned max_connections) {
  ipclab::ShutdownSignals signals;  // before the pool exists: a signal never leaks it
  // Before the pool: a second manager must not even look at the live one's pool. Released
  // (its file removed) after the pool is removed, on every way out.
  const auto lock = ipclab::InstanceLock::acquire(kLockName);
  lab10::Pool pool = [&] {
    try {
      return lab10::Pool::create(max_connections);
    } catch (const ipclab::SysError& e) {
      if (e.err() != EEXIST) throw;
      throw std::runtime_error(fmt::format(
          "a pool already exists (another pool_manager? `pool_manager --unlink` removes a "
          "stale one): {}",
          e.what()));
    }
  }();
  fmt::print("Pool manager started ({} connections available)\n", pool.available());
  fmt::print("pool_manager: pool ready, {} connections (sem and shm {})\n", max_connections,
             lab10::sem_name());
  (void)std::fflush(stdout);  // tests wait for this line
  lab10::Stats announced;     // the counters when "All workers completed" was last said
  try {
    while (!signals.requested()) {
      pollfd p{signals.fd(), POLLIN, 0};
      if (::poll(&p, 1, kReclaimPeriodMs) < 0 && errno != EINTR)
        ipclab::throw_errno("poll(signal fd)");
      for (const auto& r : pool.reclaim_dead())
        fmt::print("pool_manager: reclaimed slot {} from dead worker {} (pid {})\n", r.slot,
                   r.worker_id, r.pid);
      announce_when_idle(pool, announced);
      (void)std::fflush(stdout);
    }
  } catch (...) {
    lab10::Pool::remove();
    throw;
  }
  const lab10::Stats s = pool.stats();
  lab10::Pool::remove();
  const char* sig = sigabbrev_np(signals.signal());
  fmt::print(
      "pool_manager: SIG{}: removed the pool (high-water {} of {}, {} acquisitions, {} "
      "reclaimed)\n",
      sig != nullptr ? sig : "?", s.high_water, s.max_connections, s.acquisitions, s.reclaimed);
  return ipclab::kExitOk;
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "pool_manager: a connection pool of N slots guarded by a POSIX named semaphore.\n"
      "  Runs until SIGINT/SIGTERM, reclaiming the slots of dead workers every 100 ms,\n"
      "  then removes the semaphore and the shared-memory table."};
  unsigned max_connections = 5;
  bool stats = false;
  bool unlink = false;
  app.add_option("--max-connections", max_connections, "number of connections (slots)")
      ->transform(ipclab::cli::count(1, lab10::kMaxConnections));
  auto* stats_flag = app.add_flag("--stats", stats, "print a running pool's counters and exit");
  app.add_flag("--unlink", unlink, "remove a pool's semaphore and table and exit")
      ->excludes(stats_flag);

  return ipclab::run_main(app, argc, argv, [&] {
    if (stats) return print_stats();
    if (unlink) {
      // Refused while a live manager serves this pool; held for the removal.
      const auto lock = ipclab::InstanceLock::acquire(kLockName);
      const bool existed = lab10::Pool::remove();
      fmt::print("pool_manager: {}\n", existed ? "removed the pool" : "no pool to remove");
      return ipclab::kExitOk;
    }
    return serve(max_connections);
  });
}
