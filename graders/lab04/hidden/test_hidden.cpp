// Lab 04 hidden grader: concurrency of submitters, no job lost or run twice across
// restarts, ages that survive a restart, and the corners of the message format, limits
// and signals.
#include <fcntl.h>         // F_OFD_SETLK
#include <mqueue.h>        // mq_notify
#include <signal.h>        // SIGTERM, SIGINT, SIGUSR1
#include <sys/resource.h>  // setrlimit, RLIMIT_MSGQUEUE
#include <sys/stat.h>      // stat
#include <sys/syscall.h>   // SYS_fcntl
#include <unistd.h>        // access

#include <atomic>   // std::atomic
#include <fstream>  // std::ofstream
#include <map>      // std::map
#include <random>   // std::mt19937_64
#include <set>      // std::set
#include <thread>   // std::thread

#include "../public/common.hpp"
#include "grader/syscalls.hpp"  // SyscallDenial, seccomp_filters_work
#include "ipclab/clock.hpp"     // Stopwatch
#include "ipclab/process.hpp"   // process_state

using grader::expect_exit;
using grader::run;
using lab04_test::Gate;
using lab04_test::report;
using lab04_test::started_ids;
using lab04_test::TestQueue;
using lab04_test::wait_count;
using Ids = std::vector<std::uint64_t>;
namespace lab = ipclab::lab04;

GRADED_TEST(Hidden, MessageFormatRoundTripsAndRejectsGarbage, 2) {
  std::string cmd = "printf 'x' | wc -c";
  cmd += '\0';  // commands are bytes: an embedded NUL survives
  cmd += "tail";
  const lab::Job j{123456789012ULL, 17, -42, cmd};
  const std::string bytes = lab::encode_job(j);
  EXPECT_EQ(bytes.size(), lab::kHeaderSize + j.cmd.size());
  EXPECT_EQ(lab::decode_job(bytes), j);
  EXPECT_EQ(lab::decode_job(bytes.substr(0, lab::kHeaderSize - 1)), std::nullopt);
  std::string bad = bytes;
  bad[0] ^= 0x55;
  EXPECT_EQ(lab::decode_job(bad), std::nullopt) << "wrong magic must be rejected";
  const lab::Job empty{1, 0, 0, ""};
  EXPECT_EQ(lab::decode_job(lab::encode_job(empty)), empty);
}

GRADED_TEST(Hidden, ConcurrentSubmittersGetUniqueIds, 3,
            "README §Pitfalls 6 — the id counter needs a lock around read-increment-write") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue, {"--workers", "2"});
  std::vector<grader::Process> subs;
  for (int i = 0; i < 12; ++i)
    subs.emplace_back(queue.argv_for(static_cast<unsigned>(i % 4), fmt::format("echo c{}", i),
                                     {"--timeout", "30000"}));
  std::set<std::uint64_t> ids;
  for (auto& s : subs) {
    auto r = s.finish(30'000ms);
    expect_exit(r, 0);
    unsigned long long id = 0;
    unsigned prio = 0;
    ASSERT_EQ(std::sscanf(r.out.c_str(), "Job %llu queued (priority %u)", &id, &prio), 2)
        << r.describe();
    EXPECT_TRUE(ids.insert(id).second) << "job id " << id << " was handed out twice";
  }
  EXPECT_EQ(ids, (std::set<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 12)) << report(d);
  const auto started = started_ids(d.out());
  EXPECT_EQ(std::set<std::uint64_t>(started.begin(), started.end()), ids) << report(d);
  EXPECT_EQ(started.size(), 12u) << "a job ran twice\n" << report(d);
}

