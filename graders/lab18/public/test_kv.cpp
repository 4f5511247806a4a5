// Lab 18's public tests, through kv_server and kv_client: the seed transcript; a single
// server; one node of three down; two down (no quorum, nothing lost); a write whose peers
// die before they store it is not acknowledged; a stale replica never answers a read; a
// retried request id runs once; the shared-memory cache; SIGTERM.
#include <sys/resource.h>  // prlimit, RLIMIT_FSIZE, RLIMIT_CORE

#include <filesystem>  // std::filesystem::exists

#include "common.hpp"
#include "ipclab/names.hpp"  // names::posix

GRADER_LAB("lab18", "Replicated key-value store over RPC");

using namespace lab18_test;

GRADED_TEST(Kv, SeedTranscript, 4, "README §Pitfalls 1 — answer after the peers, count them") {
  Cluster c({.data = false});
  expect_ok(c.client(0, {"put", "mykey", "Hello World"}), "OK (replicated to 3 nodes)\n");
  expect_ok(c.client(1, {"get", "mykey"}), "Hello World\n");
  const auto st = c.stop(0);  // kill %1: SIGTERM
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->exit_code(), 0) << st->describe();
  expect_ok(c.client(1, {"get", "mykey"}), "Hello World\n");
  EXPECT_EQ(c.proc(1).out(), "") << "the seed's servers print nothing";
}

GRADED_TEST(Kv, SingleServerPutGetDel, 2, "README §The client") {
  Cluster c({.nodes = 1, .data = false});
  expect_ok(c.client(0, {"put", "k", "v 1"}), "OK (replicated to 1 node)\n");
  expect_ok(c.client(0, {"get", "k"}), "v 1\n");
  expect_ok(c.client(0, {"put", "k", "v2"}), "OK (replicated to 1 node)\n");
  expect_ok(c.client(0, {"get", "k"}), "v2\n");
  expect_ok(c.client(0, {"del", "k"}), "OK (replicated to 1 node)\n");
  expect_error(c.client(0, {"get", "k"}), 1, "error: key not found: k");
  expect_error(c.client(0, {"get", "never"}), 1, "error: key not found: never");
}

GRADED_TEST(Quorum, OneOfThreeDownReadsAndWritesContinue, 3, "README §The coordinator") {
  Cluster c;
  expect_ok(c.client(0, {"put", "a", "1"}), "OK (replicated to 3 nodes)\n");
  c.kill(2);
  expect_ok(c.client(1, {"get", "a"}), "1\n");
  expect_ok(c.client(0, {"put", "a", "2"}), "OK (replicated to 2 nodes)\n");
  expect_ok(c.client(1, {"put", "b", "3"}), "OK (replicated to 2 nodes)\n");
  expect_ok(c.client(1, {"get", "a"}), "2\n");
  expect_ok(c.client(0, {"get", "b"}), "3\n");
}

GRADED_TEST(Quorum, TwoDownWriteFailsAndNothingIsLost, 4,
            "README §Pitfalls 2 — a majority of the cluster, not of those that answer") {
  Cluster c;
  expect_ok(c.client(0, {"put", "k", "before"}), "OK (replicated to 3 nodes)\n");
  c.kill(1);
  c.kill(2);
  const auto w = c.client(0, {"put", "k", "after"});
  grader::expect_error(w, 1, "error: no quorum (1 of 3 nodes)");
  EXPECT_EQ(w.err, "error: no quorum (1 of 3 nodes)\n") << w.describe();
  expect_error(c.client(0, {"get", "k"}), 1, "error: no quorum (1 of 3 nodes)");
  ASSERT_TRUE(c.restart(1));
  ASSERT_TRUE(c.restart(2));
  // What was acknowledged is there; what was refused appears nowhere.
  for (std::size_t i = 0; i < 3; ++i) expect_ok(c.client(i, {"get", "k"}), "before\n");
}

GRADED_TEST(Quorum, WriteIsNotAcknowledgedUntilAMajorityStoredIt, 5,
            "README §Pitfalls 2 — count the replicas that stored it, not those that answered "
            "the versions") {
  Cluster c;
  expect_ok(c.client(0, {"put", "k", "old"}), "OK (replicated to 3 nodes)\n");
  // Nodes 2 and 3 still answer (phase 1) but die when they write their log (phase 2):
  // RLIMIT_FSIZE at the log's size, so the next append gets SIGXFSZ.
  for (std::size_t i : {1, 2}) {
    const auto size = std::filesystem::file_size(c.data_dir(i) + "/kv.log");
    rlimit fsize{size, size};
    rlimit core{0, 0};
    ASSERT_EQ(::prlimit(c.proc(i).pid(), RLIMIT_CORE, &core, nullptr), 0);
    ASSERT_EQ(::prlimit(c.proc(i).pid(), RLIMIT_FSIZE, &fsize, nullptr), 0);
  }
  const auto w = c.client(0, {"put", "k", "new"});
  EXPECT_NE(w.exit_code(), 0) << "acknowledged, but only node 1 stored it:\n" << w.describe();
  EXPECT_EQ(w.out, "") << w.describe();
  EXPECT_TRUE(grader::wait_until([&] { return c.proc(1).exited() && c.proc(2).exited(); }))
      << "nodes 2 and 3 should have died writing their logs";
  lab::ReadCache::remove(c.port(1));
  lab::ReadCache::remove(c.port(2));
  ASSERT_TRUE(c.restart(1));
  ASSERT_TRUE(c.restart(2));
  // Nodes 2 and 3 hold "old"; whatever a read returns now, it must be one value for all.
  const auto r = c.client(1, {"get", "k"});
  grader::expect_exit(r, 0);
  expect_ok(c.client(2, {"get", "k"}), r.out);
  expect_ok(c.client(0, {"get", "k"}), r.out);
}

