// Lab 02 public grader: the arithmetic, the wire format, and calc_server/calc_client
// talking over FIFOs: start orders, 50 concurrent clients, kill -9 and restart, cleanup.
#include <signal.h>  // SIGKILL, SIGINT, SIGTERM

#include <algorithm>  // std::min
#include <cstdint>    // INT64_MAX
#include <limits>     // std::numeric_limits

#include "common.hpp"

GRADER_LAB("lab02", "FIFO client-server calculator");

using grader::expect_exit;
using grader::expect_output;
using lab02_test::client;
using lab02_test::client_fifos;
using lab02_test::FakeClient;
using lab02_test::fifos;
using lab02_test::list;
using lab02_test::Server;
namespace lab = ipclab::lab02;

namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();

lab::Reply ok(std::int64_t v) { return {lab::Status::kOk, v, ""}; }

/// EXPECTs that `text` computes to `want` (status, and value when kOk).
void expect_computes(const std::string& text, const lab::Reply& want) {
  const lab::Reply got = lab::compute(text);
  EXPECT_EQ(got.status, want.status) << "compute(\"" << text << "\"): \"" << got.message << "\"";
  if (want.status == lab::Status::kOk && got.status == lab::Status::kOk) {
    EXPECT_EQ(got.value, want.value) << "compute(\"" << text << "\")";
  }
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

// ---- arithmetic -------------------------------------------------------------------------

GRADED_TEST(Calc, EvaluatesAllFiveOperators, 2, "README §Arithmetic") {
  EXPECT_EQ(lab::parse_expression("5 + 3"), (lab::Expr{5, lab::Op::kAdd, 3}));
  EXPECT_EQ(lab::parse_expression("  -12 %\t+5 "), (lab::Expr{-12, lab::Op::kMod, 5}));
  expect_computes("5 + 3", ok(8));
  expect_computes("5+3", ok(8));
  expect_computes("  10 -\t4 ", ok(6));
  expect_computes("6 * 7", ok(42));
  expect_computes("-7 / 2", ok(-3));
  expect_computes("-7 % 2", ok(-1));
  expect_computes("7 % -2", ok(1));
  expect_computes("5 - -3", ok(8));
  expect_computes("5--3", ok(8));
  expect_computes("+4 * 2", ok(8));
}

GRADED_TEST(Calc, MalformedIsUsageError, 2, "README §Arithmetic — one operation, nothing else") {
  for (const char* bad :
       {"", "   ", "5", "5 +", "+ 5", "5 ^ 3", "five + 3", "5 + 3 + 2", "(5 + 3)", "5 + - 3",
        "- + 3", "+ * 2", "5 * - ", "5 3", "1 + 2x", "99999999999999999999 + 1",
        "9223372036854775808 + 0", "-9223372036854775809 - 0"}) {
    try {
      lab::parse_expression(bad);
      ADD_FAILURE() << "parse_expression(\"" << bad << "\") did not throw UsageError";
    } catch (const ipclab::UsageError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("malformed expression", 0), 0u)
          << "the message should begin with \"malformed expression\": " << e.what();
    }
    const lab::Reply r = lab::compute(bad);
    EXPECT_EQ(r.status, lab::Status::kMalformed) << "compute(\"" << bad << "\")";
  }
}

GRADED_TEST(Calc, DivisionByZeroAndOverflowAreErrors, 3,
            "README §Pitfalls 8 — signed overflow is undefined; INT64_MIN / -1 traps (SIGFPE)") {
  for (const char* text : {"5 / 0", "5 % 0", "0 / 0", "-9223372036854775808 % 0"}) {
    const lab::Reply r = lab::compute(text);
    EXPECT_EQ(r.status, lab::Status::kDivisionByZero) << text;
    EXPECT_EQ(r.message, "division by zero") << text;
  }
  for (const char* text :
       {"9223372036854775807 + 1", "-9223372036854775808 - 1", "9223372036854775807 * 2",
        "-9223372036854775808 * -1", "-9223372036854775808 / -1", "4611686018427387904 * 2"}) {
    const lab::Reply r = lab::compute(text);
    EXPECT_EQ(r.status, lab::Status::kOverflow) << text << " -> \"" << r.message << "\"";
    EXPECT_EQ(r.message.rfind("overflow", 0), 0u) << text << " -> \"" << r.message << "\"";
  }
  expect_computes("-9223372036854775808 % -1", ok(0));
  expect_computes("-9223372036854775808 + 0", ok(kMin));
  expect_computes("9223372036854775807 - 0", ok(kMax));
  expect_computes("-9223372036854775807 - 1", ok(kMin));
}