GRADED_TEST(Hidden, NoJobLostOrRunTwiceAcrossRestarts, 4,
            "README §Pitfalls 1 — the queue is the store; a job is started once, never lost") {
  LAB04_REQUIRE_MQ();
  grader::repeat(2, [&](int, std::uint64_t seed) {
    TestQueue queue;
    std::mt19937_64 rng(seed);
    std::map<std::uint64_t, int> runs;  // id -> times started
    std::set<std::uint64_t> submitted;
    constexpr int kWaves = 3;
    for (int wave = 0; wave < kWaves; ++wave) {
      LAB04_START(d, queue, {"--workers", "3", "--aging-ms", "50"});
      std::vector<grader::Process> subs;
      for (int i = 0; i < 8; ++i)
        subs.emplace_back(queue.argv_for(static_cast<unsigned>(rng() % 32),
                                         fmt::format("sleep 0.0{}", rng() % 4),
                                         {"--timeout", "30000"}));
      for (auto& s : subs) {
        auto r = s.finish(30'000ms);
        expect_exit(r, 0);
        unsigned long long id = 0;
        unsigned prio = 0;
        if (std::sscanf(r.out.c_str(), "Job %llu queued (priority %u)", &id, &prio) == 2)
          submitted.insert(id);
      }
      // Stop it while jobs may still be running or waiting.
      d.signal(SIGTERM);
      auto r = d.finish(30'000ms);
      expect_exit(r, 0);
      for (auto id : started_ids(r.out)) ++runs[id];
    }
    // A last dispatcher runs what is left: every submitted job, then nothing more.
    LAB04_START(d, queue, {"--workers", "3"});
    auto all_ran = [&] {
      std::set<std::uint64_t> seen;
      for (const auto& [id, n] : runs) seen.insert(id);
      const std::string out = d.out();
      for (auto id : started_ids(out)) seen.insert(id);
      return seen.size() >= submitted.size() &&
             lab04_test::count_of(out, "Dispatcher: Finished job") ==
                 lab04_test::count_of(out, "Dispatcher: Processing job");
    };
    ASSERT_TRUE(grader::wait_until(all_ran, 20'000ms)) << report(d);
    EXPECT_EQ(queue.depth(), 0) << report(d);
    d.signal(SIGTERM);
    auto r = d.finish(30'000ms);
    expect_exit(r, 0);
    for (auto id : started_ids(r.out)) ++runs[id];
    ASSERT_EQ(submitted.size(), 8u * kWaves);
    for (auto id : submitted)
      EXPECT_EQ(runs[id], 1) << "job " << id << " started " << runs[id]
                             << " times over the restarts";
    EXPECT_EQ(runs.size(), submitted.size());
  });
}

GRADED_TEST(Hidden, AgeTravelsInTheMessage, 3,
            "README §Pitfalls 2 — age from the submit time in the message, not from when the "
            "dispatcher received it") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  std::optional<std::uint64_t> low;
  ipclab::Stopwatch since_low;
  {
    LAB04_START(d, queue, {"--workers", "1", "--aging-ms", "0"});
    Gate gate;
    const auto first = queue.submit(31, gate.cmd());
    ASSERT_TRUE(first && d.wait_for_output("Processing job " + std::to_string(*first)));
    low = queue.submit(0, "echo old-low");
    since_low.reset();
    ASSERT_TRUE(low);
    d.signal(SIGTERM);
    gate.open();
    expect_exit(d.finish(20'000ms), 0);
  }
  ASSERT_TRUE(grader::wait_until([&] { return since_low.elapsed_s() > 0.45; }, 10'000ms));
  const auto high1 = queue.submit(30, "echo new-high1");
  const auto high2 = queue.submit(30, "echo new-high2");
  ASSERT_TRUE(high1 && high2);
  LAB04_START(d, queue, {"--workers", "1", "--aging-ms", "300"});
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 3)) << report(d);
  EXPECT_EQ(started_ids(d.out()), (Ids{*low, *high1, *high2}))
      << "job " << *low << " was submitted more than 300 ms before the dispatcher started; "
      << "it had aged and must go first\n"
      << report(d);
}

GRADED_TEST(Hidden, WorkersRunJobsAtTheSameTime, 2) {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue, {"--workers", "3"});
  Gate gate;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(queue.submit(5, gate.cmd()));
  ASSERT_TRUE(wait_count(d, "Dispatcher: Processing job", 3)) << report(d);
  EXPECT_EQ(lab04_test::count_of(d.out(), "Dispatcher: Processing job"), 3u)
      << "3 workers: the 4th job must wait\n"
      << report(d);
  // The 4th waits in the queue (wait: the decision that started the 3rd may still be
  // sending it back).
  EXPECT_TRUE(grader::wait_until([&] { return queue.depth() == 1; })) << "depth " << queue.depth();
  gate.open();
  EXPECT_TRUE(wait_count(d, "Dispatcher: Finished job", 4)) << report(d);
}

GRADED_TEST(Hidden, SubmitWithoutQueueFails, 1) {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  auto r = run({"submit_job", "--priority=1", "--cmd=true"});
  expect_exit(r, 1);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.describe();
  EXPECT_FALSE(queue.exists()) << "submit_job must not create the queue";
}

GRADED_TEST(Hidden, TooLongCommandIsUsageError, 1, "README §Pitfalls 10") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  auto q = ipclab::PosixMq::create(queue.name(), 4, 128);
  expect_exit(run({"submit_job", "--priority=1", "--cmd=" + std::string(200, 'x')}), 2);
  expect_exit(
      run({"submit_job", "--priority=1", "--cmd=" + std::string(128 - lab::kHeaderSize, 'y')}), 0);
  EXPECT_EQ(queue.depth(), 1);
}

GRADED_TEST(Hidden, MessageThatIsNotAJobIsDropped, 2) {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue);
  {
    auto q = ipclab::PosixMq::open(queue.name(), O_WRONLY);
    q.send("garbage", 20);
  }
  const auto id = queue.submit(1, "echo still-alive");
  ASSERT_TRUE(id);
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 1)) << report(d);
  EXPECT_NE(d.out().find("still-alive"), std::string::npos) << report(d);
  EXPECT_EQ(queue.depth(), 0);
}

GRADED_TEST(Hidden, IdleDispatcherDoesNotSpin, 2, "README §Pitfalls 4") {
  LAB04_REQUIRE_MQ();
  for (const char* mode : {"--notify", "--workers=1"}) {
    TestQueue queue;
    LAB04_START(d, queue, {mode});
    ASSERT_TRUE(queue.submit(1, "true"));
    ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 1)) << report(d);
    const double before = grader::cpu_seconds(d.pid());
    ipclab::Stopwatch window;
    grader::wait_until([&] { return window.elapsed_s() > 0.6; }, 10'000ms);
    EXPECT_LT(grader::cpu_seconds(d.pid()) - before, 0.2)
        << "an idle dispatcher (" << mode << ") used CPU: it must block, not poll in a loop";
    d.signal(SIGTERM);
    expect_exit(d.finish(), 0);
  }
}

