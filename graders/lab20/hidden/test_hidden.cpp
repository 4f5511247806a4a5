// Lab 20 hidden grader: families of channels, a hub that dies or restarts, counters,
// UNSUBSCRIBE, and the pipe backend's children.
#include <dlfcn.h>          // dlsym, RTLD_NEXT
#include <fcntl.h>          // fcntl, FD_CLOEXEC
#include <linux/sockios.h>  // SIOCOUTQ
#include <poll.h>           // poll
#include <signal.h>         // SIGKILL, kill
#include <sys/ioctl.h>      // ioctl, FIONREAD
#include <sys/stat.h>       // mkfifo
#include <sys/syscall.h>    // SYS_mq_open
#include <unistd.h>         // access

#include <algorithm>   // std::find, std::min
#include <atomic>      // std::atomic
#include <cerrno>      // errno, ESRCH
#include <cstdarg>     // va_list, va_start, va_arg
#include <cstring>     // std::strerror
#include <functional>  // std::function
#include <memory>      // std::unique_ptr
#include <string>      // std::stoi
#include <thread>      // std::thread
#include <utility>     // std::move

#include "../public/common.hpp"
#include "grader/syscalls.hpp"       // SyscallDenial, seccomp_filters_work
#include "ipclab/error.hpp"          // OperationFailed
#include "ipclab/fd.hpp"             // open_fds, fd_target
#include "ipclab/instance_lock.hpp"  // InstanceLock
#include "ipclab/mq.hpp"             // PosixMq
#include "ipclab/names.hpp"          // names::posix
#include "ipclab/process.hpp"        // process_state
#include "ipclab/shm.hpp"            // PosixShm
#include "lab20/client.hpp"          // HubClient
#include "lab20/hub.hpp"             // run_hub, HubOptions
#include "lab20/ring.hpp"            // ShmChannel
#include "lab20/unix.hpp"            // listen_unix, send_fd

using namespace lab20_test;

GRADED_TEST(Hidden, PatternSubscribesToFamily, 3,
            "README §Protocol — `name.*` covers name.anything, not name nor namesake") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Sub fam("shm", "weather.*");
  Sub exact("mqueue", "weather");
  ASSERT_TRUE(fam.saw("Subscribed to 'weather.*'\n"));
  ASSERT_TRUE(exact.saw("Subscribed to 'weather'\n"));
  for (const auto& [ch, n] : std::vector<std::pair<std::string, int>>{
           {"weather.today", 1}, {"weather", 1}, {"weatherman", 0}, {"weather.eu.paris", 1}}) {
    auto r = publish("socket", ch, ch + " msg\n");
    EXPECT_NE(r.out.find(fmt::format("Published ({} subscriber", n)), std::string::npos)
        << ch << ": " << r.describe();
  }
  EXPECT_TRUE(fam.saw("[weather.eu.paris] weather.eu.paris msg\n"));
  EXPECT_TRUE(fam.saw("[weather.today] weather.today msg\n"));
  EXPECT_TRUE(exact.saw("[weather] weather msg\n"));
  EXPECT_EQ(fam.out().find("weatherman"), std::string::npos);
  EXPECT_EQ(fam.out().find("[weather] "), std::string::npos);
  EXPECT_EQ(exact.out().find("today"), std::string::npos);
}