// ---- the wire format --------------------------------------------------------------------

GRADED_TEST(Protocol, RequestsAndRepliesAreOneLine, 2, "README §Protocol") {
  EXPECT_EQ(lab::encode_request({"123", "5 + 3"}), "123 5 + 3\n");
  EXPECT_EQ(lab::decode_request("123 5 + 3"), (lab::Request{"123", "5 + 3"}));
  EXPECT_EQ(lab::decode_request("42 "), (lab::Request{"42", ""}));
  EXPECT_EQ(lab::decode_request("nospace"), std::nullopt);
  EXPECT_EQ(lab::decode_request("../etc 1 + 1"), std::nullopt) << "an id must not name a path";
  // Exactly PIPE_BUF bytes with the newline is the largest request.
  const std::string id = "7";
  const std::string fits(lab::kMaxRequest - id.size() - 2, ' ');
  EXPECT_EQ(lab::encode_request({id, fits}).size(), lab::kMaxRequest);
  EXPECT_THROW(lab::encode_request({id, fits + " "}), ipclab::UsageError)
      << "a request of PIPE_BUF + 1 bytes must be refused";
  EXPECT_THROW(lab::encode_request({"a/b", "1 + 1"}), ipclab::UsageError);
  EXPECT_THROW(lab::encode_request({"7", "1 + 1\n2 + 2"}), ipclab::UsageError);

  EXPECT_EQ(lab::encode_reply(ok(8)), "ok 8\n");
  EXPECT_EQ(lab::encode_reply({lab::Status::kDivisionByZero, 0, "division by zero"}),
            "error division_by_zero division by zero\n");
  for (const lab::Reply& r :
       {ok(kMin), ok(0), lab::Reply{lab::Status::kDivisionByZero, 0, "division by zero"},
        lab::Reply{lab::Status::kOverflow, 0, "overflow: 1 + 2 does not fit in 64 bits"},
        lab::Reply{lab::Status::kMalformed, 0, "malformed expression \"x\": expected a number"}}) {
    const std::string line = lab::encode_reply(r);
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
    EXPECT_EQ(lab::decode_reply(line.substr(0, line.size() - 1)), r) << line;
  }
  for (const char* bad : {"", "nonsense", "ok", "ok 12x", "ok  ", "error whatever x"}) {
    try {
      lab::decode_reply(bad);
      ADD_FAILURE() << "decode_reply(\"" << bad << "\") did not throw";
    } catch (const ipclab::SysError& e) {
      EXPECT_EQ(e.code(), std::errc::protocol_error) << bad;
    }
  }
}

// ---- one server, one client -------------------------------------------------------------

GRADED_TEST(Server, StartsWithNoClientAndMakesItsFifo, 3,
            "README §Pitfalls 1 — opening a FIFO for reading blocks until there is a writer") {
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  const std::string path = lab::server_fifo_path();
  EXPECT_TRUE(lab02_test::is_fifo(path))
      << path << " is not a FIFO; run directory holds: " << list(fifos());
  EXPECT_TRUE(s.proc().running()) << "calc_server exited with no client at all";
  auto r = s.stop();
  expect_exit(r, 0);
}

GRADED_TEST(Client, PrintsTheResult, 3, "README §Client") {
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  auto r = client({"5 + 3"});
  expect_output(r, "Result: 8\n");
  expect_exit(r, 0);
  if (HasFailure()) return;  // the rest would only wait out the same timeout
  ASSERT_TRUE(s.proc().running()) << "calc_server exited after one client:\n"
                                  << s.proc().finish().describe();
  auto m = client({"6 * 7"});
  expect_output(m, "Result: 42\n");
  auto w = client({"--", "-20", "/", "3"});  // words are joined with spaces
  expect_output(w, "Result: -6\n");
  expect_exit(w, 0);
}

