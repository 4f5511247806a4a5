// Lab 20 public grader: myipchub, myipcpub and myipcsub as programs, on every backend.
#include <fcntl.h>     // O_CLOEXEC
#include <signal.h>    // SIGSTOP, SIGKILL, SIGINT
#include <sys/stat.h>  // mkfifo
#include <unistd.h>    // getpid

#include <algorithm>  // std::find
#include <fstream>    // std::ofstream
#include <map>        // std::map
#include <memory>     // std::unique_ptr
#include <random>     // std::mt19937_64

#include "common.hpp"
#include "ipclab/io.hpp"     // read_file
#include "ipclab/mq.hpp"     // PosixMq
#include "lab20/client.hpp"  // HubClient, client_fifo_path, client_mq_name

using lab20_test::count;
using lab20_test::frame;
using lab20_test::Hub;
using lab20_test::kAllBackends;
using lab20_test::kDirectBackends;
using lab20_test::publish;
using lab20_test::Raw;
using lab20_test::responsive;
using lab20_test::spawn_cmd;
using lab20_test::Sub;
using namespace lab20_test;  // frame types

GRADED_TEST(Hub, IssueScriptHelloWorld, 4, "README §Programs") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  EXPECT_EQ(hub.proc.out(),
            "IPC Hub started\nBackends available: pipe, fifo, socket, mqueue, shm\n"
            "Listening for connections...\n");
  Sub sub("socket", "test");
  ASSERT_TRUE(sub.saw("Subscribed to 'test'\n"));
  EXPECT_EQ(sub.out(), "Connected to hub via UNIX socket\nSubscribed to 'test'\n");
  auto r = publish("socket", "test", "Hello World\n");
  grader::expect_output(r,
                        "Connected to hub via UNIX socket\nPublishing to 'test' channel...\n"
                        "Published (1 subscriber)\n");
  EXPECT_TRUE(sub.saw("[test] Hello World\n"));
}