GRADED_TEST(Hidden, SigintStopsAnIdleDispatcher, 1, "README §Pitfalls 8") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  for (const char* mode : {"--notify", "--workers=2"}) {
    LAB04_START(d, queue, {mode});
    d.signal(SIGINT);
    auto r = d.finish(10'000ms);
    expect_exit(r, 0);
  }
  EXPECT_TRUE(queue.exists());
}

GRADED_TEST(Hidden, RlimitMsgqueueIsNamed, 2, "README §Pitfalls 9") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_MSGQUEUE, &rl), 0);
  rl.rlim_cur = 4096;  // this test process and its children only
  ASSERT_EQ(::setrlimit(RLIMIT_MSGQUEUE, &rl), 0);
  auto r = run({"job_dispatcher", "--max-msgs", "10", "--msg-size", "8192"});
  expect_exit(r, 3);
  EXPECT_NE(r.err.find("RLIMIT_MSGQUEUE"), std::string::npos) << r.describe();
  EXPECT_FALSE(queue.exists());
}

GRADED_TEST(Hidden, OtherQueueNamesAreIndependent, 1) {
  LAB04_REQUIRE_MQ();
  TestQueue a("alpha"), b("beta");
  LAB04_START(da, a);
  LAB04_START(db, b);
  const auto ia = a.submit(1, "echo in-alpha");
  const auto ib = b.submit(1, "echo in-beta");
  ASSERT_TRUE(ia && ib);
  EXPECT_EQ(*ia, 1u);
  EXPECT_EQ(*ib, 1u) << "each queue has its own id counter";
  ASSERT_TRUE(wait_count(da, "Dispatcher: Finished job", 1)) << report(da);
  ASSERT_TRUE(wait_count(db, "Dispatcher: Finished job", 1)) << report(db);
  EXPECT_NE(da.out().find("in-alpha"), std::string::npos);
  EXPECT_EQ(da.out().find("in-beta"), std::string::npos);
}

