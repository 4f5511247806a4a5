// Lab 02 hidden grader: atomicity under load with requests near PIPE_BUF, clients that
// misbehave (never read, vanish, send garbage), the in-process API, and corners.
#include <signal.h>     // SIGKILL
#include <sys/ioctl.h>  // ioctl, FIONREAD

#include <atomic>  // std::atomic
#include <random>  // std::mt19937_64
#include <thread>  // std::thread
#include <vector>  // std::vector

#include "../public/common.hpp"
#include "ipclab/clock.hpp"  // Stopwatch

using grader::expect_exit;
using grader::expect_output;
using lab02_test::client;
using lab02_test::client_fifos;
using lab02_test::FakeClient;
using lab02_test::fifos;
using lab02_test::Server;
namespace lab = ipclab::lab02;

GRADED_TEST(Hidden, LargeRequestsFromManyThreadsNeverInterleave, 5,
            "README §Pitfalls 3 — a request is one write(2) of at most PIPE_BUF bytes") {
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  grader::repeat(2, [&](int rep, std::uint64_t seed) {
    constexpr int kThreads = 8, kCalls = 25;
    std::atomic<int> wrong{0};
    std::vector<std::string> failures(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(seed * 31 + static_cast<std::uint64_t>(t));
        for (int i = 0; i < kCalls && failures[static_cast<std::size_t>(t)].empty(); ++i) {
          const std::int64_t a = static_cast<std::int64_t>(rng() % 1'000'000'000);
          const std::int64_t b = static_cast<std::int64_t>(rng() % 1'000'000'000);
          // Blanks are allowed between tokens: requests of 1000..4080 bytes.
          const std::size_t pad = 1000 + rng() % 3000;
          const std::string expr = fmt::format("{}{}+ {}", a, std::string(pad, ' '), b);
          lab::CallOptions o;
          o.client_id = fmt::format("r{}t{}c{}", rep, t, i);
          o.timeout = 10'000ms;  // a thread stops at its first failure
          try {
            const lab::Reply r = lab::call(expr, o);
            if (r.status != lab::Status::kOk || r.value != a + b) {
              ++wrong;
              failures[static_cast<std::size_t>(t)] =
                  fmt::format("{} + {} (request of {} bytes): got status {} value {} \"{}\"", a, b,
                              expr.size() + o.client_id.size() + 2, static_cast<int>(r.status),
                              r.value, r.message);
            }
          } catch (const std::exception& e) {
            ++wrong;
            failures[static_cast<std::size_t>(t)] = fmt::format("{} + {}: {}", a, b, e.what());
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0) << "wrong or missing answers; e.g.:\n    "
                               << fmt::format("{}", fmt::join(failures, "\n    "));
    EXPECT_TRUE(s.proc().running());
  });
  EXPECT_EQ(client_fifos(), std::vector<std::string>{});
  expect_exit(s.stop(), 0);
}

GRADED_TEST(Hidden, ClientThatNeverReadsCannotBlockServer, 3,
            "README §Pitfalls 4 — the reply write must not block: O_NONBLOCK, EAGAIN drops it") {
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  FakeClient stuck("stuck");
  // Fill its FIFO to the brim through a writer of our own: the server's reply cannot fit.
  ipclab::Fd filler(::open(stuck.path().c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(filler.valid());
  const std::string block(4096, 'x');
  while (::write(filler.get(), block.data(), block.size()) > 0) {
  }
  ASSERT_TRUE(stuck.send("1 + 1"));
  auto r = client({"40 + 2"});
  expect_output(r, "Result: 42\n");
  EXPECT_TRUE(s.proc().running());
  expect_exit(s.stop(), 0);
}

GRADED_TEST(Hidden, InProcessServerStopsOnStopFdAndCleansUp, 3,
            "README §Pitfalls 9 — the FIFO goes on every way out of run_server") {
  for (int round = 0; round < 2; ++round) {  // the second proves the first let go of the lock
    ipclab::Pipe stop = ipclab::make_pipe();
    std::atomic<bool> ready{false}, done{false};
    lab::ServerStats stats;
    std::string error;
    lab::ServerOptions opts;
    opts.stop_fd = stop.read.get();
    opts.on_ready = [&](const std::string&) { ready = true; };
    std::thread server([&] {
      try {
        stats = lab::run_server(opts);
      } catch (const std::exception& e) {
        error = e.what();
      }
      done = true;
    });
    const bool up = grader::wait_until([&] { return ready.load() || done.load(); }, 10'000ms);
    if (up && ready) {
      lab::CallOptions o;
      o.client_id = "inproc";
      o.timeout = 10'000ms;
      try {  // nothing may escape while the server thread runs
        EXPECT_EQ(lab::call("2 * 21", o), (lab::Reply{lab::Status::kOk, 42, ""}));
        EXPECT_EQ(lab::call("1 / 0", o).status, lab::Status::kDivisionByZero);
        EXPECT_EQ(lab::call("1 +", o).status, lab::Status::kMalformed)
            << "the server answers a malformed expression with a kMalformed reply";
      } catch (const std::exception& e) {
        ADD_FAILURE() << "call() against the in-process server threw: " << e.what();
      }
    }
    ipclab::write_full(stop.write.get(), "x");
    const bool stopped = grader::wait_until([&] { return done.load(); }, 10'000ms);
    if (!stopped) {
      ADD_FAILURE() << "run_server did not return after stop_fd became readable";
      server.detach();  // the watchdog ends the test process
      return;
    }
    server.join();
    ASSERT_TRUE(up && ready) << "run_server never called on_ready; error: " << error;
    EXPECT_EQ(error, "");
    EXPECT_EQ(stats.requests, 3u);
    EXPECT_EQ(stats.replies, 3u);
    EXPECT_EQ(fifos(), std::vector<std::string>{}) << "after run_server returned";
  }
}

GRADED_TEST(Hidden, ClientsVanishingAtAnyMomentDoNotKillServer, 4,
            "README §Pitfalls 4 — ENXIO, ENOENT and EPIPE all mean: client gone, carry on") {
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  grader::repeat(3, [&](int rep, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    // Fake clients that close their FIFO right after sending: the server meets every case
    // (no FIFO, no reader, a reader that leaves between its open and its write).
    for (int i = 0; i < 150; ++i) {
      FakeClient c(fmt::format("v{}x{}", rep, i));
      ASSERT_TRUE(c.send(fmt::format("{} + 1", i))) << "the server is gone";
      if (rng() % 2 == 0) c.close_reader();
    }
    // Real clients killed at once.
    std::vector<grader::Process> doomed;
    for (int i = 0; i < 10; ++i)
      doomed.emplace_back(std::vector<std::string>{"calc_client", "--timeout", "30", "1 + 1"});
    for (auto& d : doomed) d.kill();
    for (const auto& f : client_fifos()) ::unlink((grader::rundir() + "/" + f).c_str());
    auto r = client({"6 * 7"});
    expect_output(r, "Result: 42\n");
    ASSERT_TRUE(s.proc().running()) << s.proc().finish().describe();
  });
  expect_exit(s.stop(), 0);
}

GRADED_TEST(Hidden, GarbageAndSplitRequestsAreHandled, 3,
            "README §Pitfalls 3 — a read(2) returns any number of requests, or part of one") {
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  ASSERT_TRUE(FakeClient::send_raw("\n"));
  ASSERT_TRUE(FakeClient::send_raw("nospace\n"));
  ASSERT_TRUE(FakeClient::send_raw("../../etc 1 + 1\n"));
  ASSERT_TRUE(FakeClient::send_raw(std::string("\x00\x01\xff junk\n", 9)));
  ASSERT_TRUE(FakeClient::send_raw(std::string(3000, 'z')));  // 9000 bytes, no '\n' until the end
  ASSERT_TRUE(FakeClient::send_raw(std::string(3000, 'z')));
  ASSERT_TRUE(FakeClient::send_raw(std::string(3000, 'z') + "\n"));
  FakeClient m1("m1"), m2("m2"), part("part");
  ASSERT_TRUE(FakeClient::send_raw("m1 1 + 1\nm2 2 + 2\n"));  // two requests, one write
  EXPECT_EQ(m1.reply(), "ok 2");
  EXPECT_EQ(m2.reply(), "ok 4") << "the second request of one read(2) was lost";
  {
    // One request in two writes; the second only once the server has read the first.
    const std::string server = lab::server_fifo_path();
    ipclab::Fd w(::open(server.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    ASSERT_TRUE(w.valid());
    ipclab::write_full(w.get(), "pa");
    int unread = -1;
    EXPECT_TRUE(grader::wait_until([&] {
      return ::ioctl(w.get(), FIONREAD, &unread) == 0 && unread == 0;
    })) << "the server does not read its FIFO";
    ipclab::write_full(w.get(), "rt 3 * 3\n");
  }
  EXPECT_EQ(part.reply(), "ok 9") << "a request split across two reads was not put together";
  FakeClient bad("bad");
  ASSERT_TRUE(bad.send("2 ^ 3"));
  const auto b = bad.reply();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->rfind("error malformed", 0), 0u) << *b;
  EXPECT_TRUE(s.proc().running());
  expect_exit(s.stop(), 0);
}

GRADED_TEST(Hidden, CallApiTimeoutsCancelAndStaleFifo, 3,
            "README §Pitfalls 10 — every way out of call() removes the FIFO") {
  lab::CallOptions o;
  o.client_id = "api";
  o.timeout = 300ms;
  ipclab::Stopwatch sw;
  EXPECT_THROW(lab::call("1 + 1", o), lab::ServerNotRunning);
  EXPECT_GE(sw.elapsed_s(), 0.25) << "call() gave up before its timeout";
  EXPECT_EQ(fifos(), std::vector<std::string>{}) << "after ServerNotRunning";
  // A cancel descriptor that is already readable: Interrupted, and no FIFO left.
  ipclab::Pipe cancel = ipclab::make_pipe();
  ipclab::write_full(cancel.write.get(), "x");
  o.cancel_fd = cancel.read.get();
  o.timeout = 20'000ms;
  sw.reset();
  EXPECT_THROW(lab::call("1 + 1", o), lab::Interrupted);
  EXPECT_LT(sw.elapsed_s(), grader::scaled(10'000ms).count() / 1000.0)
      << "call() ignored its cancel descriptor";
  EXPECT_EQ(fifos(), std::vector<std::string>{}) << "after Interrupted";
  o.cancel_fd = -1;
  EXPECT_THROW(lab::call("1 +" + std::string(5000, ' ') + "1", o), ipclab::UsageError);
  // A stale reply FIFO with our id (a killed client whose pid came back) is replaced.
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  const std::string stale = lab::client_fifo_path("api");
  ASSERT_EQ(::mkfifo(stale.c_str(), 0600), 0);
  lab::Reply r;
  EXPECT_NO_THROW(r = lab::call("4 * 4", o));
  EXPECT_EQ(r, (lab::Reply{lab::Status::kOk, 16, ""}));
  EXPECT_FALSE(lab02_test::is_fifo(stale)) << "call() left its FIFO";
  ::unlink(stale.c_str());
  expect_exit(s.stop(), 0);
}

GRADED_TEST(Hidden, ArithmeticCorners, 2, "README §Pitfalls 8") {
  auto value = [](const char* text) {
    const lab::Reply r = lab::compute(text);
    return r.status == lab::Status::kOk ? fmt::format("{}", r.value)
                                        : fmt::format("status {}", static_cast<int>(r.status));
  };
  EXPECT_EQ(value("3037000499 * 3037000499"), "9223372030926249001");
  EXPECT_EQ(value("3037000500 * 3037000500"), "status 3");
  EXPECT_EQ(value("0 - -9223372036854775808"), "status 3");
  EXPECT_EQ(value("-9223372036854775808 / 1"), "-9223372036854775808");
  EXPECT_EQ(value("-9223372036854775808 % 1"), "0");
  EXPECT_EQ(value("-9223372036854775808 % 7"), "-1");
  EXPECT_EQ(value("000000000000000000000000042 + 0"), "42");
  EXPECT_EQ(value("-0 + 0"), "0");
  EXPECT_EQ(value("\t9223372036854775807\t/\t-1\t"), "-9223372036854775807");
  EXPECT_EQ(lab::encode_reply({lab::Status::kMalformed, 0, "malformed expression a\nb"}),
            "error malformed malformed expression a b\n");
}

GRADED_TEST(Hidden, ServerRefusesToReplaceANonFifo, 1,
            "README §Pitfalls 6 — replace only a FIFO, never somebody's file") {
  const std::string path = lab::server_fifo_path();
  ipclab::Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ipclab::write_full(f.get(), "precious");
  f.reset();
  auto r = grader::run({"calc_server"}, {.timeout = 10'000ms});
  grader::expect_finished(r);
  EXPECT_NE(r.exit_code(), 0) << r.describe();
  EXPECT_TRUE(r.err.find(path) != std::string::npos) << "the error should name the path\n"
                                                     << r.describe();
  EXPECT_EQ(ipclab::read_file(path), "precious");
  EXPECT_EQ(fifos(), std::vector<std::string>{});
}
