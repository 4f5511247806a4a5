// myipcpub --backend B --channel C [--message M]... — publishes each line of stdin (or
// each --message) to channel C and prints how many subscribers got it; exits at EOF.
// With --backend pipe (a child of myipchub --spawn) the protocol is on fds 0/1: the
// messages come from --message and the human lines go to stderr.
#include <unistd.h>  // isatty, STDIN_FILENO

#include <cstdio>    // std::fflush
#include <iostream>  // std::cin, std::getline
#include <string>    // std::string
#include <vector>    // std::vector

#include "ipclab/main.hpp"    // run_main, CLI11, ipclab::cli
#include "ipclab/signal.hpp"  // ignore_sigpipe
#include "lab20/client.hpp"

using namespace std::chrono_literals;

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{"myipcpub: publish each line of stdin to a channel of the running myipchub"};
  std::string backend_name, channel;
  std::vector<std::string> messages;
  double timeout_s = 5;
  app.add_option("--backend", backend_name, "pipe, fifo, socket, mqueue or shm")->required();
  app.add_option("--channel", channel, "the channel to publish to")->required();
  app.add_option("--message", messages, "publish this instead of reading stdin (repeatable)");
  app.add_option("--timeout", timeout_s, "seconds to wait for the hub (default 5)")
      ->transform(ipclab::cli::seconds(1ms, 24h));

  return ipclab::run_main(app, argc, argv, [&] {
    using namespace ipclab::lab20;
    ipclab::ignore_sigpipe();
    const Backend backend = parse_backend(backend_name);
    if (!valid_channel(channel, false))
      throw ipclab::UsageError("bad channel name '" + channel + "'");
    const auto timeout = seconds_to_duration(timeout_s);
    FILE* out = backend == Backend::kPipe ? stderr : stdout;
    const bool from_stdin = messages.empty() && backend != Backend::kPipe;
    HubClient client =
        backend == Backend::kPipe
            ? HubClient::over_fds(ipclab::Fd(STDIN_FILENO), ipclab::Fd(STDOUT_FILENO),
                                  ipclab::Deadline(timeout))
            : HubClient::connect(backend, ipclab::Deadline(timeout));
    fmt::print(out, "Connected to hub via {}\nPublishing to '{}' channel...\n",
               backend_title(backend), channel);
    const bool prompt = from_stdin && ::isatty(STDIN_FILENO) != 0;
    int status = 0;
    std::size_t next = 0;
    for (;;) {
      if (prompt) fmt::print(out, "> ");
      (void)std::fflush(out);
      std::string line;
      if (from_stdin ? !std::getline(std::cin, line) : next == messages.size()) break;
      if (!from_stdin) line = messages[next++];
      if (line.size() > kMaxPayload) {
        fmt::print(stderr, "error: a message of {} bytes is too long (max {}); skipped\n",
                   line.size(), kMaxPayload);
        status = 1;
        continue;
      }
      const std::size_t n = client.publish(channel, line, ipclab::Deadline(timeout));
      fmt::print(out, "Published ({} subscriber{})\n", n, n == 1 ? "" : "s");
    }
    (void)std::fflush(out);
    return status;
  });
}
