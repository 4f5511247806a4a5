// calc_client_auth HOST OP A B — one authenticated call to calc_server_auth:
//   calc_client_auth localhost add 7 9          Using AUTH_SYS (uid=1000, gid=1000)
//                                               Result: 16
//   calc_client_auth localhost add 7 9 --uid=9999
//                                               AUTH failed: RPC: Authentication error
// OP: add, subtract, multiply; or `accumulate AMOUNT` (prints `Total: N`), with
// --client-id and --request-id (the same ids again are a retry: answered from the server's
// duplicate-request cache, not executed twice).
//
// `calc_client_auth localhost bench [--local PATH]`: calls/s and p50/p99 of authenticated
// calls over TCP and UDP, and over the local transport when --local names the server's socket.
//
// Exit: 0 ok; 1 refused (the credential: "AUTH failed: ..."; or an expired request id);
// 2 bad input; 3 no answer (rpcbind, program not registered, no socket, server dead).
#include <unistd.h>  // geteuid, getegid
#include <limits>    // std::numeric_limits

#include <cstdint>  // std::uint64_t
#include <memory>   // std::unique_ptr
#include <random>   // std::random_device, std::mt19937
#include <string>   // std::string
#include <vector>   // std::vector

#include "ipclab/bench.hpp"  // bench::Report, interleave, format
#include "ipclab/clock.hpp"  // Stopwatch
#include "ipclab/json.hpp"   // json_number, json_string
#include "ipclab/main.hpp"   // run_main, CLI11
#include "ipclab/rpc.hpp"    // rpc::parse_prog
#include "ipclab/stats.hpp"  // Histogram
#include "lab17/calc_auth.hpp"

namespace {

namespace lab = ipclab::lab17;
using namespace std::chrono_literals;

/// The largest uid or gid a credential may claim ((uid_t)-1 means "no change" to the kernel).
constexpr std::int64_t kMaxId = std::int64_t{UINT32_MAX} - 1;

/// A request id nobody used before: the time in nanoseconds (ids of one client increase).
std::uint64_t fresh_request_id() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

struct BenchOptions {
  int calls = 10000;
  int runs = 5;
  int warmup = 1000;
  std::string format = "table";
};

const char* transport_name(lab::Transport t) {
  return t == lab::Transport::kTcp ? "tcp" : t == lab::Transport::kUdp ? "udp" : "local";
}

/// calc_client_auth HOST bench: sequential AUTH_SYS add calls (each a round trip and a policy
/// check) over TCP, UDP and, with --local, the AF_UNIX transport (where the server also
/// compares the credential with SO_PEERCRED); rounds interleaved, every answer checked.
int run_bench(const lab::ClientOptions& base, const BenchOptions& b) {
  namespace bench = ipclab::bench;
  const auto fmt_kind = bench::parse_format(b.format);
  bench::Report report{"calc_client_auth bench"};
  report.ops_label = "calls/s";
  report.param("host", ipclab::json_string(base.host));
  report.param("prog", ipclab::json_number(base.prog));
  report.param("calls", ipclab::json_number(b.calls));
  report.param("runs", ipclab::json_number(b.runs));
  report.note(fmt::format("{} sequential AUTH_SYS add calls per round, {} rounds, medians", b.calls,
                          b.runs));
  std::vector<lab::Transport> transports = {lab::Transport::kTcp, lab::Transport::kUdp};
  if (!base.local_path.empty()) transports.push_back(lab::Transport::kLocal);
  std::vector<std::unique_ptr<lab::AuthCalculator>> clients;
  for (auto t : transports) {
    lab::ClientOptions o = base;
    o.transport = t;
    clients.push_back(std::make_unique<lab::AuthCalculator>(o));
    report.add(transport_name(t));
  }
  const std::int64_t corrupt = bench::corrupt_hook();
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> dist(-1'000'000, 1'000'000);
  std::int64_t seq = 0;
  auto one = [&](lab::AuthCalculator& c) {
    const int x = dist(rng);
    const int y = dist(rng);
    const int sent_y = seq++ == corrupt ? y + 1 : y;  // IPCLAB_BENCH_CORRUPT: a wrong answer
    const int got = c.call(lab::Op::kAdd, x, sent_y);
    if (got != x + y)
      throw ipclab::OperationFailed(
          fmt::format("verification failed: add({}, {}) answered {}", x, y, got));
  };
  for (auto& c : clients)
    for (int i = 0; i < b.warmup; ++i) one(*c);  // connections, caches, page faults
  bench::interleave(b.runs, clients.size(), [&](int, std::size_t i) {
    ipclab::Histogram h;
    const ipclab::Stopwatch total;
    for (int k = 0; k < b.calls; ++k) {
      const ipclab::Stopwatch sw;
      one(*clients[i]);
      h.record(sw.elapsed_ns());
    }
    report.results[i].record(b.calls / total.elapsed_s(), -1, static_cast<double>(h.percentile(50)),
                             static_cast<double>(h.percentile(99)));
  });
  report.ratio("udp", "tcp");
  if (!base.local_path.empty()) report.ratio("local", "tcp");
  fmt::print("{}", bench::format(report, fmt_kind));
  return ipclab::kExitOk;
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "calc_client_auth: one call to calc_server_auth, with the credential you choose.\n"
      "  calc_client_auth localhost add 7 9 [--uid=N] [--gid=N] [--none] [--local PATH]\n"
      "  calc_client_auth localhost accumulate 5 --client-id 7 --request-id 1\n"
      "  calc_client_auth localhost bench [--local PATH]   calls/s, p50/p99 per transport"};
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
  app.add_option("op", op_text, "add, subtract, multiply, accumulate, or bench")->required();
  app.add_option("numbers", numbers, "A B (accumulate: AMOUNT), 32-bit ints");
  app.add_option("--uid", opts.uid, "AUTH_SYS: the uid to claim (default: yours)")
      ->transform(ipclab::cli::integer(0, kMaxId));
  app.add_option("--gid", opts.gid, "AUTH_SYS: the gid to claim (default: yours)")
      ->transform(ipclab::cli::integer(0, kMaxId));
  app.add_flag("--none", opts.auth_none, "AUTH_NONE: no credential at all");
  app.add_option("--local", local, "call over this AF_UNIX socket (a bare name: run dir)");
  app.add_option("--proto", proto, "tcp or udp (without --local)")
      ->check(CLI::IsMember({"tcp", "udp"}));
  app.add_option("--prog", prog_text, "program number (default 0x31230001; hex or decimal)");
  app.add_option("--timeout", timeout_ms,
                 "milliseconds for making the client, and again for the call")
      ->transform(ipclab::cli::milliseconds(1ms, 1h));
  app.add_option("--client-id", client_id, "accumulate: this client's id (default: random)")
      ->transform(ipclab::cli::count(0, UINT64_MAX));
  app.add_option("--request-id", request_id,
                 "accumulate: this request's id (default: new); the same id again is a retry")
      ->transform(ipclab::cli::count(0, UINT64_MAX));
  BenchOptions bench;
  app.add_option("--calls", bench.calls, "bench: calls per transport per round")
      ->transform(ipclab::cli::count(1, 100'000'000));
  app.add_option("--runs", bench.runs, "bench: rounds")->transform(ipclab::cli::count(1, 1000));
  app.add_option("--warmup", bench.warmup, "bench: untimed calls first")
      ->transform(ipclab::cli::count(0, 100'000'000));
  app.add_option("--format", bench.format, "bench: table, csv or json");
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
    if (op_text == "bench") {
      if (!numbers.empty()) throw ipclab::UsageError("bench takes no operands");
      return run_bench(opts, bench);
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
