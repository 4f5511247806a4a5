// Lab 19 public grader: chat_server and chat_client as programs, many at once.
#include <fcntl.h>         // O_CLOEXEC
#include <poll.h>          // poll
#include <signal.h>        // SIGKILL, SIGTERM, SIGINT
#include <sys/fsuid.h>     // setfsuid
#include <sys/ioctl.h>     // ioctl, FIONREAD
#include <sys/resource.h>  // prlimit, RLIMIT_NOFILE
#include <sys/socket.h>    // shutdown, setsockopt
#include <sys/un.h>        // sockaddr_un
#include <unistd.h>        // access, getuid, seteuid

#include <memory>  // std::unique_ptr
#include <random>  // std::mt19937_64
#include <thread>  // std::thread

#include "common.hpp"
#include "ipclab/io.hpp"       // read_file
#include "ipclab/process.hpp"  // process_state

using grader::expect_exit;
using grader::run;
using lab19_test::Client;
using lab19_test::count_lines_starting;
using lab19_test::has_line;
using lab19_test::lines;
using lab19_test::Raw;
using lab19_test::responsive;
using lab19_test::Server;

namespace {

/// Waits until `who` has printed the line, with a readable failure.
::testing::AssertionResult saw(Client& who, const std::string& needle,
                               grader::Timeout t = 10'000ms) {
  if (who.wait_for(needle, t)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected `" << needle << "` in the output of "
                                       << ipclab::shell_quote(who.proc.argv()) << "; it printed:\n"
                                       << grader::excerpt(who.out(), 1500);
}

/// A raw connection (it reads only when the test does) named `name`, once `witness` has
/// seen it take the name.
Raw joined_raw(const std::string& path, const std::string& name, Client& witness) {
  Raw r(path);
  r.send("/name " + name + "\n");
  EXPECT_TRUE(saw(witness, "is now " + name + "\n"));
  return r;
}

/// The descriptors of process `pid` above stderr without close-on-exec, " FD -> TARGET" each.
std::string leaky_fds(pid_t pid) {
  std::string leaky;
  for (const int fd : ipclab::open_fds(pid)) {
    if (fd <= 2) continue;
    const std::string info = ipclab::read_file(fmt::format("/proc/{}/fdinfo/{}", pid, fd));
    const auto at = info.find("flags:");
    if (at == std::string::npos) return fmt::format(" {}: no flags in fdinfo: {}", fd, info);
    const unsigned long flags = std::stoul(info.substr(at + 6), nullptr, 8);
    if ((flags & O_CLOEXEC) == 0) leaky += fmt::format(" {} -> {}", fd, ipclab::fd_target(pid, fd));
  }
  return leaky;
}

/// Waits until the server has welcomed `r` (true) or closed it without a welcome (false);
/// `got` receives what arrived.
bool welcomed(Raw& r, std::string& got) {
  bool closed = false;
  grader::wait_until(
      [&] {
        closed = r.drain(got);
        return closed || got.find('\n') != std::string::npos;
      },
      10'000ms);
  return got.rfind("* welcome ", 0) == 0;
}

/// A stand-in server of the test's own at `path`, which reads and writes only when the test
/// says so. Closed without accepting, it leaves a stale socket file behind.
struct StandIn {
  std::string path;
  ipclab::Fd listener;
  explicit StandIn(std::string p)
      : path(std::move(p)), listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
        << path << ": " << std::strerror(errno);
    EXPECT_EQ(::listen(listener.get(), 4), 0) << std::strerror(errno);
  }
  /// The first connection, once it came within 10 s (else invalid); the name has then
  /// served and is removed.
  ipclab::Fd accept() {
    pollfd pf{listener.get(), POLLIN, 0};
    ipclab::Fd conn;
    if (::poll(&pf, 1, 10'000) == 1)
      conn.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ::unlink(path.c_str());
    return conn;
  }
};

/// chat_client at a stand-in server of the test's own: greeted() waits until it connected,
/// has the stand-in send it `hello`, and waits until it printed that.
struct StandInClient {
  StandIn standin;
  grader::Process client;
  ipclab::Fd conn;
  explicit StandInClient(const std::string& sock)
      : standin(lab19_test::sock_path(sock)),
        client({"chat_client", "--socket", standin.path, "--timeout", "10"}) {}
  ::testing::AssertionResult greeted() {
    conn = standin.accept();
    if (!conn.valid()) return ::testing::AssertionFailure() << "chat_client did not connect";
    ipclab::write_full(conn.get(), "hello\n");
    if (client.wait_for_output("hello\n", 10'000ms)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "chat_client did not print the server's line\n"
                                         << client.err();
  }
  /// After the stand-in closed: chat_client ends, with exit 0.
  ::testing::AssertionResult exits_zero() {
    const auto st = client.wait(10'000ms);
    if (!st)
      return ::testing::AssertionFailure() << "chat_client still runs after the server closed";
    if (st->exit_code() == 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << st->describe() << "\n" << client.err();
  }
};

}  // namespace

GRADED_TEST(Chat, BroadcastReachesOthersNotSender, 3, "README §Protocol") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client alice(s.path, "alice"), bob(s.path, "bob"), carol(s.path, "carol");
  for (auto* c : {&alice, &bob, &carol}) ASSERT_TRUE(saw(*c, "* welcome "));
  ASSERT_TRUE(saw(alice, "* you are now alice"));
  ASSERT_TRUE(saw(carol, "* you are now carol"));
  alice.say("hello everyone");
  EXPECT_TRUE(saw(bob, "[alice] hello everyone\n"));
  EXPECT_TRUE(saw(carol, "[alice] hello everyone\n"));
  bob.say("hi alice");
  EXPECT_TRUE(saw(alice, "[bob] hi alice\n"));
  EXPECT_EQ(alice.out().find("[alice]"), std::string::npos)
      << "the sender must not get its own message back:\n"
      << alice.out();
  EXPECT_EQ(count_lines_starting(carol.out(), "[alice] hello everyone"), 1u) << carol.out();
}

GRADED_TEST(Chat, TwentyClientsExactlyOnceInOrder, 8,
            "README §Pitfalls 7 — exactly once, in order per sender, never to the sender") {
  constexpr int kClients = 20, kMessages = 25;
  grader::repeat(2, [&](int, std::uint64_t seed) {
    Server s;
    ASSERT_TRUE(s.ready);
    std::vector<std::unique_ptr<Client>> cs;
    for (int i = 0; i < kClients; ++i)
      cs.push_back(std::make_unique<Client>(s.path, fmt::format("c{:02}", i)));
    for (auto& c : cs) ASSERT_TRUE(saw(*c, "* welcome ", 20'000ms));  // all in the room
    // Every client sends its numbered messages; the order of the writes is shuffled.
    std::vector<int> order;
    for (int i = 0; i < kClients; ++i)
      for (int k = 0; k < kMessages; ++k) order.push_back(i);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
    std::vector<int> next(kClients, 0);
    for (int i : order)
      cs[static_cast<std::size_t>(i)]->say(fmt::format("m {:02} {:03}", i, next[i]++));
    const std::size_t expected = (kClients - 1) * kMessages;
    for (int r = 0; r < kClients; ++r) {
      const auto& c = *cs[static_cast<std::size_t>(r)];
      const bool done = grader::wait_until(
          [&] { return count_lines_starting(c.out(), "[c") >= expected; }, 30'000ms);
      std::map<int, std::vector<int>> from;  // sender -> sequence numbers, in arrival order
      for (const auto& l : lines(c.out())) {
        int who = -1, who2 = -1, k = -1;
        if (std::sscanf(l.c_str(), "[c%d] m %d %d", &who, &who2, &k) == 3) {
          ASSERT_EQ(who, who2) << "a message arrived under the wrong name: " << l;
          from[who].push_back(k);
        }
      }
      EXPECT_TRUE(done) << "client c" << r << " got " << count_lines_starting(c.out(), "[c")
                        << " of " << expected << " messages";
      EXPECT_EQ(from.count(r), 0u) << "client c" << r << " received its own messages back";
      for (int sdr = 0; sdr < kClients; ++sdr) {
        if (sdr == r) continue;
        std::vector<int> want(kMessages);
        for (int k = 0; k < kMessages; ++k) want[static_cast<std::size_t>(k)] = k;
        ASSERT_EQ(from[sdr], want) << "client c" << r << " got c" << sdr
                                   << "'s messages in this order (each must come once, in order)";
      }
    }
    EXPECT_TRUE(s.alive());
  });
}

GRADED_TEST(Chat, WhoShowsKernelCredentials, 3,
            "README §Pitfalls 10 — uid and pid come from SO_PEERCRED at accept") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client alice(s.path, "alice"), bob(s.path, "bob");
  ASSERT_TRUE(saw(alice, "* you are now alice"));
  ASSERT_TRUE(saw(bob, "* you are now bob"));
  EXPECT_TRUE(saw(alice, fmt::format(" (uid {}, pid {}); commands:", ::getuid(), alice.proc.pid())))
      << "(the welcome line carries the client's own uid and pid)";
  bob.say("/who");
  ASSERT_TRUE(saw(bob, "* who:"));
  const auto want_a = fmt::format("alice(uid={},pid={})", ::getuid(), alice.proc.pid());
  const auto want_b = fmt::format("bob(uid={},pid={})", ::getuid(), bob.proc.pid());
  ASSERT_TRUE(saw(bob, want_a)) << "(the /who line must list alice with her uid and pid)";
  EXPECT_TRUE(saw(bob, want_b));
}

GRADED_TEST(Chat, NameWhoQuitAndErrors, 3, "README §Protocol") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client alice(s.path, "alice"), bob(s.path, "bob");
  ASSERT_TRUE(saw(alice, "* you are now alice"));
  ASSERT_TRUE(saw(bob, "* you are now bob"));
  bob.say("/name alice");
  EXPECT_TRUE(saw(bob, "! error: name alice is taken"));
  bob.say("/name two words");
  EXPECT_TRUE(saw(bob, "! error: bad name"));
  bob.say("/frobnicate now");
  EXPECT_TRUE(saw(bob, "! error: unknown command /frobnicate"));
  bob.say("//slash at the start");
  EXPECT_TRUE(saw(alice, "[bob] /slash at the start\n"));
  bob.say("/name robert");
  EXPECT_TRUE(saw(bob, "* you are now robert"));
  EXPECT_TRUE(saw(alice, "* bob is now robert\n"));
  bob.say("still here");
  EXPECT_TRUE(saw(alice, "[robert] still here\n"));
  EXPECT_EQ(alice.out().find("frobnicate"), std::string::npos) << "commands are not broadcast";
  bob.say("/quit");
  EXPECT_TRUE(saw(bob, "* bye\n"));
  EXPECT_TRUE(saw(alice, "* robert left\n"));
  // The server closed bob's connection: chat_client ends by itself, stdin still open.
  const auto st = bob.proc.wait(10'000ms);
  ASSERT_TRUE(st.has_value()) << "chat_client did not exit after /quit: the server must close";
  EXPECT_EQ(st->exit_code(), 0) << st->describe();
}

GRADED_TEST(Chat, ClientKilledMidLine, 5,
            "README §Pitfalls 4 — an unfinished line dies with its connection") {
  grader::repeat(3, [&](int, std::uint64_t) {
    Server s;
    ASSERT_TRUE(s.ready);
    Client ear(s.path, "ear"), mouth(s.path, "mouth");
    ASSERT_TRUE(saw(ear, "* welcome "));
    ASSERT_TRUE(saw(mouth, "* you are now mouth"));
    // 1. A raw connection sends a whole line and half of another, then goes away.
    {
      Raw victim(s.path);
      victim.send("/name rawvictim\n");
      ASSERT_TRUE(saw(ear, "is now rawvictim\n"));
      victim.send("whole line\nPARTIAL-ONE without its newline");
      ASSERT_TRUE(saw(ear, "[rawvictim] whole line\n"));
    }  // closed
    ASSERT_TRUE(saw(ear, "* rawvictim left\n"));
    // 2. A chat_client killed with SIGKILL right after it sent half a line.
    Client victim(s.path, "killed");
    ASSERT_TRUE(saw(ear, "is now killed\n"));
    victim.proc.write("visible\nPARTIAL-TWO no newline");  // one write: one send, one recv
    ASSERT_TRUE(saw(ear, "[killed] visible\n"));
    victim.proc.kill();
    ASSERT_TRUE(saw(ear, "* killed left\n"));
    // The server is still serving, and nothing of the unfinished lines ever came out.
    mouth.say("after the kills");
    ASSERT_TRUE(saw(ear, "[mouth] after the kills\n"));
    EXPECT_EQ(ear.out().find("PARTIAL"), std::string::npos)
        << "an unfinished line of a client that went away was broadcast:\n"
        << ear.out();
    EXPECT_TRUE(s.alive()) << s.proc.finish().describe();
  });
}

GRADED_TEST(Chat, LeaveLoggedWithDiscardedBytes, 1,
            "README §Server — the log line of a client that left says how many bytes of an "
            "unfinished line went with it, and only then") {
  Server s;
  ASSERT_TRUE(s.ready);
  {
    Raw tidy(s.path);
    tidy.send("/name tidy\n");
    std::string got;
    ASSERT_TRUE(tidy.read_until(got, "* you are now tidy\n"));
  }
  ASSERT_TRUE(s.proc.wait_for_output("chat_server: tidy left"));
  {
    Raw messy(s.path);
    messy.send("/name messy\nh");  // one byte of a line: "discarded 1 bytes"
    std::string got;
    ASSERT_TRUE(messy.read_until(got, "* you are now messy\n"));
  }
  EXPECT_TRUE(
      s.proc.wait_for_output("chat_server: messy left (discarded 1 bytes of an unfinished line)\n"))
      << s.proc.out();
  EXPECT_TRUE(has_line(s.proc.out(), "chat_server: tidy left")) << s.proc.out();
}

GRADED_TEST(Chat, SlowReaderDroppedOthersServed, 6,
            "README §Pitfalls 1 and 2 — bounded output buffer per client; drop who does not read") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client ear(s.path, "ear");
  ASSERT_TRUE(saw(ear, "* you are now ear"));
  Raw slow = joined_raw(s.path, "slow", ear);  // never reads
  Raw talker = joined_raw(s.path, "talker", ear);
  // Batches of 100 lines of ~1 KB. The ear keeps up (the test waits for it after each
  // batch); the slow client's socket and buffer fill up until the server drops it.
  const std::string pad(1000, 'x');
  int sent = 0;
  bool dropped = false;
  for (int batch = 0; batch < 60 && !(dropped && batch >= 8); ++batch) {
    std::string chunk;
    for (int k = 0; k < 100; ++k) chunk += fmt::format("t {:05} {}\n", sent++, pad);
    talker.send(chunk);
    ASSERT_TRUE(saw(ear, fmt::format("[talker] t {:05} ", sent - 1), 20'000ms))
        << "the server stopped delivering to a reading client after " << sent
        << " lines (is it blocked writing to the client that does not read?)";
    dropped = ear.out().find("* slow dropped (not reading)\n") != std::string::npos;
  }
  EXPECT_TRUE(dropped) << "6 MB were sent and the client that never reads was not dropped "
                          "with `* slow dropped (not reading)`";
  // Every line reached the reading client once, in order.
  int want = 0;
  for (const auto& l : lines(ear.out())) {
    if (l.rfind("[talker] t ", 0) != 0) continue;
    ASSERT_EQ(l, fmt::format("[talker] t {:05} {}", want, pad)) << "line " << want;
    ++want;
  }
  EXPECT_EQ(want, sent);
  // The slow client was closed (after what was already in its socket), and is gone from /who.
  EXPECT_TRUE(slow.closed_by_server(20'000ms)) << "the dropped client's connection stays open";
  talker.send("/who\n");
  std::string who;
  ASSERT_TRUE(talker.read_until(who, "* who:"));
  ASSERT_TRUE(talker.read_until(who, "\n"));
  EXPECT_EQ(who.find("slow("), std::string::npos) << "a dropped client is still listed:\n" << who;
  EXPECT_TRUE(responsive(s.path));
}

GRADED_TEST(Chat, OverlongLineRejectedConnectionKept, 3,
            "README §Pitfalls 5 — reject with an error, discard the line, keep the client") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client ear(s.path, "ear"), talker(s.path, "talker");
  ASSERT_TRUE(saw(ear, "* welcome "));
  ASSERT_TRUE(saw(talker, "* you are now talker"));
  talker.say(std::string(5000, 'L'));
  EXPECT_TRUE(saw(talker, "! error: line too long (max 4096 bytes)\n"));
  talker.say("short after");
  EXPECT_TRUE(saw(ear, "[talker] short after\n"));
  EXPECT_EQ(ear.out().find("LLLL"), std::string::npos) << "(part of) the long line was broadcast";
  ear.say("still there?");
  EXPECT_TRUE(saw(talker, "[ear] still there?\n")) << "the sender of the long line was cut off";
}

GRADED_TEST(Chat, InvalidUtf8Rejected, 1, "README §Protocol") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client ear(s.path, "ear"), talker(s.path, "talker");
  ASSERT_TRUE(saw(ear, "* welcome "));
  ASSERT_TRUE(saw(talker, "* you are now talker"));
  talker.say("bad \xFF\xFE bytes");
  EXPECT_TRUE(saw(talker, "! error: line is not valid UTF-8\n"));
  talker.say("caf\xC3\xA9");
  EXPECT_TRUE(saw(ear, "[talker] caf\xC3\xA9\n"));
  EXPECT_EQ(ear.out().find("bytes"), std::string::npos);
}

GRADED_TEST(Chat, AllowUidRejectsOtherUids, 3,
            "README §Pitfalls 10 — check the peer's uid at accept, before it joins") {
  {
    Server s({"--allow-uid", std::to_string(::getuid() + 1)});
    ASSERT_TRUE(s.ready);
    Raw raw(s.path);
    std::string got;
    EXPECT_TRUE(raw.read_until(got, fmt::format("! error: uid {} is not allowed\n", ::getuid())))
        << "got: " << got;
    EXPECT_TRUE(raw.closed_by_server()) << "a rejected client must be disconnected";
    EXPECT_EQ(got.find("* welcome"), std::string::npos) << "a rejected client was let in";
    auto r = run({"chat_client", "--socket", s.path, "--timeout", "5"}, {.timeout = 10'000ms});
    grader::expect_finished(r);
    EXPECT_NE(r.out.find("is not allowed"), std::string::npos) << r.describe();
    EXPECT_TRUE(s.alive());
  }
  Server ok({"--allow-uid", std::to_string(::getuid())});
  ASSERT_TRUE(ok.ready);
  Client me(ok.path, "me");
  EXPECT_TRUE(saw(me, "* welcome "));
}

GRADED_TEST(Chat, WithoutAllowUidEveryUidJoins, 1,
            "README §Server — only with `--allow-uid UID` is another uid refused: without it, "
            "every uid joins") {
  Server s;
  ASSERT_TRUE(s.ready);
  grader::Child guest(
      [&] {
        // Another uid where the test may take one (as root): SO_PEERCRED records the
        // effective uid of the process that connects; its file-system uid stays root to
        // reach the socket file.
        if (::getuid() == 0 && ::seteuid(65534) == 0) (void)::setfsuid(0);
        const uid_t other = ::geteuid();
        Raw r(s.path);
        std::string got;
        EXPECT_TRUE(welcomed(r, got) &&
                    got.find(fmt::format(" (uid {}, ", other)) != std::string::npos)
            << "a chat_server without --allow-uid did not welcome a client of uid " << other
            << "; it got: " << got;
      },
      "a client of another uid");
  const auto r = guest.finish(15'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
  EXPECT_TRUE(s.alive());
}

GRADED_TEST(Chat, SignalsRemoveSocketFile, 3,
            "README §Pitfalls 9 — SIGTERM/SIGINT: close everything, unlink the socket file") {
  for (const int sig : {SIGTERM, SIGINT}) {
    Server s;
    ASSERT_TRUE(s.ready);
    Client c(s.path, "c");
    ASSERT_TRUE(saw(c, "* welcome "));
    ASSERT_EQ(::access(s.path.c_str(), F_OK), 0);
    s.proc.signal(sig);
    const auto st = s.proc.wait(10'000ms);
    ASSERT_TRUE(st.has_value()) << "chat_server still runs after signal " << sig;
    EXPECT_EQ(st->exit_code(), 0) << st->describe();
    EXPECT_NE(::access(s.path.c_str(), F_OK), 0)
        << s.path << " is still there after signal " << sig;
    const auto cst = c.proc.wait(10'000ms);
    ASSERT_TRUE(cst.has_value()) << "chat_client did not exit when the server closed";
    EXPECT_EQ(cst->exit_code(), 0);
  }
}

GRADED_TEST(Chat, StaleSocketReplacedLiveNotHijacked, 3,
            "README §Pitfalls 8 — connect to find out whether a socket file is live") {
  Server a;
  ASSERT_TRUE(a.ready);
  auto b = run({"chat_server", "--socket", a.path}, {.timeout = 10'000ms});
  expect_exit(b, 1);
  EXPECT_EQ(b.err.rfind("error: ", 0), 0u) << b.describe();
  EXPECT_NE(b.err.find("in use"), std::string::npos) << b.describe();
  EXPECT_TRUE(responsive(a.path)) << "the second server broke the first one";
  a.proc.kill();  // SIGKILL: no cleanup, the socket file stays behind
  ASSERT_EQ(::access(a.path.c_str(), F_OK), 0);
  Server c;  // same path: must replace the stale file
  ASSERT_TRUE(c.alive());
  EXPECT_TRUE(responsive(c.path));
  c.proc.signal(SIGTERM);
  EXPECT_TRUE(c.proc.wait(10'000ms).has_value());
}

GRADED_TEST(Chat, SocketFileOfAnotherServerKept, 1,
            "README §Server — on the way out, remove the socket file only if it is still the "
            "one this server bound") {
  Server first;
  ASSERT_TRUE(first.ready);
  ASSERT_EQ(::unlink(first.path.c_str()), 0);  // someone removed it: the name is free
  Server second;                               // and a second server took it
  ASSERT_TRUE(second.ready);
  first.proc.signal(SIGTERM);
  const auto st = first.proc.wait(10'000ms);
  ASSERT_TRUE(st.has_value()) << "the first chat_server still runs after SIGTERM";
  EXPECT_EQ(st->exit_code(), 0) << st->describe();
  EXPECT_EQ(::access(second.path.c_str(), F_OK), 0)
      << "the first server, stopping, removed the socket file of the second";
  EXPECT_TRUE(responsive(second.path));
}

GRADED_TEST(
    Chat, VanishedClientsNeverKillServer, 4,
    "README §Pitfalls 3 — MSG_NOSIGNAL: a write to a vanished client must not raise SIGPIPE") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client ear(s.path, "ear");
  ASSERT_TRUE(saw(ear, "* you are now ear"));
  for (int i = 0; i < 10; ++i) {
    {  // stops reading after its welcome, then asks for output: the reply hits EPIPE
      Raw r(s.path);
      std::string welcome;
      ASSERT_TRUE(r.read_until(welcome, "\n"));
      ::shutdown(r.fd.get(), SHUT_RD);
      r.send(fmt::format("/name deaf{}\nfrom deaf{}\n/who\n", i, i));
      ASSERT_TRUE(saw(ear, fmt::format("[deaf{}] from deaf{}\n", i, i)));
      ASSERT_TRUE(saw(ear, fmt::format("* deaf{} left\n", i)))
          << "a client the server cannot write to any more must be let go";
    }
    {  // sends and hangs up at once
      Raw r(s.path);
      r.send(fmt::format("/name gone{}\n/who\nfrom gone{}\n", i, i));
    }
    ASSERT_TRUE(saw(ear, fmt::format("[gone{}] from gone{}\n", i, i)));
    ASSERT_TRUE(s.alive()) << "chat_server died:\n" << s.proc.finish().describe();
  }
  EXPECT_TRUE(responsive(s.path));
  EXPECT_TRUE(s.alive());
  for (const auto& l : lines(s.proc.out()))
    EXPECT_EQ(l.find(": send: "), std::string::npos)
        << "a client that hung up (EPIPE) is an ordinary leave, not an error to log: " << l;
}

GRADED_TEST(Chat, LeavingClientThatDoesNotReadCostsNoCpu, 1,
            "README §Server — a leaving client is owed its output until it reads it; the loop "
            "sleeps only in poll meanwhile") {
  Server s({"--max-pending", std::to_string(16u << 20)});  // nobody is dropped here
  ASSERT_TRUE(s.ready);
  Client ear(s.path, "ear");
  ASSERT_TRUE(saw(ear, "* you are now ear"));
  Raw deaf = joined_raw(s.path, "deaf", ear);  // reads only at the end
  // 256 unknown commands of 4001 bytes: about 1 MB of errors owed to a client that does not
  // read, far more than its socket holds. Then the end of its input: it is leaving.
  const std::string cmd = "/" + std::string(4000, 'x');
  std::string burst;
  for (int i = 0; i < 256; ++i) burst += cmd + "\n";
  deaf.send(burst);
  ::shutdown(deaf.fd.get(), SHUT_WR);
  ASSERT_TRUE(saw(ear, "* deaf left\n"));
  EXPECT_TRUE(lab19_test::sleeps_for_a_second(
      s.proc.pid(), "chat_server, owing output to a client that left and does not read,"));
  // It reads at last: every error it was owed, then the close.
  std::string got;
  const bool closed = deaf.read_until_closed(got, 20'000ms);
  EXPECT_TRUE(closed) << "the leaving client was not closed once it had read what it was owed";
  EXPECT_EQ(count_lines_starting(got, "! error: unknown command " + cmd), 256u);
  EXPECT_TRUE(responsive(s.path));
}

GRADED_TEST(Chat, BulkSenderHangsUpEveryLineOnce, 4,
            "README §Protocol — lines that arrived before a disconnect are delivered exactly "
            "once; §Pitfalls 1 — a short send leaves the rest queued, in order") {
  grader::repeat(2, [&](int, std::uint64_t) {
    Server s({"--max-pending", std::to_string(16u << 20)});  // nobody is dropped here
    ASSERT_TRUE(s.ready);
    Client ear(s.path, "ear");  // reads all the time
    ASSERT_TRUE(saw(ear, "* you are now ear"));
    Raw late = joined_raw(s.path, "late", ear);  // reads only once the sender has gone
    Raw talker = joined_raw(s.path, "talker", ear);
    Raw bulk = joined_raw(s.path, "bulk", ear);  // never reads; sends, then hangs up
    const int sndbuf = 4 << 20;  // the kernel caps it: as much unread input as it allows
    ::setsockopt(bulk.fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    // The talker's lines fill bulk's socket: the server still owes it output when it goes.
    const std::string pad(100, 'p');
    constexpr int kTalk = 3000, kBulk = 10000;
    std::string text;
    for (int k = 0; k < kTalk; ++k) text += fmt::format("t {:05} {}\n", k, pad);
    talker.send(text);
    ASSERT_TRUE(saw(ear, fmt::format("[talker] t {:05} ", kTalk - 1), 10'000ms));
    text.clear();
    for (int k = 0; k < kBulk; ++k) text += fmt::format("b {:05} {}\n", k, pad);
    bulk.send(text);  // 1.1 MB as fast as the server takes it,
    bulk.fd.reset();  // then gone, with the last few hundred KB not yet read by the server
    ASSERT_TRUE(saw(ear, "* bulk left\n", 10'000ms));
    std::string got;
    ASSERT_TRUE(late.read_until(got, "* bulk left\n", 10'000ms))
        << "the client that read late got " << got.size() << " bytes, without `* bulk left`";
    const std::pair<std::string, std::string> received[] = {{"chat_client ear", ear.out()},
                                                            {"the client that read late", got}};
    for (const auto& [who, text_of] : received) {
      int talk = 0, bulk_lines = 0;
      for (const auto& l : lines(text_of)) {
        if (l.rfind("[talker] t ", 0) == 0) {
          ASSERT_EQ(l, fmt::format("[talker] t {:05} {}", talk, pad)) << who;
          ++talk;
        } else if (l.rfind("[bulk] b ", 0) == 0) {
          ASSERT_EQ(l, fmt::format("[bulk] b {:05} {}", bulk_lines, pad))
              << who << ": each of bulk's lines once, in order";
          ++bulk_lines;
        }
      }
      EXPECT_EQ(talk, kTalk) << who;
      EXPECT_EQ(bulk_lines, kBulk) << who << " got " << bulk_lines << " of the " << kBulk
                                   << " lines bulk sent before it hung up";
    }
    EXPECT_TRUE(s.alive()) << s.proc.finish().describe();
  });
}

GRADED_TEST(Chat, RefusedPeerThatStoppedReadingNeverKillsServer, 1,
            "README §Pitfalls 3 — MSG_NOSIGNAL on every send, the refusal of a uid too") {
  Server s({"--allow-uid", std::to_string(::getuid() + 1)});
  ASSERT_TRUE(s.ready);
  std::vector<std::unique_ptr<Raw>> deaf;
  for (int i = 0; i < 3; ++i) {
    deaf.push_back(std::make_unique<Raw>(s.path));
    // Before the server accepts it: its refusal `! error: uid ...` then meets EPIPE.
    ::shutdown(deaf.back()->fd.get(), SHUT_RD);
  }
  Raw next(s.path);  // accepted after the three
  std::string got;
  const auto refusal = fmt::format("! error: uid {} is not allowed\n", ::getuid());
  grader::wait_until([&] { return next.read_until(got, refusal, 1ms) || !s.alive(); }, 10'000ms);
  ASSERT_TRUE(s.alive()) << "chat_server died refusing a peer that had stopped reading:\n"
                         << s.proc.finish().describe();
  EXPECT_NE(got.find(refusal), std::string::npos)
      << "a peer after three that stopped reading was not answered; it got: " << got;
}

GRADED_TEST(Chat, ServerDescriptorsAreCloseOnExec, 1,
            "README §Server — every descriptor close-on-exec: accept4(..., SOCK_CLOEXEC)") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client a(s.path, "a");
  ASSERT_TRUE(saw(a, "* you are now a"));
  Raw raw = joined_raw(s.path, "raw", a);
  EXPECT_EQ(leaky_fds(s.proc.pid()), "")
      << "chat_server holds descriptors without close-on-exec (a program it "
         "ever started would inherit them)";
}

GRADED_TEST(Chat, OutOfDescriptorsRefusesNewcomerServesOn, 1,
            "README §Server — out of descriptors (EMFILE): close the newcomer at once, serve "
            "on; every descriptor close-on-exec, the spare one reopened too") {
  Server s;
  ASSERT_TRUE(s.ready);
  Client ear(s.path, "ear");
  ASSERT_TRUE(saw(ear, "* you are now ear"));
  const pid_t pid = s.proc.pid();
  // Lower chat_server's descriptor limit to just above what it holds now.
  const auto held = ipclab::open_fds(pid);
  ASSERT_FALSE(held.empty());
  rlimit lim{};
  ASSERT_EQ(::prlimit(pid, RLIMIT_NOFILE, nullptr, &lim), 0);
  lim.rlim_cur = static_cast<rlim_t>(*std::max_element(held.begin(), held.end())) + 2;
  ASSERT_EQ(::prlimit(pid, RLIMIT_NOFILE, &lim, nullptr), 0);
  // Newcomers until one finds the server out of descriptors: closed at once, no welcome.
  std::vector<std::unique_ptr<Raw>> in;
  bool refused = false;
  for (int i = 0; i < 40 && !refused; ++i) {
    auto r = std::make_unique<Raw>(s.path);
    std::string got;
    if (welcomed(*r, got))
      in.push_back(std::move(r));
    else
      refused = got.empty() && r->closed_by_server(1ms);
    ASSERT_TRUE(refused || !got.empty())
        << "newcomer " << i << " was neither welcomed nor closed; it got: " << got;
  }
  ASSERT_TRUE(refused) << "chat_server with RLIMIT_NOFILE " << lim.rlim_cur
                       << " welcomed 40 newcomers";
  ASSERT_TRUE(s.alive()) << s.proc.finish().describe();
  EXPECT_EQ(leaky_fds(pid), "") << "after it ran out of descriptors, chat_server holds "
                                   "descriptors without close-on-exec";
  // One leaves: its slot serves the next newcomer.
  ASSERT_FALSE(in.empty()) << "no room for a single newcomer under the lowered limit";
  in.pop_back();
  ASSERT_TRUE(saw(ear, fmt::format("* guest{} left\n", in.size() + 2)));
  Raw again(s.path);
  std::string got;
  EXPECT_TRUE(welcomed(again, got)) << "a slot was free again, and the next newcomer got: " << got;
  Raw refused_too(s.path);
  got.clear();
  EXPECT_FALSE(welcomed(refused_too, got)) << "the descriptors were all taken again: " << got;
  again.send("/who\n");
  got.clear();
  EXPECT_TRUE(again.read_until(got, "* who:")) << "chat_server stopped serving: " << got;
}

GRADED_TEST(Chat, NewcomersNamedGuestInOrder, 1,
            "README §Protocol — newcomers are guest1, guest2, ... in order of arrival, skipping "
            "a name in use") {
  Server s;
  ASSERT_TRUE(s.ready);
  Raw first(s.path);
  std::string got;
  EXPECT_TRUE(welcomed(first, got) && got.rfind("* welcome guest1 (", 0) == 0)
      << "the first newcomer of a server got: " << got;
  Raw second(s.path);
  got.clear();
  EXPECT_TRUE(welcomed(second, got) && got.rfind("* welcome guest2 (", 0) == 0)
      << "the second newcomer got: " << got;
  std::string news;
  EXPECT_TRUE(first.read_until(news, "* guest2 joined\n"))
      << "the others are told of a newcomer with `* guest2 joined`; guest1 got: " << news;
  second.send("/name guest3\n");
  ASSERT_TRUE(second.read_until(got, "* you are now guest3\n"));
  Raw third(s.path);
  got.clear();
  EXPECT_TRUE(welcomed(third, got) && got.rfind("* welcome guest4 (", 0) == 0)
      << "guest3 is taken (the second newcomer renamed itself): the third newcomer got: " << got;
}

GRADED_TEST(Chat, ClientStoppedMidSendLosesNothing, 2,
            "README §Client — a send(2) may take only part of its bytes (a stop signal cuts a "
            "blocked send short): send the rest") {
  // Each stop cuts a send short only when it falls between two of its pieces: three runs.
  grader::repeat(3, [&](int, std::uint64_t) {
    // A stand-in server of the test's own, which reads only when the test says so.
    StandIn standin(lab19_test::sock_path("stand-in.sock"));
    grader::Process client({"chat_client", "--socket", standin.path, "--timeout", "10"});
    const ipclab::Fd conn = standin.accept();
    ASSERT_TRUE(conn.valid()) << "chat_client did not connect";
    std::string input;
    for (int k = 0; k < 48000; ++k)
      input += fmt::format("line {:06} {}\n", k, std::string(115, 'q'));
    // Written by a thread: the client blocks once the socket is full, and the test with it.
    std::thread feeder([&] {
      try {
        client.write(input);
        client.close_stdin();
      } catch (const std::exception&) {  // the client died: the comparison below says so
      }
    });
    std::string got;
    bool eof = false;
    const auto drain = [&] {  // what has arrived; true at EOF
      char buf[64 * 1024];
      for (;;) {
        const ssize_t n = ::recv(conn.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) return eof = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        got.append(buf, static_cast<std::size_t>(n));
      }
    };
    // While its send is blocked on the full socket, stop and continue it: a send that had
    // passed part of its bytes to the kernel returns that count.
    for (int i = 0; i < 60 && !eof; ++i) {
      int queued = 0;
      grader::wait_until(
          [&] {
            return !client.running() ||
                   (::ioctl(conn.get(), FIONREAD, &queued) == 0 && queued > 64 * 1024 &&
                    ipclab::process_state(client.pid()) == 'S');
          },
          2'000ms);
      client.signal(SIGSTOP);
      grader::wait_until([&] { return ipclab::process_state(client.pid()) != 'S'; }, 2'000ms);
      client.signal(SIGCONT);
      drain();
    }
    grader::wait_until([&] { return drain(); }, 10'000ms);
    feeder.join();
    EXPECT_TRUE(eof) << "chat_client did not half-close after its input ended";
    ASSERT_EQ(got.size(), input.size())
        << "chat_client sent " << got.size() << " of " << input.size() << " bytes";
    EXPECT_TRUE(got == input) << "what chat_client sent differs from its input";
  });
}

GRADED_TEST(Chat, ClientRetriesUntilServerListens, 1,
            "README §Client — it connects retrying until --timeout: no socket file yet, or a "
            "stale one nobody listens on, is not yet an error") {
  const std::string missing = lab19_test::sock_path("later.sock");
  const std::string stale = lab19_test::sock_path("stale.sock");
  { StandIn gone(stale); }  // closed: connect there says ECONNREFUSED
  ASSERT_EQ(::access(stale.c_str(), F_OK), 0);
  Client early(missing, "early"), late(stale, "late");  // --timeout 10
  for (auto* c : {&early, &late}) {  // asleep between two attempts, or given up and gone
    const bool asleep = grader::wait_until(
        [&] { return !c->proc.running() || ipclab::process_state(c->proc.pid()) == 'S'; },
        10'000ms);
    ASSERT_TRUE(c->proc.running()) << "chat_client gave up before its --timeout:\n"
                                   << c->proc.finish().describe();
    EXPECT_TRUE(asleep) << "chat_client never slept between two connect attempts: it spins";
  }
  Server later({}, missing), replacing({}, stale);
  ASSERT_TRUE(later.ready && replacing.ready);
  EXPECT_TRUE(saw(early, "* you are now early")) << "(it started before any socket file)";
  EXPECT_TRUE(saw(late, "* you are now late")) << "(it started at a stale socket file)";
}

GRADED_TEST(Chat, IdleClientSleepsInPoll, 1,
            "README §Client — with nothing to copy either way it sleeps in poll, before and "
            "after the end of its input") {
  StandInClient c("quiet.sock");
  ASSERT_TRUE(c.greeted());
  EXPECT_TRUE(lab19_test::sleeps_for_a_second(c.client.pid(), "an idle chat_client"));
  c.client.close_stdin();  // end of input: it half-closes and waits for the server
  char buf[16];
  ASSERT_TRUE(grader::wait_until(
      [&] { return ::recv(c.conn.get(), buf, sizeof buf, MSG_DONTWAIT) == 0; }, 10'000ms))
      << "chat_client did not half-close at the end of its input";
  EXPECT_TRUE(lab19_test::sleeps_for_a_second(
      c.client.pid(), "a chat_client waiting for the server after the end of its input"));
  c.conn.reset();
  EXPECT_TRUE(c.exits_zero());
}

GRADED_TEST(Chat, ClientWithInputLeftExitsZeroWhenServerCloses, 1,
            "README §Client — it exits 0 when the server closes the connection, input left to "
            "send or not: a send that fails with EPIPE ends the sending, not the client") {
  StandInClient c("closing.sock");
  ASSERT_TRUE(c.greeted());
  auto& client = c.client;
  // Stopped, it sees nothing until everything is there: the server's last line and its
  // close, and a line of input, which it then reads and cannot send.
  client.signal(SIGSTOP);
  ASSERT_TRUE(
      grader::wait_until([&] { return ipclab::process_state(client.pid()) == 'T'; }, 10'000ms));
  ipclab::write_full(c.conn.get(), "bye\n");
  c.conn.reset();
  client.write("too late\n");
  client.signal(SIGCONT);
  EXPECT_TRUE(c.exits_zero());
  EXPECT_EQ(client.out(), "hello\nbye\n");
}

GRADED_TEST(Chat, ClientTimesOutWithoutServer, 1, "README §Program") {
  auto r =
      run({"chat_client", "--socket", lab19_test::sock_path("nobody.sock"), "--timeout", "0.3"},
          {.timeout = 10'000ms});
  grader::expect_finished(r);
  expect_exit(r, 3);
  EXPECT_EQ(r.err.rfind("error: connect", 0), 0u) << r.describe();
  EXPECT_NE(r.err.find("nobody.sock"), std::string::npos) << "the error must name the socket path\n"
                                                          << r.describe();
}
