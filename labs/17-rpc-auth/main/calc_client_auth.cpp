// calc_client_auth HOST OP A B — one authenticated call to calc_server_auth:
//   calc_client_auth localhost add 7 9          Using AUTH_SYS (uid=1000, gid=1000)
//                                               Result: 16
//   calc_client_auth localhost add 7 9 --uid=9999
//                                               AUTH failed: RPC: Authentication error
// OP: add, subtract, multiply; or `accumulate AMOUNT` (prints `Total: N`), with
// --client-id and --request-id (the same ids again are a retry: answered from the server's
// duplicate-request cache, not executed twice).
//
// Exit: 0 ok; 1 refused (the credential: "AUTH failed: ..."; or an expired request id);
// 2 bad input; 3 no answer (rpcbind, program not registered, no socket, server dead).
#include <unistd.h>  // geteuid, getegid
#include <limits>    // std::numeric_limits

#include <cstdint>  // std::uint64_t
#include <random>   // std::random_device
#include <string>   // std::string
#include <vector>   // std::vector

#include "ipclab/main.hpp"  // run_main, CLI11
#include "ipclab/rpc.hpp"   // rpc::parse_prog
#include "lab17/calc_auth.hpp"

namespace {

namespace lab = ipclab::lab17;

/// A request id nobody used before: the time in nanoseconds (ids of one client increase).
std::uint64_t fresh_request_id() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "calc_client_auth: one call to calc_server_auth, with the credential you choose.\n"
      "  calc_client_auth localhost add 7 9 [--uid=N] [--gid=N] [--none] [--local PATH]\n"
      "  calc_client_auth localhost accumulate 5 --client-id 7 --request-id 1"};
  std::string host;
  std::string op_text;
  std::vector<std::string> numbers;
  lab::ClientOptions opts;
  opts.uid = ::geteuid();
  opts.gid = ::getegid();
  std::string proto = "tcp";
  std::string local;
  std::string prog_text = fmt::format("0x{:08x}", CALC_AUTH_PROG);
  int timeout_ms = 2000;
  std::uint64_t client_id = 0;
  std::uint64_t request_id = 0;
  app.add_option("host", host, "the server's host (rpcbind is asked there)")->required();
  app.add_option("op", op_text, "add, subtract, multiply or accumulate")->required();
  app.add_option("numbers", numbers, "A B (accumulate: AMOUNT), 32-bit ints");
  app.add_option("--uid", opts.uid, "AUTH_SYS: the uid to claim (default: yours)");
  app.add_option("--gid", opts.gid, "AUTH_SYS: the gid to claim (default: yours)");
  app.add_flag("--none", opts.auth_none, "AUTH_NONE: no credential at all");
  app.add_option("--local", local, "call over this AF_UNIX socket (a bare name: run dir)");
  app.add_option("--proto", proto, "tcp or udp (without --local)")
      ->check(CLI::IsMember({"tcp", "udp"}));
  app.add_option("--prog", prog_text, "program number (default 0x31230001; hex or decimal)");
  app.add_option("--timeout", timeout_ms,
                 "milliseconds for making the client, and again for the call")
      ->check(CLI::Range(1, 3'600'000));
  app.add_option("--client-id", client_id, "accumulate: this client's id (default: random)");
  app.add_option("--request-id", request_id,
                 "accumulate: this request's id (default: new); the same id again is a retry");
  app.positionals_at_end(false);

  return ipclab::run_main(app, argc, argv, [&] {
    opts.host = host;
    opts.prog = ipclab::rpc::parse_prog(prog_text);
    opts.timeout = std::chrono::milliseconds(timeout_ms);
    opts.transport = proto == "udp" ? lab::Transport::kUdp : lab::Transport::kTcp;
    if (!local.empty()) {
      opts.transport = lab::Transport::kLocal;
      opts.local_path = lab::local_socket_path(local);
    }
    const auto op = lab::parse_op(op_text);
    if (!op)
      throw ipclab::UsageError(
          fmt::format("unknown operation \"{}\": add, subtract, multiply or accumulate", op_text));
    const std::size_t want = *op == lab::Op::kAccumulate ? 1 : 2;
    if (numbers.size() != want)
      throw ipclab::UsageError(fmt::format("{} takes {}", op_text, want == 1 ? "AMOUNT" : "A B"));
    const std::string using_line =
        opts.auth_none ? std::string("Using AUTH_NONE\n")
                       : fmt::format("Using AUTH_SYS (uid={}, gid={})\n", opts.uid, opts.gid);

    const int x = static_cast<int>(ipclab::parse_integer(want == 1 ? "AMOUNT" : "A", numbers[0],
                                                         std::numeric_limits<int>::min(),
                                                         std::numeric_limits<int>::max()));
    const int y = want == 2 ? static_cast<int>(ipclab::parse_integer(
                                  "B", numbers[1], std::numeric_limits<int>::min(),
                                  std::numeric_limits<int>::max()))
                            : 0;
    try {
      lab::AuthCalculator calc(opts);
      if (*op == lab::Op::kAccumulate) {
        if (client_id == 0) client_id = std::random_device{}() * 0x100000001ULL + 1;
        if (request_id == 0) request_id = fresh_request_id();
        const accum_result r = calc.accumulate(client_id, request_id, x);
        if (r.status == ACCUM_EXPIRED)
          throw ipclab::OperationFailed(fmt::format(
              "request id {} of client {} expired from the server's duplicate-request cache "
              "(not executed)",
              request_id, client_id));
        fmt::print("{}Total: {}\n", using_line, r.total);
      } else {
        const int v = calc.call(*op, x, y);
        fmt::print("{}Result: {}\n", using_line, v);
      }
    } catch (const lab::AuthError& e) {
      fmt::print(stderr, "AUTH failed: {}\n", e.what());
      return ipclab::kExitFailed;
    }
    return ipclab::kExitOk;
  });
}
