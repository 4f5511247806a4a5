// kv_client --server=host:port put K V | get K | del K | bench — one request to a node of
// the replicated key-value store:
//   kv_client --server=localhost:9001 put mykey "Hello World"   OK (replicated to 3 nodes)
//   kv_client --server=localhost:9002 get mykey                 Hello World
// A write without a majority: `error: no quorum (1 of 3 nodes)`, exit 1, not done.
//
//   get --local     this node's replica alone (no quorum: may be stale)
//   get --cached    the node's shared-memory cache first (same host; may be stale), then RPC
//   --client-id, --request-id   a write's ids (the same ids again are a retry: answered,
//                   not executed twice); default: new ones
//   bench           starts its own clusters of 1 and 3 kv_server and measures put, get and
//                   cached get (one client, sequential calls)
//
// Exit: 0 ok; 1 not done (no quorum, key not found); 2 bad input; 3 no answer.
#include <chrono>  // std::chrono
#include <random>  // std::random_device
#include <string>  // std::string
#include <vector>  // std::vector

#include "ipclab/main.hpp"  // run_main, CLI11, cli validators
#include "lab18/bench.hpp"  // run_bench
#include "lab18/kv.hpp"

namespace lab = ipclab::lab18;
using namespace std::chrono_literals;

namespace {

std::string nodes_word(unsigned n) { return n == 1 ? "node" : "nodes"; }

[[noreturn]] void no_quorum(unsigned acks, unsigned nodes) {
  throw ipclab::OperationFailed(
      fmt::format("no quorum ({} of {} {})", acks, nodes, nodes_word(nodes)));
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "kv_client: one request to the replicated key-value store.\n"
      "  kv_client --server=localhost:9001 put K V | get K [--local|--cached] | del K | bench"};
  std::string server;
  std::string op;
  std::vector<std::string> args;
  std::int64_t timeout_ms = 5000;
  std::uint64_t client_id = 0;
  std::uint64_t request_id = 0;
  bool local = false;
  bool cached = false;
  std::uint64_t ops = 5000;
  app.add_option("--server", server, "the node to ask: host:port");
  app.add_option("op", op, "put, get, del or bench")
      ->required()
      ->check(CLI::IsMember({"put", "get", "del", "bench"}));
  app.add_option("args", args, "put: KEY VALUE; get, del: KEY");
  app.add_option("--timeout", timeout_ms, "for connecting, and again for the call (ms)")
      ->transform(ipclab::cli::milliseconds(1ms, 1h));
  app.add_option("--client-id", client_id, "a write's client id (default: random)")
      ->transform(ipclab::cli::count(1, UINT64_MAX));
  app.add_option("--request-id", request_id, "a write's request id (default: new)")
      ->transform(ipclab::cli::count(1, UINT64_MAX));
  app.add_flag("--local", local, "get: this node's replica only (may be stale)");
  app.add_flag("--cached", cached, "get: the node's shared-memory cache first (may be stale)");
  app.add_option("--ops", ops, "bench: operations per measurement")
      ->transform(ipclab::cli::count(1, 10'000'000));
  app.positionals_at_end(false);

  return ipclab::run_main(app, argc, argv, [&]() -> int {
    if (op == "bench") return lab::run_bench(ops, std::chrono::milliseconds(timeout_ms));
    if (server.empty()) throw ipclab::UsageError("--server=host:port is required");
    const std::size_t want = op == "put" ? 2 : 1;
    if (args.size() != want)
      throw ipclab::UsageError(fmt::format("{} takes {}", op, want == 2 ? "KEY VALUE" : "KEY"));
    const lab::Address addr = lab::parse_address(server);
    const auto timeout = std::chrono::milliseconds(timeout_ms);
    const std::string& key = args[0];
    if (key.empty() || key.size() > KV_MAX_KEY)
      throw ipclab::UsageError(fmt::format("a key is 1 to {} bytes", KV_MAX_KEY));

    if (op == "get") {
      std::optional<lab::Entry> e;
      if (cached)
        if (auto cache = lab::ReadCache::open(addr.port)) e = cache->lookup(key);
      if (!e) {
        lab::Connection c(addr, timeout);
        if (local) {
          e = c.local_get(key);
        } else {
          const lab::GetReply r = c.get(key);
          if (r.status != KV_OK) no_quorum(r.acks, r.nodes);
          e = r.entry;
        }
      }
      if (!e->present) throw ipclab::OperationFailed(fmt::format("key not found: {}", key));
      fmt::print("{}\n", e->value);
      return ipclab::kExitOk;
    }

    // put or del, with ids that make a retry harmless: the node answers a request id it
    // has seen with its first reply.
    if (client_id == 0)
      client_id = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
    if (request_id == 0)
      request_id = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch() /
                                              std::chrono::nanoseconds(1));
    const std::string value = want == 2 ? args[1] : "";
    if (value.size() > KV_MAX_VALUE)
      throw ipclab::UsageError(fmt::format("a value is at most {} bytes", KV_MAX_VALUE));
    lab::PutReply r;
    for (int attempt = 0;; ++attempt) {
      lab::Connection c(addr, timeout);  // no answer at all: exit 3 at once
      try {
        r = c.put(client_id, request_id, key, op == "put", value);
        break;
      } catch (const lab::NetworkError&) {
        if (attempt == 1) throw;  // the connection broke mid-call: once more, same ids
      }
    }
    if (r.status != KV_OK) no_quorum(r.acks, r.nodes);
    fmt::print("OK (replicated to {} {})\n", r.acks, nodes_word(r.acks));
    return ipclab::kExitOk;
  });
}
