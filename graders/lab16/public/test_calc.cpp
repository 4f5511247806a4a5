// Lab 16's public tests: the arithmetic of both versions; every operation over TCP and UDP
// through calc_server and calc_client; the registration seen through rpcbind; overflow and
// division by zero as answers; the v1/v2 matrix; rpcbind down, program not registered and
// server dead, each a distinct exit 3 within the timeout; SIGTERM and SIGINT remove the
// registrations; a kill -9 leaves a stale one that a restart replaces; the benchmark.
#include <climits>  // INT_MIN, INT_MAX

#include "common.hpp"
#include "ipclab/clock.hpp"  // Stopwatch

GRADER_LAB("lab16", "Sun RPC calculator");
GRADER_USES_RPCBIND();

using namespace lab16_test;

// ---- the arithmetic, in process ------------------------------------------------------

GRADED_TEST(Arithmetic, Version2ValuesDivisionByZeroAndOverflow, 3,
            "README §Pitfalls 1 — compute in 64 bits; INT_MIN / -1 traps") {
  auto ok = [](lab::Op op, int a, int b, int want) {
    const calc_result r = lab::evaluate(op, a, b);
    EXPECT_EQ(r.status, CALC_OK) << lab::op_name(op) << " " << a << " " << b;
    EXPECT_EQ(r.calc_result_u.value, want) << lab::op_name(op) << " " << a << " " << b;
  };
  auto bad = [](lab::Op op, int a, int b, calc_status want) {
    EXPECT_EQ(lab::evaluate(op, a, b).status, want) << lab::op_name(op) << " " << a << " " << b;
  };
  ok(lab::Op::kAdd, 5, 3, 8);
  ok(lab::Op::kSubtract, 5, 8, -3);
  ok(lab::Op::kMultiply, 7, 6, 42);
  ok(lab::Op::kDivide, -7, 2, -3);
  ok(lab::Op::kAdd, INT_MAX, INT_MIN, -1);
  ok(lab::Op::kDivide, INT_MIN, 1, INT_MIN);
  ok(lab::Op::kAdd, INT_MAX - 1, 1, INT_MAX);  // both ends of the range are still in it
  ok(lab::Op::kSubtract, INT_MIN + 1, 1, INT_MIN);
  bad(lab::Op::kDivide, 1, 0, DIV_BY_ZERO);
  bad(lab::Op::kAdd, INT_MAX, 1, OVERFLOW);
  bad(lab::Op::kSubtract, INT_MIN, 1, OVERFLOW);
  bad(lab::Op::kMultiply, 65536, 65536, OVERFLOW);
  bad(lab::Op::kDivide, INT_MIN, -1, OVERFLOW);
}

GRADED_TEST(Arithmetic, Version1Wraps, 1, "README §The interface") {
  EXPECT_EQ(lab::evaluate_v1(lab::Op::kAdd, 5, 3), 8);
  EXPECT_EQ(lab::evaluate_v1(lab::Op::kMultiply, 7, 6), 42);
  EXPECT_EQ(lab::evaluate_v1(lab::Op::kSubtract, 3, 5), -2);
  EXPECT_EQ(lab::evaluate_v1(lab::Op::kAdd, INT_MAX, 1), INT_MIN);
  EXPECT_EQ(lab::evaluate_v1(lab::Op::kMultiply, INT_MIN, -1), INT_MIN);
}

// ---- calls through the programs -------------------------------------------------------