GRADED_TEST(Partition, PausedNodeMissesWritesAndNeverServesStale, 4, "README §Pitfalls 3") {
  Cluster c({.peer_timeout_ms = 1000});
  expect_ok(c.client(0, {"put", "k", "v1"}), "OK (replicated to 3 nodes)\n");
  c.pause(2);  // SIGSTOP: to its peers it is unreachable
  expect_ok(c.client(0, {"put", "k", "v2"}), "OK (replicated to 2 nodes)\n");
  expect_ok(c.client(1, {"get", "k"}), "v2\n");
  c.resume(2);
  expect_ok(c.client(2, {"get", "k"}), "v2\n");
  expect_ok(c.client(0, {"put", "k", "v3"}), "OK (replicated to 3 nodes)\n");
  expect_ok(c.client(2, {"get", "k"}), "v3\n");
}

GRADED_TEST(Partition, StaleReplicaIsOutvotedAndWrittenBack, 6,
            "README §Pitfalls 3 — the highest version, not the first answer; then write it "
            "back") {
  Cluster c({.peer_timeout_ms = 500, .log = true});
  expect_ok(c.client(0, {"put", "k", "v1"}), "OK (replicated to 3 nodes)\n");
  c.kill(2);
  expect_ok(c.client(0, {"put", "k", "v2"}), "OK (replicated to 2 nodes)\n");
  // Node 3 comes back while its peers are unreachable: its catch-up fails, it stays behind.
  c.pause(0);
  c.pause(1);
  ASSERT_TRUE(c.restart(2));
  ASSERT_TRUE(c.proc(2).wait_for_err("caught up from 0 of 2 peers", 20'000ms)) << c.proc(2).err();
  expect_ok(c.client(2, {"get", "k", "--local"}), "v1\n");  // behind, as set up
  c.resume(0);                                              // a majority again: node 3 and node 1
  expect_ok(c.client(2, {"get", "k"}), "v2\n");
  // The read brought node 3 up to date (the write-back), so that no later read can go back.
  expect_ok(c.client(2, {"get", "k", "--local"}), "v2\n");
  c.resume(1);
}

GRADED_TEST(Retry, SameRequestIdRunsOnce, 3,
            "README §Thinking exercise and §Pitfalls 4 — remember the reply by request id") {
  Cluster c({.data = false});
  const std::vector<std::string> ids1 = {"--client-id=7", "--request-id=1"};
  auto put = [&](std::size_t node, const std::string& v, std::vector<std::string> ids) {
    std::vector<std::string> args = {"put", "k", v};
    args.insert(args.end(), ids.begin(), ids.end());
    return c.client(node, args);
  };
  expect_ok(put(0, "first", ids1), "OK (replicated to 3 nodes)\n");
  expect_ok(put(0, "second", {"--client-id=7", "--request-id=2"}), "OK (replicated to 3 nodes)\n");
  // A retry of request 1 (its reply was lost, say): answered, not run again.
  expect_ok(put(0, "first", ids1), "OK (replicated to 3 nodes)\n");
  expect_ok(c.client(1, {"get", "k"}), "second\n");
  expect_ok(put(0, "third", {"--client-id=8", "--request-id=1"}), "OK (replicated to 3 nodes)\n");
  expect_ok(c.client(2, {"get", "k"}), "third\n");
}

GRADED_TEST(Cache, CachedGetReadsSharedMemoryAndSeesWrites, 3, "README §Pitfalls 5") {
  Cluster c({.data = false});
  const std::string shm =
      "/dev/shm" + ipclab::names::posix("kv-cache." + std::to_string(c.port(0)));
  EXPECT_TRUE(std::filesystem::exists(shm)) << shm;
  expect_ok(c.client(0, {"put", "hot", "v1"}), "OK (replicated to 3 nodes)\n");
  expect_ok(c.client(0, {"get", "hot"}), "v1\n");  // the node caches what it read
  c.pause(0);                                      // no RPC can be answered now: only the cache can
  expect_ok(c.client(0, {"get", "hot", "--cached"}, 2000), "v1\n");
  c.resume(0);
  expect_ok(c.client(1, {"put", "hot", "v2"}), "OK (replicated to 3 nodes)\n");  // node 1 sees it
  expect_ok(c.client(0, {"get", "hot", "--cached"}), "v2\n");
  expect_ok(c.client(0, {"del", "hot"}), "OK (replicated to 3 nodes)\n");
  expect_error(c.client(0, {"get", "hot", "--cached"}), 1, "error: key not found: hot");
}

GRADED_TEST(Shutdown, SigtermRemovesTheCacheAndExitsZero, 2, "README §Pitfalls 6") {
  Cluster c({.nodes = 1, .data = false});
  const std::string shm =
      "/dev/shm" + ipclab::names::posix("kv-cache." + std::to_string(c.port(0)));
  const std::string sem =
      "/dev/shm/sem." +
      ipclab::names::posix("kv-cache." + std::to_string(c.port(0)) + ".lock").substr(1);
  EXPECT_TRUE(std::filesystem::exists(shm)) << shm;
  EXPECT_TRUE(std::filesystem::exists(sem)) << sem;
  const auto st = c.stop(0);
  ASSERT_TRUE(st.has_value()) << "kv_server still running 10 s after SIGTERM";
  EXPECT_EQ(st->exit_code(), 0) << st->describe();
  EXPECT_FALSE(std::filesystem::exists(shm)) << shm << " left behind";
  EXPECT_FALSE(std::filesystem::exists(sem)) << sem << " left behind";
}
