// chat_server [--socket PATH] [--allow-uid UID] [--max-pending BYTES] — a chat on a
// Unix-domain socket; SIGINT/SIGTERM close every connection and remove the socket file.
#include <cstdint>  // std::int64_t
#include <string>   // std::string

#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/names.hpp"   // names::path
#include "ipclab/signal.hpp"  // ShutdownSignals
#include "lab19/chat.hpp"

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "chat_server: a chat over a Unix-domain socket. Each line a client sends goes to every\n"
      "other client as `[NAME] TEXT`; commands /name NEW, /who, /quit. Stop with SIGINT/SIGTERM."};
  std::string socket_path;
  std::int64_t allow_uid = -1;
  std::size_t max_pending = ipclab::lab19::kDefaultMaxPending;
  app.add_option("--socket", socket_path, "socket path (default: <rundir>/chat.sock)");
  app.add_option("--allow-uid", allow_uid, "accept only clients of this uid (SO_PEERCRED)")
      ->transform(ipclab::cli::count(0, 4294967294));
  app.add_option("--max-pending", max_pending,
                 "bytes of output a client may fall behind before it is dropped (default 65536)")
      ->transform(ipclab::cli::size(2 * ipclab::lab19::kMaxLine, std::uint64_t{1} << 30));

  return ipclab::run_main(app, argc, argv, [&] {
    // SIGPIPE is left at its default on purpose: the server must never write in a way that
    // raises it (README §Pitfalls 3).
    ipclab::ShutdownSignals signals;
    ipclab::lab19::ServerOptions opts;
    opts.socket_path = socket_path.empty() && app.count("--socket") == 0
                           ? ipclab::names::path("chat.sock")
                           : socket_path;
    if (allow_uid >= 0) opts.allow_uid = static_cast<uid_t>(allow_uid);
    opts.max_pending = max_pending;
    ipclab::lab19::run_server(opts, signals.fd());
    return 0;
  });
}
