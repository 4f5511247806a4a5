// Lab 16's hidden tests: the same contract with other inputs and shapes — edge values over
// UDP, a hung server (SIGSTOP) within the timeout, many clients at once, one-transport
// servers, --log's line per call, and the client library's error kinds in process.
#include <signal.h>  // SIGSTOP, SIGCONT

#include <climits>  // INT_MIN, INT_MAX
#include <thread>   // std::thread
#include <vector>   // std::vector

#include "../public/common.hpp"
#include "ipclab/clock.hpp"  // Stopwatch
#include "ipclab/error.hpp"  // UsageError
#include "ipclab/fd.hpp"     // open_fds

using namespace lab16_test;

GRADED_TEST(Hidden, EdgeValuesOverUdp, 2, "README §Pitfalls 1") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--proto", "udp"});
  ASSERT_TRUE(server.started());
  expect_result(client({"add", "-2147483648", "2147483647", "--proto", "udp"}), -1);
  expect_result(client({"multiply", "0", "-2147483648", "--proto", "udp"}), 0);
  expect_result(client({"divide", "-2147483648", "1", "--proto", "udp"}), INT_MIN);
  expect_result(client({"divide", "2147483647", "-1", "--proto", "udp"}), -INT_MAX);
  expect_result(client({"multiply", "46341", "46340", "--proto", "udp"}), 46341 * 46340);
  expect_error(client({"multiply", "46341", "46341", "--proto", "udp"}), 1, "error: overflow");
  expect_error(client({"subtract", "0", "-2147483648", "--proto", "udp"}), 1, "error: overflow");
  expect_error(client({"add", "-2147483648", "-1", "--proto", "udp"}), 1, "error: overflow");
  expect_error(client({"divide", "0", "0", "--proto", "udp"}), 1, "error: division by zero");
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Hidden, HungServerIsNoAnswerWithinTheTimeout, 3,
            "README §Pitfalls 4 — CLSET_TIMEOUT, or 25 seconds") {
  GRADER_REQUIRE_RPCBIND();
  Server server;
  ASSERT_TRUE(server.started());
  expect_result(client({"add", "1", "2"}), 3);
  server.proc().signal(SIGSTOP);  // alive and registered, answering nothing
  for (const char* proto : {"tcp", "udp"}) {
    ipclab::Stopwatch sw;
    const auto r = client({"add", "1", "2", "--proto", proto}, 1000);
    expect_error(r, 3, "error: server not answering");
    EXPECT_LT(sw.elapsed_s(), 4.0) << "took " << sw.elapsed_s() << " s with --timeout 1000";
  }
  server.proc().signal(SIGCONT);
  expect_result(client({"add", "2", "3"}), 5);
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Hidden, ManyClientsAtOnceEachGetTheirAnswer, 3, "README §The client") {
  GRADER_REQUIRE_RPCBIND();
  Server server;
  ASSERT_TRUE(server.started());
  std::vector<grader::RunResult> results(24);
  std::vector<std::thread> threads;
  for (int i = 0; i < 24; ++i)
    threads.emplace_back([&results, i] {
      results[i] = client({"multiply", std::to_string(i), std::to_string(1000 + i), "--proto",
                           i % 2 == 0 ? "tcp" : "udp", "--vers", i % 3 == 0 ? "1" : "2"});
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 24; ++i) expect_result(results[i], i * (1000 + i));
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Hidden, OneTransportServers, 2, "README §Pitfalls 6") {
  GRADER_REQUIRE_RPCBIND();
  {
    Server tcp({"--proto", "tcp"});
    ASSERT_TRUE(tcp.started());
    EXPECT_EQ(registrations(),
              (std::vector<std::pair<std::uint32_t, std::string>>{{1, "tcp"}, {2, "tcp"}}));
    expect_result(client({"subtract", "10", "4"}), 6);
    grader::expect_exit(client({"subtract", "10", "4", "--proto", "udp"}, 1000), 3);
    EXPECT_EQ(tcp.stop()->exit_code(), 0);
  }
  Server udp({"--proto", "udp", "--vers", "2"}, {2});
  ASSERT_TRUE(udp.started());
  EXPECT_EQ(registrations(), (std::vector<std::pair<std::uint32_t, std::string>>{{2, "udp"}}));
  expect_result(client({"divide", "10", "4", "--proto", "udp"}), 2);
  expect_error(client({"add", "1", "1", "--proto", "udp", "--vers", "1"}), 3,
               "error: program version mismatch");
  EXPECT_EQ(udp.stop()->exit_code(), 0);
  EXPECT_EQ(registrations_text(), "(none)\n");
}

GRADED_TEST(Hidden, LogWritesOneLinePerCall, 2, "README §The server") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--log"});
  ASSERT_TRUE(server.started());
  expect_result(client({"add", "5", "3"}), 8);
  expect_error(client({"divide", "1", "0", "--proto", "udp"}), 1, "error: division by zero");
  expect_result(client({"multiply", "7", "6", "--vers", "1"}), 42);
  ASSERT_TRUE(grader::wait_until([&] {
    return server.proc().err().find("proc=multiply") != std::string::npos;
  })) << server.proc().err();
  const std::string log = server.proc().err();
  for (const char* want :
       {"vers=2 proc=add transport=tcp", "result=8", "vers=2 proc=divide transport=udp",
        "error=div_by_zero", "vers=1 proc=multiply transport=tcp", "result=42", "xid=0x",
        "latency_us="})
    EXPECT_NE(log.find(want), std::string::npos) << want << "\n" << log;
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Hidden, ClientLibraryErrorKinds, 3, "README §Pitfalls 3 and 5") {
  GRADER_REQUIRE_RPCBIND();
  lab::ClientOptions o;
  o.prog = grader::rpc_prog();
  o.timeout = 1000ms;
  auto kind_of = [&](lab::ClientOptions opts, lab::Op op) -> std::optional<lab::RpcErrorKind> {
    try {
      lab::Calculator c(opts);
      c.call(op, 1, 2);
    } catch (const lab::RpcError& e) {
      return e.kind();
    }
    return std::nullopt;
  };
  EXPECT_EQ(kind_of(o, lab::Op::kAdd), lab::RpcErrorKind::kNotRegistered);
  {
    Server v2({"--vers", "2"}, {2});
    ASSERT_TRUE(v2.started());
    lab::ClientOptions v1 = o;
    v1.vers = 1;
    EXPECT_EQ(kind_of(v1, lab::Op::kAdd), lab::RpcErrorKind::kVersionMismatch);
    lab::Calculator c(v1);
    EXPECT_THROW(c.call(lab::Op::kDivide, 1, 1), ipclab::UsageError);
    lab::Calculator good(o);
    const lab::Answer a = good.call(lab::Op::kDivide, 9, 0);
    EXPECT_EQ(a.status, DIV_BY_ZERO);
    EXPECT_EQ(a.value, 0) << "an answer that is an error has no value";
    EXPECT_EQ(good.call(lab::Op::kMultiply, 65536, 65536).value, 0) << "overflow: no value";
    EXPECT_EQ(good.call(lab::Op::kSubtract, 9, 10).value, -1);
    v2.proc().kill();
  }
  lab::ClientOptions udp = o;
  udp.proto = lab::Proto::kUdp;
  EXPECT_EQ(kind_of(o, lab::Op::kAdd), lab::RpcErrorKind::kNoAnswer);
  EXPECT_EQ(kind_of(udp, lab::Op::kAdd), lab::RpcErrorKind::kNoAnswer);
  unset_all();
}

