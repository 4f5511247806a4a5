// Lab 17's hidden tests: the same contract with other shapes — the client library's error
// kinds and reasons in process, a restart after kill -9, many callers at once over the
// three transports, a bare socket name, options in any order, and the cache's bookkeeping
// per client.
#include <fcntl.h>       // fcntl, FD_CLOEXEC
#include <signal.h>      // SIGSTOP, SIGCONT
#include <sys/socket.h>  // socket, socketpair
#include <sys/un.h>      // sockaddr_un
#include <unistd.h>      // dup, dup2, close

#include <algorithm>   // std::set_difference
#include <array>       // std::array
#include <filesystem>  // std::filesystem
#include <iterator>    // std::back_inserter
#include <optional>    // std::optional
#include <sstream>     // std::istringstream
#include <thread>      // std::thread
#include <vector>      // std::vector

#include "../public/common.hpp"
#include "ipclab/fd.hpp"  // Fd, open_fds

using namespace lab17_test;

namespace {
/// A client of this test's server (its program number) claiming our own uid and gid.
lab::ClientOptions my_options(std::chrono::milliseconds timeout) {
  lab::ClientOptions o;
  o.prog = grader::rpc_prog();
  o.timeout = timeout;
  o.uid = ::geteuid();
  o.gid = ::getegid();
  return o;
}
}  // namespace

GRADED_TEST(Hidden, ClientLibraryReportsWhyAndNoAnswer, 3,
            "README §The client — re_why, and RPC_AUTHERROR apart from the rest") {
  GRADER_REQUIRE_RPCBIND();
  const lab::ClientOptions o = my_options(1000ms);
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

GRADED_TEST(Hidden, IdentifyReadsTheClaimOfAuthSysOnlyAndThePeerOnlyLocally, 2,
            "README §The server — identify(rq)") {
  std::string box = "box";
  authunix_parms parms{};
  parms.aup_machname = box.data();
  parms.aup_uid = 4242;
  parms.aup_gid = 77;
  const ipclab::Fd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(udp.valid());
  SVCXPRT xprt{};
  xprt.xp_fd = udp.get();
  svc_req rq{};
  rq.rq_xprt = &xprt;
  rq.rq_clntcred = &parms;  // what TI-RPC's _svcauth_unix decoded
  rq.rq_cred.oa_flavor = AUTH_SYS;
  lab::Caller c = lab::identify(&rq);
  EXPECT_EQ(c.flavor, static_cast<std::uint32_t>(AUTH_SYS));
  EXPECT_EQ(c.uid, 4242U);
  EXPECT_EQ(c.gid, 77U);
  EXPECT_EQ(c.machine, "box");
  EXPECT_FALSE(c.peer_uid.has_value()) << "over UDP there is no peer to ask";
  parms.aup_machname = nullptr;
  EXPECT_EQ(lab::identify(&rq).machine, "");
  // AUTH_NONE: rq_clntcred points at TI-RPC's scratch (here a stale claim); no claim is made.
  parms.aup_machname = box.data();
  rq.rq_cred.oa_flavor = AUTH_NONE;
  c = lab::identify(&rq);
  EXPECT_EQ(c.flavor, static_cast<std::uint32_t>(AUTH_NONE));
  EXPECT_EQ(c.uid, 0U);
  EXPECT_EQ(c.gid, 0U);
  EXPECT_EQ(c.machine, "");
  // Over an AF_UNIX connection the kernel says who is at the other end.
  std::array<int, 2> sv{};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv.data()), 0);
  const ipclab::Fd a(sv[0]);
  const ipclab::Fd b(sv[1]);
  xprt.xp_fd = a.get();
  rq.rq_cred.oa_flavor = AUTH_SYS;
  c = lab::identify(&rq);
  EXPECT_EQ(c.uid, 4242U);
  ASSERT_TRUE(c.peer_uid.has_value());
  EXPECT_EQ(*c.peer_uid, ::geteuid());
  ASSERT_TRUE(c.peer_gid.has_value());
  EXPECT_EQ(*c.peer_gid, ::getegid());
}

GRADED_TEST(Hidden, ClientDescriptorsCloseOnExecAndNeverLeak, 2,
            "README §The client — AuthCalculator(opts) and ~AuthCalculator()") {
  GRADER_REQUIRE_RPCBIND();
  const lab::ClientOptions o = my_options(2000ms);
  lab::ClientOptions local = o;
  local.transport = lab::Transport::kLocal;
  local.local_path = socket_path();
  // Nobody listens yet: each failed connection must close its socket.
  const auto before = ipclab::open_fds();
  for (int i = 0; i < 5; ++i) EXPECT_THROW(lab::AuthCalculator{local}, lab::NetworkError);
  EXPECT_EQ(ipclab::open_fds(), before) << "a failed connection left its socket open";

  Server server({"--allow-uids=" + my_uid(), "--local", socket_path()});
  ASSERT_TRUE(server.started());
  lab::ClientOptions udp = o;
  udp.transport = lab::Transport::kUdp;
  auto add_once = [](const lab::ClientOptions& opts) {
    return lab::AuthCalculator(opts).call(lab::Op::kAdd, 20, 22);
  };
  for (const auto& opts : {o, udp, local}) EXPECT_EQ(add_once(opts), 42);
  const auto warm = ipclab::open_fds();
  for (int i = 0; i < 5; ++i)
    for (const auto& opts : {o, udp, local}) EXPECT_EQ(add_once(opts), 42);
  EXPECT_EQ(ipclab::open_fds(), warm) << "descriptors left open by 15 destroyed handles";
  {
    lab::AuthCalculator c(local);
    std::vector<int> fresh;
    const auto now = ipclab::open_fds();
    std::set_difference(now.begin(), now.end(), warm.begin(), warm.end(),
                        std::back_inserter(fresh));
    ASSERT_FALSE(fresh.empty());
    for (int fd : fresh)
      EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0) << "fd " << fd << " survives exec";
  }
  {
    // The lowest free descriptor is 0 when stdin is closed: the socket may be fd 0.
    const ipclab::Fd saved(::dup(0));
    ASSERT_TRUE(saved.valid());
    ::close(0);
    std::optional<int> sum;
    try {
      sum = add_once(local);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "with stdin closed: " << e.what();
    }
    ::dup2(saved.get(), 0);
    EXPECT_EQ(sum, 42);
  }
  EXPECT_EQ(server.stop()->exit_code(), 0);
}

