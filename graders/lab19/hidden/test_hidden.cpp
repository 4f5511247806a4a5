// Lab 19 hidden grader: churn and descriptor leaks in the server, the exact line limit,
// no busy loop, half-close, random demo sizes, a client's wait interrupted by a signal.
#include <fcntl.h>         // open, O_CLOEXEC
#include <pthread.h>       // pthread_kill
#include <sched.h>         // unshare, CLONE_NEWNS
#include <signal.h>        // SIGTERM, SIGUSR1, sigaction
#include <sys/mount.h>     // mount
#include <sys/resource.h>  // getrusage
#include <sys/socket.h>    // shutdown
#include <sys/stat.h>      // mkdir
#include <sys/syscall.h>   // SYS_gettid
#include <sys/un.h>        // sockaddr_un
#include <unistd.h>        // pipe2, syscall

#include <atomic>   // std::atomic
#include <cstring>  // std::memcpy, std::strerror
#include <random>   // std::mt19937_64
#include <thread>   // std::thread

#include "../public/common.hpp"
#include "ipclab/error.hpp"    // SysError
#include "ipclab/fd.hpp"       // open_fds
#include "ipclab/io.hpp"       // read_file
#include "ipclab/process.hpp"  // process_state
#include "lab19/chat.hpp"      // run_client
#include "lab19/unix.hpp"      // listen_unix

namespace lab = ipclab::lab19;

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

