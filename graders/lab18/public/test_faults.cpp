// Lab 18's public fault tests: a node killed with -9 restarts with what it acknowledged and
// catches up; and the one that makes the store worth trusting: while clients put and get
// concurrently, one node at a time is killed with -9 and restarted; every operation's call
// and return are recorded, and the history must be linearizable per key (the harness's
// checker, grader/linearizability.hpp), every acknowledged write still readable.
#include <atomic>  // std::atomic
#include <mutex>   // std::mutex
#include <random>  // std::mt19937_64
#include <thread>  // std::thread

#include "common.hpp"
#include "grader/linearizability.hpp"

using namespace lab18_test;

GRADED_TEST(Crash, KillNineRestartsWithItsLogAndCatchesUp, 5,
            "README §Pitfalls 7 — fsync before you answer; pull what is newer") {
  Cluster c;
  for (int i = 0; i < 5; ++i)
    expect_ok(c.client(i % 3, {"put", "k" + std::to_string(i), "v" + std::to_string(i)}),
              "OK (replicated to 3 nodes)\n");
  c.kill(2);
  for (int i = 3; i < 8; ++i)
    expect_ok(c.client(i % 2, {"put", "k" + std::to_string(i), "w" + std::to_string(i)}),
              "OK (replicated to 2 nodes)\n");
  ASSERT_TRUE(c.restart(2));
  // Node 3's own replica: its log (k0..k2) and, once caught up, the rest.
  auto local = [&](int i) { return c.client(2, {"get", "k" + std::to_string(i), "--local"}); };
  for (int i = 0; i < 3; ++i) expect_ok(local(i), "v" + std::to_string(i) + "\n");
  EXPECT_TRUE(grader::wait_until(
      [&] {
        for (int i = 3; i < 8; ++i)
          if (local(i).out != "w" + std::to_string(i) + "\n") return false;
        return true;
      },
      20'000ms))
      << "node 3 did not catch up: " << local(7).describe();
  // Every node killed at once: nothing acknowledged is lost.
  for (std::size_t i = 0; i < 3; ++i) c.kill(i);
  for (std::size_t i = 0; i < 3; ++i) ASSERT_TRUE(c.restart(i));
  for (int i = 0; i < 8; ++i)
    expect_ok(c.client(i % 3, {"get", "k" + std::to_string(i)}),
              (i < 3 ? "v" : "w") + std::to_string(i) + "\n");
}

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// One client's loop: random puts and gets on random nodes until `stop`, recorded.
void client_loop(int id, const std::vector<int>& ports, std::uint64_t seed,
                 const std::atomic<bool>& stop, std::mutex& mu, std::vector<grader::KvOp>& history,
                 std::atomic<int>& acked) {
  std::mt19937_64 rng(seed);
  const std::vector<std::string> keys = {"a", "b", "c", "d"};
  for (int n = 0; n < 250 && !stop.load(); ++n) {
    const int port = ports[rng() % ports.size()];
    const std::string& key = keys[rng() % keys.size()];
    const bool write = rng() % 2 == 0;
    grader::KvOp op;
    op.client = id;
    op.key = key;
    op.kind = write ? grader::KvOp::Kind::kWrite : grader::KvOp::Kind::kRead;
    std::unique_ptr<lab::Connection> c;
    try {
      c = std::make_unique<lab::Connection>(lab::Address{"localhost", port},
                                            std::chrono::milliseconds(grader::scaled(3000ms)));
    } catch (const lab::NetworkError&) {
      continue;  // the node is down: nothing was sent
    }
    op.call = now_s();
    try {
      if (write) {
        op.value = "c" + std::to_string(id) + "-" + std::to_string(n);
        const lab::PutReply r = c->put(1000 + static_cast<std::uint64_t>(id),
                                       static_cast<std::uint64_t>(n) + 1, key, true, *op.value);
        op.ret = now_s();
        op.completed = r.status == KV_OK;  // no quorum: not done, but maybe partly stored
        if (op.completed) ++acked;
      } else {
        const lab::GetReply r = c->get(key);
        op.ret = now_s();
        if (r.status != KV_OK) continue;
        if (r.entry.present) op.value = r.entry.value;
      }
    } catch (const lab::NetworkError&) {
      if (!write) continue;  // a read without an answer says nothing
      op.completed = false;  // a write without an answer: it may or may not have happened
    }
    std::lock_guard lock(mu);
    history.push_back(op);
  }
}

}  // namespace

GRADED_TEST(Linearizable, RandomKillNineWhileClientsPutAndGet, 10,
            "README §Pitfalls 2, 3, 7 and 8 — the history shows which key and which reads") {
  Cluster c({.peer_timeout_ms = 500});
  const std::vector<int> ports = {c.port(0), c.port(1), c.port(2)};
  std::mutex mu;
  std::vector<grader::KvOp> history;
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::mt19937_64 rng(grader::seed());
  std::vector<std::thread> clients;
  for (int id = 0; id < 4; ++id)
    clients.emplace_back(client_loop, id, std::cref(ports),
                         grader::seed() + static_cast<std::uint64_t>(id) + 1, std::cref(stop),
                         std::ref(mu), std::ref(history), std::ref(acked));
  // Three crashes, each of a random node, each restarted once the clients made progress.
  for (int round = 0; round < 3; ++round) {
    const int before = acked.load();
    EXPECT_TRUE(grader::wait_until([&] { return acked.load() >= before + 30; }, 30'000ms))
        << "the clients made no progress with three nodes up";
    const std::size_t victim = rng() % 3;
    c.kill(victim);
    const int during = acked.load();
    EXPECT_TRUE(grader::wait_until([&] { return acked.load() >= during + 30; }, 30'000ms))
        << "the clients made no progress with node " << victim + 1 << " down";
    ASSERT_TRUE(c.restart(victim));
  }
  stop = true;
  for (auto& t : clients) t.join();
  // Afterwards every key once more through every node: an acknowledged write is never lost.
  for (const std::string key : {"a", "b", "c", "d"})
    for (int port : ports) {
      grader::KvOp op;
      op.client = 99;
      op.key = key;
      op.call = now_s();
      const lab::GetReply r = lab::Connection({"localhost", port}, 5000ms).get(key);
      op.ret = now_s();
      ASSERT_EQ(r.status, KV_OK) << "no quorum with every node up";
      if (r.entry.present) op.value = r.entry.value;
      history.push_back(op);
    }
  const auto verdict = grader::check_linearizable(history);
  EXPECT_TRUE(verdict.ok) << verdict.explanation;
  EXPECT_GT(acked.load(), 20);
  std::cout << history.size() << " operations recorded, " << acked.load()
            << " writes acknowledged\n";
}
