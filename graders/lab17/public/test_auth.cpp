// Lab 17's public tests: the policy in process (decide) and the duplicate-request cache;
// then through calc_server_auth and calc_client_auth: the seed transcript, an allowed uid,
// a forged uid refused by policy over TCP and by peer credentials over the local socket
// even where the policy allows it, AUTH_NONE refused except for public procedures, a
// retried ACCUMULATE executed once, an expired request id refused, exit 1 for refusals and
// 3 for no answer, SIGTERM removing the registration and the socket, and the benchmark
// checking every answer.
#include <filesystem>  // std::filesystem::exists

#include "common.hpp"

GRADER_LAB("lab17", "RPC with authentication");
GRADER_USES_RPCBIND();

using namespace lab17_test;

// ---- the policy and the cache, in process ------------------------------------------------

GRADED_TEST(Policy, DecideFollowsFlavorUidAndPeer, 3,
            "README §Pitfalls 1, 2 and 3 — AUTH_NONE, the allowed uids, the peer's uid") {
  lab::Policy p;
  p.allowed_uids = {1000, 4242};
  p.public_procs = {ADD};
  lab::Caller none;  // AUTH_NONE
  EXPECT_EQ(lab::decide(p, none, ADD), AUTH_OK);
  EXPECT_EQ(lab::decide(p, none, MULTIPLY), AUTH_TOOWEAK);
  EXPECT_EQ(lab::decide(p, none, ACCUMULATE), AUTH_TOOWEAK);
  lab::Caller sys;
  sys.flavor = AUTH_SYS;
  sys.uid = 4242;
  EXPECT_EQ(lab::decide(p, sys, MULTIPLY), AUTH_OK);
  sys.uid = 9999;
  EXPECT_EQ(lab::decide(p, sys, MULTIPLY), AUTH_BADCRED);
  EXPECT_EQ(lab::decide(p, sys, ADD), AUTH_BADCRED) << "public is for AUTH_NONE; a bad uid is bad";
  sys.uid = 1000;
  sys.peer_uid = 1000;  // over the local socket, the kernel agrees
  EXPECT_EQ(lab::decide(p, sys, SUBTRACT), AUTH_OK);
  sys.uid = 4242;  // allowed by policy, but the process at the other end is uid 1000
  EXPECT_EQ(lab::decide(p, sys, SUBTRACT), AUTH_BADCRED);
  lab::Caller dh;
  dh.flavor = AUTH_DES;
  EXPECT_EQ(lab::decide(p, dh, ADD), AUTH_REJECTEDCRED);
}

GRADED_TEST(Cache, ReplaysEvictsOldestAndExpires, 3,
            "README §Pitfalls 5 — what an evicted id means") {
  lab::DuplicateCache c(2);
  using F = lab::DuplicateCache::Found;
  EXPECT_EQ(c.find(1, 1).found, F::kNew);
  c.insert(1, 1, {ACCUM_OK, 10});
  c.insert(2, 1, {ACCUM_OK, 20});
  const auto hit = c.find(1, 1);
  EXPECT_EQ(hit.found, F::kReplay);
  EXPECT_EQ(hit.reply.total, 10);
  EXPECT_EQ(c.find(1, 2).found, F::kNew) << "another request id of the same client";
  EXPECT_EQ(c.find(3, 1).found, F::kNew) << "the same request id of another client";
  c.insert(1, 2, {ACCUM_OK, 30});  // full: (1, 1), the oldest, goes
  EXPECT_EQ(c.size(), 2U);
  EXPECT_EQ(c.find(1, 1).found, F::kExpired);
  EXPECT_EQ(c.find(1, 2).found, F::kReplay);
  EXPECT_EQ(c.find(2, 1).found, F::kReplay);
  EXPECT_EQ(c.find(1, 3).found, F::kNew);
  lab::ServerState s;
  s.cache = lab::DuplicateCache(4);
  EXPECT_EQ(lab::accumulate(s, {7, 1, 5}).total, 5);
  EXPECT_EQ(lab::accumulate(s, {7, 1, 5}).total, 5);
  EXPECT_EQ(s.total, 5) << "a retry must not execute again";
  EXPECT_EQ(lab::accumulate(s, {7, 2, 3}).total, 8);
}

// ---- through the programs ------------------------------------------------------------------

