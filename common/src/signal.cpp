#include "ipclab/signal.hpp"

#include <fcntl.h>   // O_CLOEXEC, O_NONBLOCK
#include <unistd.h>  // pipe2, write

#include <atomic>  // std::atomic
#include <cerrno>  // errno

#include "ipclab/error.hpp"  // check_unix, throw_error

namespace ipclab {
namespace {

// Async-signal-safe state: a lock-free atomic and a descriptor.
std::atomic<int> g_signal{0};
int g_pipe[2] = {-1, -1};
std::atomic<bool> g_installed{false};

/// Restores default dispositions and releases the self-pipe (safe on a partial install).
void uninstall() noexcept {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  for (int& fd : g_pipe) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  g_signal.store(0);
  g_installed.store(false);
}

extern "C" void on_shutdown_signal(int sig) {
  const int saved = errno;
  g_signal.store(sig, std::memory_order_relaxed);
  const char byte = 1;
  (void)!::write(g_pipe[1], &byte, 1);  // non-blocking: a full pipe already says "signalled"
  errno = saved;
}

}  // namespace

ShutdownSignals::ShutdownSignals() {
  if (g_installed.exchange(true)) throw_error(EBUSY, "ShutdownSignals: one per process");
  try {
    check_unix(::pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK), "pipe2 for shutdown signals");
    struct sigaction sa {};
    sa.sa_handler = on_shutdown_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR and loops look at the flag
    check_unix(::sigaction(SIGINT, &sa, nullptr), "sigaction(SIGINT)");
    check_unix(::sigaction(SIGTERM, &sa, nullptr), "sigaction(SIGTERM)");
  } catch (...) {
    uninstall();  // undo what was done, so a later attempt can succeed
    throw;
  }
}

ShutdownSignals::~ShutdownSignals() { uninstall(); }

bool ShutdownSignals::requested() const { return g_signal.load(std::memory_order_relaxed) != 0; }
int ShutdownSignals::signal() const { return g_signal.load(std::memory_order_relaxed); }
int ShutdownSignals::fd() const { return g_pipe[0]; }

void ignore_sigpipe() {
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  check_unix(::sigaction(SIGPIPE, &sa, nullptr), "sigaction(SIGPIPE)");
}

}  // namespace ipclab