GRADED_TEST(Hidden, ClientsOfKilledHubExit3, 4,
            "README §Pitfalls 4 — every backend must notice a dead hub (an MQ has no EOF)") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  std::vector<std::unique_ptr<Sub>> subs;
  for (const auto& b : kDirectBackends) subs.push_back(std::make_unique<Sub>(b, "dead"));
  for (auto& s : subs) ASSERT_TRUE(s->saw("Subscribed to 'dead'\n"));
  hub.proc.kill();  // SIGKILL, reaped: nothing cleaned up
  for (auto& s : subs) {
    const auto st = s->proc.wait(15'000ms);
    ASSERT_TRUE(st.has_value()) << s->backend << ": myipcsub still waits for a dead hub";
    EXPECT_EQ(st->exit_code(), 3) << s->backend << ": " << st->describe();
    EXPECT_EQ(s->proc.err().rfind("error: lost the hub: ", 0), 0u)
        << s->backend << ": the README's words for a hub that died: " << s->proc.err();
  }
  for (const auto& b : kDirectBackends) {
    auto r = publish(b, "dead", "anyone?\n", 30'000ms);
    EXPECT_EQ(r.exit_code(), 3) << "a client with no hub to talk to exits 3\n" << r.describe();
    EXPECT_NE(r.err.find("no hub is running"), std::string::npos)
        << "the dead hub's leftovers are not a hub: say so at once\n"
        << r.describe();
  }
  Hub again;  // replaces the leftovers, and removes them when it stops
  EXPECT_TRUE(again.ready);
}

GRADED_TEST(Hidden, RestartReplacesStaleObjects, 4,
            "README §Pitfalls 4 — the lock says whether a hub lives; a dead one's names are "
            "stale") {
  {
    Hub first;
    ASSERT_TRUE(first.ready);
    auto second = grader::run({"myipchub"}, {.timeout = 15'000ms});
    EXPECT_EQ(second.exit_code(), 1) << "a second hub in the same namespace must refuse\n"
                                     << second.describe();
    EXPECT_NE(second.err.find("already running"), std::string::npos) << second.describe();
    EXPECT_TRUE(responsive()) << "the second hub broke the first one";
    first.proc.kill();
  }
  EXPECT_EQ(::access(hub_socket().c_str(), F_OK), 0) << "(kill -9 leaves the socket behind)";
  Hub again;
  ASSERT_TRUE(again.ready);
  std::vector<std::unique_ptr<Sub>> subs;
  for (const auto& b : kDirectBackends) subs.push_back(std::make_unique<Sub>(b, "again"));
  for (auto& s : subs) ASSERT_TRUE(s->saw("Subscribed to 'again'\n"));
  for (const auto& b : kDirectBackends) {
    auto r = publish(b, "again", "from " + b + "\n");
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
  }
  for (auto& s : subs)
    for (const auto& b : kDirectBackends) EXPECT_TRUE(s->saw("[again] from " + b + "\n"));
}

GRADED_TEST(Hidden, StatsAndUnsubscribe, 3, "README §Programs") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Raw c;
  ASSERT_TRUE(c.hello());
  auto a = c.request(frame(kSubscribe, "news", ""));
  ASSERT_TRUE(a && a->type == kAck);
  auto p = c.request(frame(kPublish, "news", "one"));
  ASSERT_TRUE(p && p->type == kAck);
  EXPECT_EQ(p->payload, "1");
  auto u = c.request(frame(kUnsubscribe, "news", ""));
  ASSERT_TRUE(u && u->type == kAck);
  auto p2 = c.request(frame(kPublish, "news", "two"));
  ASSERT_TRUE(p2 && p2->type == kAck);
  EXPECT_EQ(p2->payload, "0") << "an unsubscribed client still counted";
  auto u2 = c.request(frame(kUnsubscribe, "news", ""));
  ASSERT_TRUE(u2.has_value());
  EXPECT_EQ(u2->type, kError) << "UNSUBSCRIBE of a channel not subscribed";
  const std::string st = hub.stats();
  EXPECT_NE(st.find("channel news subscribers=0 published=2 delivered=1 dropped=0"),
            std::string::npos)
      << st;
  // The hub's first client is client 1; it sent six frames: CONNECT, SUBSCRIBE, PUBLISH,
  // UNSUBSCRIBE, PUBLISH, UNSUBSCRIBE.
  const std::string line =
      fmt::format("client 1 socket pid={} channels=- received=6 dropped=0 queued=0\n", ::getpid());
  EXPECT_NE(st.find("\n" + line), std::string::npos)
      << "the hub's first client, after its 6 frames (its CONNECT included): `" << line
      << "` expected; myipchub --stats:\n"
      << st;
}

GRADED_TEST(Hidden, SpawnedPipeChildrenBothWays, 3,
            "README §Backends — a spawned child speaks the protocol on fds 0/1") {
  Hub hub({"--spawn", spawn_cmd("myipcsub", "--backend pipe --channel kids"), "--spawn",
           spawn_cmd("myipcsub", "--backend pipe --channel kids")});
  ASSERT_TRUE(hub.ready);
  ASSERT_TRUE(grader::wait_until(
      [&] { return count(hub.proc.err(), "Subscribed to 'kids'\n") == 2 || !hub.alive(); },
      15'000ms))
      << hub.proc.err();
  auto r = publish("mqueue", "kids", "hello children\n");
  EXPECT_NE(r.out.find("Published (2 subscribers)"), std::string::npos) << r.describe();
  EXPECT_TRUE(grader::wait_until(
      [&] { return count(hub.proc.err(), "[kids] hello children\n") == 2; }, 15'000ms))
      << hub.proc.err();
  hub.proc.signal(SIGTERM);
  const auto st = hub.proc.wait(15'000ms);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->exit_code(), 0);
  EXPECT_TRUE(grader::zombie_children().empty());
}

GRADED_TEST(Hidden, ShutdownEndsSpawnedChildrenThatStay, 2,
            "README §Programs — a --spawn child still running 2 s after SIGTERM's shutdown "
            "closed its pipes gets SIGTERM, then SIGKILL") {
  // Neither child reads its pipes: end of file does not end them.
  const std::string polite =
      "trap 'kill $!; echo polite child got SIGTERM >&2; exit 0' TERM; "
      "echo polite child ready >&2; sleep 100 & wait";
  const std::string stubborn = "trap '' TERM; echo stubborn child $$ >&2; exec sleep 100";
  Hub hub({"--spawn", polite, "--spawn", stubborn});
  ASSERT_TRUE(hub.ready);
  ASSERT_TRUE(grader::wait_until(
      [&] {
        const std::string err = hub.proc.err();
        return err.find("polite child ready\n") != std::string::npos &&
               err.find("stubborn child ") != std::string::npos &&
               err.find('\n', err.find("stubborn child ")) != std::string::npos;
      },
      15'000ms))
      << hub.proc.err();
  const std::string err = hub.proc.err();
  const pid_t stubborn_pid = std::stoi(err.substr(err.find("stubborn child ") + 15));
  hub.proc.signal(SIGTERM);
  const auto st = hub.proc.wait(30'000ms);
  ASSERT_TRUE(st.has_value()) << "the hub did not exit after SIGTERM";
  EXPECT_EQ(st->exit_code(), 0);
  EXPECT_NE(hub.proc.err().find("polite child got SIGTERM"), std::string::npos)
      << "a child still running after the grace period must get SIGTERM:\n"
      << hub.proc.err();
  const bool gone = ::kill(stubborn_pid, 0) < 0 && errno == ESRCH;
  EXPECT_TRUE(gone) << "a child that ignores SIGTERM must be killed (SIGKILL) and reaped";
  if (!gone) ::kill(stubborn_pid, SIGKILL);
}

GRADED_TEST(Hidden, MqPublisherWaitsWhileTheHubIsStopped, 2,
            "README §Pitfalls 3 — an MQ is full at msg_max: wait for room, never drop a frame") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Sub sub("socket", "q", {"--count", "12"});
  ASSERT_TRUE(grader::wait_until(
      [&] { return hub.stats().find("channels=q") != std::string::npos; }, 15'000ms));
  auto c = lab::HubClient::connect(lab::Backend::kMqueue, grader::deadline(10'000ms));
  hub.proc.signal(SIGSTOP);  // the hub reads nothing: the client's up queue fills
  ASSERT_TRUE(
      grader::wait_until([&] { return ipclab::process_state(hub.proc.pid()) == 'T'; }, 10'000ms));
  std::atomic<int> sent{0};
  std::thread publisher([&] {
    for (int i = 0; i < 12; ++i) {
      c.publish_async("q", "m" + std::to_string(i));
      ++sent;
    }
  });
  // Its queue holds kMqUpDepth frames; the publisher then waits, however long the hub is
  // stopped (it looks at the hub's pid meanwhile: a stopped hub is alive).
  const bool moved_on = grader::wait_until([&] { return sent > lab::kMqUpDepth + 1; }, 1'500ms);
  EXPECT_FALSE(moved_on) << sent << " frames sent into a queue of " << lab::kMqUpDepth
                         << " while the hub was stopped: frames were dropped";
  hub.proc.signal(SIGCONT);
  publisher.join();
  std::string want;
  for (int i = 0; i < 12; ++i) want += "[q] m" + std::to_string(i) + "\n";
  EXPECT_TRUE(sub.saw(want));
}

GRADED_TEST(Hidden, HubPidComesFromTheAckOnEveryBackend, 1,
            "README §Protocol — the hub answers CONNECT with ACK \"hub PID\": hub_pid() is "
            "that pid, on every backend") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  for (const auto b :
       {lab::Backend::kSocket, lab::Backend::kFifo, lab::Backend::kMqueue, lab::Backend::kShm}) {
    auto c = lab::HubClient::connect(b, grader::deadline(10'000ms));
    EXPECT_EQ(c.hub_pid(), hub.proc.pid())
        << "HubClient::hub_pid() of a client of backend " << lab::backend_name(b);
  }
}

GRADED_TEST(Hidden, SubscribeAndUnsubscribeWaitForTheHubsAnswer, 1,
            "README §Protocol — SUBSCRIBE or UNSUBSCRIBE channel: ACK, or ERROR") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  auto c = lab::HubClient::connect(lab::Backend::kSocket, grader::deadline(10'000ms));
  EXPECT_THROW(c.subscribe("not a name", grader::deadline(10'000ms)), ipclab::OperationFailed)
      << "SUBSCRIBE to a bad name: the hub's ERROR";
  c.subscribe("a", grader::deadline(10'000ms));
  c.unsubscribe("a", grader::deadline(10'000ms));
  try {
    c.unsubscribe("a", grader::deadline(10'000ms));
    ADD_FAILURE() << "unsubscribe from a channel no longer subscribed did not throw";
  } catch (const ipclab::OperationFailed& e) {
    EXPECT_NE(std::string(e.what()).find("not subscribed to a"), std::string::npos) << e.what();
  }
  EXPECT_EQ(c.publish("a", "nobody", grader::deadline(10'000ms)), 0U);
}

// write() watched, for the test below: while armed, every write first looks for a
// descriptor opened since arming that is not close-on-exec (one held only for a moment,
// as a FIFO client's request FIFO during its CONNECT, is still inherited by an exec in
// another thread at that moment). Unarmed, it is glibc's write.
namespace {
std::atomic<bool> watching_writes{false};
std::vector<int> fds_before_watch;
std::string inheritable;
}  // namespace

extern "C" ssize_t write(int fd, const void* buf, size_t n) {
  if (watching_writes.exchange(false)) {
    for (const int f : ipclab::open_fds())
      if (std::find(fds_before_watch.begin(), fds_before_watch.end(), f) ==
              fds_before_watch.end() &&
          (::fcntl(f, F_GETFD) & FD_CLOEXEC) == 0)
        inheritable += " " + std::to_string(f) + " -> " + ipclab::fd_target(0, f);
    watching_writes = true;
  }
  using Fn = ssize_t (*)(int, const void*, size_t);
  static const auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "write"));
  return real(fd, buf, n);
}

GRADED_TEST(Hidden, FifoClientsRequestFifoIsCloseOnExec, 1,
            "README §Backends — every descriptor a connecting client holds is close-on-exec, "
            "even for a moment") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  fds_before_watch = ipclab::open_fds();
  watching_writes = true;
  auto c = lab::HubClient::connect(lab::Backend::kFifo, grader::deadline(10'000ms));
  watching_writes = false;
  EXPECT_EQ(inheritable, "") << "descriptors without close-on-exec while the client connected";
}

GRADED_TEST(Hidden, TwoFifoConnectsInOneReadBothAnswered, 1,
            "README §Backends — fifo: CONNECT on hub.fifo, one write each; two may arrive "
            "in one read") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  grader::Process other({"sleep", "60"});  // a second live pid, for the second client
  std::vector<ipclab::Fd> downs, ups;
  std::string both;
  for (const pid_t pid : {::getpid(), other.pid()}) {
    const std::string up = lab::client_fifo_path(pid, true);
    const std::string down = lab::client_fifo_path(pid, false);
    ASSERT_EQ(::mkfifo(up.c_str(), 0600), 0);
    ASSERT_EQ(::mkfifo(down.c_str(), 0600), 0);
    downs.emplace_back(::open(down.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    ups.emplace_back(::open(up.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(downs.back().valid() && ups.back().valid());
    both += frame(kConnect, "", "fifo " + std::to_string(pid));
  }
  const ipclab::Fd req(::open(lab::hub_fifo_path().c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(req.valid());
  // One write (under PIPE_BUF, so whole): the hub's next read takes both requests at once.
  ASSERT_EQ(::write(req.get(), both.data(), both.size()), static_cast<ssize_t>(both.size()));
  for (std::size_t i = 0; i < downs.size(); ++i) {
    std::string got;
    const auto deadline = grader::deadline(10'000ms);
    while (got.size() < 3 && !deadline.expired()) {
      pollfd p{downs[i].get(), POLLIN, 0};
      if (::poll(&p, 1, deadline.poll_ms()) != 1) break;
      char buf[256];
      const ssize_t n = ::read(downs[i].get(), buf, sizeof buf);
      if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    }
    ASSERT_GE(got.size(), 3U) << "no answer to the CONNECT of client " << i + 1
                              << " of the two that came in one read";
    EXPECT_EQ(static_cast<unsigned char>(got[2]), kAck) << "client " << i + 1;
  }
}

GRADED_TEST(Hidden, StaleRingObjectsReplaced, 1,
            "README §Backends — shm: the hub replaces a stale ring object of the name it uses") {
  namespace lab = ipclab::lab20;
  // What a hub killed while handing rings over may leave: objects of the names the next
  // hub gives its first clients, of the wrong size.
  for (int id = 1; id <= 4; ++id) ipclab::PosixShm::create(lab::client_shm_name(id), 4096, 0600);
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Sub sub("shm", "fresh");
  ASSERT_TRUE(sub.saw("Subscribed to 'fresh'"));
  auto r = publish("socket", "fresh", "over a replaced ring\n");
  EXPECT_NE(r.out.find("Published (1 subscriber)"), std::string::npos) << r.describe();
  EXPECT_TRUE(sub.saw("[fresh] over a replaced ring\n"));
  for (int id = 1; id <= 4; ++id) ipclab::PosixShm::unlink(lab::client_shm_name(id));
}

GRADED_TEST(Hidden, ShmSubscriberThatCatchesUpWakesTheHub, 2,
            "README §Pitfalls 1 — a side that finds the ring full sets its flag, re-checks, "
            "and sleeps until the other side's wake-up byte") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Sub sub("shm", "bulk", {"--count", "400"});
  ASSERT_TRUE(sub.saw("Subscribed to 'bulk'"));
  sub.proc.signal(SIGSTOP);  // its ring fills up (256 KiB), the rest waits in the hub
  std::string input;
  for (int i = 0; i < 400; ++i) input += std::string(1000, 'x') + std::to_string(i) + "\n";
  const auto r = publish("socket", "bulk", input);
  EXPECT_EQ(r.exit_code(), 0) << r.describe();
  // Nothing else happens now: only the subscriber's wake-up, after it made room, gets
  // the hub to push the frames it holds.
  sub.proc.signal(SIGCONT);
  EXPECT_TRUE(sub.saw(std::string(1000, 'x') + "399\n", 20'000ms));
}

namespace {

/// The test as the hub of one socket client: it holds the hub's lock, listens on hub.sock,
/// runs `client` in a thread, accepts its connection, reads its CONNECT and calls `serve`
/// with the connection and the client's `done` flag, then closes it. Returns the client's
/// exception message ("" if none); `served` tells whether `serve` ran.
std::string as_fake_socket_hub(const std::function<void()>& client,
                               const std::function<void(Raw&, const std::atomic<bool>&)>& serve,
                               bool& served) {
  namespace lab = ipclab::lab20;
  served = false;
  auto lock = ipclab::InstanceLock::acquire(lab::kHubLockName);
  ipclab::Fd listener = lab::listen_unix(lab::hub_socket_path());
  std::atomic<bool> done{false};
  std::string failure;  // the client's, read after the join
  std::thread runner([&] {
    try {
      client();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    done = true;
  });
  ipclab::Fd conn;
  if (grader::wait_until(
          [&] {
            conn.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
            return conn.valid() || done;
          },
          10'000ms) &&
      conn.valid()) {
    Raw hub_end(std::move(conn));
    auto hello = hub_end.read_frame();
    if (hello && hello->type == kConnect) {
      serve(hub_end, done);
      served = true;
    }
  }  // closed
  runner.join();
  ::unlink(lab::hub_socket_path().c_str());
  return failure;
}

/// The test as the hub of one shm client: as_fake_socket_hub, with a ring of the test's own
/// made once the CONNECT came (what it says is the hub's business, not the test's); `serve`
/// gets the connection's descriptor, the ring and the client's `done` flag.
std::string as_fake_hub(
    const std::function<void()>& client, const char* ring_tag,
    const std::function<void(int, ipclab::lab20::ShmChannel&, const std::atomic<bool>&)>& serve,
    bool& served) {
  return as_fake_socket_hub(
      client,
      [&](Raw& hub_end, const std::atomic<bool>& done) {
        const std::string name = ipclab::names::posix(ring_tag);
        auto ch = ipclab::lab20::ShmChannel::create(name);
        ipclab::PosixShm::unlink(name);
        serve(hub_end.fd.get(), ch, done);
      },
      served);
}

}  // namespace

GRADED_TEST(Hidden, ShmClientOnAFullRingSetsItsFlagBeforeItSleeps, 1,
            "README §Pitfalls 1 — a side that finds the ring full sets its flag, re-checks, "
            "and sleeps until the other side's wake-up byte") {
  namespace lab = ipclab::lab20;
  // The test is the hub, and reads nothing. A client that fills the up ring must set
  // producer_waiting (wait_for_room) before it sleeps, or no hub would ever wake it.
  bool registered = false, served = false;
  const std::string failure = as_fake_hub(
      [] {
        auto c = lab::HubClient::connect(lab::Backend::kShm, grader::deadline(10'000ms));
        // 200 frames of 4 KiB: more than the 256 KiB ring holds
        for (int i = 0; i < 200; ++i) c.publish_async("full", std::string(lab::kMaxPayload, 'f'));
      },
      "test.fullring",
      [&](int conn, lab::ShmChannel& ch, const std::atomic<bool>& done) {
        lab::send_fd(conn, ch.fd(), frame(kAck, "", "hub " + std::to_string(::getpid())));
        registered =
            grader::wait_until([&] { return ch.up().take_producer_waiter() || done; }, 10'000ms) &&
            !done;
        if (registered) (void)::send(conn, "w", 1, MSG_NOSIGNAL);  // as a hub would
        // Let it finish: take what it pushed, and wake it whenever it waits for room again.
        std::string got;
        (void)grader::wait_until(
            [&] {
              while (ch.up().try_pop(got)) {
              }
              if (ch.up().take_producer_waiter()) (void)::send(conn, "w", 1, MSG_NOSIGNAL);
              return done.load();
            },
            20'000ms);
      },
      served);
  EXPECT_TRUE(served) << "the client never sent its CONNECT: " << failure;
  EXPECT_TRUE(failure.empty()) << "the shm client failed: " << failure;
  EXPECT_TRUE(registered)
      << "the client filled its up ring and never set producer_waiting (wait_for_room): "
         "it sleeps where no hub would wake it, and only polls";
}

GRADED_TEST(Hidden, MqConnectWithAMissingQueueLeavesNoName, 1,
            "README §Backends — mqueue: a CONNECT whose queues the hub cannot open is dropped, "
            "and both names removed") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  grader::Process a({"sleep", "60"}), b({"sleep", "60"});  // the two clients' pids
  // Client a made its up queue only, client b its down queue only (each died before the
  // other): the hub cannot open both, and removes the one that is there.
  const std::string made[] = {lab::client_mq_name(a.pid(), true),
                              lab::client_mq_name(b.pid(), false)};
  for (const auto& name : made) ipclab::PosixMq::create(name, 2, 64);
  auto req = ipclab::PosixMq::open(lab::hub_mq_name(), O_WRONLY);
  for (const pid_t pid : {a.pid(), b.pid()})
    ASSERT_TRUE(req.send(frame(kConnect, "", "mqueue " + std::to_string(pid)), 0,
                         grader::deadline(10'000ms)));
  for (const auto& name : made) {
    const bool gone = grader::wait_until(
        [&] {
          const mqd_t q = ::mq_open(name.c_str(), O_RDONLY);
          if (q != static_cast<mqd_t>(-1)) ::mq_close(q);
          return q == static_cast<mqd_t>(-1) && errno == ENOENT;
        },
        10'000ms);
    EXPECT_TRUE(gone) << name << " is still there";
    if (!gone) ipclab::PosixMq::unlink(name);
  }
  EXPECT_TRUE(responsive());
}

// mq_open(O_CREAT) made to fail once when armed, for the test below (the client's second
// queue); unarmed, it is glibc's.
namespace {
std::atomic<int> creates_before_failure{-1};
}  // namespace

extern "C" mqd_t mq_open(const char* name, int oflag, ...) {
  mode_t mode = 0;
  mq_attr* attr = nullptr;
  if ((oflag & O_CREAT) != 0) {
    va_list ap;
    va_start(ap, oflag);
    mode = va_arg(ap, mode_t);
    attr = va_arg(ap, mq_attr*);
    va_end(ap);
    if (creates_before_failure.load() >= 0 && creates_before_failure-- == 0) {
      errno = EMFILE;
      return static_cast<mqd_t>(-1);
    }
  }
  using Fn = mqd_t (*)(const char*, int, ...);
  static const auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "mq_open"));
  return (oflag & O_CREAT) != 0 ? real(name, oflag, mode, attr) : real(name, oflag);
}

GRADED_TEST(Hidden, MqClientWhoseSecondQueueFailsRemovesTheFirst, 1,
            "README §Pitfalls 3 — the fourth client's mq_open fails with EMFILE: leave no "
            "queue behind") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  creates_before_failure = 1;  // the client's up queue is made, its down queue is not
  EXPECT_THROW(lab::HubClient::connect(lab::Backend::kMqueue, grader::deadline(10'000ms)),
               std::exception);
  creates_before_failure = -1;
  for (const bool up : {true, false}) {
    const std::string name = lab::client_mq_name(::getpid(), up);
    const mqd_t q = ::mq_open(name.c_str(), O_RDONLY);
    EXPECT_TRUE(q == static_cast<mqd_t>(-1) && errno == ENOENT) << name << " was left behind";
    if (q != static_cast<mqd_t>(-1)) {
      ::mq_close(q);
      ipclab::PosixMq::unlink(name);
    }
  }
}

GRADED_TEST(Hidden, NothingServedAfterAProtocolError, 1,
            "README §Protocol — a frame that breaks the protocol: ERROR, then the hub hangs "
            "up; the frames after it, even in the same read, are not served") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Raw ear;
  ASSERT_TRUE(ear.hello());
  auto sub = ear.request(frame(kSubscribe, "after", ""));
  ASSERT_TRUE(sub && sub->type == kAck);
  const std::string connect = frame(kConnect, "", "socket " + std::to_string(::getpid()));
  const std::string leak = frame(kPublish, "after", "leaked");
  struct Case {
    const char* what;
    std::string bytes;
    std::uint8_t first;  // the answer before the ERROR, 0 for none
  };
  const Case cases[] = {
      {"a DATA from a connected client", connect + frame(kData, "x", "no") + leak, kAck},
      {"a PUBLISH before CONNECT", leak + connect + leak, 0},
  };
  for (const auto& c : cases) {
    Raw bad;
    ASSERT_TRUE(bad.send(c.bytes));  // one write: the hub's read takes it whole
    if (c.first != 0) {
      auto f = bad.read_frame();
      ASSERT_TRUE(f && f->type == c.first) << c.what;
    }
    auto err = bad.read_frame();
    ASSERT_TRUE(err && err->type == kError) << c.what << ": no ERROR";
    EXPECT_TRUE(bad.closed_by_hub()) << c.what << ": the hub did not hang up";
    EXPECT_TRUE(bad.buf.empty()) << c.what << ": the hub answered a frame after its ERROR";
  }
  // The ear's own PUBLISH comes back after anything the bad clients' frames published.
  ASSERT_TRUE(ear.send(frame(kPublish, "after", "mark")));
  auto first = ear.read_frame();
  ASSERT_TRUE(first && first->type == kData);
  EXPECT_EQ(first->payload, "mark") << "a frame after the ERROR was published";
}

GRADED_TEST(Hidden, IdleHubNoticesADeadMqClient, 1,
            "README §Backends — mqueue: the hub looks at the client's pid, even while "
            "nothing else happens") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Sub sub("mqueue", "quiet");
  ASSERT_TRUE(sub.saw("Subscribed to 'quiet'\n"));
  // The hub's descriptors of the client's two queues (the names are gone, the links stay).
  const std::string up = lab::client_mq_name(sub.proc.pid(), true).substr(1);
  const std::string down = lab::client_mq_name(sub.proc.pid(), false).substr(1);
  const auto held = [&] {
    int n = 0;
    for (const int fd : ipclab::open_fds(hub.proc.pid())) {
      const std::string t = ipclab::fd_target(hub.proc.pid(), fd);
      n += t.find(up) != std::string::npos || t.find(down) != std::string::npos ? 1 : 0;
    }
    return n;
  };
  ASSERT_TRUE(grader::wait_until([&] { return held() == 2; }, 10'000ms))
      << "the hub does not hold the client's two queues";
  sub.proc.kill();  // SIGKILL, reaped; the hub hears nothing from anyone after this
  EXPECT_TRUE(grader::wait_until([&] { return held() == 0; }, 5'000ms))
      << "an idle hub kept a dead MQ client (its pid is gone) for 5 s";
}

namespace {

/// A fake FIFO client's two names: true once the hub has opened and removed both (it has
/// decided on the CONNECT).
bool fifo_names_taken(const std::string& up, const std::string& down) {
  return grader::wait_until(
      [&] { return ::access(up.c_str(), F_OK) != 0 && ::access(down.c_str(), F_OK) != 0; },
      10'000ms);
}

/// Reads the down FIFO `fd` into `got` until the hub's first frame header has come or the
/// hub closed its end (`eof`); false at the deadline.
bool read_first_header(int fd, std::string& got, bool& eof) {
  eof = false;
  return grader::wait_until(
      [&] {
        char buf[256];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
        eof = n == 0;
        return eof || got.size() >= 3;
      },
      10'000ms);
}

}  // namespace

GRADED_TEST(Hidden, FifoPairOfAnotherUserOrNotAFifoRefused, 1,
            "README §Pitfalls 5 — the hub opens files named after a pid another process "
            "chose: both must be FIFOs of the hub's uid, or the CONNECT is dropped") {
  namespace lab = ipclab::lab20;
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root, to give a client's FIFO to another user (uid 65534); the "
                    "grader runs as root";
  Hub hub;
  ASSERT_TRUE(hub.ready);
  grader::Process other({"sleep", "60"});  // the live pid the fake clients name
  const pid_t pid = other.pid();
  const std::string up = lab::client_fifo_path(pid, true);
  const std::string down = lab::client_fifo_path(pid, false);
  constexpr uid_t kNobody = 65534;
  struct Case {
    const char* what;
    bool up_is_file;  // a regular file where the up FIFO should be
    uid_t up_uid, down_uid;
  };
  const Case cases[] = {
      {"the up FIFO belongs to another user (uid 65534)", false, kNobody, 0},
      {"the down FIFO belongs to another user (uid 65534)", false, 0, kNobody},
      {"the up name is a regular file of the hub's user, not a FIFO", true, 0, 0},
  };
  const ipclab::Fd req(::open(lab::hub_fifo_path().c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(req.valid());
  for (const auto& c : cases) {
    ipclab::Fd file;
    if (c.up_is_file) file.reset(::open(up.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    ASSERT_TRUE(c.up_is_file ? file.valid() : ::mkfifo(up.c_str(), 0600) == 0) << c.what;
    ASSERT_EQ(::mkfifo(down.c_str(), 0600), 0) << c.what;
    ASSERT_EQ(::chown(up.c_str(), c.up_uid, c.up_uid), 0) << c.what;
    ASSERT_EQ(::chown(down.c_str(), c.down_uid, c.down_uid), 0) << c.what;
    const ipclab::Fd d(::open(down.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    const ipclab::Fd u(c.up_is_file ? -1 : ::open(up.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(d.valid() && (c.up_is_file || u.valid())) << c.what;
    const std::string connect = frame(kConnect, "", "fifo " + std::to_string(pid));
    ASSERT_EQ(::write(req.get(), connect.data(), connect.size()),
              static_cast<ssize_t>(connect.size()));
    // The hub opens both names, then removes them: after that it has decided.
    const bool taken = fifo_names_taken(up, down);
    if (!taken) {
      ::unlink(up.c_str());
      ::unlink(down.c_str());
    }
    ASSERT_TRUE(taken) << c.what << ": the hub did not open and remove the client's names";
    // Refused: the hub closes its end of the down FIFO (a read gives end of file).
    // Taken: it keeps that end open and writes its ACK there.
    std::string got;
    bool eof = false;
    const bool decided = read_first_header(d.get(), got, eof);
    EXPECT_TRUE(decided && eof && got.empty())
        << c.what << ": the hub took this client ("
        << (got.size() >= 3 && static_cast<unsigned char>(got[2]) == kAck
                ? "it answered the CONNECT with an ACK"
                : "it kept its end of the down FIFO open")
        << "); it must check that both are FIFOs of its own uid, and drop the CONNECT";
  }
  EXPECT_TRUE(hub.alive()) << "the hub died on a FIFO pair that is not a client's";
  Sub real("fifo", "ours");
  EXPECT_TRUE(real.saw("Subscribed to 'ours'\n")) << "a real FIFO client afterwards";
  auto r = publish("socket", "ours", "still served\n");
  EXPECT_NE(r.out.find("Published (1 subscriber)"), std::string::npos) << r.describe();
  EXPECT_TRUE(real.saw("[ours] still served\n"));
}

namespace {

/// A raw MQ client of `hub` whose down queue holds one message: the ACK of its CONNECT
/// fills it and is never read, so every later frame for it waits in the hub's queue.
struct DeafMqClient {
  Hub& hub;
  pid_t pid = ::getpid();
  ipclab::PosixMq up, down;
  bool acked = false;
  std::string last;  // the last `myipchub --stats`
  explicit DeafMqClient(Hub& h)
      : hub(h),
        up(ipclab::PosixMq::create(ipclab::lab20::client_mq_name(pid, true), 8,
                                   static_cast<long>(ipclab::lab20::kMaxFrame), O_WRONLY)),
        down(ipclab::PosixMq::create(ipclab::lab20::client_mq_name(pid, false), 1,
                                     static_cast<long>(ipclab::lab20::kMaxFrame), O_RDONLY)) {
    auto req = ipclab::PosixMq::open(ipclab::lab20::hub_mq_name(), O_WRONLY);
    acked = req.send(frame(kConnect, "", "mqueue " + std::to_string(pid)), 0,
                     grader::deadline(10'000ms)) &&
            grader::wait_until([&] { return down.attr().mq_curmsgs == 1; }, 10'000ms);
    ipclab::PosixMq::unlink(up.name());  // the hub removes them when it takes the client
    ipclab::PosixMq::unlink(down.name());
  }
  /// Sends a request (never reading its answer).
  bool send(const std::string& bytes) { return up.send(bytes, 0, grader::deadline(10'000ms)); }
  /// This client's line of `myipchub --stats`; "" once it is not listed.
  std::string stats_line() {
    last = hub.stats();
    const std::string me = " mqueue pid=" + std::to_string(pid) + " ";
    for (const auto& line : lines(last))
      if (line.find(me) != std::string::npos) return line;
    return "";
  }
  /// Its `queued=`; nullopt once it is not listed.
  std::optional<std::size_t> queued() {
    const std::string line = stats_line();
    const auto at = line.find("queued=");
    if (at == std::string::npos) return std::nullopt;
    return std::stoul(line.substr(at + 7));
  }
};

}  // namespace

GRADED_TEST(Hidden, ClientThatReadsNoAnswersHungUpPastItsLimit, 1,
            "README §Pitfalls 9 — a client that does not read its answers: the hub holds at "
            "most 4N+16 frames for it beyond its transport (N the --queue limit), and hangs up "
            "on it at the next answer") {
  constexpr std::size_t kLimit = 2;
  constexpr std::size_t kHeld = 4 * kLimit + 16;  // 24 answers waiting in the hub
  Hub hub({"--queue", std::to_string(kLimit)});
  ASSERT_TRUE(hub.ready);
  DeafMqClient c(hub);
  ASSERT_TRUE(c.acked) << "no answer in the down queue of an MQ client's CONNECT";
  const auto ask = [&] {  // a PUBLISH no one hears: its answer is ACK "0"
    return c.send(frame(kPublish, "nobody", "x"));
  };
  for (std::size_t i = 0; i < kHeld; ++i) ASSERT_TRUE(ask());
  std::optional<std::size_t> q;
  ASSERT_TRUE(grader::wait_until(
      [&] {
        q = c.queued();
        return !q || *q >= kHeld;
      },
      15'000ms))
      << "the hub did not answer " << kHeld << " requests; myipchub --stats:\n"
      << c.last;
  ASSERT_TRUE(q.has_value()) << "with --queue " << kLimit
                             << ", the hub hung up on a client with fewer than " << kHeld
                             << " (4N+16) answers waiting for it; myipchub --stats:\n"
                             << c.last;
  EXPECT_EQ(*q, kHeld) << "a client's " << kHeld << " unread answers (4N+16, --queue " << kLimit
                       << "), all held";
  ASSERT_TRUE(ask());  // answer 4N+17: hang up
  EXPECT_TRUE(grader::wait_until(
      [&] {
        q = c.queued();
        return !q || *q > kHeld;
      },
      15'000ms));
  EXPECT_FALSE(q.has_value()) << "with --queue " << kLimit << ", a client with " << kHeld
                              << " (4N+16) unread answers sent one more request: the hub must "
                                 "hang up on it; myipchub --stats:\n"
                              << c.last;
  EXPECT_TRUE(responsive());
}

GRADED_TEST(Hidden, ClientThatShutsItsReadingSideIsDropped, 1,
            "README §Pitfalls 9 — a write to a client that fails for good (EPIPE: it will "
            "never read again) ends that client; only EAGAIN waits") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Raw r;
  ASSERT_TRUE(r.hello());
  auto ack = r.request(frame(kSubscribe, "deaf", ""));
  ASSERT_TRUE(ack && ack->type == kAck);
  // It reads no more, for good: the hub's next write to it fails with EPIPE.
  ASSERT_EQ(::shutdown(r.fd.get(), SHUT_RD), 0);
  const std::string me = fmt::format(" socket pid={} ", ::getpid());
  std::string st = hub.stats();
  ASSERT_NE(st.find(me), std::string::npos) << st;
  const auto p = publish("socket", "deaf", "to no one\n");
  EXPECT_EQ(p.exit_code(), 0) << p.describe();
  EXPECT_TRUE(grader::wait_until(
      [&] {
        st = hub.stats();
        return st.find(me) == std::string::npos;
      },
      10'000ms))
      << "a client whose socket refuses the hub's writes (EPIPE) is still listed; myipchub "
         "--stats:\n"
      << st;
  EXPECT_TRUE(responsive());
}

GRADED_TEST(Hidden, EmptyMqMessageIsAProtocolError, 1,
            "README §Protocol — a message queue message is exactly one frame: an empty one is "
            "none (ERROR, then the hub hangs up)") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  DeafMqClient c(hub);
  ASSERT_TRUE(c.acked) << "no answer in the down queue of an MQ client's CONNECT";
  ASSERT_TRUE(c.send(""));
  const auto ack = c.down.receive(grader::deadline(10'000ms));  // makes room for the next
  ASSERT_TRUE(ack && ack->data.size() >= 3 && ack->data[2] == char{kAck});
  const auto answer = c.down.receive(grader::deadline(10'000ms));
  ASSERT_TRUE(answer.has_value())
      << "an empty message on an MQ client's up queue got no answer: a message of 0 bytes "
         "(mq_receive returns 0) is no frame, an ERROR";
  EXPECT_TRUE(answer->data.size() >= 3 && answer->data[2] == char{kError})
      << "the answer to an empty message is not an ERROR";
  EXPECT_TRUE(grader::wait_until([&] { return !c.queued().has_value(); }, 10'000ms))
      << "the hub did not hang up on the client after its ERROR; myipchub --stats:\n"
      << c.last;
}

GRADED_TEST(Hidden, SubscriberThatDoesNotReadHasExactlyNFramesHeld, 1,
            "README §Pitfalls 9 — with --queue N the hub holds N frames for a client beyond "
            "its transport: a DATA that finds N held is dropped and counted") {
  constexpr std::size_t kLimit = 4, kSent = 10;
  Hub hub({"--queue", std::to_string(kLimit)});
  ASSERT_TRUE(hub.ready);
  DeafMqClient c(hub);
  ASSERT_TRUE(c.acked) << "no answer in the down queue of an MQ client's CONNECT";
  ASSERT_TRUE(c.send(frame(kSubscribe, "held", "")));
  // The SUBSCRIBE's ACK is held: 1 frame.
  ASSERT_TRUE(grader::wait_until(
      [&] {
        const std::string line = c.stats_line();
        return line.find("channels=held ") != std::string::npos &&
               line.find(" queued=1") != std::string::npos;
      },
      15'000ms))
      << "the hub holds the ACK of the SUBSCRIBE of a client whose queue is full; myipchub "
         "--stats:\n"
      << c.last;
  std::string input;
  for (std::size_t k = 0; k < kSent; ++k) input += fmt::format("m{}\n", k);
  const auto r = publish("socket", "held", input);
  EXPECT_EQ(r.exit_code(), 0) << r.describe();
  // Held: the ACK and N - 1 DATA; the rest dropped. Received: its CONNECT and SUBSCRIBE.
  const std::string want =
      fmt::format("received=2 dropped={} queued={}", kSent - (kLimit - 1), kLimit);
  EXPECT_TRUE(
      grader::wait_until([&] { return c.stats_line().find(want) != std::string::npos; }, 15'000ms))
      << "with --queue " << kLimit << ", a client with 1 answer held and " << kSent
      << " DATA for it: `" << want << "` expected; myipchub --stats:\n"
      << c.last;
}

GRADED_TEST(Hidden, SocketPublisherOfAKilledHubSaysItLostTheHub, 1,
            "README §Programs — exit 3 when the hub died, saying `error: lost the hub: ...`; "
            "a write to the hub's closed socket fails with EPIPE") {
  {
    Hub hub;
    ASSERT_TRUE(hub.ready);
    grader::Process pub(
        {"myipcpub", "--backend", "socket", "--channel", "gone", "--timeout", "10"});
    ASSERT_TRUE(pub.wait_for_output("Publishing to 'gone' channel...\n", 15'000ms))
        << pub.finish().describe();
    hub.proc.kill();  // SIGKILL, reaped: its end of the socket is closed
    pub.write("anyone?\n");
    const auto st = pub.wait(15'000ms);
    ASSERT_TRUE(st.has_value()) << "myipcpub still runs after its hub died and it published";
    EXPECT_EQ(st->exit_code(), 3) << pub.err();
    EXPECT_NE(pub.err().find("error: lost the hub"), std::string::npos)
        << "a publisher whose write to the hub's socket fails (EPIPE: the hub is gone) must "
           "say `error: lost the hub: ...`; it printed:\n"
        << pub.err();
  }
  Hub again;  // replaces the killed hub's leftovers, and removes them when it stops
  EXPECT_TRUE(again.ready);
}

GRADED_TEST(Hidden, DeadMqClientTakesNoLiveOneWithIt, 1,
            "README §Backends — the hub looks at each FIFO or MQ client's pid: only the dead "
            "one's is gone (kill(pid, 0) succeeds for a live one; errno then means nothing)") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Sub dies("mqueue", "first");  // connected first: the hub looks at its pid first
  ASSERT_TRUE(dies.saw("Subscribed to 'first'\n"));
  Sub lives("mqueue", "second");
  ASSERT_TRUE(lives.saw("Subscribed to 'second'\n"));
  Sub fifo("fifo", "second");
  ASSERT_TRUE(fifo.saw("Subscribed to 'second'\n"));
  const std::string gone = "pid=" + std::to_string(dies.proc.pid()) + " ";
  dies.proc.kill();  // SIGKILL, reaped
  std::string last;
  ASSERT_TRUE(grader::wait_until(
      [&] {
        last = hub.stats();
        return last.find(gone) == std::string::npos;
      },
      10'000ms))
      << "the hub kept a dead MQ client for 10 s; myipchub --stats:\n"
      << last;
  auto r = publish("socket", "second", "still here\n");
  EXPECT_NE(r.out.find("Published (2 subscribers)"), std::string::npos)
      << "after a dead MQ client was dropped, the live MQ and FIFO clients must still be "
         "subscribed\n"
      << r.describe() << "\nmyipchub --stats before:\n"
      << last;
  EXPECT_TRUE(lives.saw("[second] still here\n"));
  EXPECT_TRUE(fifo.saw("[second] still here\n"));
}

GRADED_TEST(Hidden, NoHubEverStartedIsAnErrorAtTheTimeout, 1,
            "README §Programs — a client waits for a hub at most --timeout seconds, on every "
            "backend, then exits 3") {
  // No hub has ever run in this namespace: no socket, no FIFO, no queue, no leftovers. A
  // client that retries the missing name must still give up at its deadline.
  for (const auto& b : kDirectBackends) {
    const auto r =
        grader::run({"myipcpub", "--backend", b, "--channel", "nobody", "--timeout", "0.5"},
                    {.input = "anyone?\n", .timeout = 10'000ms});
    ASSERT_FALSE(r.timed_out) << b << ": myipcpub --timeout 0.5 with no hub still waits after 10 s";
    EXPECT_EQ(r.exit_code(), 3) << b << ": " << r.describe();
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << b << ": " << r.err;
  }
}

namespace {

/// The bytes of `frame` from `from` on, as the pieces a stream may cut them into: the rest
/// of its header, then each byte after it.
std::vector<std::string> header_then_bytes(const std::string& frame, std::size_t from) {
  std::vector<std::string> pieces = {frame.substr(from, 8 - from)};
  for (std::size_t i = 8; i < frame.size(); ++i) pieces.push_back(frame.substr(i, 1));
  return pieces;
}

/// Sends each of `pieces` on `conn` once the client has read all that came before (none
/// of it left in the socket: SIOCOUTQ 0). False if the client was `done` first or a send
/// failed.
bool send_each_once_read(int conn, const std::vector<std::string>& pieces,
                         const std::atomic<bool>& done) {
  for (const auto& piece : pieces) {
    int unread = 0;
    if (!grader::wait_until(
            [&] { return (::ioctl(conn, SIOCOUTQ, &unread) == 0 && unread == 0) || done; },
            10'000ms) ||
        done ||
        ::send(conn, piece.data(), piece.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(piece.size()))
      return false;
  }
  return true;
}

}  // namespace

GRADED_TEST(Hidden, ShmConnectAnsweredInPiecesConnects, 1,
            "README §Backends — shm: the ACK that comes with the ring's descriptor may arrive "
            "in pieces: read the rest of its header, then its payload, a byte at a time too") {
  namespace lab = ipclab::lab20;
  // The test is the hub: it answers CONNECT with the ring's descriptor and the ACK's first
  // 3 bytes, then the rest of the header, then the payload one byte at a time, each sent
  // once the client has read the one before. A stream may cut a frame anywhere.
  bool answered = false, served = false;
  const std::string failure = as_fake_hub(
      [] { (void)lab::HubClient::connect(lab::Backend::kShm, grader::deadline(10'000ms)); },
      "test.split",
      [&](int conn, lab::ShmChannel& ch, const std::atomic<bool>& done) {
        const std::string ack = frame(kAck, "", "hub " + std::to_string(::getpid()));
        lab::send_fd(conn, ch.fd(), ack.substr(0, 3));
        answered = send_each_once_read(conn, header_then_bytes(ack, 3), done);
        (void)grader::wait_until([&] { return done.load(); }, 10'000ms);
      },
      served);
  ASSERT_TRUE(served) << "the client never sent its CONNECT: " << failure;
  EXPECT_TRUE(failure.empty()) << "an ACK in pieces (3 bytes with the descriptor, the rest of "
                                  "the header, then its payload a byte at a time) must "
                                  "connect: "
                               << failure;
  EXPECT_TRUE(answered || !failure.empty()) << "the client stopped reading before the last piece";
}

GRADED_TEST(Hidden, ShmHubThatHangsUpInItsAnswerIsGone, 1,
            "README §Pitfalls 4 — a hub that closes the connection mid-frame is gone: a read "
            "of 0 bytes is end of file, never a frame to wait for") {
  namespace lab = ipclab::lab20;
  // The test is the hub: it sends the start of its answer to CONNECT and hangs up. The
  // client must say the hub is gone, before its deadline.
  struct Case {
    const char* what;
    bool with_ring;  // the ring's descriptor comes with the bytes (an ACK), or not (ERROR)
    std::string bytes;
  };
  const std::string ack = frame(kAck, "", "hub " + std::to_string(::getpid()));
  const std::string error = frame(kError, "", "too many clients (max 1)");
  for (const Case& c :
       {Case{"an ACK cut 2 bytes into its payload", true, ack.substr(0, 10)},
        Case{"an ERROR cut 3 bytes into its header", false, error.substr(0, 3)},
        Case{"an ERROR cut 2 bytes into its payload", false, error.substr(0, 10)}}) {
    grader::Child child(
        [&c] {
          bool served = false;
          const std::string failure = as_fake_hub(
              [] { (void)lab::HubClient::connect(lab::Backend::kShm, grader::deadline(5'000ms)); },
              "test.cut",
              [&](int conn, lab::ShmChannel& ch, const std::atomic<bool>&) {
                if (c.with_ring)
                  lab::send_fd(conn, ch.fd(), c.bytes);
                else
                  (void)::send(conn, c.bytes.data(), c.bytes.size(), MSG_NOSIGNAL);
              },
              served);
          ASSERT_TRUE(served) << "the client never sent its CONNECT: " << failure;
          EXPECT_NE(failure.find("lost the hub"), std::string::npos)
              << c.what << ", then a hang-up: connect must throw hub_gone(); it said: `" << failure
              << "`";
        },
        fmt::format("HubClient::connect(kShm) against a hub that hangs up: {}", c.what));
    const auto r = child.finish(10'000ms);
    EXPECT_TRUE(r.passed()) << r.describe()
                            << (r.timed_out ? "\n(connect never returned: a read of 0 bytes is "
                                              "end of file; it spun on it)"
                                            : "");
  }
}

GRADED_TEST(Hidden, HubThatResetsTheConnectionIsGone, 1,
            "README §Pitfalls 4 — a hub that dies with a client's request unread resets the "
            "connection (ECONNRESET): the hub is gone, as at end of file") {
  namespace lab = ipclab::lab20;
  // The test is the hub of one socket client: it ACKs the CONNECT, lets the SUBSCRIBE
  // come, and closes the connection without reading it: the client's read fails with
  // ECONNRESET, and the client must say it lost the hub.
  bool served = false, reset = false;
  const std::string failure = as_fake_socket_hub(
      [] {
        auto c = lab::HubClient::connect(lab::Backend::kSocket, grader::deadline(10'000ms));
        c.subscribe("x", grader::deadline(10'000ms));
      },
      [&](Raw& hub_end, const std::atomic<bool>& done) {
        int unread = 0;
        reset =
            hub_end.send(frame(kAck, "", "hub " + std::to_string(::getpid()))) &&
            grader::wait_until(
                [&] {
                  return (::ioctl(hub_end.fd.get(), FIONREAD, &unread) == 0 && unread > 0) || done;
                },
                10'000ms) &&
            !done;
      },  // then closed, the SUBSCRIBE unread
      served);
  ASSERT_TRUE(served && reset) << "the client sent no CONNECT, or no SUBSCRIBE after the ACK: "
                               << failure;
  EXPECT_NE(failure.find("lost the hub"), std::string::npos)
      << "the hub reset the connection (ECONNRESET): the client must throw hub_gone(); it "
         "said: `"
      << failure << "`";
}

GRADED_TEST(Hidden, AnAckNoRequestAwaitsIsNoPublishAnswered, 1,
            "README §Protocol — an ACK answers one request: one that no publish_async "
            "awaits counts for none") {
  namespace lab = ipclab::lab20;
  // The test is the hub: after the CONNECT's ACK it sends a second ACK that answers
  // nothing, then a DATA. The client's next() returns the DATA, and its counters of
  // publish_async answers must not move.
  bool served = false;
  std::optional<lab::Frame> got;
  std::size_t pending = 99, acked = 99;
  const std::string failure = as_fake_socket_hub(
      [&] {
        auto c = lab::HubClient::connect(lab::Backend::kSocket, grader::deadline(10'000ms));
        got = c.next(grader::deadline(10'000ms));
        pending = c.async_pending();
        acked = c.async_acked();
      },
      [&](Raw& hub_end, const std::atomic<bool>& done) {
        (void)hub_end.send(frame(kAck, "", "hub " + std::to_string(::getpid())) +
                           frame(kAck, "", "0") + frame(kData, "news", "hello"));
        (void)grader::wait_until([&] { return done.load(); }, 10'000ms);
      },
      served);
  ASSERT_TRUE(served) << "the client sent no CONNECT: " << failure;
  ASSERT_EQ(failure, "");
  ASSERT_TRUE(got.has_value()) << "next() returned nothing: the DATA after the stray ACK";
  EXPECT_EQ(got->payload, "hello");
  EXPECT_EQ(pending, 0u) << "async_pending() after an ACK no publish_async awaited";
  EXPECT_EQ(acked, 0u) << "async_acked() after an ACK no publish_async awaited";
}

GRADED_TEST(Hidden, ShmRefusalInPiecesIsReportedWhole, 1,
            "README §Backends — shm: a refusal is an ERROR frame without a descriptor, and "
            "it too may arrive in pieces, a byte at a time") {
  namespace lab = ipclab::lab20;
  // The test is the hub: it refuses the CONNECT with an ERROR whose first 3 bytes come
  // alone (no descriptor), then the rest of the header, then the payload a byte at a
  // time, each piece once the client has read the one before.
  bool served = false, answered = false;
  const std::string failure = as_fake_hub(
      [] { (void)lab::HubClient::connect(lab::Backend::kShm, grader::deadline(10'000ms)); },
      "test.refused",
      [&](int conn, lab::ShmChannel&, const std::atomic<bool>& done) {
        const std::string error = frame(kError, "", "too many clients (max 1)");
        std::vector<std::string> pieces = {error.substr(0, 3)};
        for (auto& piece : header_then_bytes(error, 3)) pieces.push_back(std::move(piece));
        answered = send_each_once_read(conn, pieces, done);
        (void)grader::wait_until([&] { return done.load(); }, 10'000ms);
      },
      served);
  ASSERT_TRUE(served) << "the client never sent its CONNECT: " << failure;
  EXPECT_EQ(failure, "hub: too many clients (max 1)")
      << "an ERROR in pieces (3 bytes, the rest of the header, then its payload a byte at a "
         "time) must be reported whole"
      << (answered ? "" : " (the client stopped reading before the last piece)");
}

GRADED_TEST(Hidden, WithoutMessageQueuesTheHubServesTheRest, 2,
            "README §Pitfalls 6 — no POSIX MQ support (mq_open: ENOSYS): the hub serves the "
            "other backends, and never looks at a queue it does not have") {
  if (!grader::seccomp_filters_work()) GTEST_SKIP() << "seccomp filters are not available here";
  // From here on this test process and every program it starts run on a kernel without
  // POSIX message queues: mq_open fails with ENOSYS. The hub's stdin is /dev/null, which
  // is always readable: a hub that polled descriptor 0 in place of the queue it lacks would
  // wake at once, every round.
  ASSERT_TRUE(grader::SyscallDenial({SYS_mq_open}, ENOSYS).install());
  grader::Process hub({"myipchub"}, {.stdin_pipe = false});
  ASSERT_TRUE(hub.wait_for_output("Listening for connections...\n", 15'000ms))
      << "myipchub without MQ support must still start:\n"
      << hub.finish().describe();
  EXPECT_EQ(hub.out().find("mqueue"), std::string::npos)
      << "the banner offers no mqueue backend here:\n"
      << hub.out();
  Sub sub("socket", "nomq");
  ASSERT_TRUE(sub.saw("Subscribed to 'nomq'\n"));
  const double before = grader::cpu_seconds(hub.pid());
  const auto start = std::chrono::steady_clock::now();
  grader::wait_until([&] { return std::chrono::steady_clock::now() - start > 1'000ms; }, 2'000ms);
  const double used = grader::cpu_seconds(hub.pid()) - before;
  EXPECT_LT(used, 0.2) << "an idle myipchub without MQ support used " << used
                       << " s of CPU in one second: it spins";
  const auto fifo = publish("fifo", "nomq", "no queues needed\n");
  EXPECT_EQ(fifo.exit_code(), 0) << fifo.describe();
  EXPECT_TRUE(sub.saw("[nomq] no queues needed\n"));
  // A client of the mqueue backend says what is missing, at once: not "is a hub running?".
  const auto mq = grader::run(
      {"myipcpub", "--backend", "mqueue", "--channel", "nomq", "--timeout", "30", "--message", "x"},
      {.timeout = 10'000ms});
  EXPECT_FALSE(mq.timed_out) << "an mqueue client waited for a hub on a kernel without MQs";
  EXPECT_EQ(mq.exit_code(), 3) << mq.describe();
  EXPECT_NE(mq.err.find("not available"), std::string::npos)
      << "the error must say POSIX message queues are not available here: " << mq.err;
  hub.signal(SIGTERM);
  const auto r = hub.finish(10'000ms);
  EXPECT_EQ(r.exit_code(), 0) << r.describe();
}

GRADED_TEST(Hidden, StoppedStreamSubscribersGetEveryFrameWhole, 2,
            "README §Pitfalls 9 — a partial write leaves the rest of its frame for the next "
            "write: resume where it stopped, then the frames after it") {
  // Two stream subscribers (socket, FIFO) are stopped while 600 frames of about 1 KB come:
  // their socket buffer and pipe fill up, and the hub's writes to them end mid-frame. Once
  // they read again, every frame must arrive whole and in order.
  Hub hub({"--queue", "2000"});
  ASSERT_TRUE(hub.ready);
  std::vector<std::unique_ptr<Sub>> subs;
  for (const std::string b : {"socket", "fifo"}) {
    subs.push_back(std::make_unique<Sub>(b, "part", std::vector<std::string>{"--count", "600"}));
    ASSERT_TRUE(subs.back()->saw("Subscribed to 'part'\n"));
    subs.back()->proc.signal(SIGSTOP);
  }
  const std::string pad(1000, 'y');
  std::string input;
  for (int k = 0; k < 600; ++k) input += fmt::format("{:03} {}\n", k, pad);
  const auto r = publish("socket", "part", input);
  EXPECT_EQ(r.exit_code(), 0) << r.describe();
  for (auto& s : subs) {
    s->proc.signal(SIGCONT);
    ASSERT_TRUE(s->saw(fmt::format("[part] 599 {}\n", pad), 20'000ms));
    int want = 0;
    for (const auto& l : lines(s->out())) {
      if (l.rfind("[part] ", 0) != 0) continue;
      ASSERT_EQ(l, fmt::format("[part] {:03} {}", want, pad))
          << s->backend << ": message " << want << " after the subscriber resumed";
      ++want;
    }
    EXPECT_EQ(want, 600) << s->backend;
  }
}

namespace {

/// A FIFO client the test plays for the live process `pid`: its up and down FIFOs made
/// and opened (the down end for reading, the up one read-write, as a client that keeps it).
struct FakeFifoClient {
  std::string up, down;
  ipclab::Fd d, u;
  explicit FakeFifoClient(pid_t pid)
      : up(ipclab::lab20::client_fifo_path(pid, true)),
        down(ipclab::lab20::client_fifo_path(pid, false)) {
    if (::mkfifo(up.c_str(), 0600) == 0 && ::mkfifo(down.c_str(), 0600) == 0) {
      d.reset(::open(down.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
      u.reset(::open(up.c_str(), O_RDWR | O_CLOEXEC));
    }
  }
  ~FakeFifoClient() {
    ::unlink(up.c_str());
    ::unlink(down.c_str());
  }
  bool ready() const { return d.valid() && u.valid(); }
  /// Once the hub has opened and removed both names (before that, a read of the down FIFO
  /// with no writer says end of file), reads it until the hub's first frame header has come
  /// (true: an ACK), or end of file.
  bool acked(std::string& got) {
    bool eof = false;
    return fifo_names_taken(up, down) && read_first_header(d.get(), got, eof) && got.size() >= 3 &&
           static_cast<unsigned char>(got[2]) == kAck;
  }
};

}  // namespace

GRADED_TEST(Hidden, FifoConnectWrittenByteByByteIsServed, 1,
            "README §Protocol — the request FIFO is a stream: a read of any size, one byte too, "
            "is part of a frame") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  FakeFifoClient c(::getpid());
  ASSERT_TRUE(c.ready()) << std::strerror(errno);
  const ipclab::Fd req(::open(lab::hub_fifo_path().c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(req.valid());
  // One byte at a time, each taken by the hub (the FIFO empty again) before the next.
  const std::string connect = frame(kConnect, "", "fifo " + std::to_string(::getpid()));
  for (std::size_t i = 0; i < connect.size(); ++i) {
    ASSERT_EQ(::write(req.get(), &connect[i], 1), 1);
    int left = 1;
    ASSERT_TRUE(grader::wait_until(
        [&] { return ::ioctl(req.get(), FIONREAD, &left) == 0 && left == 0; }, 10'000ms))
        << "the hub did not read byte " << i << " of the CONNECT";
  }
  std::string got;
  EXPECT_TRUE(c.acked(got)) << "a CONNECT written one byte at a time got no ACK (got " << got.size()
                            << " bytes)";
}

GRADED_TEST(Hidden, WriteEndingOneByteIntoAFrameResumesAtThatByte, 1,
            "README §Pitfalls 9 — a partial write leaves the rest of its frame for the next "
            "write: resume at the byte where it stopped, even one byte in") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  // The test is a FIFO subscriber that lets its down FIFO fill with frames of 4095 bytes,
  // then reads 4096 bytes at a time, each time waiting for the hub to fill the pipe again.
  // A pipe takes a write in pages: each read frees one page, and the hub's next write puts
  // 4096 bytes there, one frame and the first byte of the next.
  constexpr std::size_t kFrame = 4095, kCount = 24;
  FakeFifoClient c(::getpid());
  ASSERT_TRUE(c.ready()) << std::strerror(errno);
  const ipclab::Fd req(::open(lab::hub_fifo_path().c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(req.valid());
  const std::string connect = frame(kConnect, "", "fifo " + std::to_string(::getpid()));
  ASSERT_EQ(::write(req.get(), connect.data(), connect.size()),
            static_cast<ssize_t>(connect.size()));
  std::string got;
  ASSERT_TRUE(c.acked(got)) << "the fake FIFO client was not taken: got " << got.size() << " bytes";
  const int fd = c.d.get();
  // A write end of our own, to see when the pipe is full (no POLLOUT).
  const ipclab::Fd full_probe(
      ::open(fmt::format("/proc/self/fd/{}", fd).c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(full_probe.valid()) << std::strerror(errno);
  Raw down(std::move(c.d));
  down.buf = got;
  auto ack = down.read_frame();
  ASSERT_TRUE(ack && ack->type == kAck);
  const std::string subscribe = frame(kSubscribe, "p", "");
  ASSERT_EQ(::write(c.u.get(), subscribe.data(), subscribe.size()),
            static_cast<ssize_t>(subscribe.size()));
  ack = down.read_frame();
  ASSERT_TRUE(ack && ack->type == kAck) << "SUBSCRIBE p over the up FIFO got no ACK";
  ASSERT_TRUE(down.buf.empty());
  const auto payload = [](std::size_t k) {
    return fmt::format("{:02} ", k) + std::string(kFrame - 8 - 1 - 3, 'z');
  };
  std::string input;
  for (std::size_t k = 0; k < kCount; ++k) input += payload(k) + "\n";
  const auto r = publish("socket", "p", input);
  ASSERT_EQ(r.exit_code(), 0) << r.describe();
  const std::size_t total = kFrame * kCount;
  std::string& bytes = down.buf;
  while (bytes.size() < total) {
    int avail = 0;
    const bool settled = grader::wait_until(
        [&] {
          pollfd p{full_probe.get(), POLLOUT, 0};
          const bool full = ::poll(&p, 1, 0) == 0;
          return ::ioctl(fd, FIONREAD, &avail) == 0 && avail > 0 &&
                 (full || bytes.size() + static_cast<std::size_t>(avail) >= total);
        },
        10'000ms);
    ASSERT_TRUE(settled) << "after " << bytes.size() << " of " << total
                         << " bytes the hub neither filled the down FIFO nor wrote the rest";
    char buf[4096];
    const ssize_t n = ::read(fd, buf, std::min<std::size_t>(sizeof buf, std::size_t(avail)));
    ASSERT_GT(n, 0);
    bytes.append(buf, static_cast<std::size_t>(n));
  }
  for (std::size_t k = 0; k < kCount; ++k) {
    const std::size_t at = k * kFrame;
    auto f = down.read_frame(0ms);
    ASSERT_TRUE(f && f->type == kData && f->channel == "p" && f->payload == payload(k))
        << "frame " << k << " (bytes " << at << " on) is not DATA p \"" << k
        << " zz...\": the hub resumed a write that ended inside a frame at the wrong byte";
  }
  EXPECT_EQ(down.buf, "") << "bytes after the last frame";
}

GRADED_TEST(Hidden, DeadFifoClientWhoseFifoStaysOpenIsDropped, 1,
            "README §Pitfalls 4 — a FIFO client can die without a hang-up (its FIFO held "
            "open elsewhere): look at its pid") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  // The client is `sleep`; the test holds its FIFOs open, so its death closes nothing the
  // hub could see. Only a look at the pid, which the hub's poll must time out for, can tell.
  grader::Process client({"sleep", "60"});
  FakeFifoClient c(client.pid());
  ASSERT_TRUE(c.ready()) << std::strerror(errno);
  const ipclab::Fd req(::open(lab::hub_fifo_path().c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(req.valid());
  const std::string connect = frame(kConnect, "", "fifo " + std::to_string(client.pid()));
  ASSERT_EQ(::write(req.get(), connect.data(), connect.size()),
            static_cast<ssize_t>(connect.size()));
  std::string got;
  ASSERT_TRUE(c.acked(got)) << "the fake FIFO client was not taken: got " << got.size()
                            << " bytes; the hub said:\n"
                            << hub.proc.out() << hub.proc.err();
  client.kill();  // dead and reaped; its FIFOs stay open in this test
  bool eof = false;
  EXPECT_TRUE(grader::wait_until(
      [&] {
        char buf[4096];
        const ssize_t n = ::read(c.d.get(), buf, sizeof buf);
        eof = n == 0;
        return eof;
      },
      10'000ms))
      << "the hub still holds the down FIFO of a FIFO client whose pid is gone, 10 s later";
}

GRADED_TEST(Hidden, SubscriberThatHungUpInTheSameRoundIsNotCounted, 1,
            "README §Protocol — PUBLISH is answered with the number of live subscribers that "
            "got it: one whose hang-up came in the same round is not one") {
  // The hub is stopped while a subscriber hangs up and a PUBLISH comes, so that one round
  // of its loop sees both: the subscriber first (it connected first), then the PUBLISH.
  Hub hub;
  ASSERT_TRUE(hub.ready);
  auto sub = std::make_unique<Raw>();
  ASSERT_TRUE(sub->hello());
  auto ack = sub->request(frame(kSubscribe, "round", ""));
  ASSERT_TRUE(ack && ack->type == kAck);
  Raw pub;
  ASSERT_TRUE(pub.hello());
  hub.proc.signal(SIGSTOP);
  ASSERT_TRUE(
      grader::wait_until([&] { return ipclab::process_state(hub.proc.pid()) == 'T'; }, 5'000ms));
  sub.reset();  // its hang-up waits for the hub
  ASSERT_TRUE(pub.send(frame(kPublish, "round", "to nobody")));
  hub.proc.signal(SIGCONT);
  const auto answer = pub.read_frame();
  ASSERT_TRUE(answer.has_value()) << "no answer to the PUBLISH";
  EXPECT_EQ(answer->type, kAck);
  EXPECT_EQ(answer->payload, "0")
      << "the only subscriber had hung up when the PUBLISH was handled: 0 got it";
}

GRADED_TEST(Hidden, AFloodIsCutPastMaxClientsPlus64, 1,
            "README §Protocol — at most --max-clients + 64 connections at once: past that a "
            "newcomer is closed unanswered; below it, CONNECT gets ACK or ERROR") {
  // --max-clients 1 and 64 connections that never CONNECT: 65 are allowed, so the 65th
  // connection is still answered (ACK: nobody has connected), and the 66th is closed
  // without a word.
  Hub hub({"--max-clients", "1"});
  ASSERT_TRUE(hub.ready);
  const std::size_t base = ipclab::open_fds(hub.proc.pid()).size();
  std::vector<std::unique_ptr<Raw>> flood;
  for (int i = 0; i < 64; ++i) flood.push_back(std::make_unique<Raw>());
  ASSERT_TRUE(grader::wait_until(
      [&] { return ipclab::open_fds(hub.proc.pid()).size() >= base + 64; }, 10'000ms))
      << "the hub did not accept the 64 silent connections";
  Raw within;
  EXPECT_TRUE(within.hello()) << "the 65th connection (max-clients 1 + 64) must be served";
  Raw past;
  // Closed already (the send fails with EPIPE), or soon: either way, no answer.
  const bool sent = past.send(frame(kConnect, "", "socket " + std::to_string(::getpid())));
  const auto f = sent ? past.read_frame() : std::nullopt;
  EXPECT_FALSE(f.has_value()) << "the 66th connection must be closed unanswered, got a frame of "
                                 "type "
                              << (f ? int{f->type} : 0);
}

GRADED_TEST(Hidden, OneAsyncAnswerIsNotTakenForTheNextReply, 1,
            "README §Programs — publish_async's ACK comes first; a request after it waits for "
            "its own answer") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  Sub one("socket", "one");
  ASSERT_TRUE(one.saw("Subscribed to 'one'\n"));
  auto c = lab::HubClient::connect(lab::Backend::kSocket, grader::deadline(10'000ms));
  c.publish_async("nobody", "first");  // answered ACK "0", before the next request's ACK
  EXPECT_EQ(c.publish("one", "second", grader::deadline(10'000ms)), 1u)
      << "the PUBLISH to 'one' (1 subscriber) took the answer of the one publish_async before "
         "it (0 subscribers)";
  EXPECT_EQ(c.async_acked(), 1u);
  EXPECT_EQ(c.async_pending(), 0u);
}

GRADED_TEST(Hidden, FifoClientMakesItsFifosWithMode0600, 1,
            "README §Pitfalls 5 — create FIFOs with mode 0600") {
  namespace lab = ipclab::lab20;
  // The test is the hub: it holds the lock and the request FIFO, reads the client's
  // CONNECT, looks at the two FIFOs the client made, and never answers.
  auto lock = ipclab::InstanceLock::acquire(lab::kHubLockName);
  ::unlink(lab::hub_fifo_path().c_str());
  ASSERT_EQ(::mkfifo(lab::hub_fifo_path().c_str(), 0600), 0);
  const ipclab::Fd req(::open(lab::hub_fifo_path().c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(req.valid());
  std::thread client([] {
    try {
      (void)lab::HubClient::connect(lab::Backend::kFifo, grader::deadline(3'000ms));
    } catch (const std::exception&) {  // no answer: expected
    }
  });
  int left = 0;
  const bool asked = grader::wait_until(
      [&] { return ::ioctl(req.get(), FIONREAD, &left) == 0 && left > 0; }, 10'000ms);
  struct stat up {
  }, down{};
  const bool made = asked && ::stat(lab::client_fifo_path(::getpid(), true).c_str(), &up) == 0 &&
                    ::stat(lab::client_fifo_path(::getpid(), false).c_str(), &down) == 0;
  client.join();
  ::unlink(lab::hub_fifo_path().c_str());
  ASSERT_TRUE(asked) << "the FIFO client sent no CONNECT";
  ASSERT_TRUE(made) << "the client's FIFOs were not there when its CONNECT came";
  EXPECT_EQ(up.st_mode & 07777, 0600u) << "the up FIFO";
  EXPECT_EQ(down.st_mode & 07777, 0600u) << "the down FIFO";
}

GRADED_TEST(Hidden, HubMakesItsRequestFifoWithMode0600, 1,
            "README §Pitfalls 5 — create FIFOs with mode 0600") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  struct stat st {};
  ASSERT_EQ(::stat(lab::hub_fifo_path().c_str(), &st), 0) << lab::hub_fifo_path();
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << lab::hub_fifo_path() << " is not a FIFO";
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "the hub's request FIFO " << lab::hub_fifo_path();
}

GRADED_TEST(Hidden, FifoClientOnDescriptorZeroConnects, 1,
            "README §Backends — any descriptor open returns is the one asked for, 0 included") {
  namespace lab = ipclab::lab20;
  // A client whose stdin is closed gets descriptor 0 for the request FIFO. The test is the
  // hub: it holds the lock and keeps the request FIFO away (the client retries while it is
  // not there) until descriptor 0 is free, then renames it into place, its reader open.
  grader::Child child(
      [] {
        auto lock = ipclab::InstanceLock::acquire(lab::kHubLockName);
        const std::string fifo = lab::hub_fifo_path(), staged = fifo + ".staged";
        ::unlink(fifo.c_str());
        ASSERT_EQ(::mkfifo(staged.c_str(), 0600), 0);
        const ipclab::Fd req(::open(staged.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
        ASSERT_TRUE(req.valid());
        std::atomic<bool> done{false};
        std::string failure;
        std::thread client([&] {
          try {
            (void)lab::HubClient::connect(lab::Backend::kFifo, grader::deadline(10'000ms));
          } catch (const std::exception& e) {
            failure = e.what();
          }
          done = true;
        });
        const std::string up = lab::client_fifo_path(::getpid(), true);
        const std::string down = lab::client_fifo_path(::getpid(), false);
        // Its FIFOs made and opened: it is retrying the request FIFO now.
        const bool waiting = grader::wait_until(
            [&] {
              for (const int fd : ipclab::open_fds())
                if (ipclab::fd_target(0, fd) == up) return true;
              return done.load();
            },
            10'000ms);
        ::close(0);
        ASSERT_EQ(::rename(staged.c_str(), fifo.c_str()), 0);
        std::string got;
        const bool asked = waiting && grader::wait_until(
                                          [&] {
                                            char buf[256];
                                            const ssize_t n = ::read(req.get(), buf, sizeof buf);
                                            if (n > 0) got.append(buf, std::size_t(n));
                                            return got.size() >= 8 || done;
                                          },
                                          10'000ms);
        if (asked) {  // answer, as a hub would: ACK on its down FIFO
          const ipclab::Fd d(::open(down.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
          const std::string ack = frame(kAck, "", "hub " + std::to_string(::getpid()));
          (void)!::write(d.get(), ack.data(), ack.size());
        }
        client.join();
        std::vector<std::string> left;  // the client's descriptors still open
        for (const int fd : ipclab::open_fds()) {
          if (fd == req.get()) continue;  // the hub's end, the test's
          const std::string t = ipclab::fd_target(0, fd);
          if (t.starts_with(fifo) || t.starts_with(up) || t.starts_with(down))  // or (deleted)
            left.push_back(fmt::format("{} -> {}", fd, t));
        }
        ::unlink(fifo.c_str());
        ASSERT_TRUE(waiting) << "the client never opened its FIFOs: " << failure;
        EXPECT_TRUE(asked) << "no CONNECT came on the request FIFO opened as descriptor 0";
        EXPECT_EQ(failure, "") << "the client with descriptor 0 free failed";
        EXPECT_TRUE(left.empty()) << "descriptors of the client left open once it was gone: "
                                  << fmt::format("{}", fmt::join(left, ", "));
      },
      "HubClient::connect(kFifo) with stdin closed");
  const auto r = child.finish(30'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}

GRADED_TEST(Hidden, ClientsStartedBeforeTheHubWaitForIt, 1,
            "README §Programs — a client waits up to --timeout for a hub that is not there "
            "yet, on every backend") {
  std::vector<std::unique_ptr<Sub>> subs;
  for (const auto& b : kDirectBackends) subs.push_back(std::make_unique<Sub>(b, "early"));
  // Each is retrying (asleep between tries) before the hub exists.
  for (auto& s : subs)
    ASSERT_TRUE(grader::wait_until(
        [&] { return ipclab::process_state(s->proc.pid()) == 'S' || !s->proc.running(); },
        5'000ms));
  for (auto& s : subs)
    ASSERT_TRUE(s->proc.running()) << s->backend << ": myipcsub --timeout 10 gave up before a "
                                   << "hub started: " << s->proc.err();
  Hub hub;
  ASSERT_TRUE(hub.ready);
  for (auto& s : subs) EXPECT_TRUE(s->saw("Subscribed to 'early'\n")) << s->backend;
}

GRADED_TEST(Hidden, RequestFifoTakesOnlyFifoConnects, 1,
            "README §Protocol — the request FIFO carries CONNECT \"fifo PID\" only; any pid "
            "above 0 is one, 1 too") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  // A FIFO pair for this test's pid, which a CONNECT of another backend must not take, and
  // one for pid 1 (init: alive), which a CONNECT "fifo 1" must.
  FakeFifoClient mine(::getpid()), init(1);
  ASSERT_TRUE(mine.ready() && init.ready()) << std::strerror(errno);
  const ipclab::Fd req(::open(lab::hub_fifo_path().c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(req.valid());
  const std::string pid = std::to_string(::getpid());
  std::string bytes = frame(kPublish, "x", "not a CONNECT") + frame(kConnect, "", "socket " + pid) +
                      frame(kConnect, "", "mqueue " + pid) + frame(kConnect, "", "fifo 1");
  ASSERT_EQ(::write(req.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  std::string got;
  EXPECT_TRUE(init.acked(got)) << "CONNECT \"fifo 1\" got no ACK (got " << got.size()
                               << " bytes): pid 1 is a pid like any other";
  EXPECT_EQ(::access(mine.up.c_str(), F_OK), 0)
      << "a CONNECT \"socket PID\" on the request FIFO opened that pid's FIFO pair";
  EXPECT_TRUE(hub.alive());
}

GRADED_TEST(Hidden, RequestQueueTakesOnlyMqueueConnects, 1,
            "README §Protocol — the hub's queue carries CONNECT \"mqueue PID\" only; any "
            "other message there is dropped") {
  namespace lab = ipclab::lab20;
  Hub hub;
  ASSERT_TRUE(hub.ready);
  // Queue pairs for this test's pid, which a message of another kind or a CONNECT of
  // another backend must not take, and for pid 1 (init: alive), which "mqueue 1" must.
  const long size = static_cast<long>(lab::kMaxFrame);
  struct Pair {
    ipclab::PosixMq up, down;
    explicit Pair(pid_t pid, long size)
        : up(ipclab::PosixMq::create(lab::client_mq_name(pid, true), 8, size, O_WRONLY)),
          down(ipclab::PosixMq::create(lab::client_mq_name(pid, false), 8, size, O_RDONLY)) {}
    ~Pair() {
      ipclab::PosixMq::unlink(up.name());
      ipclab::PosixMq::unlink(down.name());
    }
  };
  Pair mine(::getpid(), size), init(1, size);
  auto req = ipclab::PosixMq::open(lab::hub_mq_name(), O_WRONLY);
  const std::string pid = std::to_string(::getpid());
  for (const std::string& m :
       {frame(kPublish, "x", "not a CONNECT"), frame(kConnect, "", "socket " + pid),
        frame(kConnect, "", "fifo " + pid), frame(kConnect, "", "mqueue 1")})
    ASSERT_TRUE(req.send(m, 0, grader::deadline(10'000ms)));
  // One queue, taken in order: once pid 1 has its ACK, the three before it were read.
  EXPECT_TRUE(grader::wait_until([&] { return init.down.attr().mq_curmsgs == 1; }, 10'000ms))
      << "CONNECT \"mqueue 1\" got no ACK: pid 1 is a pid like any other";
  EXPECT_EQ(mine.down.attr().mq_curmsgs, 0)
      << "a message on the hub's queue that is not CONNECT \"mqueue PID\" made this pid a "
         "client (an answer came in its down queue)";
  EXPECT_NO_THROW((void)ipclab::PosixMq::open(lab::client_mq_name(::getpid(), true), O_RDONLY))
      << "a message on the hub's queue that is not CONNECT \"mqueue PID\" took this pid's "
         "queues (their names are gone)";
  EXPECT_TRUE(hub.alive());
}

namespace {

/// A shm client by hand: CONNECT "shm PID" on a raw socket, the ring's descriptor taken
/// and the whole ACK read; `ch` is empty if any of it failed.
struct RawShmClient {
  Raw ctl;
  std::optional<ipclab::lab20::ShmChannel> ch;
  RawShmClient() {
    namespace lab = ipclab::lab20;
    if (!ctl.send(frame(kConnect, "", "shm " + std::to_string(::getpid())))) return;
    pollfd p{ctl.fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 10'000) != 1) return;
    std::string head;
    ipclab::Fd ring_fd = lab::recv_fd(ctl.fd.get(), head, lab::kHeaderSize);
    const auto whole = [&] {  // the ACK's header, and its payload after it
      std::uint32_t len = 0;
      if (head.size() >= lab::kHeaderSize) std::memcpy(&len, head.data() + 4, sizeof len);
      return head.size() >= lab::kHeaderSize && head.size() >= lab::kHeaderSize + len;
    };
    if (!grader::wait_until(
            [&] {
              char buf[256];
              const ssize_t n = ::recv(ctl.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
              if (n > 0) head.append(buf, static_cast<std::size_t>(n));
              return whole();
            },
            10'000ms))
      return;
    ch.emplace(lab::ShmChannel::attach(std::move(ring_fd)));
  }
  /// Tells the hub to look at the up ring (a wake-up byte).
  bool nudge() { return ::send(ctl.fd.get(), "w", 1, MSG_NOSIGNAL) == 1; }
  /// What the hub has sent on the control socket so far (wake-up bytes), without waiting.
  std::string received() {
    std::string got;
    char buf[256];
    for (ssize_t n; (n = ::recv(ctl.fd.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0;)
      got.append(buf, static_cast<std::size_t>(n));
    return got;
  }
};

}  // namespace

GRADED_TEST(Hidden, ProducerWaitingForRoomIsWokenAfterOneRecord, 1,
            "README §Pitfalls 1 — after every pop that found a producer registered, wake it: "
            "one record taken is room") {
  // The test is a shm client by hand: it registers as a producer waiting for room, then
  // pushes one PUBLISH and tells the hub. The hub takes that one record, finds the
  // registration, and must send its wake-up byte.
  Hub hub;
  ASSERT_TRUE(hub.ready);
  RawShmClient c;
  ASSERT_TRUE(c.ch.has_value()) << "no whole answer to CONNECT \"shm PID\"";
  c.ch->up().wait_for_room();  // registered first: whenever the hub pops, it must look
  ASSERT_TRUE(c.ch->up().try_push(frame(kPublish, "nobody", "one record")));
  ASSERT_TRUE(c.nudge());
  EXPECT_TRUE(grader::wait_until([&] { return !c.received().empty(); }, 10'000ms))
      << "the hub took the one record of a registered producer and sent no wake-up byte";
}

GRADED_TEST(Hidden, ShmWakeUpByteOnlyForARegisteredSide, 1,
            "README §Backends — the other side sends one byte only when the flag was set") {
  // The test is a shm client by hand that never registers: it pushes a PUBLISH and tells
  // the hub. The hub takes it and answers in the down ring, and owes no wake-up byte.
  Hub hub;
  ASSERT_TRUE(hub.ready);
  RawShmClient c;
  ASSERT_TRUE(c.ch.has_value()) << "no whole answer to CONNECT \"shm PID\"";
  ASSERT_TRUE(c.ch->up().try_push(frame(kPublish, "nobody", "one record")));
  ASSERT_TRUE(c.nudge());
  std::string answer;
  ASSERT_TRUE(grader::wait_until([&] { return c.ch->down().try_pop(answer); }, 10'000ms))
      << "no answer in the down ring to a PUBLISH in the up ring";
  // Another client served: a later round of the hub's loop, after the one that took the
  // record (and would have sent its wake-up byte then).
  ASSERT_TRUE(responsive());
  EXPECT_EQ(c.received(), "")
      << "the hub sent bytes on the control socket of a shm client that never registered "
         "(wait_for_room, wait_for_data): a wake-up byte only for a side whose flag was set";
}

GRADED_TEST(Hidden, AClientThatHangsUpIsLetGo, 1,
            "README §Pitfalls 10 — end of file on a client's stream is its leave: close it") {
  Hub hub;
  ASSERT_TRUE(hub.ready);
  ASSERT_TRUE(responsive());  // the hub's descriptors settled
  const std::size_t base = ipclab::open_fds(hub.proc.pid()).size();
  {
    Raw r;
    ASSERT_TRUE(r.hello());
  }  // hung up
  std::size_t now = 0;
  EXPECT_TRUE(grader::wait_until(
      [&] { return (now = ipclab::open_fds(hub.proc.pid()).size()) <= base; }, 10'000ms))
      << "the hub held " << base << " descriptors before a client came and left, " << now
      << " after";
}

GRADED_TEST(Hidden, RingObjectKeepsOffTheStandardDescriptors, 1,
            "README §Backends — ShmChannel::create's descriptor is 3 or above: a process "
            "whose stdio is closed must not write its messages into a ring") {
  namespace lab = ipclab::lab20;
  grader::Child c(
      [] {
        ::close(0);  // a daemon's stdio: closed, so each is the next descriptor opened
        ::close(1);
        ::close(2);
        const std::string name = ipclab::names::posix("test.stdio");
        auto ch = lab::ShmChannel::create(name);
        ipclab::PosixShm::unlink(name);
        EXPECT_GE(ch.fd(), 3) << "ShmChannel::create with descriptors 0, 1 and 2 closed kept "
                                 "the object on descriptor "
                              << ch.fd() << ", which the process writes to as stdio";
      },
      "ShmChannel::create with stdio closed");
  const auto r = c.finish(30'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}

GRADED_TEST(Hidden, RingRecordPastTheEndIsAProtocolError, 1,
            "README §Pitfalls 8 — trust no length: a record that would run past the end of "
            "the data area is refused") {
  namespace lab = ipclab::lab20;
  // A ring of 64 bytes over memory of the test's own; a producer that claims a record of
  // 16 bytes (24 with its header) at position 56, running 16 bytes past the end.
  lab::RingControl ctl{};
  std::vector<std::byte> data(256);
  lab::Ring r(&ctl, data.data(), 64);
  std::string got;
  for (int k = 0; k < 7; ++k) ASSERT_TRUE(r.try_push(""));  // 7 records of 8 bytes
  for (int k = 0; k < 7; ++k) ASSERT_TRUE(r.try_pop(got));  // head = tail = 56
  const std::uint32_t len = 16;
  std::memcpy(data.data() + 56, &len, sizeof len);
  ctl.head.store(56 + 24);
  EXPECT_THROW((void)r.try_pop(got), lab::ProtocolError)
      << "a record at 56 of a 64-byte ring, 24 bytes long, was taken: " << got.size() << " bytes";
}

GRADED_TEST(Hidden, InProcessPipeClientIsServedAndLetGo, 1,
            "README §Backends — pipe clients made by the caller (HubOptions::pipe_clients): "
            "served like spawned ones, and let go at end of file without a child to reap") {
  namespace lab = ipclab::lab20;
  // run_hub in a process of its own, with one pipe client whose other ends the test
  // holds: it connects, subscribes, gets a DATA, and hangs up. The hub serves on.
  grader::Child c(
      [] {
        int stop[2];
        ASSERT_EQ(::pipe2(stop, O_CLOEXEC), 0);
        ipclab::Pipe up = ipclab::make_pipe(), down = ipclab::make_pipe();
        lab::HubOptions o;
        o.banner = false;
        o.pipe_clients.emplace_back(std::move(up.read), std::move(down.write));
        std::string error;
        std::thread hub([&] {
          try {
            lab::run_hub(o, stop[0]);
          } catch (const std::exception& e) {
            error = e.what();
          }
        });
        Raw from_hub(std::move(down.read));
        const auto request = [&](const std::string& bytes) {
          return ::write(up.write.get(), bytes.data(), bytes.size()) ==
                         static_cast<ssize_t>(bytes.size())
                     ? from_hub.read_frame()
                     : std::nullopt;
        };
        const auto ack = request(frame(kConnect, "", "pipe " + std::to_string(::getpid())));
        const auto sub = request(frame(kSubscribe, "pipes", ""));
        bool delivered = false;
        if (ack && sub) {
          Raw pub;
          const auto p =
              pub.hello() ? pub.request(frame(kPublish, "pipes", "through")) : std::nullopt;
          const auto data = from_hub.read_frame();
          delivered = p && data && data->type == kData && data->payload == "through";
        }
        up.write.reset();  // end of file: the client is gone
        const bool serves = static_cast<bool>(responsive());
        (void)!::write(stop[1], "x", 1);
        hub.join();
        EXPECT_TRUE(ack && ack->type == kAck) << "no ACK to the pipe client's CONNECT";
        EXPECT_TRUE(sub && sub->type == kAck) << "no ACK to the pipe client's SUBSCRIBE";
        EXPECT_TRUE(delivered) << "a PUBLISH to its channel did not reach the pipe client";
        EXPECT_TRUE(serves) << "once the pipe client hung up the hub no longer served";
        EXPECT_EQ(error, "") << "run_hub threw after a pipe client made by the caller hung up";
      },
      "run_hub with a pipe client of its caller");
  const auto r = c.finish(30'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}

GRADED_TEST(
    Hidden, AClientOnDescriptorZeroIsServed, 1,
    "README §Backends — any descriptor accept or open returns is the one asked for, 0 included") {
  namespace lab = ipclab::lab20;
  // A process that closed its stdin (a daemon does) gets descriptor 0 for the next thing it
  // opens: here the connection run_hub accepts. It is a client like any other.
  grader::Child c(
      [] {
        int stop[2];
        ASSERT_EQ(::pipe2(stop, O_CLOEXEC), 0);
        lab::HubOptions o;
        o.banner = false;
        std::string error;
        std::thread hub([&] {
          try {
            lab::run_hub(o, stop[0]);
          } catch (const std::exception& e) {
            error = e.what();
          }
        });
        // Listening: a probe connects and is answered (so no probe is left to accept).
        const bool listening = grader::wait_until(
            [&] {
              ipclab::Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
              return Raw::connect_to(probe.get()) && Raw(std::move(probe)).hello();
            },
            10'000ms);
        bool acked = false;
        if (listening) {
          ipclab::Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));  // before: not 0
          ::close(0);  // run_hub's accept now returns 0
          Raw raw(std::move(sock));
          acked = Raw::connect_to(raw.fd.get()) && raw.hello();
        }
        (void)!::write(stop[1], "x", 1);
        hub.join();
        EXPECT_TRUE(listening) << "run_hub never listened on " << hub_socket();
        EXPECT_TRUE(acked) << "the connection accepted as descriptor 0 got no ACK to its CONNECT";
        EXPECT_EQ(error, "");
      },
      "run_hub with stdin closed");
  const auto r = c.finish(30'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}