GRADED_TEST(Hidden, ClientHandlesLeakNoDescriptor, 1, "README §The client — ~Calculator()") {
  GRADER_REQUIRE_RPCBIND();
  Server server;
  ASSERT_TRUE(server.started());
  lab::ClientOptions o;
  o.prog = grader::rpc_prog();
  o.timeout = 2000ms;
  lab::ClientOptions udp = o;
  udp.proto = lab::Proto::kUdp;
  auto add_once = [](const lab::ClientOptions& opts) {
    lab::Calculator c(opts);
    return c.call(lab::Op::kAdd, 20, 22).value;
  };
  EXPECT_EQ(add_once(o), 42);  // the first handle may load what TI-RPC keeps for good
  EXPECT_EQ(add_once(udp), 42);
  const auto before = ipclab::open_fds();
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(add_once(o), 42);
    EXPECT_EQ(add_once(udp), 42);
  }
  EXPECT_EQ(ipclab::open_fds(), before) << "descriptors left open by 20 destroyed handles";
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Hidden, UdpSendsTheRequestAgainAFifthOfTheTimeoutApart, 3,
            "README §The client — CLSET_RETRY_TIMEOUT, and the thinking exercise") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--proto", "udp", "--log"});
  ASSERT_TRUE(server.started());
  // How many copies of one request a stopped server finds queued once it resumes: TI-RPC
  // sends again every retry interval until the total timeout, counting the intervals it
  // meant to wait (not the clock), so the count is exact: ceil(timeout / interval).
  auto copies = [&](int timeout_ms, int a) -> long {
    server.proc().signal(SIGSTOP);
    grader::RunResult r;
    // Again while the lookup failed: a busy rpcbind may not answer it in time, and a
    // client that never got the server's address sent it nothing.
    grader::wait_until(
        [&] {
          r = client({"add", std::to_string(a), "1000", "--proto", "udp"}, timeout_ms);
          return !r.err.starts_with("error: rpcbind not");
        },
        20'000ms);
    server.proc().signal(SIGCONT);
    expect_error(r, 3, "error: server not answering");
    // A later request is served after every queued copy: then the log is complete.
    const std::string marker = fmt::format(" result={}\n", a + 7);
    expect_result(client({"add", std::to_string(a), "7", "--proto", "udp"}), a + 7);
    EXPECT_TRUE(grader::wait_until([&] {
      return server.proc().err().find(marker) != std::string::npos;
    })) << server.proc().err();
    const std::string log = server.proc().err();
    const std::string result = fmt::format(" result={}\n", a + 1000);
    long n = 0;
    for (std::size_t at = log.find(result); at != std::string::npos; at = log.find(result, at + 1))
      ++n;
    return n;
  };
  EXPECT_EQ(copies(1000, 1), 5) << "--timeout 1000: a copy every 200 ms\n" << server.proc().err();
  EXPECT_EQ(copies(40, 2), 2) << "--timeout 40: every 20 ms, the least\n" << server.proc().err();
  EXPECT_EQ(copies(41, 3), 3) << "--timeout 41: every 20 ms\n" << server.proc().err();
  EXPECT_EQ(server.stop()->exit_code(), 0);
}