GRADED_TEST(Hub, EveryBackendReachesEveryBackend, 10,
            "README §Backends — one codec, five transports; the hub copies each PUBLISH to "
            "every subscriber whatever its backend") {
  // The pipe publisher is a child of the hub that waits for the test's go on a FIFO.
  const std::string go = grader::scratch() + "/go";
  ASSERT_EQ(::mkfifo(go.c_str(), 0600), 0);
  Hub hub({"--spawn", spawn_cmd("myipcsub", "--backend pipe --channel m"), "--spawn",
           "read _ < " + go + "; exec " +
               spawn_cmd("myipcpub", "--backend pipe --channel m --message from-pipe")});
  ASSERT_TRUE(hub.ready);
  std::map<std::string, std::unique_ptr<Sub>> subs;
  for (const auto& b : kDirectBackends) subs[b] = std::make_unique<Sub>(b, "m");
  for (auto& [b, s] : subs) ASSERT_TRUE(s->saw("Subscribed to 'm'\n"));
  ASSERT_TRUE(hub.proc.wait_for_err("Subscribed to 'm'\n", 15'000ms))
      << "the spawned `myipcsub --backend pipe` did not subscribe; hub stderr:\n"
      << hub.proc.err();
  const std::map<std::string, std::string> title = {{"fifo", "named pipe"},
                                                    {"socket", "UNIX socket"},
                                                    {"mqueue", "message queue"},
                                                    {"shm", "shared memory"}};
  for (const auto& b : kDirectBackends) {
    auto r = publish(b, "m", "from-" + b + "\n");
    grader::expect_output(r, "Connected to hub via " + title.at(b) +
                                 "\nPublishing to 'm' channel...\nPublished (5 subscribers)\n");
  }
  std::ofstream(go) << "go\n";
  EXPECT_TRUE(hub.proc.wait_for_err("Published (5 subscribers)\n", 15'000ms)) << hub.proc.err();
  for (const auto& from : kAllBackends) {
    const std::string line = "[m] from-" + from + "\n";
    for (auto& [to, s] : subs) EXPECT_TRUE(s->saw(line)) << "from " << from << " to " << to;
    EXPECT_TRUE(hub.proc.wait_for_err(line, 15'000ms))
        << "from " << from << " to the pipe subscriber; hub stderr:\n"
        << hub.proc.err();
  }
}

GRADED_TEST(Hub, IdleHubSleepsInPoll, 1,
            "README §Backends — an idle hub sleeps in poll: it never spins, with or without "
            "clients") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Sub on_socket("socket", "quiet"), on_shm("shm", "quiet");
  ASSERT_TRUE(on_socket.saw("Subscribed to 'quiet'\n"));
  ASSERT_TRUE(on_shm.saw("Subscribed to 'quiet'\n"));
  const double before = grader::cpu_seconds(hub.proc.pid());
  // A second of wall time for a busy loop to show, waited for without a blind sleep.
  const auto start = std::chrono::steady_clock::now();
  grader::wait_until([&] { return std::chrono::steady_clock::now() - start > 1'000ms; }, 2'000ms);
  const double used = grader::cpu_seconds(hub.proc.pid()) - before;
  EXPECT_LT(used, 0.2) << "an idle myipchub with two subscribers (socket, shm) used " << used
                       << " s of CPU in one second: it spins instead of sleeping in poll";
  EXPECT_EQ(publish("socket", "quiet", "still awake\n").exit_code(), 0);
  EXPECT_TRUE(on_shm.saw("[quiet] still awake\n"));
}

GRADED_TEST(Messages, EmptyMaximumAndBinary, 6,
            "README §Pitfalls 8 — lengths, not terminators: a NUL is a byte like any other") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  const std::string max(4096, 'M');
  std::string binary = std::string("a\0b", 3) + "\x01\x7f\xff\xfe end";
  for (const auto& b : kDirectBackends) {
    SCOPED_TRACE("backend " + b);
    const std::string ch = "bin-" + b;  // a channel each: the last backend's subscriber is gone
    Sub sub(b, ch);
    ASSERT_TRUE(sub.saw("Subscribed to '" + ch + "'\n"));
    auto r =
        publish(b, ch, "\n" + max + "\n" + binary + "\n" + std::string(4097, 'X') + "\nlast\n");
    EXPECT_EQ(r.exit_code(), 1) << "a 4097-byte line is refused (exit 1 at the end)\n"
                                << r.describe();
    EXPECT_NE(r.err.find("too long"), std::string::npos) << r.describe();
    EXPECT_EQ(count(r.out, "Published (1 subscriber)\n"), 4u) << r.describe();
    const std::string tag = "[" + ch + "] ";
    ASSERT_TRUE(sub.saw(tag + "last\n"));
    const std::string want = "Subscribed to '" + ch + "'\n" + tag + "\n" + tag + max + "\n" + tag +
                             binary + "\n" + tag + "last\n";
    const std::string out = sub.out();
    EXPECT_TRUE(out.size() >= want.size() && out.substr(out.size() - want.size()) == want)
        << "an empty message, 4096 bytes, and bytes with NUL must arrive exactly; got:\n"
        << grader::excerpt(out, 300);
  }
}

GRADED_TEST(Messages, RapidFireKeepsOrderPerPublisher, 5,
            "README §Pitfalls 9 — one queue per client, in order; never reorder to catch up") {
  Hub hub({"--queue", "100000"});
  ASSERT_TRUE(hub.ready);
  std::vector<std::unique_ptr<Sub>> subs;
  for (const auto& b : {"socket", "shm", "mqueue"})
    subs.push_back(std::make_unique<Sub>(b, "fire"));
  for (auto& s : subs) ASSERT_TRUE(s->saw("Subscribed to 'fire'\n"));
  constexpr int kPerPublisher = 300;
  std::vector<grader::Process> pubs;
  for (const auto& b : {"socket", "shm", "fifo"}) {
    pubs.emplace_back(std::vector<std::string>{"myipcpub", "--backend", b, "--channel", "fire"});
    std::string input;
    for (int k = 0; k < kPerPublisher; ++k) input += fmt::format("{} {:04}\n", b, k);
    pubs.back().write(input);
    pubs.back().close_stdin();
  }
  for (auto& p : pubs) {
    auto r = p.finish(60'000ms);
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
  }
  for (auto& s : subs) {
    ASSERT_TRUE(s->saw("fifo 0299\n", 30'000ms));
    ASSERT_TRUE(s->saw("shm 0299\n", 30'000ms));
    ASSERT_TRUE(s->saw("socket 0299\n", 30'000ms));
    std::map<std::string, int> next;
    for (const auto& l : lines(s->out())) {
      char who[16] = {};
      int k = -1;
      if (std::sscanf(l.c_str(), "[fire] %15s %d", who, &k) != 2) continue;
      ASSERT_EQ(k, next[who]) << "subscriber on " << s->backend << ": publisher " << who
                              << "'s messages out of order or missing";
      ++next[who];
    }
    for (const auto& b : {"socket", "shm", "fifo"}) EXPECT_EQ(next[b], kPerPublisher);
  }
}

GRADED_TEST(Slow, SubscriberNeverStallsOthers, 8,
            "README §Pitfalls 9 — bounded queue per subscriber, drop and count; never block "
            "the hub on one client") {
  // A queue of 1500 frames: the reading subscriber may fall that far behind on a loaded
  // machine without a drop, and each of the two that never read (a socket buffer or a
  // 256 KiB ring of about 250 frames, then the queue) still overflows before 2500.
  Hub hub({"--queue", "1500"});
  ASSERT_TRUE(hub.ready);
  // Two subscribers that never read: a raw socket, and a myipcsub on shm that is stopped.
  Raw deaf;
  ASSERT_TRUE(deaf.hello());
  auto ack = deaf.request(frame(kSubscribe, "flood", ""));
  ASSERT_TRUE(ack && ack->type == kAck);
  Sub stopped("shm", "flood");
  ASSERT_TRUE(stopped.saw("Subscribed to 'flood'\n"));
  stopped.proc.signal(SIGSTOP);
  Sub fast("socket", "flood");
  ASSERT_TRUE(fast.saw("Subscribed to 'flood'\n"));
  constexpr int kMessages = 2500;
  const std::string pad(1000, 'p');
  std::string input;
  for (int k = 0; k < kMessages; ++k) input += fmt::format("{:05} {}\n", k, pad);
  auto r = publish("socket", "flood", input, 25'000ms);
  ASSERT_TRUE(!r.timed_out) << "the publisher stalled: is the hub blocked writing to a "
                               "subscriber that does not read?\n"
                            << grader::excerpt(r.out);
  EXPECT_EQ(count(r.out, "Published (3 subscribers)\n"), static_cast<std::size_t>(kMessages));
  ASSERT_TRUE(fast.saw(fmt::format("[flood] {:05} ", kMessages - 1), 30'000ms));
  int want = 0;
  for (const auto& l : lines(fast.out())) {
    if (l.rfind("[flood] ", 0) != 0) continue;
    ASSERT_EQ(l, fmt::format("[flood] {:05} {}", want, pad)) << "message " << want;
    ++want;
  }
  EXPECT_EQ(want, kMessages) << "the reading subscriber lost messages";
  const std::string st = hub.stats();
  std::size_t dropping = 0;
  for (const auto& l : lines(st))
    if (l.rfind("client ", 0) == 0 && l.find(" dropped=0") == std::string::npos) ++dropping;
  EXPECT_EQ(dropping, 2u) << "both subscribers that do not read must show dropped=N > 0, the "
                             "reading one dropped=0; myipchub --stats printed:\n"
                          << st;
  EXPECT_NE(st.find("channel flood "), std::string::npos) << st;
  EXPECT_EQ(st.find("channel flood subscribers=3 published=2500 delivered=") != std::string::npos,
            true)
      << st;
  EXPECT_TRUE(responsive());
}

GRADED_TEST(Clients, HubDescriptorsAreCloseOnExec, 1,
            "README §Backends — every descriptor the hub holds is close-on-exec (O_CLOEXEC, "
            "SOCK_CLOEXEC, MSG_CMSG_CLOEXEC)") {
  Hub hub({"--spawn", spawn_cmd("myipcsub", "--backend pipe --channel fds")});
  ASSERT_TRUE(hub.ready);
  std::vector<std::unique_ptr<Sub>> subs;
  for (const auto& b : kDirectBackends) subs.push_back(std::make_unique<Sub>(b, "fds"));
  for (auto& s : subs) ASSERT_TRUE(s->saw("Subscribed to 'fds'\n"));
  ASSERT_TRUE(grader::wait_until(
      [&] { return hub.proc.err().find("Subscribed to 'fds'\n") != std::string::npos; }, 15'000ms))
      << hub.proc.err();
  const pid_t pid = hub.proc.pid();
  std::string leaky;
  for (const int fd : ipclab::open_fds(pid)) {
    if (fd <= 2) continue;
    const std::string info = ipclab::read_file(fmt::format("/proc/{}/fdinfo/{}", pid, fd));
    const auto at = info.find("flags:");
    ASSERT_NE(at, std::string::npos) << info;
    if ((std::stoul(info.substr(at + 6), nullptr, 8) & O_CLOEXEC) == 0)
      leaky += fmt::format(" {} -> {}", fd, ipclab::fd_target(pid, fd));
  }
  EXPECT_EQ(leaky, "") << "myipchub, with a client on every backend, holds descriptors "
                          "without close-on-exec";
}

GRADED_TEST(Clients, ClientDescriptorsAreCloseOnExec, 1,
            "README §Backends — a client's descriptors are close-on-exec too (its FIFOs, "
            "queues, socket and ring)") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  namespace lab = ipclab::lab20;
  for (const auto b :
       {lab::Backend::kFifo, lab::Backend::kSocket, lab::Backend::kMqueue, lab::Backend::kShm}) {
    grader::Child client(
        [b] {
          const auto before = ipclab::open_fds();
          auto c = lab::HubClient::connect(b, grader::deadline(10'000ms));
          c.subscribe("fds", grader::deadline(10'000ms));
          for (const int fd : ipclab::open_fds()) {
            if (std::find(before.begin(), before.end(), fd) != before.end()) continue;
            EXPECT_TRUE((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0)
                << "descriptor " << fd << " -> " << ipclab::fd_target(0, fd)
                << " of a connected client is not close-on-exec";
          }
        },
        "client");
    const auto r = client.finish(20'000ms);
    EXPECT_TRUE(r.passed()) << r.describe();
  }
}

GRADED_TEST(Clients, MalformedConnectRefused, 1,
            "README §Protocol — CONNECT carries exactly `BACKEND PID`: the backend it came "
            "over, a decimal pid > 0, nothing after it; anything else is ERROR and a hang-up") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  const std::string me = std::to_string(::getpid());
  const std::string bad_payloads[] = {
      "socket " + me + "x", "socket " + me + " ", "socket 0",      "socket -" + me, "socket",
      "socket x" + me,      "sock " + me,         "socket  " + me, "fifo " + me,    "mqueue " + me,
      "pipe " + me};  // the last three: not over the socket
  for (const auto& bad : bad_payloads) {
    Raw r;
    auto f = r.request(frame(kConnect, "", bad));
    EXPECT_TRUE(f && f->type == kError) << "CONNECT \"" << bad << "\" was not refused";
    EXPECT_TRUE(r.closed_by_hub()) << "CONNECT \"" << bad << "\": the hub did not hang up";
  }
  EXPECT_TRUE(responsive());
}

GRADED_TEST(Clients, DisconnectMidFrame, 4,
            "README §Pitfalls 10 — an unfinished frame dies with its connection") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Sub ear("socket", "mid");
  ASSERT_TRUE(ear.saw("Subscribed to 'mid'\n"));
  for (int cut : {1, 5, 8, 9, 20}) {
    Raw raw;
    ASSERT_TRUE(raw.hello());
    const std::string f = frame(kPublish, "mid", "PARTIAL " + std::string(20, 'x'));
    raw.send(f.substr(0, static_cast<std::size_t>(cut)));
  }  // closed with the frame unfinished
  auto r = publish("shm", "mid", "whole\n");
  EXPECT_EQ(r.exit_code(), 0) << r.describe();
  EXPECT_TRUE(ear.saw("[mid] whole\n"));
  EXPECT_EQ(ear.out().find("PARTIAL"), std::string::npos) << ear.out();
  EXPECT_TRUE(hub.alive());
  EXPECT_TRUE(responsive());
}

GRADED_TEST(Clients, UnansweredClientRemovesItsNames, 1,
            "README §Architecture — a FIFO or MQ client that gets no answer removes the names "
            "it made before it exits") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  hub.proc.signal(SIGSTOP);  // alive, but it answers nobody
  for (const std::string b : {"fifo", "mqueue"}) {
    auto r = grader::run({"myipcsub", "--backend", b, "--channel", "nobody", "--timeout", "1"},
                         {.timeout = 15'000ms});
    grader::expect_finished(r);
    EXPECT_NE(r.exit_code(), 0) << b << ": no answer from a stopped hub\n" << r.describe();
    for (const bool up : {true, false}) {
      const std::string fifo = ipclab::lab20::client_fifo_path(r.pid, up);
      EXPECT_NE(::access(fifo.c_str(), F_OK), 0) << b << ": " << fifo << " is left behind";
      const std::string mq = ipclab::lab20::client_mq_name(r.pid, up);
      EXPECT_NE(::access(("/dev/mqueue" + mq).c_str(), F_OK), 0)
          << b << ": " << mq << " is left behind";
    }
  }
  hub.proc.signal(SIGCONT);
  EXPECT_TRUE(responsive());
}

GRADED_TEST(Clients, StaleNamesOfOurPidReplaced, 1,
            "README §Architecture — a pid is reused: a client replaces the names an earlier "
            "process with its pid left behind") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  namespace lab = ipclab::lab20;
  for (const auto b : {lab::Backend::kFifo, lab::Backend::kMqueue}) {
    grader::Child client(
        [b] {
          // What a kill -9'd client with this pid left: its FIFOs or queues, with a
          // message in the up queue that is no frame at all.
          for (const bool up : {true, false}) {
            const std::string fifo = lab::client_fifo_path(::getpid(), up);
            if (b == lab::Backend::kFifo) {
              ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
            } else {
              auto q = ipclab::PosixMq::create(lab::client_mq_name(::getpid(), up), 2, 64);
              ASSERT_TRUE(q.send("stale, not a frame", 0, grader::deadline(1'000ms)));
            }
          }
          auto c = lab::HubClient::connect(b, grader::deadline(10'000ms));
          c.subscribe("fresh", grader::deadline(10'000ms));
        },
        "client over stale names");
    const auto r = client.finish(20'000ms);
    EXPECT_TRUE(r.passed()) << r.describe();
  }
  EXPECT_TRUE(responsive());
}

GRADED_TEST(Clients, LimitsAnswerError, 5,
            "README §Protocol — limits: clients, 16 channels per client, 256 subscribers per "
            "channel, names [A-Za-z0-9._-] of 64 bytes") {
  {
    Hub hub({"--max-clients", "2"});
    ASSERT_TRUE(hub.ready);
    Sub a("socket", "x"), b("fifo", "x");
    ASSERT_TRUE(a.saw("Subscribed to 'x'\n"));
    ASSERT_TRUE(b.saw("Subscribed to 'x'\n"));
    for (const auto& be : {"socket", "shm", "mqueue"}) {
      auto r = publish(be, "x", "no room\n");
      EXPECT_EQ(r.exit_code(), 1) << r.describe();
      EXPECT_NE(r.err.find("too many clients"), std::string::npos) << r.describe();
    }
    EXPECT_EQ(a.out().find("no room"), std::string::npos);
  }
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Raw c;
  ASSERT_TRUE(c.hello());
  for (int i = 0; i < 16; ++i) {
    auto f = c.request(frame(kSubscribe, fmt::format("ch{}", i), ""));
    ASSERT_TRUE(f && f->type == kAck) << "subscription " << i;
  }
  auto f = c.request(frame(kSubscribe, "ch16", ""));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->type, kError) << "a 17th channel must be refused with ERROR";
  for (const std::string& bad :
       std::vector<std::string>{"a b", "sl/ash", std::string(65, 'n'), "", "x*", "*"}) {
    Raw d;
    ASSERT_TRUE(d.hello());
    auto e = d.request(frame(kPublish, bad, "m"));
    ASSERT_TRUE(e.has_value()) << "no answer to a PUBLISH on '" << bad << "'";
    EXPECT_EQ(e->type, kError) << "channel '" << bad << "' must be refused";
  }
  std::vector<std::unique_ptr<Raw>> many;
  for (int i = 0; i < 256; ++i) {
    many.push_back(std::make_unique<Raw>());
    ASSERT_TRUE(many.back()->hello());
    auto g = many.back()->request(frame(kSubscribe, "crowd", ""));
    ASSERT_TRUE(g && g->type == kAck) << "subscriber " << i;
  }
  Raw late;
  ASSERT_TRUE(late.hello());
  auto g = late.request(frame(kSubscribe, "crowd", ""));
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->type, kError) << "the 257th subscriber of a channel must be refused";
  auto p = late.request(frame(kPublish, "crowd", "all"));
  ASSERT_TRUE(p && p->type == kAck);
  EXPECT_EQ(p->payload, "256");
}

GRADED_TEST(Fuzz, MalformedFramesNeverCrashHub, 6,
            "README §Pitfalls 8 — validate the header before trusting a length") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  const std::string ok = frame(kConnect, "", "socket 1");
  std::vector<std::string> corpus = malformed_frames();
  std::mt19937_64 rng(grader::seed());
  for (int i = 0; i < 150; ++i) {
    std::string f = ok + frame(kPublish, "fz", std::string(rng() % 64, 'z'));
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) f[ok.size() + rng() % 8] = static_cast<char>(rng());
    corpus.push_back(f);
  }
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    {
      Raw raw;
      raw.send(corpus[i]);
      raw.closed_by_hub(200ms);  // it may answer or hang up; it must not die
    }
    ASSERT_TRUE(hub.alive()) << "the hub died on corpus entry " << i << ":\n"
                             << hub.proc.finish().describe();
  }
  EXPECT_TRUE(responsive());
  Sub s("socket", "after");
  ASSERT_TRUE(s.saw("Subscribed to 'after'\n"));
  EXPECT_EQ(publish("socket", "after", "alive\n").exit_code(), 0);
  EXPECT_TRUE(s.saw("[after] alive\n"));
}

GRADED_TEST(Shutdown, SignalsRemoveEveryObject, 5,
            "README §Pitfalls 4 — SIGINT/SIGTERM: remove every name the hub made") {
  for (const int sig : {SIGTERM, SIGINT}) {
    Hub hub;
    ASSERT_TRUE(hub.ready);
    std::vector<std::unique_ptr<Sub>> subs;
    for (const auto& b : kDirectBackends) subs.push_back(std::make_unique<Sub>(b, "bye"));
    for (auto& s : subs) ASSERT_TRUE(s->saw("Subscribed to 'bye'\n"));
    hub.proc.signal(sig);
    const auto st = hub.proc.wait(15'000ms);
    ASSERT_TRUE(st.has_value()) << "myipchub still runs after signal " << sig;
    EXPECT_EQ(st->exit_code(), 0) << st->describe();
    for (auto& s : subs) {
      const auto cs = s->proc.wait(15'000ms);
      ASSERT_TRUE(cs.has_value()) << "myipcsub --backend " << s->backend
                                  << " did not notice that the hub is gone";
      EXPECT_EQ(cs->exit_code(), 3) << s->backend << ": " << cs->describe();
      EXPECT_EQ(s->proc.err().rfind("error: ", 0), 0u) << s->backend << ": " << s->proc.err();
    }
    for (const auto& name : {"hub.sock", "hub.fifo", "myipchub.lock"})
      EXPECT_NE(::access((grader::rundir() + "/" + name).c_str(), F_OK), 0)
          << name << " is still there after signal " << sig;
  }
  // The harness's leak guard then checks /dev/shm, the message queues and the run
  // directory of this test's namespace: any leftover fails the test by name.
}

GRADED_TEST(Bench, TinyRunVerifiesEveryBackend, 3,
            "README §Benchmark — every message verified; a damaged one fails loudly") {
  auto r = grader::run({"myipcbench", "--iterations", "300", "--message-size", "64"},
                       {.timeout = 60'000ms});
  ASSERT_EQ(r.exit_code(), 0) << r.describe();
  EXPECT_EQ(r.out.rfind("IPC Mechanism Benchmark (300 messages, 64 bytes each)\n", 0), 0u) << r.out;
  for (const auto* row :
       {"\nShared Memory ", "\nUNIX Socket ", "\nPOSIX MQueue ", "\nNamed Pipe (FIFO) ",
        "\nAnonymous Pipe ", "\nRecommendation:\n", "\n  High throughput: Use ",
        "\n  Simplicity: Use UNIX sockets\n", "\n  Message boundaries: Use POSIX message queues\n"})
    EXPECT_NE(r.out.find(row), std::string::npos) << "missing `" << row << "`:\n" << r.out;
  auto j =
      grader::run({"myipcbench", "--iterations", "200", "--message-size", "16", "--format", "json"},
                  {.timeout = 60'000ms});
  ASSERT_EQ(j.exit_code(), 0) << j.describe();
  for (const auto* key : {"\"benchmark\"", "\"results\"", "\"shm\"", "\"socket\"", "\"mqueue\"",
                          "\"fifo\"", "\"pipe\"", "\"p99_ns\"", "\"shm/socket\""})
    EXPECT_NE(j.out.find(key), std::string::npos) << key << " in\n" << j.out;
  auto bad = grader::run({"myipcbench", "--iterations", "100", "--message-size", "64"},
                         {.timeout = 60'000ms, .env = {"IPCLAB_BENCH_CORRUPT=57"}});
  EXPECT_EQ(bad.exit_code(), 1) << "message 57 was damaged on purpose\n" << bad.describe();
  EXPECT_NE(bad.err.find("message 57"), std::string::npos) << bad.describe();
}