GRADED_TEST(Hidden, ClientGoesOnAcrossAnInterruptedPoll, 1,
            "README §Pitfalls 14 — a signal whose handler returns interrupts poll with EINTR: "
            "poll again") {
  // run_client is a library function: its caller may have a handler installed (SIGUSR1
  // here, without SA_RESTART), and a signal then interrupts the client's wait. Sent once
  // the client sleeps in that wait, after its welcome; once handled, its input ends, the
  // server lets it go, and run_client must return 0.
  Server s;
  ASSERT_TRUE(s.ready);
  grader::Child c(
      [path = s.path] {
        static std::atomic<int> handled{0};
        struct sigaction sa {};
        sa.sa_handler = [](int) { handled.fetch_add(1); };
        ASSERT_EQ(::sigaction(SIGUSR1, &sa, nullptr), 0);
        int in[2];
        ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
        const std::string out_path = grader::scratch() + "/eintr-client.out";
        ipclab::Fd out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        ASSERT_TRUE(out.valid());
        lab::ClientOptions o;
        o.socket_path = path;
        o.name = "sig";
        o.in_fd = in[0];
        o.out_fd = out.get();
        const pid_t client = static_cast<pid_t>(::syscall(SYS_gettid));
        const pthread_t client_thread = ::pthread_self();
        bool signalled = false;
        std::thread sender([&] {
          // The client's welcome is out, and it sleeps in its wait: then the signal.
          signalled =
              grader::wait_until(
                  [&] {
                    return ipclab::read_file(out_path).find("you are now sig") != std::string::npos;
                  },
                  10'000ms) &&
              grader::wait_until([&] { return ipclab::process_state(client) == 'S'; }, 10'000ms) &&
              ::pthread_kill(client_thread, SIGUSR1) == 0 &&
              // Handled: the wait it interrupted has returned (EINTR, for nothing was ready).
              // Only now may the input end, or the wait could return that instead.
              grader::wait_until([] { return handled.load() > 0; }, 10'000ms);
          ::close(in[1]);  // end of input: the client half-closes, the server lets it go
        });
        int rc = -1;
        std::string error;
        try {
          rc = lab::run_client(o);
        } catch (const std::exception& e) {
          error = e.what();
        }
        sender.join();
        ::close(in[0]);
        ASSERT_TRUE(signalled) << "the client never slept after its welcome: "
                               << ipclab::read_file(out_path);
        EXPECT_EQ(error, "") << "run_client threw after a SIGUSR1 whose handler returned";
        EXPECT_EQ(rc, 0) << "run_client once the server closed";
      },
      "run_client with SIGUSR1");
  const auto r = c.finish(20'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}

GRADED_TEST(Hidden, AClientOnDescriptorZeroIsServed, 1,
            "README §Server — any descriptor accept returns is a client's, 0 included") {
  // A process that closed its stdin (a daemon does) gets descriptor 0 for the next thing it
  // opens: here the connection run_server accepts. It is a client like any other.
  grader::Child c(
      [] {
        int stop[2];
        ASSERT_EQ(::pipe2(stop, O_CLOEXEC), 0);
        const std::string log_path = grader::scratch() + "/zero.log";
        std::FILE* log = std::fopen(log_path.c_str(), "we");
        ASSERT_NE(log, nullptr);
        lab::ServerOptions o;
        o.socket_path = lab19_test::sock_path("zero.sock");
        o.log = log;
        std::string error;
        std::thread server([&] {
          try {
            lab::run_server(o, stop[0]);
          } catch (const std::exception& e) {
            error = e.what();
          }
        });
        const bool listening = grader::wait_until(
            [&] { return ipclab::read_file(log_path).find("listening on") != std::string::npos; },
            10'000ms);
        ipclab::Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));  // before: not 0
        ::close(0);  // the server's accept now returns 0
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::memcpy(a.sun_path, o.socket_path.c_str(), o.socket_path.size() + 1);
        const bool connected =
            listening && ::connect(sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        std::string got;
        char buf[4096];
        const bool welcomed =
            connected && grader::wait_until(
                             [&] {
                               const ssize_t n = ::recv(sock.get(), buf, sizeof buf, MSG_DONTWAIT);
                               if (n > 0) got.append(buf, std::size_t(n));
                               return got.find("* welcome") != std::string::npos;
                             },
                             10'000ms);
        (void)!::write(stop[1], "x", 1);
        server.join();
        std::fclose(log);
        EXPECT_TRUE(listening) << "run_server never logged `listening on`";
        EXPECT_TRUE(welcomed) << "the connection accepted as descriptor 0 got no welcome: `" << got
                              << "`; the server's log:\n"
                              << ipclab::read_file(log_path);
        EXPECT_EQ(error, "");
      },
      "run_server with stdin closed");
  const auto r = c.finish(30'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}

GRADED_TEST(Hidden, StaleSocketThatCannotBeRemovedSaysWhy, 1,
            "README §Stale sockets — a stale socket that cannot be unlinked is an error of "
            "unlink, with its errno") {
  // A stale socket on a file system mounted read-only (in a mount namespace of this test's
  // own): unlink fails with EROFS, and that is the error listen_unix must throw, not the
  // bind's EADDRINUSE that follows when the failure is ignored.
  if (::unshare(CLONE_NEWNS) != 0) GTEST_SKIP() << "no mount namespace here (CAP_SYS_ADMIN)";
  // Private first: nothing mounted below may reach the machine's own namespace.
  ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0)
      << std::strerror(errno);
  const std::string dir = grader::scratch() + "/ro";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=64k"), 0) << std::strerror(errno);
  const std::string path = dir + "/chat.sock";
  {
    ipclab::Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }  // closed without a listen: connect gets ECONNREFUSED, the socket is stale
  ASSERT_EQ(::mount(nullptr, dir.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0)
      << std::strerror(errno);
  try {
    (void)lab::listen_unix(path);
    ADD_FAILURE() << "listen_unix over a stale socket on a read-only file system returned";
  } catch (const ipclab::SysError& e) {
    EXPECT_EQ(e.err(), EROFS) << "the error must be unlink's (EROFS), got: " << e.what();
  }
}

GRADED_TEST(Hidden, OutBufferOfALaggingClientStaysSmall, 1,
            "README §Pitfalls 2 — a bounded buffer must also give back what was written: "
            "reclaim the written front, and keep every byte after it") {
  // A client that always lags 32 KiB behind, never catching up: 16 MiB go through a
  // buffer that is never empty. Its storage must not grow with what went through, and the
  // bytes must come out as they went in (each chunk stamped with its number).
  grader::Child c(
      [] {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        const int small = 4096;  // small socket buffers: the kernel never takes the backlog
        (void)::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
        (void)::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        lab::OutBuffer out(64 << 10);
        std::string expect;  // pushed, not yet read back (bounded: compacted as it is checked)
        std::size_t at = 0;
        bool same = true;
        char buf[1024];
        const auto read_some = [&] {
          const ssize_t n = ::recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);  // the client reads
          if (n <= 0) return n;
          same = same && expect.compare(at, std::size_t(n), buf, std::size_t(n)) == 0;
          at += std::size_t(n);
          if (at > (64u << 10)) {
            expect.erase(0, at);
            at = 0;
          }
          return n;
        };
        const auto push = [&](int k) {
          const std::string chunk = fmt::format("{:08}", k) + std::string(1016, 'o');
          if (out.size() + chunk.size() > (64u << 10)) return true;
          expect += chunk;
          return out.push(chunk);
        };
        for (int k = 0; out.size() < (32u << 10); ++k) {
          ASSERT_TRUE(push(k));
          ASSERT_EQ(out.flush(sv[0]), 0);
        }
        rusage before{};
        ::getrusage(RUSAGE_SELF, &before);
        for (int i = 0; i < 16 * 1024; ++i) {
          if (read_some() < 0) {
            ASSERT_EQ(errno, EAGAIN);
          }
          ASSERT_TRUE(push(100'000 + i));
          ASSERT_EQ(out.flush(sv[0]), 0);
          ASSERT_GT(out.size(), 0u) << "the buffer drained: the test's lag was lost";
        }
        rusage after{};
        ::getrusage(RUSAGE_SELF, &after);
        const long grown_kib = after.ru_maxrss - before.ru_maxrss;
        EXPECT_LT(grown_kib, 8 * 1024)
            << "16 MiB through an OutBuffer of 64 KiB that never emptied grew this process by "
            << grown_kib << " KiB: the written front is never given back";
        while (!out.empty() || at < expect.size()) {  // the rest
          ASSERT_EQ(out.flush(sv[0]), 0);
          // A Unix socket's send lands in the reader's queue at once: with the buffer
          // empty, a read that finds nothing has read everything.
          if (read_some() <= 0 && out.empty()) break;
        }
        EXPECT_TRUE(same) << "the bytes that came out differ from those pushed";
        EXPECT_EQ(at, expect.size()) << "bytes pushed never came out";
        ::close(sv[0]);
        ::close(sv[1]);
      },
      "OutBuffer lagging");
  const auto r = c.finish(60'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}

GRADED_TEST(Hidden, ResetsAreLeavesNotErrors, 2,
            "README §Server and §Client — a peer that closed with bytes unread makes recv "
            "fail with ECONNRESET: that is a hang-up, not an error") {
  {
    // A client that never reads its welcome closes: the server's recv says ECONNRESET.
    Server s;
    ASSERT_TRUE(s.ready);
    {
      Raw r(s.path);
      r.send("one line\n");
      ASSERT_TRUE(grader::wait_until(
          [&] { return s.proc.out().find("guest1 connected") != std::string::npos; }, 10'000ms));
    }  // closed with the welcome unread
    EXPECT_TRUE(grader::wait_until(
        [&] { return s.proc.out().find("guest1 left") != std::string::npos; }, 10'000ms))
        << s.proc.out();
    EXPECT_EQ(s.proc.out().find("recv:"), std::string::npos)
        << "a client that hung up is a leave, not an error line:\n"
        << s.proc.out();
  }
  // The test is the server: it closes the client's connection without reading its /name.
  const std::string path = lab19_test::sock_path("reset.sock");
  ipclab::Fd listener = lab::listen_unix(path);
  grader::Process client({"chat_client", "--socket", path, "--name", "x", "--timeout", "10"});
  ipclab::Fd conn;
  ASSERT_TRUE(grader::wait_until(
      [&] {
        conn.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        return conn.valid();
      },
      10'000ms));
  int unread = 0;
  ASSERT_TRUE(grader::wait_until(
      [&] { return ::ioctl(conn.get(), FIONREAD, &unread) == 0 && unread > 0; }, 10'000ms))
      << "the client sent no /name";
  conn.reset();  // with its /name unread: the client's recv says ECONNRESET
  const auto r = client.finish(10'000ms);
  ::unlink(path.c_str());
  EXPECT_EQ(r.exit_code(), 0) << "the server closed the connection: run_client returns 0\n"
                              << r.describe();
}

GRADED_TEST(Hidden, UnixHelpersFailAtOnceOrSendEverything, 1,
            "README §Stale sockets and §Passing descriptors — connect_unix retries only while "
            "the server is not there yet; send_fd sends all its bytes or throws") {
  // A path under a regular file (ENOTDIR) is no server that may still come: connect_unix
  // must throw at once, not at its deadline 120 s away.
  const std::string file = grader::scratch() + "/not-a-dir";
  ASSERT_TRUE(ipclab::Fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600)).valid());
  grader::Child at_once(
      [&] {
        try {
          (void)lab::connect_unix(file + "/chat.sock", ipclab::Deadline(120s));
          ADD_FAILURE() << "connect_unix under a regular file returned";
        } catch (const ipclab::SysError& e) {
          EXPECT_EQ(e.err(), ENOTDIR) << e.what();
        }
      },
      "connect_unix ENOTDIR");
  const auto r = at_once.finish(15'000ms);
  EXPECT_TRUE(r.passed()) << "connect_unix with a path under a regular file: " << r.describe();
  // A non-blocking socket with little room: sendmsg takes part of 64 KiB with the
  // descriptor; the rest does not fit now. send_fd either got all of it out or throws.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  ipclab::Fd a(sv[0]), b(sv[1]);
  const int small = 4096;
  (void)::setsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  const std::string data(64 << 10, 'd');
  bool threw = false;
  try {
    lab::send_fd(a.get(), b.get(), data);
  } catch (const ipclab::SysError&) {
    threw = true;
  }
  if (!threw) {
    std::string got;
    char buf[65536];
    for (ssize_t n; (n = ::recv(b.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0;)
      got.append(buf, static_cast<std::size_t>(n));
    EXPECT_EQ(got.size(), data.size())
        << "send_fd returned, yet only part of its bytes went: it must send the rest or throw";
  }
}
