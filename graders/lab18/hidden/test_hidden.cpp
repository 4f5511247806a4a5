// Lab 18's hidden tests: the same contract in other shapes — the log in process (a torn
// last record, a damaged checksum, the newest version after replay), a delete that a
// replica which missed it must not undo, many writers of one key through every node at
// once, and a retry that races its own first run.
#include <filesystem>  // std::filesystem
#include <fstream>     // std::ofstream, std::fstream
#include <thread>      // std::thread

#include "../public/common.hpp"
#include "grader/linearizability.hpp"

using namespace lab18_test;

namespace {
lab::Entry entry(const std::string& k, std::uint64_t counter, std::uint32_t node,
                 const std::string& v, bool present = true) {
  return lab::Entry{k, {counter, node}, present, v};
}
}  // namespace

GRADED_TEST(Hidden, LogReplayKeepsNewestAndDropsATornTail, 3, "README §Pitfalls 7") {
  const std::string dir = grader::scratch() + "/store";
  {
    lab::Store s(dir);
    EXPECT_TRUE(s.apply(entry("a", 1, 1, "one")));
    EXPECT_TRUE(s.apply(entry("a", 3, 2, "three")));
    EXPECT_FALSE(s.apply(entry("a", 2, 3, "two"))) << "an older version must change nothing";
    EXPECT_FALSE(s.apply(entry("a", 3, 2, "three again"))) << "an equal version neither";
    EXPECT_TRUE(s.apply(entry("b", 1, 1, "bee")));
    EXPECT_TRUE(s.apply(entry("b", 2, 1, "", false)));  // deleted: a tombstone
    EXPECT_EQ(s.get("a").value, "three");
    EXPECT_EQ(s.get("never").version, lab::Version{});
  }
  const std::string log = dir + "/kv.log";
  const auto good_size = std::filesystem::file_size(log);
  {
    std::ofstream out(log, std::ios::app | std::ios::binary);
    out.write("\x00\x00\x01\x00garbage", 11);  // a record cut short by a crash
  }
  {
    lab::Store s(dir);
    EXPECT_EQ(s.get("a"), entry("a", 3, 2, "three"));
    EXPECT_EQ(s.get("b"), entry("b", 2, 1, "", false));
    EXPECT_EQ(std::filesystem::file_size(log), good_size) << "the torn tail must be cut off";
    EXPECT_TRUE(s.apply(entry("c", 1, 1, "sea")));
  }
  {
    // The last record's last byte damaged: that record goes, the others stay.
    std::fstream f(log, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  lab::Store s(dir);
  EXPECT_EQ(s.get("a").value, "three");
  EXPECT_FALSE(s.get("c").present) << "a record with a bad checksum must not be replayed";
  EXPECT_EQ(s.all().size(), 2U);
}

GRADED_TEST(Hidden, DeleteIsNotUndoneByAReplicaThatMissedIt, 3,
            "README §The interface — a delete is a write with a version") {
  Cluster c;
  expect_ok(c.client(0, {"put", "k", "v"}), "OK (replicated to 3 nodes)\n");
  c.kill(2);
  expect_ok(c.client(0, {"del", "k"}), "OK (replicated to 2 nodes)\n");
  c.pause(1);
  ASSERT_TRUE(c.restart(2));  // node 3 still holds "v"
  expect_error(c.client(2, {"get", "k"}), 1, "error: key not found: k");
  c.resume(1);
  for (std::size_t i = 0; i < 3; ++i)
    expect_error(c.client(i, {"get", "k"}), 1, "error: key not found");
}

GRADED_TEST(Hidden, ManyWritersOfOneKeyThroughEveryNode, 3, "README §Pitfalls 8") {
  Cluster c({.data = false});
  std::mutex mu;
  std::vector<grader::KvOp> history;
  std::vector<std::thread> ts;
  auto now = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  for (int id = 0; id < 6; ++id)
    ts.emplace_back([&, id] {
      lab::Connection conn({"localhost", c.port(static_cast<std::size_t>(id) % 3)}, 5000ms);
      for (int n = 0; n < 40; ++n) {
        grader::KvOp op{id, n % 2 == 0 ? grader::KvOp::Kind::kWrite : grader::KvOp::Kind::kRead,
                        "k"};
        op.call = now();
        if (op.kind == grader::KvOp::Kind::kWrite) {
          op.value = std::to_string(id) + "-" + std::to_string(n);
          op.completed = conn.put(7 + static_cast<std::uint64_t>(id),
                                  static_cast<std::uint64_t>(n) + 1, "k", true, *op.value)
                             .status == KV_OK;
        } else {
          const auto r = conn.get("k");
          if (r.status != KV_OK) continue;
          if (r.entry.present) op.value = r.entry.value;
        }
        op.ret = now();
        std::lock_guard lock(mu);
        history.push_back(op);
      }
    });
  for (auto& t : ts) t.join();
  const auto first = c.client(0, {"get", "k"});
  grader::expect_exit(first, 0);
  for (std::size_t i = 1; i < 3; ++i) expect_ok(c.client(i, {"get", "k"}), first.out);
  const auto verdict = grader::check_linearizable(history);
  EXPECT_TRUE(verdict.ok) << verdict.explanation;
}

GRADED_TEST(Hidden, RetryRacingItsFirstRunRunsOnce, 2, "README §Pitfalls 4") {
  Cluster c({.data = false, .peer_timeout_ms = 500});
  c.pause(2);  // every write now waits the peer timeout for node 3: a window for the race
  std::vector<lab::PutReply> replies(2);
  std::vector<std::thread> ts;
  for (int i = 0; i < 2; ++i)
    ts.emplace_back([&, i] {
      lab::Connection conn({"localhost", c.port(0)}, 5000ms);
      replies[static_cast<std::size_t>(i)] = conn.put(42, 1, "k", true, "once");
    });
  for (auto& t : ts) t.join();
  c.resume(2);
  EXPECT_EQ(replies[0].status, KV_OK);
  EXPECT_EQ(replies[1].status, KV_OK);
  EXPECT_EQ(replies[0].version, replies[1].version) << "two runs of one request: two versions";
  expect_ok(c.client(0, {"put", "k", "later"}), "OK (replicated to 3 nodes)\n");
  lab::Connection conn({"localhost", c.port(0)}, 5000ms);  // the node that ran it remembers
  EXPECT_EQ(conn.put(42, 1, "k", true, "once").version, replies[0].version);
  expect_ok(c.client(2, {"get", "k"}), "later\n");
}
