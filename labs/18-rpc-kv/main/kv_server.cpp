// kv_server --id=N --port=P --peers=host:port,... [--data DIR] — one node of a replicated
// key-value store, serving KV_PROG on TCP port P (no rpcbind: peers and clients call the
// port). With no --peers it is a single server. With --data it keeps an fsync'd log in DIR
// and restarts with everything it acknowledged; then it catches up from its peers.
// SIGINT or SIGTERM: it removes its shared-memory cache and exits 0.
//
//   --peer-timeout MS   a peer silent this long counts as down for that request (1000)
//   --no-cache          no shared-memory read cache
//   --log               a line on stderr when the catch-up is over:
//                       kv_server: node 3 caught up from 2 of 2 peers
#include <unistd.h>  // _exit

#include <cstdio>  // std::fflush
#include <thread>  // std::thread

#include "ipclab/main.hpp"    // run_main, CLI11, cli validators
#include "ipclab/signal.hpp"  // ShutdownSignals, ignore_sigpipe
#include "lab18/kv.hpp"

namespace lab = ipclab::lab18;
using namespace std::chrono_literals;

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "kv_server: one node of a replicated key-value store over Sun RPC (TCP, no rpcbind).\n"
      "  kv_server --id=1 --port=9001 --peers=localhost:9002,localhost:9003 [--data DIR]"};
  std::int64_t id = 0;
  std::int64_t port = 0;
  std::string peers;
  std::string data;
  std::int64_t peer_timeout_ms = 1000;
  bool no_cache = false;
  bool log = false;
  app.add_option("--id", id, "this node's id, distinct in the cluster")
      ->required()
      ->transform(ipclab::cli::integer(1, 0xffffffff));
  app.add_option("--port", port, "the TCP port to serve")
      ->required()
      ->transform(ipclab::cli::integer(1, 65535));
  app.add_option("--peers", peers, "the other nodes: host:port,host:port (none: alone)");
  app.add_option("--data", data, "keep an fsync'd log here (default: memory only)");
  app.add_option("--peer-timeout", peer_timeout_ms, "a peer silent this long is down (ms)")
      ->transform(ipclab::cli::milliseconds(1ms, 1h));
  app.add_flag("--no-cache", no_cache, "no shared-memory read cache");
  app.add_flag("--log", log, "say on stderr when the catch-up is over");

  return ipclab::run_main(app, argc, argv, [&]() -> int {
    lab::NodeConfig cfg;
    cfg.id = static_cast<std::uint32_t>(id);
    cfg.peers = lab::parse_addresses(peers);
    cfg.peer_timeout = std::chrono::milliseconds(peer_timeout_ms);
    const int p = static_cast<int>(port);

    ipclab::ShutdownSignals signals;  // first: a SIGTERM from now on still cleans up
    ipclab::ignore_sigpipe();         // a peer or client that hangs up: EPIPE
    lab::Store store(data);
    lab::TcpServer server(p);  // the port first: a node already there keeps its cache
    std::unique_ptr<lab::ReadCache> cache;
    if (!no_cache) cache = lab::ReadCache::create(p);
    lab::Node node(cfg, store, cache.get());
    std::thread([&node, log] {
      try {
        const std::size_t n = node.catch_up();
        if (log)
          fmt::print(stderr, "kv_server: node {} caught up from {} of {} peers\n", node.config().id,
                     n, node.config().peers.size());
      } catch (const std::exception& e) {
        fmt::print(stderr, "kv_server: error: catch-up: {}\n", e.what());
      }
    }).detach();
    server.run(node, signals.fd());

    if (cache) lab::ReadCache::remove(p);
    (void)std::fflush(stdout);
    (void)std::fflush(stderr);
    // Threads still serve connections or wait on peers: ending here, without unwinding,
    // is what lets them go (the log is on disk already, the cache removed).
    ::_exit(ipclab::kExitOk);
  });
}