namespace {

/// True while a SIGUSR1 sent to the process (kill) is pending: not yet taken by its
/// signalfd (ShdPnd in /proc/<pid>/status, a hexadecimal signal mask).
bool sigusr1_pending(pid_t pid) {
  const std::string s = ipclab::read_file(fmt::format("/proc/{}/status", pid));
  const auto pos = s.find("ShdPnd:");
  if (pos == std::string::npos) return false;
  return ((std::stoull(s.substr(pos + 7), nullptr, 16) >> (SIGUSR1 - 1)) & 1) != 0;
}

/// Expects `finished` jobs to end, then stops the dispatcher with SIGTERM: exit 0.
/// One of /proc/sys/fs/mqueue's limits set for the test: they belong to the IPC namespace,
/// and each test has one of its own. The old value comes back at the end anyway.
class MqLimit {
 public:
  MqLimit(const std::string& name, long value)
      : path_("/proc/sys/fs/mqueue/" + name), before_(ipclab::read_file(path_)) {
    set_ = !before_.empty() && static_cast<bool>((std::ofstream(path_) << value << '\n').flush());
  }
  ~MqLimit() {
    if (set_) std::ofstream(path_) << before_;
  }
  MqLimit(const MqLimit&) = delete;
  MqLimit& operator=(const MqLimit&) = delete;
  bool set() const { return set_; }

 private:
  std::string path_, before_;
  bool set_ = false;
};

/// Runs job_dispatcher with `args` and without CAP_SYS_RESOURCE (setpriv), as a user who
/// is not root: the /proc/sys/fs/mqueue limits apply to it.
grader::RunResult dispatcher_without_cap_sys_resource(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/setpriv", "--bounding-set=-sys_resource",
                                   "--inh-caps=-sys_resource", grader::program("job_dispatcher")};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

void stop_after(grader::Process& d, std::size_t finished) {
  EXPECT_TRUE(wait_count(d, "Dispatcher: Finished job", finished)) << report(d);
  d.signal(SIGTERM);
  expect_exit(d.finish(), 0);
}

}  // namespace

GRADED_TEST(Hidden, StraySigusr1LeavesTheRegistration, 2,
            "README §Hints — a stray kill -USR1 does not use the registration up (SI_MESGQ "
            "does)") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue, {"--notify"});
  ASSERT_TRUE(queue.submit(1, "echo before"));
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 1)) << report(d);
  // Registered again, waiting. A SIGUSR1 from kill (si_code SI_USER), then a job once the
  // dispatcher has read it: the registration is still the dispatcher's, and the job runs.
  d.signal(SIGUSR1);
  ASSERT_TRUE(grader::wait_until([&] { return !sigusr1_pending(d.pid()) || !d.running(); }))
      << "the dispatcher never read the SIGUSR1 from its signalfd\n"
      << report(d);
  ASSERT_TRUE(queue.submit(2, "echo after"));
  SCOPED_TRACE("after a stray SIGUSR1, the next job must run");
  stop_after(d, 2);
}

GRADED_TEST(Hidden, JobCounterIsOpenedCloseOnExec, 1,
            "README §Pitfalls 6 — open the counter with O_CLOEXEC: another thread may exec") {
  // Another process (an OFD lock here) holds the counter: next_job_id waits in F_SETLKW
  // with the file open, and then its descriptor must already be close-on-exec.
  const std::string path = grader::scratch() + "/cloexec.ids";
  ipclab::Fd holder(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  ASSERT_EQ(::fcntl(holder.get(), F_OFD_SETLK, &lock), 0);
  struct stat file {};
  ASSERT_EQ(::stat(path.c_str(), &file), 0);
  std::atomic<pid_t> tid{0};
  std::uint64_t id = 0;
  std::string threw;
  std::thread taker([&] {
    tid = static_cast<pid_t>(::gettid());
    try {
      id = lab::next_job_id(path);
    } catch (const std::exception& e) {
      threw = e.what();
    }
  });
  int flags = -1;
  const bool waiting = grader::wait_until([&] {
    if (tid == 0 || lab04_test::current_syscall(::getpid(), tid) != SYS_fcntl) return false;
    for (const int fd : ipclab::open_fds()) {
      struct stat st {};
      if (fd != holder.get() && ::fstat(fd, &st) == 0 && st.st_ino == file.st_ino &&
          st.st_dev == file.st_dev)
        flags = ::fcntl(fd, F_GETFD);
    }
    return flags >= 0;
  });
  holder.reset();  // the lock goes: next_job_id goes on
  taker.join();
  ASSERT_EQ(threw, "") << "next_job_id threw";
  ASSERT_TRUE(waiting) << "next_job_id was never seen waiting for the lock with the file open";
  EXPECT_NE(flags & FD_CLOEXEC, 0) << "the counter's descriptor lacks close-on-exec";
  EXPECT_EQ(id, 1u);
}

GRADED_TEST(Hidden, SubmitJobChecksThePriorityItself, 1,
            "README §Pitfalls 12 — check the range before anything else") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  auto q = ipclab::PosixMq::create(queue.name(), lab::kDefaultMaxMsgs, lab04_test::kTestMsgSize);
  for (const long priority : {-1L, 32L, 1000L}) {
    lab::SubmitRequest req;
    req.priority = priority;
    req.cmd = "echo nope";
    EXPECT_THROW(lab::submit_job(req), ipclab::UsageError) << "priority " << priority;
  }
  EXPECT_EQ(queue.depth(), 0) << "a rejected job must not be queued";
}

