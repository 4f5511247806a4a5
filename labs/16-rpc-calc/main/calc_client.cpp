// calc_client HOST OP A B — one call to calc_server: `calc_client localhost add 5 3` prints
// `Result: 8`. OP: add, subtract, multiply, divide (version 2).
// calc_client HOST bench — calls/s and p50/p99 latency over TCP and UDP (docs/benchmarking.md).
//
// Exit: 0 ok; 1 the calculator's answer is an error (division by zero, overflow); 2 bad
// input; 3 no answer: rpcbind not running, program not registered, version mismatch,
// server not answering (each said so, within --timeout).
#include <cstdint>  // std::uint32_t
#include <limits>   // std::numeric_limits
#include <memory>   // std::unique_ptr
#include <random>   // std::mt19937
#include <string>   // std::string
#include <vector>   // std::vector

#include "ipclab/bench.hpp"  // bench::Report, interleave, format
#include "ipclab/clock.hpp"  // Stopwatch
#include "ipclab/json.hpp"   // json_number, json_string
#include "ipclab/main.hpp"   // run_main, CLI11
#include "ipclab/rpc.hpp"    // rpc::parse_prog
#include "ipclab/stats.hpp"  // Histogram
#include "lab16/calc.hpp"

namespace {

namespace lab = ipclab::lab16;
namespace bench = ipclab::bench;
using namespace std::chrono_literals;

/// calc_client HOST bench: sequential calls (each a round trip) over TCP and UDP, rounds
/// interleaved; each answer is checked against the sum it must be.
int run_bench(const lab::ClientOptions& base, int calls, int runs, int warmup,
              const std::string& format) {
  const auto fmt_kind = bench::parse_format(format);
  bench::Report report{"calc_client bench"};
  report.ops_label = "calls/s";
  report.param("host", ipclab::json_string(base.host));
  report.param("prog", ipclab::json_number(base.prog));
  report.param("vers", ipclab::json_number(base.vers));
  report.param("calls", ipclab::json_number(calls));
  report.param("runs", ipclab::json_number(runs));
  report.note(fmt::format(
      "{} sequential add calls per round (each one round trip), {} rounds, medians", calls, runs));
  const lab::Proto protos[] = {lab::Proto::kTcp, lab::Proto::kUdp};
  std::vector<std::unique_ptr<lab::Calculator>> clients;
  for (auto p : protos) {
    lab::ClientOptions o = base;
    o.proto = p;
    clients.push_back(std::make_unique<lab::Calculator>(o));
    report.add(lab::proto_name(p));
  }
  const std::int64_t corrupt = bench::corrupt_hook();
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> dist(-1'000'000, 1'000'000);
  std::int64_t seq = 0;
  auto one = [&](lab::Calculator& c) {
    const int a = dist(rng);
    const int b = dist(rng);
    const int sent_b =
        seq++ == corrupt ? b + 1 : b;  // IPCLAB_BENCH_CORRUPT: a wrong answer on purpose
    const auto ans = c.call(lab::Op::kAdd, a, sent_b);
    if (ans.status != CALC_OK || ans.value != a + b)
      throw ipclab::OperationFailed(
          fmt::format("verification failed: add({}, {}) answered {}", a, b, ans.value));
  };
  for (auto& c : clients)
    for (int i = 0; i < warmup; ++i) one(*c);  // warm-up: connections, caches, page faults
  bench::interleave(runs, clients.size(), [&](int, std::size_t i) {
    ipclab::Histogram h;
    const ipclab::Stopwatch total;
    for (int k = 0; k < calls; ++k) {
      const ipclab::Stopwatch sw;
      one(*clients[i]);
      h.record(sw.elapsed_ns());
    }
    const double secs = total.elapsed_s();
    report.results[i].record(calls / secs, -1, static_cast<double>(h.percentile(50)),
                             static_cast<double>(h.percentile(99)));
  });
  report.ratio("udp", "tcp");
  fmt::print("{}", bench::format(report, fmt_kind));
  return ipclab::kExitOk;
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "calc_client: one call to calc_server over Sun RPC.\n"
      "  calc_client localhost add 5 3     prints   Result: 8\n"
      "  OP: add, subtract, multiply, divide (version 2 only)\n"
      "  calc_client localhost bench       calls/s and p50/p99 over TCP and UDP"};
  std::string host;
  std::string op_text;
  std::vector<std::string> numbers;
  std::string proto = "tcp";
  int vers = 2;
  int timeout_ms = 2000;
  std::string prog_text = fmt::format("0x{:08x}", CALC_PROG);
  int calls = 10000;
  int runs = 5;
  int warmup = 1000;
  std::string format = "table";
  app.add_option("host", host, "the server's host (rpcbind is asked there)")->required();
  app.add_option("op", op_text, "add, subtract, multiply, divide, or bench")->required();
  app.add_option("numbers", numbers, "A B: the operands (32-bit ints)");
  app.add_option("--proto", proto, "tcp or udp")->check(CLI::IsMember({"tcp", "udp"}));
  app.add_option("--vers", vers, "interface version: 1 or 2")
      ->transform(ipclab::cli::integer(1, 2));
  app.add_option("--timeout", timeout_ms,
                 "milliseconds for making the client, and again for the call")
      ->transform(ipclab::cli::milliseconds(1ms, 1h));
  app.add_option("--prog", prog_text, "program number (default 0x31230000; hex or decimal)");
  app.add_option("--calls", calls, "bench: calls per transport per round")
      ->transform(ipclab::cli::count(1, 100'000'000));
  app.add_option("--runs", runs, "bench: rounds")->transform(ipclab::cli::count(1, 1000));
  app.add_option("--warmup", warmup, "bench: untimed calls first")
      ->transform(ipclab::cli::count(0, 100'000'000));
  app.add_option("--format", format, "bench: table, csv or json");
  app.positionals_at_end(false);

  return ipclab::run_main(app, argc, argv, [&] {
    lab::ClientOptions opts;
    opts.host = host;
    opts.prog = ipclab::rpc::parse_prog(prog_text);
    opts.vers = static_cast<std::uint32_t>(vers);
    opts.proto = proto == "udp" ? lab::Proto::kUdp : lab::Proto::kTcp;
    opts.timeout = std::chrono::milliseconds(timeout_ms);
    if (op_text == "bench") {
      if (!numbers.empty()) throw ipclab::UsageError("bench takes no operands");
      return run_bench(opts, calls, runs, warmup, format);
    }
    const auto op = lab::parse_op(op_text);
    if (!op)
      throw ipclab::UsageError(fmt::format(
          "unknown operation \"{}\": add, subtract, multiply, divide or bench", op_text));
    if (numbers.size() != 2)
      throw ipclab::UsageError(fmt::format("{} takes two operands: A B", op_text));
    const int a = static_cast<int>(ipclab::parse_integer(
        "A", numbers[0], std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
    const int b = static_cast<int>(ipclab::parse_integer(
        "B", numbers[1], std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
    if (*op == lab::Op::kDivide && opts.vers == CALC_VERS)
      throw ipclab::UsageError("divide needs version 2 (version 1 has add, subtract and multiply)");

    lab::Calculator calc(opts);
    const lab::Answer ans = calc.call(*op, a, b);
    switch (ans.status) {
      case CALC_OK:
        fmt::print("Result: {}\n", ans.value);
        return ipclab::kExitOk;
      case DIV_BY_ZERO:
        throw ipclab::OperationFailed("division by zero");
      default:
        throw ipclab::OperationFailed("overflow");  // the result does not fit in 32 bits
    }
  });
}