GRADED_TEST(Client, ErrorsHaveTheirExitCodes, 3,
            "README §Client — 1: the operation failed, 2: bad input, `error: ` on stderr") {
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  auto div = client({"7 / 0"});
  expect_exit(div, 1);
  EXPECT_TRUE(contains(div.err, "error: division by zero")) << div.describe();
  EXPECT_EQ(div.out, "") << div.describe();
  auto ovf = client({"9223372036854775807 + 1"});
  expect_exit(ovf, 1);
  EXPECT_TRUE(contains(ovf.err, "error: overflow")) << ovf.describe();
  auto bad = client({"5 +"});
  expect_exit(bad, 2);
  EXPECT_TRUE(contains(bad.err, "error: malformed expression")) << bad.describe();
  auto longer = client({"1 +" + std::string(5000, ' ') + "2"});
  expect_exit(longer, 2);
  EXPECT_TRUE(contains(longer.err, "PIPE_BUF")) << "say why a long request is refused\n"
                                                << longer.describe();
  expect_exit(grader::run({"calc_client"}), 2);
  expect_exit(grader::run({"calc_client", "--timeout", "0", "1 + 1"}), 2);
  expect_exit(grader::run({"calc_client", "--timeout", "soon", "1 + 1"}), 2);
  EXPECT_TRUE(s.proc().running()) << "bad requests must not stop the server";
  EXPECT_EQ(client_fifos(), std::vector<std::string>{}) << "a client left its FIFO behind";
}

