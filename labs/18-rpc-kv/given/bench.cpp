// Given: kv_client bench. Each measurement is `ops` sequential calls from one client on one
// connection (latency-bound: ops/s = 1 / mean latency), after 10% of warm-up calls.
#include <signal.h>  // SIGTERM

#include <array>       // std::array
#include <filesystem>  // std::filesystem
#include <functional>  // std::function
#include <stdexcept>   // std::runtime_error
#include <thread>      // std::this_thread

#include <fmt/core.h>  // fmt::print

#include "ipclab/clock.hpp"    // Deadline
#include "ipclab/process.hpp"  // spawn, kill_group, wait_for
#include "ipclab/stats.hpp"    // Samples
#include "lab18/bench.hpp"
#include "lab18/kv.hpp"

namespace ipclab::lab18 {
namespace {

using Clock = std::chrono::steady_clock;

/// kv_server processes of one cluster, stopped with SIGTERM when it goes.
class Cluster {
 public:
  Cluster(std::size_t n, std::chrono::milliseconds timeout) {
    const std::string server =
        (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "kv_server").string();
    ports_ = free_ports(n);
    for (std::size_t i = 0; i < n; ++i) {
      std::string peers;
      for (std::size_t j = 0; j < n; ++j)
        if (j != i) peers += (peers.empty() ? "" : ",") + fmt::format("localhost:{}", ports_[j]);
      std::vector<std::string> argv = {server, fmt::format("--id={}", i + 1),
                                       fmt::format("--port={}", ports_[i])};
      if (!peers.empty()) argv.push_back("--peers=" + peers);
      pids_.push_back(spawn(argv));
    }
    const Deadline by(timeout);
    for (int port : ports_) {
      for (;;) {
        try {
          if (Connection({"localhost", port}, timeout).ping()) break;
        } catch (const NetworkError&) {
        }
        if (by.expired())
          throw std::runtime_error(fmt::format("kv_server on port {} did not start", port));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }
  ~Cluster() {
    for (pid_t p : pids_) ::kill(p, SIGTERM);
    for (pid_t p : pids_) (void)wait_for(p);
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;
  int port(std::size_t i) const { return ports_[i]; }

 private:
  std::vector<int> ports_;
  std::vector<pid_t> pids_;
};

void measure(std::size_t replicas, const char* what, std::uint64_t ops,
             const std::function<void(std::uint64_t)>& op) {
  for (std::uint64_t i = 0; i < ops / 10; ++i) op(i);
  Samples lat;
  lat.reserve(ops);
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < ops; ++i) {
    const auto t0 = Clock::now();
    op(i);
    lat.add(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  fmt::print("{:>8}  {:<14}{:>12.0f}{:>10.1f}{:>10.1f}\n", replicas, what,
             static_cast<double>(ops) / secs, lat.percentile(50), lat.percentile(99));
}

}  // namespace

int run_bench(std::uint64_t ops, std::chrono::milliseconds timeout) {
  fmt::print(
      "kv_client bench: {} sequential operations per row, one client, loopback TCP,\n"
      "100-byte values, no --data (no fsync); cached get: the node's shm table\n\n",
      ops);
  fmt::print("{:>8}  {:<14}{:>12}{:>10}{:>10}\n", "replicas", "operation", "ops/s", "p50 us",
             "p99 us");
  const std::string value(100, 'v');
  for (std::size_t n : {std::size_t{1}, std::size_t{3}}) {
    Cluster cluster(n, timeout);
    Connection c({"localhost", cluster.port(0)}, timeout);
    std::uint64_t rid = 0;
    measure(n, "put", ops, [&](std::uint64_t i) {
      if (c.put(1, ++rid, fmt::format("key{}", i % 100), true, value).status != KV_OK)
        throw std::runtime_error("put: no quorum");
    });
    measure(n, "get", ops, [&](std::uint64_t i) {
      if (c.get(fmt::format("key{}", i % 100)).status != KV_OK)
        throw std::runtime_error("get: no quorum");
    });
    auto cache = ReadCache::open(cluster.port(0));
    if (!cache) throw std::runtime_error("the node has no shared-memory cache");
    measure(n, "get (cached)", ops, [&](std::uint64_t i) {
      const std::string key = fmt::format("key{}", i % 100);
      if (!cache->lookup(key) && c.get(key).status != KV_OK)
        throw std::runtime_error("get: no quorum");
    });
  }
  return 0;
}

}  // namespace ipclab::lab18
