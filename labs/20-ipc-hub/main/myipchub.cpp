// myipchub [--spawn CMD]... [--max-clients N] [--queue N] — the message hub; SIGINT or
// SIGTERM removes every object it made. myipchub --stats asks the running hub for its
// counters.
#include <string>  // std::string
#include <vector>  // std::vector

#include "ipclab/main.hpp"    // run_main, CLI11, ipclab::cli
#include "ipclab/signal.hpp"  // ShutdownSignals, ignore_sigpipe
#include "lab20/client.hpp"   // HubClient, for --stats
#include "lab20/hub.hpp"

using namespace std::chrono_literals;

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "myipchub: a publish/subscribe hub over five transports (pipe, fifo, socket, mqueue,\n"
      "shm). Clients: myipcpub, myipcsub. Stop with SIGINT or SIGTERM."};
  ipclab::lab20::HubOptions opts;
  bool stats = false;
  double timeout_s = 5;
  app.add_option("--spawn", opts.spawn,
                 "run CMD (with /bin/sh -c) as a child that speaks the protocol on fds 0/1")
      ->take_all();
  app.add_flag("--stats", stats, "print the running hub's per-channel and per-client counters");
  app.add_option("--max-clients", opts.max_clients, "clients connected at once (default 1024)")
      ->transform(ipclab::cli::count(1, 100'000));
  app.add_option("--queue", opts.queue_limit,
                 "frames held per client before its messages are dropped (default 256)")
      ->transform(ipclab::cli::count(1, 1'000'000));
  app.add_option("--timeout", timeout_s, "--stats: seconds to wait for the hub (default 5)")
      ->transform(ipclab::cli::seconds(1ms, 24h));

  return ipclab::run_main(app, argc, argv, [&] {
    if (stats) {
      const ipclab::Deadline deadline(ipclab::lab20::seconds_to_duration(timeout_s));
      auto client = ipclab::lab20::HubClient::connect(ipclab::lab20::Backend::kSocket, deadline);
      fmt::print("{}", client.stats(deadline));
      return 0;
    }
    ipclab::ignore_sigpipe();
    ipclab::ShutdownSignals signals;
    ipclab::lab20::run_hub(opts, signals.fd());
    return 0;
  });
}