GRADED_TEST(Auth, SeedTranscriptOwnUidOnly, 4, "README §Pitfalls 4 — the credential to set") {
  GRADER_REQUIRE_RPCBIND();
  Server server;  // the default policy: the server's own uid (ours)
  ASSERT_TRUE(server.started());
  EXPECT_EQ(server.proc().out(), "Registered with rpcbind (AUTH_SYS)\n");
  expect_answer(client({"add", "7", "9"}), using_sys(my_uid(), my_gid()), "Result: 16");
  expect_refused(client({"add", "7", "9", "--uid=" + other_uid()}));
  EXPECT_TRUE(server.logged("uid=" + my_uid() + " gid=" + my_gid())) << server.proc().err();
  EXPECT_TRUE(server.logged("uid=" + other_uid())) << server.proc().err();
  EXPECT_TRUE(server.logged("verdict=AUTH_BADCRED")) << server.proc().err();
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Auth, AllowedUidsOverTcpAndUdp, 3, "README §The server") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--allow-uids=" + my_uid() + ",4242"});
  ASSERT_TRUE(server.started());
  for (const char* proto : {"tcp", "udp"}) {
    expect_answer(client({"multiply", "6", "7", "--uid=4242", "--gid=77", "--proto", proto}),
                  using_sys("4242", "77"), "Result: 42");
    expect_answer(client({"subtract", "1", "3", "--proto", proto}), using_sys(my_uid(), my_gid()),
                  "Result: -2");
    expect_refused(client({"add", "1", "1", "--uid=" + other_uid(), "--proto", proto}));
  }
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Auth, AuthNoneOnlyForPublicProcedures, 3, "README §Pitfalls 1") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--allow-uids=" + my_uid(), "--public=add,multiply"});
  ASSERT_TRUE(server.started());
  expect_answer(client({"add", "7", "9", "--none"}), "Using AUTH_NONE\n", "Result: 16");
  expect_answer(client({"multiply", "2", "3", "--none", "--proto", "udp"}), "Using AUTH_NONE\n",
                "Result: 6");
  expect_refused(client({"subtract", "7", "9", "--none"}));
  expect_refused(accumulate(1, 1, 5, {"--none"}));
  EXPECT_TRUE(server.logged("proc=subtract flavor=AUTH_NONE")) << server.proc().err();
  EXPECT_TRUE(server.logged("verdict=AUTH_TOOWEAK")) << server.proc().err();
  expect_answer(client({"subtract", "7", "9"}), using_sys(my_uid(), my_gid()), "Result: -2");
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Local, ForgedUidRefusedByPeerCredentialsEvenWhenAllowed, 5,
            "README §Pitfalls 3 — SO_PEERCRED on the connection's socket") {
  GRADER_REQUIRE_RPCBIND();
  // The policy allows the forged uid: only the kernel's word can refuse it.
  Server server({"--allow-uids=" + my_uid() + "," + other_uid(), "--local", socket_path()});
  ASSERT_TRUE(server.started());
  EXPECT_TRUE(std::filesystem::exists(socket_path())) << socket_path();
  expect_answer(client({"add", "7", "9", "--local", socket_path()}), using_sys(my_uid(), my_gid()),
                "Result: 16");
  expect_refused(client({"add", "7", "9", "--local", socket_path(), "--uid=" + other_uid()}));
  expect_refused(accumulate(3, 1, 100, {"--local", socket_path(), "--uid=" + other_uid()}));
  // Over TCP the same claim passes: the server has nothing but the claim to go by.
  expect_answer(client({"add", "7", "9", "--uid=" + other_uid()}), using_sys(other_uid(), my_gid()),
                "Result: 16");
  EXPECT_TRUE(server.logged("transport=local peer_uid=" + my_uid() + " verdict=ok"))
      << server.proc().err();
  EXPECT_TRUE(server.logged("uid=" + other_uid() + " gid=" + my_gid())) << server.proc().err();
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Retry, RetriedRequestIdExecutesOnce, 5,
            "README §Thinking exercise and §Pitfalls 5 — consult the cache first") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--allow-uids=" + my_uid(), "--local", socket_path()});
  ASSERT_TRUE(server.started());
  const std::string me = using_sys(my_uid(), my_gid());
  expect_answer(accumulate(7, 1, 5), me, "Total: 5");
  expect_answer(accumulate(7, 1, 5), me, "Total: 5");  // a retry: the same reply, run once
  expect_answer(accumulate(7, 2, 10), me, "Total: 15");
  expect_answer(accumulate(8, 1, 1), me, "Total: 16");  // another client, its own request 1
  // Retries over other transports: still the reply of the first execution.
  expect_answer(accumulate(7, 2, 10, {"--proto", "udp"}), me, "Total: 15");
  expect_answer(accumulate(7, 1, 5, {"--local", socket_path()}), me, "Total: 5");
  expect_answer(accumulate(7, 3, 0), me, "Total: 16");  // the total moved once per request
  EXPECT_TRUE(server.logged("drc=replay")) << server.proc().err();
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Retry, ExpiredRequestIdIsRefusedNotExecuted, 3, "README §Pitfalls 5") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--allow-uids=" + my_uid(), "--drc-size", "2"});
  ASSERT_TRUE(server.started());
  const std::string me = using_sys(my_uid(), my_gid());
  expect_answer(accumulate(1, 1, 1), me, "Total: 1");
  expect_answer(accumulate(1, 2, 1), me, "Total: 2");
  expect_answer(accumulate(1, 3, 1), me, "Total: 3");  // (1, 1) leaves the cache
  expect_error(accumulate(1, 1, 1), 1, "error: request id 1 of client 1 expired");
  expect_answer(accumulate(1, 3, 1), me, "Total: 3");
  expect_answer(accumulate(1, 4, 1), me, "Total: 4");
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Failures, NetworkErrorsExitThreeAuthErrorsOne, 3, "README §Pitfalls 6") {
  GRADER_REQUIRE_RPCBIND();
  expect_error(client({"add", "1", "2"}, 1000), 3, "error: cannot reach program");
  expect_error(client({"add", "1", "2", "--local", socket_path()}, 1000), 3,
               "error: cannot reach the local socket");
  Server server({"--allow-uids=" + my_uid(), "--local", socket_path()});
  ASSERT_TRUE(server.started());
  expect_refused(client({"add", "1", "2", "--uid=" + other_uid()}));
  expect_refused(client({"add", "1", "2", "--none", "--local", socket_path()}));
  server.proc().kill();  // SIGKILL: no answer any more, a registration left behind
  expect_error(client({"add", "1", "2"}, 1000), 3, "error:");
  expect_error(client({"add", "1", "2", "--local", socket_path()}, 1000), 3, "error:");
  unset_all();  // what kill -9 left: the registration and the socket file
  std::filesystem::remove(socket_path());
}

