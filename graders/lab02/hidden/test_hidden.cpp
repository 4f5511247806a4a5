// Lab 02 hidden grader: atomicity under load with requests near PIPE_BUF, clients that
// misbehave (never read, vanish, send garbage), the in-process API, and corners.
#include <dlfcn.h>      // dlsym, RTLD_NEXT
#include <signal.h>     // SIGKILL
#include <sys/ioctl.h>  // ioctl, FIONREAD
#include <sys/mman.h>   // mmap, mprotect
#include <sys/stat.h>   // chmod, mkdir

#include <atomic>   // std::atomic
#include <cstring>  // std::memcpy
#include <mutex>    // std::mutex
#include <random>   // std::mt19937_64
#include <thread>   // std::thread
#include <vector>   // std::vector

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

namespace {

/// The server's FIFO played by the test: its reader, and a writer of the test's own that
/// can fill it to the last byte (with newlines), so that a client's write gets EAGAIN.
class ServerFifo {
 public:
  explicit ServerFifo(bool full) {
    ipclab::check_unix(::mkfifo(path_.c_str(), 0600), "mkfifo(\"{}\")", path_);
    in_ = ipclab::Fd(::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    filler_ = ipclab::Fd(::open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (!full) return;
    const std::string block(4096, '\n');
    while (::write(filler_.get(), block.data(), block.size()) > 0) {
    }
    while (::write(filler_.get(), "\n", 1) > 0) {
    }
  }
  ServerFifo(const ServerFifo&) = delete;
  ServerFifo& operator=(const ServerFifo&) = delete;
  ~ServerFifo() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  /// Waits for the first line that is not filler; nullopt at the deadline.
  std::optional<std::string> request() {
    std::string got;
    std::optional<std::string> line;
    grader::wait_until([&] {
      char buf[65536];
      for (ssize_t n; (n = ::read(in_.get(), buf, sizeof buf)) > 0;)
        got.append(buf, static_cast<std::size_t>(n));
      const auto start = got.find_first_not_of('\n');
      const auto nl = start == std::string::npos ? start : got.find('\n', start);
      if (nl != std::string::npos) line = got.substr(start, nl - start);
      return line.has_value();
    });
    return line;
  }

 private:
  std::string path_ = lab::server_fifo_path();
  ipclab::Fd in_, filler_;
};

/// run_server in a thread of the test, stopped through a pipe of the test's own (whose
/// read end is the lowest free descriptor when the object is made).
class InProcessServer {
 public:
  InProcessServer() {
    opts_.stop_fd = stop_.read.get();
    opts_.on_ready = [this](const std::string&) { ready_ = true; };
    thread_ = std::thread([this] {
      try {
        stats_ = lab::run_server(opts_);
      } catch (const std::exception& e) {
        error_ = e.what();
      }
      done_ = true;
    });
  }
  InProcessServer(const InProcessServer&) = delete;
  InProcessServer& operator=(const InProcessServer&) = delete;
  ~InProcessServer() {
    if (!thread_.joinable()) return;
    try {
      stop();
    } catch (const std::exception& e) {  // a destructor must not throw: report it instead
      ADD_FAILURE() << "stopping run_server: " << e.what();
      thread_.detach();
    }
  }
  /// Waits until run_server has called on_ready; false if it did not (see error()).
  bool ready() {
    grader::wait_until([&] { return ready_.load() || done_.load(); }, 10'000ms);
    return ready_.load();
  }
  /// Makes stop_fd readable and waits for run_server to return; false if it did not (the
  /// thread is then left to the watchdog, which ends the test process).
  bool stop() {
    ipclab::write_full(stop_.write.get(), "x");
    if (!grader::wait_until([&] { return done_.load(); }, 10'000ms)) {
      thread_.detach();
      return false;
    }
    thread_.join();
    return true;
  }
  int stop_fd() const { return stop_.read.get(); }
  /// After stop(): what run_server returned, or the message of what it threw.
  const lab::ServerStats& stats() const { return stats_; }
  const std::string& error() const { return error_; }

 private:
  ipclab::Pipe stop_ = ipclab::make_pipe();
  lab::ServerOptions opts_;
  std::atomic<bool> ready_{false}, done_{false};
  lab::ServerStats stats_;
  std::string error_;
  std::thread thread_;
};

/// The permission bits of `path` ("0600"), or "missing".
std::string mode_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return "missing";
  return fmt::format("{:04o}", st.st_mode & 07777);
}

}  // namespace

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
    InProcessServer server;
    const bool up = server.ready();
    if (up) {
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
    if (!server.stop()) {
      ADD_FAILURE() << "run_server did not return after stop_fd became readable";
      return;
    }
    ASSERT_TRUE(up) << "run_server never called on_ready; error: " << server.error();
    EXPECT_EQ(server.error(), "");
    EXPECT_EQ(server.stats().requests, 3u);
    EXPECT_EQ(server.stats().replies, 3u);
    EXPECT_EQ(fifos(), std::vector<std::string>{}) << "after run_server returned";
  }
}

GRADED_TEST(Hidden, WithoutAStopFdTheServerServesForEver, 1,
            "README §The API you implement — stop_fd -1 means never stop: poll the FIFO alone") {
  const ipclab::Pipe ready = ipclab::make_pipe();
  grader::Child server(
      [&] {
        lab::ServerOptions o;  // stop_fd -1
        o.on_ready = [&](const std::string&) { ipclab::write_full(ready.write.get(), "r"); };
        lab::run_server(o);
        ADD_FAILURE() << "run_server returned, and it had no stop_fd";
      },
      "run_server without a stop_fd");
  pollfd p{ready.read.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10'000), 1) << "run_server never called on_ready";
  lab::CallOptions o;
  o.client_id = "forever";
  o.timeout = 5'000ms;
  try {
    EXPECT_EQ(lab::call("6 * 7", o), (lab::Reply{lab::Status::kOk, 42, ""}));
    EXPECT_EQ(lab::call("1 + 1", o), (lab::Reply{lab::Status::kOk, 2, ""}));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "call() against a server with stop_fd -1: " << e.what()
                  << "\n(poll the FIFO even when there is no stop descriptor to poll)";
  }
  EXPECT_FALSE(server.exited()) << server.finish().describe();
  server.kill();  // it never stops by itself: what it leaves is a killed server's
  ::unlink(lab::server_fifo_path().c_str());
  ::unlink(lab::server_lock_path().c_str());
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

GRADED_TEST(Hidden, ParseReadsOnlyItsView, 1,
            "README §Arithmetic — the expression is the string_view, not what follows it") {
  // Views into longer text: what follows the view is not part of the expression.
  const std::string text = "12 * 34567   x";
  EXPECT_EQ(lab::parse_expression(std::string_view(text).substr(0, 7)),
            (lab::Expr{12, lab::Op::kMul, 34}))
      << "parse_expression(\"12 * 34\") read the digits after its view";
  EXPECT_THROW(lab::parse_expression(std::string_view(text).substr(0, 5)), ipclab::UsageError)
      << "parse_expression(\"12 * \") read the digits after its view";
  EXPECT_EQ(lab::parse_expression(std::string_view(text).substr(0, 11)),
            (lab::Expr{12, lab::Op::kMul, 34567}))
      << "parse_expression(\"12 * 34567 \") read past its view";
  // Views that end exactly where readable memory ends: one byte more is a SIGSEGV.
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* const map =
      ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(map, MAP_FAILED);
  char* const end = static_cast<char*>(map) + page;
  ASSERT_EQ(::mprotect(end, page, PROT_NONE), 0);
  for (const std::string_view bad : {"5 +", "7 - -", "-", "5", "5 * "}) {
    char* const start = end - bad.size();
    std::memcpy(start, bad.data(), bad.size());
    EXPECT_THROW(lab::parse_expression(std::string_view(start, bad.size())), ipclab::UsageError)
        << bad;
  }
  ::munmap(map, 2 * page);
}

GRADED_TEST(Hidden, EveryDescriptorIsCloseOnExec, 2,
            "README §Server — every descriptor is opened with O_CLOEXEC") {
  {
    FakeClient c("cloexec");
    const ipclab::Fd w = lab::open_reply_fifo("cloexec");
    ASSERT_TRUE(w.valid());
    EXPECT_NE(::fcntl(w.get(), F_GETFD) & FD_CLOEXEC, 0)
        << "open_reply_fifo returned a descriptor without close-on-exec";
  }
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  const std::string path = lab::server_fifo_path();
  std::string leaky;
  EXPECT_GE(lab02_test::fds_open_on(s.pid(), path, &leaky), 1)
      << "calc_server has no descriptor open on " << path;
  EXPECT_EQ(leaky, "") << "calc_server's descriptors on its FIFO without close-on-exec";
  expect_exit(s.stop(), 0);
}

GRADED_TEST(Hidden, ClientWaitsForRoomInAFullServerFifo, 3,
            "README §Client — EAGAIN: the server's FIFO is full, wait for room (and cancel_fd)") {
  {
    ServerFifo server(/*full=*/true);
    grader::Process c({"calc_client", "--timeout", lab02_test::seconds_arg(20'000ms), "6 * 7"});
    const std::string reply = lab::client_fifo_path(std::to_string(c.pid()));
    ASSERT_TRUE(grader::wait_until(
        [&] { return lab02_test::sleeps_with_open(c.pid(), server.path()) || !c.running(); },
        10'000ms))
        << "the client never waited with the server's FIFO open";
    ASSERT_TRUE(c.running()) << "a full server FIFO (EAGAIN) is not the end:\n"
                             << c.finish().describe();
    std::string leaky;
    lab02_test::fds_open_on(c.pid(), server.path(), &leaky);
    lab02_test::fds_open_on(c.pid(), reply, &leaky);
    EXPECT_EQ(leaky, "") << "calc_client's descriptors on the FIFOs without close-on-exec";
    // Room: the request arrives whole, and the client takes the reply.
    const auto request = server.request();
    ASSERT_TRUE(request.has_value()) << "no request once the server's FIFO had room";
    EXPECT_EQ(*request, fmt::format("{} 6 * 7", c.pid()));
    const ipclab::Fd w(::open(reply.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    ASSERT_TRUE(w.valid()) << "the client does not read " << reply;
    ipclab::write_full(w.get(), "ok 42\n");
    auto r = c.finish(30'000ms);
    expect_output(r, "Result: 42\n");
    expect_exit(r, 0);
  }
  {
    // SIGINT while it waits for room: poll(2) fails with EINTR, and cancel_fd says why.
    ServerFifo server(/*full=*/true);
    grader::Process c({"calc_client", "--timeout", lab02_test::seconds_arg(20'000ms), "6 * 7"});
    ASSERT_TRUE(grader::wait_until(
        [&] { return lab02_test::sleeps_with_open(c.pid(), server.path()) || !c.running(); },
        10'000ms));
    c.signal(SIGINT);
    auto r = c.finish(10'000ms);
    grader::expect_finished(r);
    expect_exit(r, 128 + SIGINT);
  }
  EXPECT_EQ(client_fifos(), std::vector<std::string>{});
}

// read(2) made to fail once, for the test below: this executable's read is the one the
// lab's library calls; unarmed, it is glibc's. Armed with a path and an errno, the next
// read of a descriptor open on that path fails with that errno, as a read of a FIFO does
// when poll(2) said readable but another reader took the bytes first (EAGAIN), or when a
// signal came first (EINTR).
namespace {
std::atomic<bool> read_armed{false};
std::mutex read_mutex;
std::string read_path;  // guarded by read_mutex
int read_errno = 0;     // guarded by read_mutex

void fail_next_read(const std::string& path, int err) {
  const std::lock_guard<std::mutex> lock(read_mutex);
  read_path = path;
  read_errno = err;
  read_armed = true;
}
}  // namespace

extern "C" ssize_t read(int fd, void* buf, size_t n) {
  if (read_armed.load()) {
    const std::string target = ipclab::fd_target(0, fd);
    const std::lock_guard<std::mutex> lock(read_mutex);
    if (read_armed.load() && target == read_path) {
      read_armed = false;
      errno = read_errno;
      return -1;
    }
  }
  using Fn = ssize_t (*)(int, void*, size_t);
  static const auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "read"));
  return real(fd, buf, n);
}

GRADED_TEST(
    Hidden, ReadsThatFindNothingAreRetried, 2,
    "README §Server — after poll, read(2) may still fail with EAGAIN or EINTR: look again") {
  InProcessServer server;
  if (server.ready()) {
    lab::CallOptions o;
    o.client_id = "reread";
    o.timeout = 10'000ms;
    const std::string reply_path = lab::client_fifo_path(o.client_id);
    struct Case {
      std::string path;
      int err;
      const char* name;
    };
    const Case cases[] = {{lab::server_fifo_path(), EAGAIN, "EAGAIN"},
                          {lab::server_fifo_path(), EINTR, "EINTR"},
                          {reply_path, EAGAIN, "EAGAIN"},
                          {reply_path, EINTR, "EINTR"}};
    for (const auto& [path, err, name] : cases) {
      fail_next_read(path, err);
      try {  // nothing may escape while the server thread runs
        EXPECT_EQ(lab::call("2 * 21", o), (lab::Reply{lab::Status::kOk, 42, ""}))
            << "a read of " << path << " failed once with " << name;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "a read of " << path << " failed once with " << name << ": call() threw "
                      << e.what();
      }
      read_armed = false;
    }
  }
  if (!server.stop()) {
    ADD_FAILURE() << "run_server did not return after stop_fd became readable";
    return;
  }
  EXPECT_EQ(server.error(), "") << "run_server ended on a read that failed once";
  EXPECT_EQ(server.stats().replies, 4u);
}

GRADED_TEST(Hidden, FifosArePrivateToTheirUser, 1,
            "README §Server — mkfifo(path, 0600): only its user may open a FIFO") {
  {
    Server s;
    ASSERT_TRUE(s.ready()) << s.why();
    EXPECT_EQ(mode_of(lab::server_fifo_path()), "0600") << "calc_server's FIFO";
    expect_exit(s.stop(), 0);
  }
  {
    // A client waiting for a server: its new reply FIFO.
    grader::Process c({"calc_client", "--timeout", lab02_test::seconds_arg(20'000ms), "1 + 1"});
    const std::string reply = lab::client_fifo_path(std::to_string(c.pid()));
    ASSERT_TRUE(grader::wait_until([&] { return lab02_test::is_fifo(reply) || !c.running(); }))
        << c.finish().describe();
    EXPECT_EQ(mode_of(reply), "0600") << "calc_client's reply FIFO";
    c.signal(SIGTERM);
    expect_exit(c.finish(10'000ms), 128 + SIGTERM);
  }
  // A client waiting for a server, with a stale FIFO of its id to replace (mode 0666).
  const std::string path = lab::client_fifo_path("private");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  ASSERT_EQ(::chmod(path.c_str(), 0666), 0);
  ipclab::Pipe cancel = ipclab::make_pipe();
  lab::CallOptions o;
  o.client_id = "private";
  o.timeout = 20'000ms;
  o.cancel_fd = cancel.read.get();
  std::string outcome;
  std::thread client([&] {
    try {
      lab::call("1 + 1", o);
      outcome = "returned";
    } catch (const lab::Interrupted&) {
      outcome = "Interrupted";
    } catch (const std::exception& e) {
      outcome = e.what();
    }
  });
  // Once call() has its reply FIFO open, the node at the path is the one it made.
  const bool waiting = grader::wait_until([&] { return lab02_test::fds_open_on(0, path) > 0; });
  EXPECT_TRUE(waiting) << "call() did not open its reply FIFO " << path;
  if (waiting) {
    EXPECT_EQ(mode_of(path), "0600") << "the client's reply FIFO (a stale one was 0666)";
  }
  ipclab::write_full(cancel.write.get(), "x");
  client.join();
  EXPECT_EQ(outcome, "Interrupted");
  ::unlink(path.c_str());
}

GRADED_TEST(Hidden, DescriptorZeroIsADescriptorLikeAnyOther, 2,
            "README §Pitfalls 9 — poll every descriptor you are given, 0 included") {
  // A process whose stdin is closed gets descriptor 0 from its next open or pipe.
  grader::Child child(
      [] {
        ::close(0);
        {
          InProcessServer server;  // its stop_fd is 0
          ASSERT_EQ(server.stop_fd(), 0);
          ASSERT_TRUE(server.ready()) << server.error();
          ASSERT_TRUE(server.stop()) << "run_server did not stop when stop_fd 0 became readable";
        }
        {
          ipclab::Pipe cancel = ipclab::make_pipe();  // its read end is 0
          ASSERT_EQ(cancel.read.get(), 0);
          ipclab::write_full(cancel.write.get(), "x");
          lab::CallOptions o;
          o.client_id = "zero";
          o.timeout = 10'000ms;
          o.cancel_fd = 0;
          EXPECT_THROW(lab::call("1 + 1", o), lab::Interrupted) << "cancel_fd 0 was ignored";
        }
        ipclab::Fd placeholder(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        ASSERT_EQ(placeholder.get(), 0);
        InProcessServer server;  // its descriptors are above 0
        ASSERT_TRUE(server.ready()) << server.error();
        placeholder.reset();  // the reply FIFO of the next call() is descriptor 0
        lab::CallOptions o;
        o.client_id = "zero";
        o.timeout = 10'000ms;
        try {
          EXPECT_EQ(lab::call("6 * 7", o), (lab::Reply{lab::Status::kOk, 42, ""}))
              << "a reply FIFO on descriptor 0";
        } catch (const std::exception& e) {
          ADD_FAILURE() << "call() with its reply FIFO on descriptor 0 threw: " << e.what();
        }
      },
      "stdin closed");
  const auto r = child.finish(25'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}

GRADED_TEST(Hidden, ClientWaitingForAServerSleeps, 1,
            "README §Pitfalls 5 — retry with a short, growing pause, not a busy loop") {
  grader::Process c({"calc_client", "--timeout", lab02_test::seconds_arg(20'000ms), "1 + 1"});
  c.close_stdin();  // a stdin with no writer polls as POLLHUP at once, every time
  ASSERT_TRUE(grader::wait_until([&] { return !client_fifos().empty() || !c.running(); }))
      << "the waiting client has no reply FIFO";
  ASSERT_TRUE(c.running()) << c.finish().describe();
  const auto burned = lab02_test::busy_cpu(c.pid(), 1'500ms);
  EXPECT_FALSE(burned.has_value()) << fmt::format("calc_client used {:.2f} s", burned.value_or(0))
                                   << " of CPU while it waited for a server (a busy loop)";
  c.signal(SIGTERM);
  expect_exit(c.finish(10'000ms), 128 + SIGTERM);
}

GRADED_TEST(Hidden, ClientRefusesWhatIsNotAReply, 2,
            "README §Client — a regular file at the reply path is left alone; a reply cut "
            "short is EPROTO") {
  // Somebody's file where the reply FIFO goes: an error, and the file untouched.
  const std::string path = lab::client_fifo_path("notafifo");
  {
    ipclab::Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    ipclab::write_full(f.get(), "precious");
  }
  lab::CallOptions o;
  o.client_id = "notafifo";
  o.timeout = 300ms;
  EXPECT_THROW(lab::call("1 + 1", o), ipclab::SysError);
  EXPECT_EQ(ipclab::read_file(path), "precious");
  ::unlink(path.c_str());
  // A server that writes half a reply and closes: EPROTO at once, not at the deadline.
  ServerFifo server(/*full=*/false);
  o.client_id = "cut";
  o.timeout = 10'000ms;
  int code = 0;
  std::string what;
  std::thread client([&] {
    try {
      lab::call("2 + 2", o);
      what = "returned";
    } catch (const ipclab::SysError& e) {
      code = e.code().value();
      what = e.what();
    } catch (const std::exception& e) {
      what = e.what();
    }
  });
  const auto request = server.request();
  EXPECT_EQ(request, "cut 2 + 2");
  {
    const std::string reply = lab::client_fifo_path("cut");
    const ipclab::Fd w(::open(reply.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    EXPECT_TRUE(w.valid()) << "the client does not read " << reply;
    if (w.valid()) ipclab::write_full(w.get(), "ok 4");
  }
  ipclab::Stopwatch sw;
  client.join();
  EXPECT_EQ(code, EPROTO) << "call() on a reply without its newline: " << what;
  EXPECT_LT(sw.elapsed_s(), 5.0) << "call() waited for more after the server closed";
}

GRADED_TEST(Hidden, RequestOfExactlyPipeBufIsServed, 2,
            "README §Protocol — at most PIPE_BUF bytes, newline included") {
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  FakeClient big("big");
  const std::string head = "big 1 +", tail = "2\n";
  const std::string fits =
      head + std::string(lab::kMaxRequest - head.size() - tail.size(), ' ') + tail;
  ASSERT_EQ(fits.size(), lab::kMaxRequest);
  ASSERT_TRUE(FakeClient::send_raw(fits));
  EXPECT_EQ(big.reply(), "ok 3") << "a request of exactly PIPE_BUF bytes";
  // One byte more is dropped. The server serves in order: once the next request has its
  // answer, an answer to the long line would be waiting already.
  FakeClient over("over"), next("next");
  const std::string line = "over 2 +" + std::string(lab::kMaxRequest - 9, ' ') + "2\n";
  ASSERT_EQ(line.size(), lab::kMaxRequest + 1);
  ASSERT_TRUE(FakeClient::send_raw(line));
  ASSERT_TRUE(next.send("3 + 4"));
  EXPECT_EQ(next.reply(), "ok 7");
  EXPECT_EQ(over.reply(100ms), std::nullopt) << "a line of PIPE_BUF + 1 bytes was answered";
  EXPECT_TRUE(s.proc().running());
  expect_exit(s.stop(), 0);
}

GRADED_TEST(Hidden, ReplyFunctionsSortTheirErrors, 1,
            "README §Server — gone (invalid Fd, false) is not the same as failed (SysError)") {
  const std::string dir = lab::client_fifo_path("adir");
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  EXPECT_THROW(lab::open_reply_fifo("adir"), ipclab::SysError) << "open(2) of a directory: EISDIR";
  ::rmdir(dir.c_str());
  ipclab::Pipe full = ipclab::make_pipe(O_CLOEXEC | O_NONBLOCK);
  const std::string block(4096, 'x');
  while (::write(full.write.get(), block.data(), block.size()) > 0) {
  }
  bool sent = true;
  EXPECT_NO_THROW(sent = lab::send_reply(full.write.get(), {lab::Status::kOk, 1, ""}));
  EXPECT_FALSE(sent) << "send_reply to a full pipe (EAGAIN) must return false";
  EXPECT_THROW(lab::send_reply(full.read.get(), {lab::Status::kOk, 1, ""}), ipclab::SysError)
      << "a write to a read end (EBADF) is no vanished client";
}