GRADED_TEST(Hidden, NetworkErrorsSayWhatFailed, 2,
            "README §The client — the README's transcript of failures") {
  GRADER_REQUIRE_RPCBIND();
  const lab::ClientOptions o = my_options(1000ms);
  auto what = [](const lab::ClientOptions& opts) -> std::string {
    try {
      lab::AuthCalculator c(opts);
    } catch (const lab::NetworkError& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(what(o), fmt::format("cannot reach program {} on localhost over tcp (localhost: RPC: "
                                 "Program not registered)",
                                 ipclab::rpc::hex(grader::rpc_prog())));
  lab::ClientOptions local = o;
  local.transport = lab::Transport::kLocal;
  local.local_path = socket_path();
  EXPECT_EQ(what(local), "cannot reach the local socket " + socket_path() +
                             " (connect: RPC: Remote system error - No such file or directory)");
  // A path that fills sun_path leaves no room for its NUL.
  local.local_path = grader::rundir() + "/";
  local.local_path.resize(sizeof(sockaddr_un{}.sun_path), 'x');
  EXPECT_EQ(what(local), "socket path too long: " + local.local_path);
}

GRADED_TEST(Hidden, CacheOfCapacityZeroHoldsOne, 1, "README §The server — DuplicateCache") {
  using F = lab::DuplicateCache::Found;
  lab::DuplicateCache c(0);
  EXPECT_EQ(c.capacity(), 1U);
  c.insert(1, 1, {ACCUM_OK, 5});
  EXPECT_EQ(c.find(1, 1).found, F::kReplay) << "the reply just sent is remembered";
  c.insert(1, 2, {ACCUM_OK, 6});
  EXPECT_EQ(c.size(), 1U);
  EXPECT_EQ(c.find(1, 1).found, F::kExpired);
  EXPECT_EQ(c.find(1, 2).found, F::kReplay);
}

GRADED_TEST(Hidden, UdpSendsTheRequestAgainAFifthOfTheTimeoutApart, 3,
            "README §The client — CLSET_RETRY_TIMEOUT, as in lab 16") {
  GRADER_REQUIRE_RPCBIND();
  Server server({"--allow-uids=" + my_uid()});
  ASSERT_TRUE(server.started());
  // How many copies of one request (told apart by the gid it claims) a stopped server
  // finds queued once it resumes: exactly ceil(timeout / interval), TI-RPC counting the
  // intervals it meant to wait, not the clock.
  auto copies = [&](int timeout_ms, int gid) -> long {
    const std::string claim = "--gid=" + std::to_string(gid);
    server.proc().signal(SIGSTOP);
    grader::RunResult r;
    // Again while the lookup failed: a busy rpcbind may not answer it in time, and a
    // client that never got the server's address sent it nothing.
    grader::wait_until(
        [&] {
          r = client({"add", "1", "2", "--proto", "udp", claim}, timeout_ms);
          return !r.err.starts_with("error: cannot reach");
        },
        20'000ms);
    server.proc().signal(SIGCONT);
    expect_error(r, 3, "error: server not answering");
    // A later request is served after every queued copy: then the log is complete.
    const std::string marker = fmt::format(" gid={} ", gid + 1);
    expect_answer(client({"add", "1", "2", "--proto", "udp", "--gid=" + std::to_string(gid + 1)}),
                  using_sys(my_uid(), std::to_string(gid + 1)), "Result: 3");
    EXPECT_TRUE(server.logged(marker)) << server.proc().err();
    long n = 0;
    std::istringstream log(server.proc().err());
    for (std::string line; std::getline(log, line);)
      if (line.find(fmt::format(" gid={} ", gid)) != std::string::npos &&
          line.find(" transport=udp ") != std::string::npos)
        ++n;
    return n;
  };
  EXPECT_EQ(copies(1000, 5000), 5) << "--timeout 1000: a copy every 200 ms\n"
                                   << server.proc().err();
  EXPECT_EQ(copies(40, 5010), 2) << "--timeout 40: every 20 ms, the least\n" << server.proc().err();
  EXPECT_EQ(copies(41, 5020), 3) << "--timeout 41: every 20 ms\n" << server.proc().err();
  EXPECT_EQ(server.stop()->exit_code(), 0);
}
