// calc_server — the iterative calculator server: reads requests from <rundir>/calc_server
// and answers each on its client's FIFO, until SIGINT or SIGTERM (then removes the FIFO).
#include <string.h>  // sigabbrev_np
#include <unistd.h>  // getpid

#include <cstdio>       // stdout, std::fflush
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/signal.hpp"  // ShutdownSignals
#include "lab02/calc.hpp"

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "calc_server: the calculator server. Clients (calc_client) write requests to the FIFO\n"
      "<rundir>/calc_server; each reply goes to the client's own FIFO. Stops on SIGINT or\n"
      "SIGTERM and removes its FIFO. Exit 1 if a server is already running here."};
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "also print the server's pid when it is ready");

  return ipclab::run_main(app, argc, argv, [&] {
    namespace lab = ipclab::lab02;
    ipclab::ShutdownSignals signals;
    lab::ServerOptions opts;
    opts.stop_fd = signals.fd();
    // Every line is flushed at once: a file or a pipe is block-buffered, and whoever waits
    // for a line (a test, `grep -m1`) must see it now.
    opts.on_ready = [verbose](const std::string& path) {
      fmt::print("Server listening on {}...\n", path);
      if (verbose) fmt::print("calc_server: listening on {} (pid {})\n", path, ::getpid());
      (void)std::fflush(stdout);
    };
    // The course guide's per-request lines ("Received: ...", "Sending response: ..."), and
    // a bad request dropped.
    opts.log = [](std::string_view line) {
      fmt::print("{}\n", line);
      (void)std::fflush(stdout);
    };
    lab::ServerStats stats;
    try {
      stats = lab::run_server(opts);
    } catch (const lab::AlreadyRunning& e) {
      throw ipclab::OperationFailed(e.what());
    }
    const char* sig = signals.signal() != 0 ? sigabbrev_np(signals.signal()) : nullptr;
    fmt::print("calc_server: stopped by SIG{}: {} requests, {} replies, {} clients gone, {} bad\n",
               sig != nullptr ? sig : "?", stats.requests, stats.replies, stats.clients_gone,
               stats.bad_requests);
    return ipclab::kExitOk;
  });
}
