// chat_client [--socket PATH] [--name NAME] [--timeout SECONDS] — stdin lines to the chat
// server, the server's lines to stdout; exits when the server closes the connection.
#include <string>  // std::string

#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/names.hpp"   // names::path
#include "ipclab/signal.hpp"  // ignore_sigpipe
#include "lab19/chat.hpp"

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "chat_client: connect to chat_server; lines from stdin go to the others, lines from the\n"
      "server go to stdout. At end of input it waits for the server to close the connection."};
  std::string socket_path;
  std::string name;
  double timeout = 5.0;
  app.add_option("--socket", socket_path, "socket path (default: <rundir>/chat.sock)");
  app.add_option("--name", name, "send /name NAME first");
  app.add_option("--timeout", timeout, "seconds to keep trying to connect (default 5)")
      ->transform(ipclab::cli::seconds(1ms, 1h));

  return ipclab::run_main(app, argc, argv, [&] {
    ipclab::ignore_sigpipe();  // stdout closed under us: an EPIPE error, not a silent death
    if (!name.empty() && !ipclab::lab19::valid_name(name))
      throw ipclab::UsageError("bad name: use 1-32 of A-Z a-z 0-9 _ -");
    ipclab::lab19::ClientOptions opts;
    opts.socket_path = socket_path.empty() && app.count("--socket") == 0
                           ? ipclab::names::path("chat.sock")
                           : socket_path;
    opts.name = name;
    opts.connect_timeout_s = timeout;
    return ipclab::lab19::run_client(opts);
  });
}
