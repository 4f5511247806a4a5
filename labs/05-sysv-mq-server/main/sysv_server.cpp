// sysv_server [--key K] — serves "HELLO" -> "HELLO_PROCESSED" on one System V message queue
// (requests mtype 1, replies mtype = client pid) until SIGINT or SIGTERM, then removes it.
#include <signal.h>  // SIGINT, SIGTERM
#include <string.h>  // sigabbrev_np

#include <cstdio>  // stdout, std::fflush
#include <string>  // std::string

#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/signal.hpp"  // ShutdownSignals
#include "lab05/sysv_server.hpp"

namespace lab05 = ipclab::lab05;

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "sysv_server: answers sysv_client requests on one System V message queue.\n"
      "  Requests are mtype 1; each reply is mtype = the client's pid. Stops on SIGINT or\n"
      "  SIGTERM and removes the queue (IPC_RMID). A queue left by a killed server is\n"
      "  removed at startup; a live server on the same key is left alone (exit 1)."};
  std::string key_text;
  app.add_option("--key", key_text,
                 "System V key, decimal or 0x-hex (default: ftok of <rundir>/sysv_server.key)");

  return ipclab::run_main(app, argc, argv, [&] {
    const key_t key = key_text.empty() ? lab05::default_key() : lab05::parse_key(key_text);
    ipclab::ShutdownSignals signals;  // before the queue exists: a signal never leaks it
    auto server = lab05::Server::start(key);
    if (const auto stale = server.stale())
      fmt::print(stderr, "sysv_server: removed stale queue (id {}, {} message{} left in it)\n",
                 stale->id, stale->messages, stale->messages == 1 ? "" : "s");
    // The course guide's two lines: the queue's key and id, then the mtype it serves.
    fmt::print("Server starting, key=0x{:08x}, msqid={}\nWaiting for requests (msgtyp={})...\n",
               static_cast<unsigned>(key), server.queue_id(), lab05::kRequestType);
    (void)std::fflush(stdout);  // the ready line must not wait in a buffer: tests read it
    const auto stats = server.serve([&] { return signals.requested(); });
    const int id = server.queue_id();
    server.remove();
    const char* sig = signals.signal() != 0 ? sigabbrev_np(signals.signal()) : nullptr;
    fmt::print(
        "sysv_server: SIG{}: removed queue id {} (served {}, malformed {}, orphaned replies "
        "dropped {})\n",
        sig != nullptr ? sig : "?", id, stats.served, stats.malformed, stats.orphaned);
    return ipclab::kExitOk;
  });
}
