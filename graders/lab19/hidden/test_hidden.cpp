// Lab 19 hidden grader: churn and descriptor leaks in the server, the exact line limit,
// no busy loop, half-close, random demo sizes.
#include <signal.h>      // SIGTERM
#include <sys/socket.h>  // shutdown

#include <random>  // std::mt19937_64

#include "../public/common.hpp"
#include "ipclab/fd.hpp"  // open_fds

using grader::expect_exit;
using grader::expect_output;
using grader::run;
using lab19_test::Client;
using lab19_test::Raw;
using lab19_test::Server;

GRADED_TEST(Hidden, ChurnLeaksNoDescriptors, 3,
            "README §Pitfalls 6 — close and forget every client that leaves") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client ear(s.path, "ear");
  ASSERT_TRUE(ear.wait_for("* you are now ear"));
  ASSERT_TRUE(lab19_test::responsive(s.path));
  const auto baseline = ipclab::open_fds(s.proc.pid()).size();
  for (int i = 0; i < 60; ++i) {
    Raw r(s.path);
    if (i % 3 == 0) r.send(fmt::format("/name churn{}\nbye {}\n", i, i));
    if (i % 3 == 1) r.send("half a li");
    if (i % 3 == 2) ::shutdown(r.fd.get(), SHUT_RDWR);
  }
  ASSERT_TRUE(ear.wait_for("[churn57] bye 57\n"));
  EXPECT_TRUE(lab19_test::responsive(s.path));
  std::size_t now = 0;
  const bool back = grader::wait_until(
      [&] { return (now = ipclab::open_fds(s.proc.pid()).size()) <= baseline; }, 10'000ms);
  EXPECT_TRUE(back) << "chat_server held " << baseline << " descriptors before 60 connections "
                    << "came and went, and " << now << " after";
}

GRADED_TEST(Hidden, LineOfExactlyMaxAccepted, 1, "README §Pitfalls 5") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client ear(s.path, "ear"), talker(s.path, "talker");
  ASSERT_TRUE(ear.wait_for("* welcome "));
  ASSERT_TRUE(talker.wait_for("* you are now talker"));
  talker.say(std::string(4096, 'M'));
  EXPECT_TRUE(ear.wait_for("[talker] " + std::string(4096, 'M') + "\n"));
  talker.say(std::string(4097, 'N'));
  EXPECT_TRUE(talker.wait_for("! error: line too long"));
}

GRADED_TEST(Hidden, IdleServerSleepsInPoll, 2, "README §Server — the loop sleeps in poll") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client c(s.path, "c");
  ASSERT_TRUE(c.wait_for("* welcome "));
  const double before = grader::cpu_seconds(s.proc.pid());
  // Give a busy loop time to show: wait for a second of wall time, without sleeping blind.
  const auto start = std::chrono::steady_clock::now();
  grader::wait_until([&] { return std::chrono::steady_clock::now() - start > 1'000ms; }, 2'000ms);
  const double used = grader::cpu_seconds(s.proc.pid()) - before;
  EXPECT_LT(used, 0.2) << "an idle chat_server with one client used " << used
                       << " s of CPU in one second: it spins instead of sleeping in poll";
}

GRADED_TEST(Hidden, HalfCloseGetsPendingReply, 1, "README §Server — EOF: flush, then close") {
  Server s;
  ASSERT_TRUE(s.ready);
  Raw r(s.path);
  r.send("/who\n");
  ::shutdown(r.fd.get(), SHUT_WR);
  std::string got;
  EXPECT_TRUE(r.read_until(got, "* who:")) << got;
  EXPECT_TRUE(r.closed_by_server());
}

GRADED_TEST(Hidden, ServerShutdownNoticeAndClientsExit, 1, "README §Pitfalls 9") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client a(s.path, "a"), b(s.path, "b");
  ASSERT_TRUE(a.wait_for("* you are now a"));
  ASSERT_TRUE(b.wait_for("* you are now b"));
  s.proc.signal(SIGTERM);
  for (auto* c : {&a, &b}) {
    auto st = c->proc.wait(10'000ms);
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->exit_code(), 0);
    EXPECT_TRUE(lab19_test::has_line(c->out(), "* server shutting down"))
        << "every client is told `* server shutting down` before the server closes:\n"
        << c->out();
  }
}

GRADED_TEST(Hidden, DemoRandomSizesAndSeeds, 2, "README §Pitfalls 12") {
  grader::repeat(3, [&](int, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (const std::string mode : {"pipe", "shm", "sock"}) {
      const auto size = std::to_string(1 + rng() % (5u << 20));
      auto r = run({"ipc_demo", mode, "--size", size, "--seed", std::to_string(rng())},
                   {.timeout = 20'000ms});
      expect_output(r, lab19_test::demo_output(mode, size));
      expect_exit(r, 0);
    }
  });
}