GRADED_TEST(Hidden, ExistingQueueKeepsItsAttributesWithANote, 1,
            "README §The programs (given) — an existing queue keeps its attributes, and a note on "
            "stderr says so") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  { auto q = ipclab::PosixMq::create(queue.name(), 10, lab04_test::kTestMsgSize); }
  for (const auto& args : {std::vector<std::string>{"--max-msgs", "5"},
                           std::vector<std::string>{"--msg-size", "512"}}) {
    SCOPED_TRACE(args[0] + " " + args[1] + " for a queue of 10 x 1024 bytes");
    LAB04_START(d, queue, args);
    d.signal(SIGTERM);
    const auto r = d.finish(10'000ms);
    expect_exit(r, 0);
    EXPECT_FALSE(r.err.empty()) << "no note on stderr\n" << r.describe();
  }
}

GRADED_TEST(Hidden, DescriptorShortageIsNotBlamedOnTheQueueSize, 1,
            "README §Pitfalls 9 — name the limit that was hit, not another") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  // A low RLIMIT_NOFILE makes some open fail, mq_open among them (EMFILE) for some limit:
  // a queue of 10 x 1024 bytes is then not "above RLIMIT_MSGQUEUE" (819200 by default).
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_MSGQUEUE, &rl), 0);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 20 * 1024) GTEST_SKIP() << "ulimit -q too low";
  for (int n = 3; n <= 32; ++n) {
    grader::Process p(
        {"sh", "-c",
         fmt::format("ulimit -n {}; exec \"$0\" --msg-size {}", n, lab04_test::kTestMsgSize),
         grader::program("job_dispatcher")});
    grader::wait_until([&] { return TestQueue::ready(p) || !p.running(); }, 10'000ms);
    if (TestQueue::ready(p)) {
      p.signal(SIGTERM);
      expect_exit(p.finish(10'000ms), 0);
      break;
    }
    const auto r = p.finish(10'000ms);
    EXPECT_EQ(r.err.find("above RLIMIT_MSGQUEUE"), std::string::npos)
        << "ulimit -n " << n
        << ": a 10 x 1024-byte queue is not above RLIMIT_MSGQUEUE = " << rl.rlim_cur << "\n"
        << r.describe();
  }
}

GRADED_TEST(Hidden, OneDecisionStartsAJobForEveryFreeWorker, 2,
            "README §The design — while a worker is free, start pick_next; send back only the "
            "rest") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  auto q = ipclab::PosixMq::create(queue.name(), lab::kDefaultMaxMsgs, lab04_test::kTestMsgSize);
  Gate gate;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(queue.submit(5, gate.cmd()));
  // The test registers for the queue's notification (SIGEV_NONE): the registration ends if a
  // message ever arrives in the empty queue, as a job sent back would.
  sigevent none{};
  none.sigev_notify = SIGEV_NONE;
  ASSERT_EQ(::mq_notify(q.native(), &none), 0);
  LAB04_START(d, queue, {"--workers", "3"});
  ASSERT_TRUE(wait_count(d, "Dispatcher: Processing job", 3)) << report(d);
  errno = 0;
  const int again = ::mq_notify(q.native(), &none);
  const int err = errno;
  (void)::mq_notify(q.native(), nullptr);
  EXPECT_TRUE(again < 0 && err == EBUSY)
      << "three jobs waited for three free workers, but a job went back into the queue: one "
         "decision must start a job for every free worker\n"
      << report(d);
  gate.open();
  stop_after(d, 3);
}

GRADED_TEST(Hidden, NotifyRegistrationHeldElsewhereIsNamed, 1,
            "README §The programs — one mq_notify registration per queue: EBUSY is another "
            "process, exit 1") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  auto q = ipclab::PosixMq::create(queue.name(), lab::kDefaultMaxMsgs, lab04_test::kTestMsgSize);
  sigevent none{};
  none.sigev_notify = SIGEV_NONE;
  ASSERT_EQ(::mq_notify(q.native(), &none), 0);  // the test holds the queue's registration
  auto d = queue.start({"--notify"});
  const auto r = d.finish(10'000ms);
  (void)::mq_notify(q.native(), nullptr);
  expect_exit(r, 1);
  EXPECT_NE(r.err.find("another process is registered with mq_notify"), std::string::npos)
      << "mq_notify failed with EBUSY: say that another process holds the registration\n"
      << r.describe();
}

GRADED_TEST(Hidden, ForgedJobsWithOneIdAllRun, 1,
            "README §The rule — ids are unique only if every job came from submit_job: sort "
            "and pick with a strict order, which equal ids do not break") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  constexpr int kForged = 36;
  const MqLimit msg_max("msg_max", 40);
  if (!msg_max.set()) GTEST_SKIP() << "cannot write /proc/sys/fs/mqueue/msg_max here";
  LAB04_START(d, queue, {"--max-msgs", "40"});
  Gate gate;
  ASSERT_TRUE(queue.submit(5, gate.cmd()));
  ASSERT_TRUE(wait_count(d, "Dispatcher: Processing job", 1)) << report(d);
  // While the one worker is busy, messages another program wrote: one id for all of them.
  auto q = ipclab::PosixMq::open(queue.name(), O_WRONLY);
  for (int i = 0; i < kForged; ++i)
    q.send(lab::encode_job({777, 5, ipclab::now_ns(), fmt::format("echo forged-{}", i)}), 5);
  gate.open();
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 1 + kForged, 20'000ms))
      << "36 jobs with one id, sent back and taken again, must all run\n"
      << report(d);
  for (int i = 0; i < kForged; ++i)
    EXPECT_EQ(lab04_test::count_of(d.out(), fmt::format("\nforged-{}\n", i)), 1u)
        << "forged job " << i << "\n"
        << report(d);
  d.signal(SIGTERM);
  expect_exit(d.finish(), 0);
}

GRADED_TEST(Hidden, BusyDispatcherSleepsWhileJobsWait, 2,
            "README §The design — while every worker is busy, the dispatcher does not touch the "
            "queue (not even poll it)") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue, {"--workers", "1"});
  Gate gate;
  const auto first = queue.submit(5, gate.cmd());
  ASSERT_TRUE(first && d.wait_for_output("Processing job " + std::to_string(*first))) << report(d);
  ASSERT_TRUE(queue.submit(5, "echo waiting"));  // the queue is not empty now
  // The one worker is busy: the dispatcher must sleep (in poll, on the pidfd) and stay
  // asleep, not wake for the waiting job again and again.
  int asleep = 0;
  EXPECT_TRUE(grader::wait_until([&] {
    asleep = ipclab::process_state(d.pid()) == 'S' ? asleep + 1 : 0;
    return asleep >= 50;
  })) << "the dispatcher was never seen asleep 50 times in a row while its worker was busy "
         "and a job waited: it spins on the readable queue\n"
      << report(d);
  gate.open();
  stop_after(d, 2);
}