GRADED_TEST(Shutdown, SigtermRemovesRegistrationAndSocket, 3, "README §Pitfalls 7") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--local", socket_path()});
  ASSERT_TRUE(server.started());
  EXPECT_FALSE(ipclab::rpc::mappings_of(grader::rpc_prog()).empty());
  expect_answer(client({"add", "2", "2", "--local", socket_path()}), using_sys(my_uid(), my_gid()),
                "Result: 4");
  const auto st = server.stop(SIGTERM);
  ASSERT_TRUE(st.has_value()) << "calc_server_auth still running 10 s after SIGTERM";
  EXPECT_EQ(st->exit_code(), 0) << st->describe();
  EXPECT_TRUE(ipclab::rpc::mappings_of(grader::rpc_prog()).empty());
  EXPECT_FALSE(std::filesystem::exists(socket_path())) << socket_path() << " left behind";
}

// ---- the benchmark works (never a speed) ---------------------------------------------------

GRADED_TEST(Bench, ReportsEveryTransportAndVerifiesAnswers, 2, "README §Performance") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--allow-uids=" + my_uid(), "--local", socket_path()});
  ASSERT_TRUE(server.started());
  const auto r = client({"bench", "--local", socket_path(), "--calls", "50", "--runs", "2",
                         "--warmup", "5", "--format", "json"},
                        20'000);
  grader::expect_exit(r, 0);
  for (const char* field : {"\"benchmark\"", "\"name\": \"tcp\"", "\"name\": \"udp\"",
                            "\"name\": \"local\"", "\"p99_ns\"", "\"local/tcp\""})
    EXPECT_NE(r.out.find(field), std::string::npos) << field << "\n" << r.describe();
  // A wrong answer on purpose (call 20): the benchmark must refuse to print a number.
  const auto bad = grader::run({"calc_client_auth", "localhost", "bench", "--calls", "50", "--runs",
                                "1", "--warmup", "0", "--prog", grader::rpc_prog_arg()},
                               {.env = {"IPCLAB_BENCH_CORRUPT=20"}});
  expect_error(bad, 1, "error: verification failed");
  EXPECT_EQ(server.stop()->exit_code(), 0);
}