GRADED_TEST(Server, ServesClientAfterClient, 4,
            "README §Pitfalls 2 — without a writer of its own, the server reads EOF when a "
            "client closes, and poll reports POLLHUP forever") {
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  for (int i = 1; i <= 5; ++i) {
    auto r = client({fmt::format("{} * 1000", i)});
    expect_output(r, fmt::format("Result: {}\n", i * 1000));
    ASSERT_TRUE(s.proc().running()) << "calc_server exited after client " << i << ":\n"
                                    << s.proc().finish().describe();
  }
  // Idle again: a server asleep in poll(2) uses no CPU at all while we watch; one that
  // loops on EOF/POLLHUP burns it.
  const auto burned = lab02_test::busy_cpu(s.pid(), 2'000ms);
  EXPECT_FALSE(burned.has_value()) << fmt::format("calc_server used {:.2f} s", burned.value_or(0))
                                   << " of CPU while idle after its clients left (a busy loop)";
  expect_exit(s.stop(), 0);
}

// ---- many clients, both start orders, restart -------------------------------------------

GRADED_TEST(Concurrency, FiftyClientsEachGetTheirOwnAnswer, 6,
            "README §Pitfalls 3 and 4 — one write(2) per request; reply FIFO open before sending") {
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  grader::repeat(2, [&](int, std::uint64_t seed) {
    std::vector<grader::Process> clients;
    std::vector<std::int64_t> want;
    for (int i = 0; i < 50; ++i) {
      const std::int64_t a = 1'000'003 * (i + 1) + static_cast<std::int64_t>(seed % 1000);
      const std::int64_t b = 7'919 + i;
      want.push_back(a * b);
      clients.emplace_back(std::vector<std::string>{"calc_client", "--timeout",
                                                    lab02_test::seconds_arg(20'000ms),
                                                    fmt::format("{} * {}", a, b)});
    }
    int wrong = 0;
    std::string shown;
    for (int i = 0; i < 50; ++i) {
      auto r = clients[static_cast<std::size_t>(i)].finish(30'000ms);
      const std::string expected = fmt::format("Result: {}\n", want[static_cast<std::size_t>(i)]);
      if (r.out == expected && r.exit_code() == 0) continue;
      if (++wrong <= 3)
        shown += fmt::format("  expected: Result: {}\n{}", want[static_cast<std::size_t>(i)],
                             r.describe());
    }
    EXPECT_EQ(wrong, 0) << wrong << " of 50 concurrent clients did not get their own answer; "
                        << std::min(wrong, 3) << " of them:\n"
                        << shown;
    EXPECT_TRUE(s.proc().running()) << "calc_server died under 50 clients";
    EXPECT_EQ(client_fifos(), std::vector<std::string>{}) << "clients left FIFOs behind";
  });
  expect_exit(s.stop(), 0);
}

GRADED_TEST(StartOrder, ClientStartedBeforeServerIsServed, 4,
            "README §Pitfalls 5 — no server yet (no FIFO, or no reader) means retry until the "
            "deadline") {
  grader::Process c({"calc_client", "--timeout", lab02_test::seconds_arg(20'000ms), "19 + 23"});
  // The client makes its reply FIFO before it looks for the server: once it exists, the
  // client is waiting.
  grader::wait_until([&] { return !client_fifos().empty() || !c.running(); }, 10'000ms);
  ASSERT_TRUE(c.running()) << "the client gave up at once instead of waiting up to --timeout "
                              "for a server:\n"
                           << c.finish().describe();
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  auto r = c.finish(30'000ms);
  expect_output(r, "Result: 42\n");
  expect_exit(r, 0);
  expect_exit(s.stop(), 0);
}

GRADED_TEST(NoServer, ClientTimesOutCleanly, 4,
            "README §Pitfalls 5 — open(O_WRONLY) of a FIFO with no reader blocks forever; use "
            "O_NONBLOCK and a deadline") {
  auto r = client({"1 + 1"}, 500ms);
  expect_exit(r, 3);
  EXPECT_TRUE(contains(r.err, "error: server not running")) << r.describe();
  EXPECT_EQ(fifos(), std::vector<std::string>{}) << "left behind";
  // The default timeout is 2 s: it waits that long (never less), then gives up.
  auto d = grader::run({"calc_client", "2 * 2"}, {.timeout = 15'000ms});
  expect_exit(d, 3);
  EXPECT_GE(d.seconds, 1.9) << "the client gave up before its default 2 s timeout\n"
                            << d.describe();
  // A FIFO left by a killed server has no reader: the same answer, and no hang.
  const std::string stale = lab::server_fifo_path();
  ASSERT_EQ(::mkfifo(stale.c_str(), 0600), 0);
  auto st = client({"1 + 1"}, 500ms);
  ::unlink(stale.c_str());
  grader::expect_finished(st);
  expect_exit(st, 3);
  EXPECT_TRUE(contains(st.err, "error: server not running")) << st.describe();
  EXPECT_EQ(client_fifos(), std::vector<std::string>{}) << "left behind";
}

GRADED_TEST(Restart, KillNineThenRestartWorks, 4,
            "README §Pitfalls 6 — a FIFO left by kill -9 is stale: replace it at startup") {
  {
    Server first;
    ASSERT_TRUE(first.ready()) << first.why();
    expect_output(client({"1 + 1"}), "Result: 2\n");
    ASSERT_TRUE(first.proc().running()) << "calc_server exited after one client:\n"
                                        << first.proc().finish().describe();
    first.proc().signal(SIGKILL);
    ASSERT_TRUE(first.proc().wait(10'000ms).has_value());
  }
  ASSERT_TRUE(lab02_test::is_fifo(lab::server_fifo_path()))
      << "after kill -9 the server's FIFO should still be there (nothing can remove it)";
  auto none = client({"1 + 1"}, 500ms);
  expect_exit(none, 3);
  // A client waiting on the stale FIFO is served by the new server.
  grader::Process waiting(
      {"calc_client", "--timeout", lab02_test::seconds_arg(20'000ms), "100 - 58"});
  Server second;
  ASSERT_TRUE(second.ready()) << second.why();
  auto w = waiting.finish(30'000ms);
  expect_output(w, "Result: 42\n");
  expect_output(client({"3 * 3"}), "Result: 9\n");
  expect_exit(second.stop(), 0);
  EXPECT_EQ(fifos(), std::vector<std::string>{}) << "after SIGTERM";
}

GRADED_TEST(Server, SecondServerLeavesTheLiveOneAlone, 3,
            "README §Pitfalls 7 — a live server's FIFO is not stale: check before replacing") {
  Server first;
  ASSERT_TRUE(first.ready()) << first.why();
  const ino_t before = lab02_test::inode(lab::server_fifo_path());
  auto second = grader::run({"calc_server"}, {.timeout = 10'000ms});
  grader::expect_finished(second);
  expect_exit(second, 1);
  EXPECT_TRUE(contains(second.err, "already running")) << second.describe();
  EXPECT_EQ(lab02_test::inode(lab::server_fifo_path()), before)
      << "the second server replaced the live server's FIFO";
  expect_output(client({"2 + 2"}), "Result: 4\n");
  expect_exit(first.stop(), 0);
  EXPECT_EQ(fifos(), std::vector<std::string>{});
}

// ---- cleanup ----------------------------------------------------------------------------

GRADED_TEST(Shutdown, SigtermAndSigintRemoveTheFifo, 3,
            "README §Pitfalls 9 — poll the stop descriptor; remove the FIFO on the way out") {
  for (int sig : {SIGTERM, SIGINT}) {
    Server s;
    ASSERT_TRUE(s.ready()) << s.why();
    expect_output(client({"1 + 2"}), "Result: 3\n");
    auto r = s.stop(sig);
    grader::expect_finished(r);
    expect_exit(r, 0);
    EXPECT_EQ(fifos(), std::vector<std::string>{}) << "after signal " << sig;
  }
}

GRADED_TEST(Cleanup, ClientsRemoveTheirFifoInEveryCase, 3,
            "README §Pitfalls 10 — own the FIFO with an object: every way out removes it") {
  {
    Server s;
    ASSERT_TRUE(s.ready()) << s.why();
    client({"1 + 1"});
    client({"1 / 0"});
    EXPECT_EQ(client_fifos(), std::vector<std::string>{}) << "after an answer and an error";
    expect_exit(s.stop(), 0);
  }
  client({"1 + 1"}, 300ms);
  EXPECT_EQ(client_fifos(), std::vector<std::string>{}) << "after a timeout";
  for (int sig : {SIGINT, SIGTERM}) {
    grader::Process c({"calc_client", "--timeout", lab02_test::seconds_arg(20'000ms), "1 + 1"});
    ASSERT_TRUE(grader::wait_until([&] { return !client_fifos().empty() || !c.running(); }))
        << "the waiting client has no reply FIFO";
    c.signal(sig);
    auto r = c.finish(10'000ms);
    grader::expect_finished(r);
    expect_exit(r, 128 + sig);
    EXPECT_EQ(client_fifos(), std::vector<std::string>{}) << "after signal " << sig;
  }
}

// ---- vanished clients -------------------------------------------------------------------

GRADED_TEST(Robustness, ServerSurvivesVanishedClients, 5,
            "README §Pitfalls 4 — open reply FIFOs O_WRONLY|O_NONBLOCK (ENXIO: gone); ignore "
            "SIGPIPE") {
  // In-process: the two functions that meet a vanished client.
  EXPECT_FALSE(lab::open_reply_fifo("nobody").valid()) << "no FIFO: the client is gone";
  {
    FakeClient no_reader("noreader", /*open_reader=*/false);
    EXPECT_FALSE(lab::open_reply_fifo("noreader").valid()) << "a FIFO nobody reads: ENXIO";
    FakeClient reader("reader");
    ipclab::Fd w = lab::open_reply_fifo("reader");
    ASSERT_TRUE(w.valid());
    EXPECT_TRUE(lab::send_reply(w.get(), ok(8)));
    EXPECT_EQ(reader.reply(), "ok 8");
  }
  {
    ipclab::Pipe p = ipclab::make_pipe();
    p.read.reset();  // the reader is gone: write(2) fails with EPIPE
    bool sent = true;
    EXPECT_NO_THROW(sent = lab::send_reply(p.write.get(), ok(1)));
    EXPECT_FALSE(sent) << "send_reply to a closed pipe must return false";
  }
  // The program: clients that are gone, then a real one.
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  ASSERT_TRUE(FakeClient::send_raw("ghost 1 + 1\n"));  // no FIFO at all
  FakeClient sleeper("sleeper", /*open_reader=*/false);
  ASSERT_TRUE(sleeper.send("2 + 2"));  // a FIFO nobody reads
  auto r = client({"20 + 22"});
  expect_output(r, "Result: 42\n");
  ASSERT_TRUE(s.proc().running()) << s.proc().finish().describe();
  EXPECT_NE(lab02_test::sigpipe_disposition(s.pid()), "default")
      << "SIGPIPE is at its default action in calc_server: a client that closes its FIFO "
         "between the server's open and write kills the server";
  expect_exit(s.stop(), 0);
}