GRADED_TEST(Hidden, LibraryChecksItsArguments, 2,
            "README §The API you implement — the header's contract holds for every caller, not "
            "only for the programs' option parsers") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  // create_queue: at least one message, and room for the header and one byte of command.
  EXPECT_THROW(lab::create_queue(lab::kDefaultQueue, {0, 64}), ipclab::UsageError);
  EXPECT_THROW(lab::create_queue(lab::kDefaultQueue, {1, static_cast<long>(lab::kHeaderSize)}),
               ipclab::UsageError);
  EXPECT_FALSE(queue.exists()) << "a refused queue must not exist";
  {
    auto q = lab::create_queue(lab::kDefaultQueue, {1, static_cast<long>(lab::kHeaderSize) + 1});
    EXPECT_EQ(q.attr().mq_maxmsg, 1);
  }
  // submit_job: a timeout of 0 is "do not wait", not an error.
  lab::SubmitRequest req;
  req.cmd = "x";
  req.timeout = std::chrono::milliseconds(0);
  EXPECT_EQ(lab::submit_job(req), 1u);
  EXPECT_THROW(lab::submit_job(req), ipclab::OperationFailed) << "the queue of one is full";
  // run_dispatcher: at least one worker.
  lab::DispatcherOptions opts;
  opts.workers = 0;
  EXPECT_THROW(lab::run_dispatcher(opts), ipclab::UsageError);
}