GRADED_TEST(Server, RegistersBothVersionsOnBothTransports, 3,
            "README §Pitfalls 6 — what rpcinfo shows") {
  GRADER_REQUIRE_RPCBIND();
  Server server;
  ASSERT_TRUE(server.started());
  EXPECT_EQ(server.proc().out(), registered_lines({1, 2}));
  EXPECT_EQ(registrations(), all_four()) << registrations_text();
  // What an administrator sees: rpcinfo calls the null procedure through rpcbind.
  for (const char* t : {"-t", "-u"})
    for (const char* v : {"1", "2"})
      grader::expect_exit(
          grader::run({"rpcinfo", t, "localhost", std::to_string(grader::rpc_prog()), v}), 0);
  expect_result(client({"add", "5", "3"}), 8);
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Calls, EveryOperationOverTcp, 3, "README §The client") {
  GRADER_REQUIRE_RPCBIND();
  Server server;
  ASSERT_TRUE(server.started());
  expect_result(client({"add", "5", "3"}), 8);
  expect_result(client({"subtract", "5", "8"}), -3);
  expect_result(client({"multiply", "7", "6"}), 42);
  expect_result(client({"divide", "-7", "2"}), -3);
  expect_result(client({"add", "5", "3", "--proto", "tcp", "--vers", "1"}), 8);
  expect_result(client({"subtract", "-2147483648", "-1", "--proto", "tcp", "--vers", "1"}),
                INT_MIN + 1);
  expect_result(client({"multiply", "-3", "4", "--proto", "tcp", "--vers", "1"}), -12);
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Calls, EveryOperationOverUdp, 3, "README §The client") {
  GRADER_REQUIRE_RPCBIND();
  Server server;
  ASSERT_TRUE(server.started());
  expect_result(client({"add", "5", "3", "--proto", "udp"}), 8);
  expect_result(client({"subtract", "0", "2147483647", "--proto", "udp"}), -INT_MAX);
  expect_result(client({"multiply", "7", "6", "--proto", "udp"}), 42);
  expect_result(client({"divide", "100", "7", "--proto", "udp"}), 14);
  expect_result(client({"add", "-5", "3", "--proto", "udp", "--vers", "1"}), -2);
  expect_result(client({"subtract", "5", "3", "--proto", "udp", "--vers", "1"}), 2);
  expect_result(client({"multiply", "7", "6", "--proto", "udp", "--vers", "1"}), 42);
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Calls, DivisionByZeroAndOverflowAreAnswers, 3,
            "README §Pitfalls 1 — the server must survive INT_MIN / -1") {
  GRADER_REQUIRE_RPCBIND();
  Server server;
  ASSERT_TRUE(server.started());
  for (const char* proto : {"tcp", "udp"}) {
    expect_error(client({"divide", "1", "0", "--proto", proto}), 1, "error: division by zero\n");
    expect_error(client({"add", "2147483647", "1", "--proto", proto}), 1, "error: overflow");
    expect_error(client({"multiply", "-2147483648", "-1", "--proto", proto}), 1, "error: overflow");
    expect_error(client({"divide", "-2147483648", "-1", "--proto", proto}), 1, "error: overflow");
  }
  expect_result(client({"add", "1", "1"}), 2);  // and the server is still there
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Versions, MatrixOfClientAndServerVersions, 4,
            "README §Pitfalls 5 — a version the server does not serve") {
  GRADER_REQUIRE_RPCBIND();
  {
    Server both;  // versions 1 and 2: old clients keep working
    ASSERT_TRUE(both.started());
    expect_result(client({"add", "2", "2", "--vers", "1"}), 4);
    expect_result(client({"add", "2", "2", "--vers", "2"}), 4);
    expect_result(client({"multiply", "3", "3", "--vers", "1", "--proto", "udp"}), 9);
    EXPECT_EQ(both.stop()->exit_code(), 0);
  }
  Server v1({"--vers", "1"}, {1});  // an old server: a new client is told why it fails
  ASSERT_TRUE(v1.started());
  EXPECT_EQ(registrations(),
            (std::vector<std::pair<std::uint32_t, std::string>>{{1, "tcp"}, {1, "udp"}}));
  expect_result(client({"add", "2", "2", "--vers", "1"}), 4);
  for (const char* proto : {"tcp", "udp"})
    expect_error(client({"add", "2", "2", "--vers", "2", "--proto", proto}), 3,
                 "error: program version mismatch");
  EXPECT_EQ(v1.stop()->exit_code(), 0);
}

// ---- failures: each its own error, exit 3, within the timeout ------------------------

GRADED_TEST(Failures, ProgramNotRegistered, 2, "README §Pitfalls 3") {
  GRADER_REQUIRE_RPCBIND();
  for (const char* proto : {"tcp", "udp"}) {
    ipclab::Stopwatch sw;
    const auto r = client({"add", "1", "2", "--proto", proto}, 1000);
    expect_error(r, 3,
                 fmt::format("error: program {} version 2 not registered", grader::rpc_prog_arg()));
    EXPECT_LT(sw.elapsed_s(), 3.0) << "took " << sw.elapsed_s() << " s with --timeout 1000";
  }
}

GRADED_TEST(Failures, ServerKilledIsNoAnswerWithinTheTimeout, 3,
            "README §Pitfalls 3 and 4 — connection refused, and the 25 s default") {
  GRADER_REQUIRE_RPCBIND();
  Server server;
  ASSERT_TRUE(server.started());
  expect_result(client({"add", "1", "2"}), 3);
  server.proc().kill();  // SIGKILL: its registrations stay behind
  EXPECT_EQ(registrations(), all_four()) << registrations_text();
  for (const char* proto : {"tcp", "udp"}) {
    ipclab::Stopwatch sw;
    const auto r = client({"add", "1", "2", "--proto", proto}, 1000);
    expect_error(r, 3, "error: server not answering");
    EXPECT_LT(sw.elapsed_s(), 3.0) << "took " << sw.elapsed_s() << " s with --timeout 1000";
  }
  unset_all();
}

