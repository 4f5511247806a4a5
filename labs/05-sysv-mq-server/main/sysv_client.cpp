// sysv_client "HELLO" [--timeout MS] [--key K] — sends one request to sysv_server and
// prints the course guide's `Sending to server (msgtyp=1)`, `Waiting for response
// (msgtyp=PID)` and `Response: HELLO_PROCESSED`. No server: `error: server not running: ...`,
// exit 3.
#include <unistd.h>  // getpid

#include <chrono>  // std::chrono::milliseconds
#include <cstdio>  // stdout, std::fflush
#include <string>  // std::string

#include "ipclab/main.hpp"  // run_main, CLI11
#include "lab05/sysv_server.hpp"

namespace lab05 = ipclab::lab05;

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "sysv_client: sends one request to sysv_server and prints the reply.\n"
      "  sysv_client HELLO   prints   Response: HELLO_PROCESSED"};
  std::string payload;
  long long timeout_ms = 2000;
  std::string key_text;
  app.add_option("payload", payload,
                 fmt::format("the request, at most {} bytes", lab05::kMaxPayload))
      ->required();
  app.add_option("--timeout", timeout_ms,
                 "milliseconds to wait in all (queue, room, reply); then exit 3")
      ->transform(ipclab::cli::milliseconds(1ms, 24h));
  app.add_option("--key", key_text,
                 "System V key, decimal or 0x-hex (default: ftok of <rundir>/sysv_server.key)");

  return ipclab::run_main(app, argc, argv, [&] {
    const key_t key = key_text.empty() ? lab05::default_key() : lab05::parse_key(key_text);
    // The course guide's lines: call() sends mtype 1, then waits for mtype = our pid (not
    // for a payload call() refuses: bad input prints only its error).
    if (payload.size() <= lab05::kMaxPayload)
      fmt::print("Sending to server (msgtyp={})\nWaiting for response (msgtyp={})\n",
                 lab05::kRequestType, ::getpid());
    (void)std::fflush(stdout);  // before a wait that may be long
    const auto reply = lab05::call(key, payload, std::chrono::milliseconds(timeout_ms));
    fmt::print("Response: {}\n", reply);
    return ipclab::kExitOk;
  });
}