GRADED_TEST(Hidden, JobCounterFileCorners, 1,
            "README §Pitfalls 6 — the counter holds the last id in decimal; created 0600") {
  const std::string fresh = grader::scratch() + "/fresh.ids";
  EXPECT_EQ(lab::next_job_id(fresh), 1u);
  struct stat st {};
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "the counter file is created with mode 0600";
  const std::string bare = grader::scratch() + "/bare.ids";
  std::ofstream(bare) << "7";  // one digit, no newline (written by hand)
  EXPECT_EQ(lab::next_job_id(bare), 8u);
}

GRADED_TEST(Hidden, PickNextAgedJobAnywhere, 1, "README §The rule") {
  const std::int64_t now = 1'000'000'000'000;
  const std::int64_t s = 1'000'000'000;
  // The only aged job first in the span, then last.
  std::vector<lab::Job> first = {{1, 0, now - 6 * s, "old"}, {2, 31, now, "new"}};
  EXPECT_EQ(lab::pick_next(first, now, 5000ms), 0u);
  std::vector<lab::Job> last = {{2, 31, now, "new"}, {1, 0, now - 6 * s, "old"}};
  EXPECT_EQ(lab::pick_next(last, now, 5000ms), 1u);
  std::vector<lab::Job> one = {{7, 3, now, "only"}};
  EXPECT_EQ(lab::pick_next(one, now, 5000ms), 0u);
}

GRADED_TEST(Hidden, LimitMessagesNameTheRightLimit, 2,
            "README §Pitfalls 9 — name the limit that was hit, with its value") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  // Both attributes at or above a hard ceiling: only max-msgs (65537) is above its own.
  auto both = run({"job_dispatcher", "--max-msgs", "65537", "--msg-size", "16777216"});
  expect_exit(both, 3);
  EXPECT_NE(both.err.find("max-msgs 65537 is above"), std::string::npos) << both.describe();
  // A queue of exactly RLIMIT_MSGQUEUE bytes (max-msgs x msg-size) does not fit either: the
  // kernel counts an overhead per message on top.
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_MSGQUEUE, &rl), 0);
  rl.rlim_cur = 10 * 1024;  // this test process and its children only
  ASSERT_EQ(::setrlimit(RLIMIT_MSGQUEUE, &rl), 0);
  auto exact = run({"job_dispatcher", "--max-msgs", "10", "--msg-size", "1024"});
  expect_exit(exact, 3);
  EXPECT_NE(exact.err.find("above RLIMIT_MSGQUEUE"), std::string::npos)
      << "10 x 1024 bytes need more than RLIMIT_MSGQUEUE = 10240\n"
      << exact.describe();
  EXPECT_FALSE(queue.exists());
}