GRADED_TEST(Failures, RpcbindDownIsItsOwnError, 3, "README §Pitfalls 3") {
  GRADER_REQUIRE_RPCBIND();
  // The shared rpcbind cannot be stopped under tests running in parallel. A new network
  // namespace is a host where nothing listens on port 111: exactly what a stopped rpcbind
  // looks like to a client.
  const auto probe = grader::run({"unshare", "-rn", "true"});
  if (probe.exit_code() != 0) GTEST_SKIP() << "no network namespace here (unshare -rn fails)";
  for (const char* proto : {"tcp", "udp"}) {
    const std::string cmd = fmt::format(
        "ip link set lo up 2>/dev/null; exec '{}' localhost add 1 2 --proto {} --prog {} --timeout "
        "1000",
        grader::program("calc_client"), proto, grader::rpc_prog_arg());
    ipclab::Stopwatch sw;
    const auto r = grader::run({"unshare", "-rn", "sh", "-c", cmd}, {.timeout = 15'000ms});
    expect_error(r, 3, "error: rpcbind not running on localhost");
    EXPECT_LT(sw.elapsed_s(), 3.0) << "took " << sw.elapsed_s() << " s with --timeout 1000";
  }
}

// ---- registrations are objects: removed on exit, replaced after a crash ------------------

GRADED_TEST(Shutdown, SigtermRemovesTheRegistrations, 3, "README §Pitfalls 6") {
  GRADER_REQUIRE_RPCBIND();
  Server server;
  ASSERT_TRUE(server.started());
  expect_result(client({"add", "1", "2", "--proto", "udp"}), 3);
  const auto st = server.stop(SIGTERM);
  ASSERT_TRUE(st.has_value()) << "calc_server still running 10 s after SIGTERM";
  EXPECT_EQ(st->exit_code(), 0) << st->describe();
  EXPECT_EQ(registrations_text(), "(none)\n");
}

GRADED_TEST(Shutdown, SigintRemovesTheRegistrations, 2, "README §Pitfalls 6") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--proto", "tcp"});
  ASSERT_TRUE(server.started());
  expect_result(client({"multiply", "4", "5"}), 20);
  const auto st = server.stop(SIGINT);
  ASSERT_TRUE(st.has_value()) << "calc_server still running 10 s after SIGINT";
  EXPECT_EQ(st->exit_code(), 0) << st->describe();
  EXPECT_EQ(registrations_text(), "(none)\n");
}

GRADED_TEST(Restart, KillNineThenRestartReplacesTheStaleRegistration, 3, "README §Pitfalls 6") {
  GRADER_REQUIRE_RPCBIND();
  {
    Server first;
    ASSERT_TRUE(first.started());
    expect_result(client({"add", "1", "1"}), 2);
    first.proc().kill();
  }
  const auto stale = ipclab::rpc::mappings_of(grader::rpc_prog());
  ASSERT_EQ(registrations(), all_four()) << registrations_text();
  Server second;
  ASSERT_TRUE(second.started());
  expect_result(client({"add", "2", "2"}), 4);
  expect_result(client({"add", "3", "3", "--proto", "udp"}), 6);
  EXPECT_EQ(registrations(), all_four()) << registrations_text();
  EXPECT_EQ(second.stop()->exit_code(), 0);
  EXPECT_EQ(registrations_text(), "(none)\n");
}

// ---- the benchmark works (never a speed) ---------------------------------------------------

GRADED_TEST(Bench, ReportsTcpAndUdpAndVerifiesAnswers, 2, "README §Performance") {
  GRADER_REQUIRE_RPCBIND();
  Server server;
  ASSERT_TRUE(server.started());
  const auto r =
      client({"bench", "--calls", "50", "--runs", "2", "--warmup", "5", "--format", "json"});
  grader::expect_exit(r, 0);
  for (const char* field : {"\"benchmark\"", "\"name\": \"tcp\"", "\"name\": \"udp\"", "\"p50_ns\"",
                            "\"p99_ns\"", "\"udp/tcp\""})
    EXPECT_NE(r.out.find(field), std::string::npos) << field << "\n" << r.describe();
  // A wrong answer on purpose (call 20): the benchmark must refuse to print a number.
  const auto bad = grader::run({"calc_client", "localhost", "bench", "--calls", "50", "--runs", "1",
                                "--warmup", "0", "--prog", grader::rpc_prog_arg()},
                               {.env = {"IPCLAB_BENCH_CORRUPT=20"}});
  expect_error(bad, 1, "error: verification failed");
  EXPECT_EQ(server.stop()->exit_code(), 0);
}
