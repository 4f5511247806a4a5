// worker ID [--hold-ms MS] [--timeout-ms MS] — takes one connection from the pool (waiting
// at most --timeout-ms), holds it for --hold-ms, and gives it back.
//   Worker 1: Acquired connection (4 remaining)
//   Worker 1: Released
// Exit: 0 done, 1 timed out (`Worker N: timed out`), 3 no pool or another error (also
// when the slot was taken over by someone else while held: the pool is broken).
#include <poll.h>    // poll
#include <unistd.h>  // getpid

#include <cerrno>     // ENOENT, EINTR
#include <cstdint>    // std::uint32_t
#include <cstdio>     // stdout, stderr, std::fflush
#include <stdexcept>  // std::runtime_error, std::logic_error

#include "ipclab/error.hpp"   // SysError
#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/signal.hpp"  // ShutdownSignals
#include "lab10/pool.hpp"

namespace lab10 = ipclab::lab10;

namespace {

lab10::Pool open_pool() {
  try {
    return lab10::Pool::open();
  } catch (const ipclab::SysError& e) {
    if (e.err() != ENOENT) throw;
    // Still exit 3 (run_main maps any std::exception to it), with the cause spelled out.
    throw std::runtime_error(fmt::format("no pool (start pool_manager first): {}", e.what()));
  }
}

/// Sleeps up to `ms`, returning early on SIGINT/SIGTERM.
void hold(const ipclab::ShutdownSignals& signals, int ms) {
  const ipclab::Deadline deadline{std::chrono::milliseconds(ms)};
  while (!signals.requested() && !deadline.expired()) {
    pollfd p{signals.fd(), POLLIN, 0};
    if (::poll(&p, 1, deadline.poll_ms()) < 0 && errno != EINTR)
      ipclab::throw_errno("poll(signal fd)");
  }
}

int run(std::uint32_t id, int hold_ms, int timeout_ms, bool trace) {
  lab10::Pool pool = open_pool();
  const pid_t self = ::getpid();
  const ipclab::Deadline deadline(std::chrono::milliseconds{timeout_ms});
  // A first try that does not wait (a deadline already passed): if no connection is free,
  // say so (the course guide's "Waiting for connection..."), then wait up to --timeout-ms.
  auto slot = pool.acquire(self, id, ipclab::Deadline(std::chrono::milliseconds{0}));
  if (!slot) {
    fmt::print("Worker {}: Waiting for connection...\n", id);
    (void)std::fflush(stdout);
    slot = pool.acquire(self, id, deadline);
  }
  if (!slot) {
    fmt::print("Worker {}: timed out\n", id);
    return ipclab::kExitFailed;
  }
  // From here until release a SIGINT/SIGTERM ends the hold early (the slot is given back);
  // before this line the default action applies (and pool_manager reclaims the slot).
  ipclab::ShutdownSignals signals;
  const std::int64_t acquired_ns = ipclab::now_ns();
  fmt::print("Worker {}: Acquired connection ({} remaining)\n", id, pool.available());
  (void)std::fflush(stdout);
  hold(signals, hold_ms);
  // The slot must still be ours: another worker in it means two held one connection.
  const pid_t owner = pool.header().slots[*slot].owner.load(std::memory_order_acquire);
  const std::int64_t released_ns = ipclab::now_ns();
  if (trace)
    fmt::print(stderr, "trace: worker={} pid={} slot={} acquired_ns={} released_ns={}\n", id, self,
               *slot, acquired_ns, released_ns);
  if (owner != self)
    throw std::logic_error(fmt::format(
        "worker {}: slot {} was taken over while held (owner now pid {})", id, *slot, owner));
  pool.release(*slot, self);
  fmt::print("Worker {}: Released connection ({} remaining)\n", id, pool.available());
  return ipclab::kExitOk;
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "worker: takes one connection from the pool run by pool_manager, holds it, gives it\n"
      "  back. Exit 0 done, 1 timed out, 3 no pool or another error."};
  std::uint32_t id = 0;
  int hold_ms = 500;
  int timeout_ms = 10'000;
  bool trace = false;
  app.add_option("id", id, "this worker's number (for messages)")
      ->required()
      ->transform(ipclab::cli::count(0, UINT32_MAX));
  app.add_option("--hold-ms", hold_ms, "how long to hold the connection (ms)")
      ->transform(ipclab::cli::milliseconds(0ms, 1h));
  app.add_option("--timeout-ms", timeout_ms, "give up waiting for a connection after (ms)")
      ->transform(ipclab::cli::milliseconds(0ms, 1h));
  app.add_flag("--trace", trace,
               "print the slot and the hold interval (monotonic ns) on stderr, for graders");

  return ipclab::run_main(app, argc, argv, [&] { return run(id, hold_ms, timeout_ms, trace); });
}