GRADED_TEST(Hidden, LimitMessagesWithoutCapSysResource, 1,
            "README §Limits — without CAP_SYS_RESOURCE the /proc limits apply, below the hard "
            "ceilings") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no setpriv (util-linux) here";
  const long msg_max = std::stol("0" + ipclab::read_file("/proc/sys/fs/mqueue/msg_max"));
  const long msgsize_max = std::stol("0" + ipclab::read_file("/proc/sys/fs/mqueue/msgsize_max"));
  if (msg_max <= 0 || msg_max >= 65536 || msgsize_max <= 0) GTEST_SKIP() << "unusual /proc limits";
  // One message too many, at the largest size allowed: it is max-msgs that is refused.
  auto over = dispatcher_without_cap_sys_resource(
      {"--max-msgs", std::to_string(msg_max + 1), "--msg-size", std::to_string(msgsize_max)});
  expect_exit(over, 3);
  EXPECT_NE(over.err.find(fmt::format("msg_max = {}", msg_max)), std::string::npos)
      << over.describe();
  EXPECT_EQ(over.err.find("msgsize_max = "), std::string::npos)
      << "msg-size " << msgsize_max << " is not above msgsize_max\n"
      << over.describe();
  // 65536 messages: above msg_max, but not above the hard ceiling (HARD_MSGMAX = 65536).
  auto ceiling = dispatcher_without_cap_sys_resource({"--max-msgs", "65536", "--msg-size", "64"});
  expect_exit(ceiling, 3);
  EXPECT_NE(ceiling.err.find(fmt::format("msg_max = {}", msg_max)), std::string::npos)
      << ceiling.describe();
  EXPECT_EQ(ceiling.err.find("HARD_MSGMAX"), std::string::npos)
      << "65536 messages are not above the hard ceiling\n"
      << ceiling.describe();
  EXPECT_FALSE(queue.exists());
}

GRADED_TEST(Hidden, TooManyQueuesNamesQueuesMax, 1,
            "README §Limits — ENOSPC is queues_max: name it, with its value") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no setpriv (util-linux) here";
  // No queue more may be made in this test's IPC namespace without CAP_SYS_RESOURCE.
  const MqLimit queues_max("queues_max", 0);
  if (!queues_max.set()) GTEST_SKIP() << "cannot write /proc/sys/fs/mqueue/queues_max here";
  const auto r = dispatcher_without_cap_sys_resource({"--max-msgs", "1", "--msg-size", "64"});
  expect_exit(r, 3);
  EXPECT_NE(r.err.find("queues_max = 0 "), std::string::npos)
      << "mq_open failed with ENOSPC: name queues_max, with its value (0 here), on one line\n"
      << r.describe();
  EXPECT_FALSE(queue.exists());
}

GRADED_TEST(Hidden, WithoutPidfdOpenJobsStillFinish, 1,
            "README §The design — without pidfd_open, look at the jobs every 50 ms") {
  LAB04_REQUIRE_MQ();
  if (!grader::seccomp_filters_work()) GTEST_SKIP() << "seccomp filters are not available here";
  TestQueue queue;
  // From here on this test process, and every program it starts, runs on what looks like
  // a kernel older than 5.3: pidfd_open fails with ENOSYS. (The test is a process of its
  // own: the filter ends with it.)
  ASSERT_TRUE(grader::SyscallDenial({SYS_pidfd_open}, ENOSYS).install());
  LAB04_START(d, queue, {"--workers", "2"});
  Gate gate;
  ASSERT_TRUE(queue.submit(5, gate.cmd()));
  ASSERT_TRUE(queue.submit(5, "echo quick-one"));
  ASSERT_TRUE(wait_count(d, "quick-one", 1)) << report(d);
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 1))
      << "a job that ended must be seen while another runs: without pidfds, poll with a "
         "50 ms timeout, and a poll that times out (returns 0) is no error\n"
      << report(d);
  gate.open();
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 2)) << report(d);
  ASSERT_TRUE(queue.submit(5, "echo after-the-gate"));
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 3)) << report(d);
  d.signal(SIGTERM);
  const auto r = d.finish(10'000ms);
  expect_exit(r, 0);
  EXPECT_NE(r.out.find("after-the-gate"), std::string::npos) << r.describe();
}

GRADED_TEST(Hidden, StoppingLineNamesTheSignal, 1,
            "README §Pitfalls 8 — `Dispatcher: stopping (SIGTERM): ...`, or (SIGINT)") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  for (const auto& [sig, name] : {std::pair{SIGINT, "SIGINT"}, std::pair{SIGTERM, "SIGTERM"}}) {
    LAB04_START(d, queue);
    d.signal(sig);
    const auto r = d.finish(10'000ms);
    expect_exit(r, 0);
    EXPECT_NE(r.out.find(fmt::format("Dispatcher: stopping ({})", name)), std::string::npos)
        << r.describe();
  }
}
