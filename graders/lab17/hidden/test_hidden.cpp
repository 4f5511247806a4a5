// Lab 17's hidden tests: the same contract with other shapes — the client library's error
// kinds and reasons in process, a restart after kill -9, many callers at once over the
// three transports, a bare socket name, options in any order, and the cache's bookkeeping
// per client.
#include <filesystem>  // std::filesystem
#include <thread>      // std::thread
#include <vector>      // std::vector

#include "../public/common.hpp"

using namespace lab17_test;

GRADED_TEST(Hidden, ClientLibraryReportsWhyAndNoAnswer, 3,
            "README §The client — re_why, and RPC_AUTHERROR apart from the rest") {
  GRADER_REQUIRE_RPCBIND();
  lab::ClientOptions o;
  o.prog = grader::rpc_prog();
  o.timeout = 1000ms;
  o.uid = ::geteuid();
  o.gid = ::getegid();
  EXPECT_THROW(
      {
        lab::AuthCalculator c(o);
        c.call(lab::Op::kAdd, 1, 2);
      },
      lab::NetworkError);
  Server server({"--allow-uids=" + my_uid(), "--public=add"});
  ASSERT_TRUE(server.started());
  auto why = [&](lab::ClientOptions opts, lab::Op op) -> std::optional<auth_stat> {
    try {
      lab::AuthCalculator c(opts);
      c.call(op, 2, 3);
    } catch (const lab::AuthError& e) {
      EXPECT_STREQ(e.what(), "RPC: Authentication error");
      return e.why();
    }
    return std::nullopt;
  };
  lab::ClientOptions none = o;
  none.auth_none = true;
  EXPECT_EQ(why(none, lab::Op::kMultiply), AUTH_TOOWEAK);
  EXPECT_EQ(why(none, lab::Op::kAdd), std::nullopt);
  lab::ClientOptions forged = o;
  forged.uid = static_cast<uid_t>(std::stoul(other_uid()));
  EXPECT_EQ(why(forged, lab::Op::kAdd), AUTH_BADCRED);
  forged.transport = lab::Transport::kUdp;
  EXPECT_EQ(why(forged, lab::Op::kSubtract), AUTH_BADCRED);
  lab::AuthCalculator good(o);
  EXPECT_EQ(good.call(lab::Op::kMultiply, 6, 7), 42);
  EXPECT_EQ(good.call(lab::Op::kAdd, 2147483647, 1), -2147483647 - 1) << "wrapped, as lab 16's v1";
  const accum_result r1 = good.accumulate(11, 5, 40);
  const accum_result r2 = good.accumulate(11, 5, 40);
  EXPECT_EQ(r1.status, ACCUM_OK);
  EXPECT_EQ(r1.total, 40);
  EXPECT_EQ(r2.total, 40);
  EXPECT_EQ(good.accumulate(11, 6, 2).total, 42);
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Hidden, RestartAfterKillNineReplacesRegistrationAndSocket, 2, "README §Pitfalls 7") {
  GRADER_REQUIRE_RPCBIND();
  {
    Server first({"--local", socket_path()});
    ASSERT_TRUE(first.started());
    first.proc().kill();
  }
  EXPECT_FALSE(ipclab::rpc::mappings_of(grader::rpc_prog()).empty());
  EXPECT_TRUE(std::filesystem::exists(socket_path()));
  Server second({"--local", socket_path()});
  ASSERT_TRUE(second.started());
  expect_answer(client({"add", "1", "1", "--local", socket_path()}), using_sys(my_uid(), my_gid()),
                "Result: 2");
  expect_answer(client({"add", "2", "2"}), using_sys(my_uid(), my_gid()), "Result: 4");
  EXPECT_EQ(second.stop()->exit_code(), 0);
  EXPECT_TRUE(ipclab::rpc::mappings_of(grader::rpc_prog()).empty());
  EXPECT_FALSE(std::filesystem::exists(socket_path()));
}

