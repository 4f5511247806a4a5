// myipcsub --backend B --channel C [--channel C2]... [--count N] — subscribes and prints
// `[C] message` per message, flushed per line. With --backend pipe (a child of
// myipchub --spawn) the protocol is on fds 0/1 and these lines go to stderr.
#include <unistd.h>  // STDIN_FILENO, STDOUT_FILENO

#include <cstdint>  // std::uint64_t
#include <cstdio>   // std::fwrite, std::fflush
#include <string>   // std::string
#include <vector>   // std::vector

#include "ipclab/main.hpp"    // run_main, CLI11, ipclab::cli
#include "ipclab/signal.hpp"  // ignore_sigpipe
#include "lab20/client.hpp"

using namespace std::chrono_literals;

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{"myipcsub: subscribe to channels of the running myipchub and print each message"};
  std::string backend_name;
  std::vector<std::string> channels;
  std::uint64_t count = 0;
  double timeout_s = 5;
  app.add_option("--backend", backend_name, "pipe, fifo, socket, mqueue or shm")->required();
  app.add_option("--channel", channels, "a channel, or a family `name.*` (repeatable)")
      ->required()
      ->take_all();
  app.add_option("--count", count, "exit after this many messages (default: never)")
      ->transform(ipclab::cli::count(1, 10'000'000'000));
  app.add_option("--timeout", timeout_s, "seconds to wait for the hub (default 5)")
      ->transform(ipclab::cli::seconds(1ms, 24h));

  return ipclab::run_main(app, argc, argv, [&] {
    using namespace ipclab::lab20;
    ipclab::ignore_sigpipe();
    const Backend backend = parse_backend(backend_name);
    for (const auto& c : channels)
      if (!valid_channel(c, true)) throw ipclab::UsageError("bad channel name '" + c + "'");
    const ipclab::Deadline deadline(seconds_to_duration(timeout_s));
    // The pipe backend's protocol is on stdout: the human lines go to stderr.
    FILE* out = backend == Backend::kPipe ? stderr : stdout;
    HubClient client =
        backend == Backend::kPipe
            ? HubClient::over_fds(ipclab::Fd(STDIN_FILENO), ipclab::Fd(STDOUT_FILENO), deadline)
            : HubClient::connect(backend, deadline);
    fmt::print(out, "Connected to hub via {}\n", backend_title(backend));
    for (const auto& c : channels) {
      client.subscribe(c, deadline);
      fmt::print(out, "Subscribed to '{}'\n", c);
    }
    (void)std::fflush(out);
    for (std::uint64_t n = 0; count == 0 || n < count; ++n) {
      auto f = client.next(ipclab::Deadline::never());
      if (!f) continue;
      std::string line = "[" + f->channel + "] ";
      line += f->payload;  // any bytes, NUL included: written as they came
      line += '\n';
      (void)std::fwrite(line.data(), 1, line.size(), out);
      (void)std::fflush(out);
    }
    return 0;
  });
}