GRADED_TEST(Hidden, ManyCallersAtOnceOverEveryTransport, 3, "README §Pitfalls 3 and 5") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--allow-uids=" + my_uid() + "," + other_uid(), "--local", socket_path()});
  ASSERT_TRUE(server.started());
  constexpr int kCallers = 18;
  std::vector<grader::RunResult> results(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i)
    threads.emplace_back([&results, i] {
      std::vector<std::string> where;
      if (i % 3 == 1) where = {"--proto", "udp"};
      if (i % 3 == 2) where = {"--local", socket_path()};
      if (i % 2 == 0) {
        // Each request over TCP, then its retry over this caller's transport: the total
        // must move by each amount once.
        results[i] = accumulate(100 + i, 1, i);
        accumulate(100 + i, 1, i, where);
      } else {
        std::vector<std::string> args = {"multiply", std::to_string(i), "3",
                                         "--uid=" + other_uid()};
        args.insert(args.end(), where.begin(), where.end());
        results[i] = client(args);
      }
    });
  for (auto& t : threads) t.join();
  int sum = 0;
  for (int i = 0; i < kCallers; ++i) {
    if (i % 2 == 0) {
      grader::expect_exit(results[i], 0);
      sum += i;
    } else if (i % 3 == 2) {
      expect_refused(results[i]);  // a forged uid on the local socket
    } else {
      expect_answer(results[i], using_sys(other_uid(), my_gid()),
                    "Result: " + std::to_string(i * 3));
    }
  }
  expect_answer(accumulate(999, 1, 0), using_sys(my_uid(), my_gid()),
                "Total: " + std::to_string(sum));
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Hidden, BareSocketNameLivesInTheRunDirectory, 1, "README §The programs") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--local", "calc.sock"});
  ASSERT_TRUE(server.started());
  EXPECT_TRUE(std::filesystem::exists(grader::rundir() + "/calc.sock"));
  expect_answer(client({"subtract", "3", "10", "--local", "calc.sock"}),
                using_sys(my_uid(), my_gid()), "Result: -7");
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Hidden, OptionsInAnyOrderAndTheGidClaim, 1, "README §The programs") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--allow-uids=" + my_uid() + ",4242"});
  ASSERT_TRUE(server.started());
  expect_answer(client({"--gid=4321", "add", "7", "--uid=4242", "9"}), using_sys("4242", "4321"),
                "Result: 16");
  EXPECT_TRUE(server.logged("uid=4242 gid=4321")) << server.proc().err();
  expect_refused(client({"--uid=" + other_uid(), "add", "7", "9"}));
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Hidden, CacheExpiresPerClient, 2, "README §Pitfalls 5") {
  using F = lab::DuplicateCache::Found;
  lab::DuplicateCache c(3);
  c.insert(1, 10, {ACCUM_OK, 1});
  c.insert(2, 10, {ACCUM_OK, 2});
  c.insert(1, 11, {ACCUM_OK, 3});
  c.insert(3, 1, {ACCUM_OK, 4});  // evicts (1, 10) only
  EXPECT_EQ(c.size(), 3U);
  EXPECT_EQ(c.find(1, 10).found, F::kExpired);
  EXPECT_EQ(c.find(1, 9).found, F::kExpired) << "ids below an expired one are older still";
  EXPECT_EQ(c.find(2, 10).found, F::kReplay) << "client 2 lost nothing";
  EXPECT_EQ(c.find(2, 9).found, F::kNew);
  EXPECT_EQ(c.find(1, 11).found, F::kReplay);
  EXPECT_EQ(c.find(1, 12).found, F::kNew);
  lab::ServerState s;
  s.cache = lab::DuplicateCache(1);
  EXPECT_EQ(lab::accumulate(s, {5, 1, 7}).total, 7);
  EXPECT_EQ(lab::accumulate(s, {5, 2, 7}).total, 14);
  const accum_result expired = lab::accumulate(s, {5, 1, 7});
  EXPECT_EQ(expired.status, ACCUM_EXPIRED);
  EXPECT_EQ(s.total, 14) << "an expired id must not execute";
}
