// Lab 04 public grader: priority order, FIFO, aging, backpressure, mq_notify, SIGTERM and
// restart, unlinking, usage and limit errors — each checked on the real programs.
#include <signal.h>  // SIGTERM
#include <unistd.h>  // access

#include <algorithm>  // std::stable_sort, std::max_element
#include <iterator>   // std::istreambuf_iterator
#include <random>     // std::mt19937_64

#include "common.hpp"
#include "ipclab/clock.hpp"          // Stopwatch, now_ns
#include "ipclab/instance_lock.hpp"  // InstanceLock::path_of
#include "ipclab/process.hpp"        // child_pids, process_state

GRADER_LAB("lab04", "POSIX message-queue priority dispatcher");

using grader::expect_exit;
using grader::run;
using lab04_test::Gate;
using lab04_test::report;
using lab04_test::started_ids;
using lab04_test::started_jobs;
using lab04_test::TestQueue;
using lab04_test::wait_count;
using Ids = std::vector<std::uint64_t>;
namespace lab = ipclab::lab04;

namespace {

/// The order the rule gives a burst that waited together, none of it aged: highest
/// priority first, smallest id first within a priority.
Ids strict_order(std::vector<std::pair<std::uint64_t, unsigned>> jobs) {
  std::stable_sort(jobs.begin(), jobs.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  Ids ids;
  for (const auto& j : jobs) ids.push_back(j.first);
  return ids;
}

lab::Job job(std::uint64_t id, unsigned priority, std::int64_t submit_ns) {
  return lab::Job{id, priority, submit_ns, fmt::format("job{}", id)};
}

}  // namespace

// ---- the rule, in-process ----------------------------------------------------------------

GRADED_TEST(Rule, PickNextHighestPriorityThenOldest, 2, "README §The rule") {
  const std::int64_t now = 1'000'000'000'000;
  std::vector<lab::Job> v = {job(4, 3, now), job(2, 9, now), job(7, 9, now), job(1, 0, now)};
  EXPECT_EQ(lab::pick_next(v, now, 5000ms), 1u) << "priority 9, id 2 goes first";
  v.erase(v.begin() + 1);
  EXPECT_EQ(lab::pick_next(v, now, 5000ms), 1u) << "then priority 9, id 7";
  v.erase(v.begin() + 1);
  EXPECT_EQ(lab::pick_next(v, now, 5000ms), 0u) << "then priority 3";
  std::vector<lab::Job> same = {job(12, 5, now), job(10, 5, now), job(11, 5, now)};
  EXPECT_EQ(lab::pick_next(same, now, 5000ms), 1u) << "FIFO within a priority: smallest id";
}

GRADED_TEST(Rule, PickNextAgedOldestFirst, 3,
            "README §Pitfalls 3 — an aged job goes before every newer job; aged jobs by age") {
  const std::int64_t now = 1'000'000'000'000;
  const std::int64_t s = 1'000'000'000;
  // Job 3 (priority 0) waited 6 s with aging 5 s: it goes before the newer priority-31 jobs.
  std::vector<lab::Job> v = {job(5, 31, now - s), job(3, 0, now - 6 * s), job(6, 31, now)};
  EXPECT_EQ(lab::pick_next(v, now, 5000ms), 1u);
  // Two aged jobs: the older (smaller id) first, whatever the priorities.
  std::vector<lab::Job> two = {job(8, 20, now - 7 * s), job(4, 1, now - 9 * s), job(9, 31, now)};
  EXPECT_EQ(lab::pick_next(two, now, 5000ms), 1u);
  // Not aged yet (waited exactly the aging time, not longer): priority decides.
  std::vector<lab::Job> edge = {job(1, 0, now - 5 * s), job(2, 7, now)};
  EXPECT_EQ(lab::pick_next(edge, now, 5000ms), 1u);
  // aging 0 = no aging.
  std::vector<lab::Job> off = {job(1, 0, now - 1000 * s), job(2, 7, now)};
  EXPECT_EQ(lab::pick_next(off, now, 0ms), 1u);
}

// ---- order --------------------------------------------------------------------------------

GRADED_TEST(Order, BurstOfMixedPrioritiesRunsHighestFirst, 6,
            "README §Pitfalls 5 — highest priority first, FIFO (smallest id) within a priority") {
  LAB04_REQUIRE_MQ();
  grader::repeat(3, [&](int, std::uint64_t seed) {
    TestQueue queue;
    LAB04_START(d, queue, {"--workers", "1", "--aging-ms", "0"});
    Gate gate;
    const auto first = queue.submit(31, gate.cmd());
    ASSERT_TRUE(first && d.wait_for_output("Processing job " + std::to_string(*first)))
        << report(d);
    // The one worker is busy: the burst waits in the queue, and the order is the rule's.
    std::mt19937_64 rng(seed);
    std::vector<std::pair<std::uint64_t, unsigned>> burst;
    for (int i = 0; i < 9; ++i) {
      const unsigned p = static_cast<unsigned>(rng() % 4) * 10;  // 0, 10, 20, 30: many ties
      const auto id = queue.submit(p, fmt::format("echo burst-{}", i));
      ASSERT_TRUE(id);
      burst.push_back({*id, p});
    }
    gate.open();
    ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 10)) << report(d);
    Ids expected = {*first};
    for (auto id : strict_order(burst)) expected.push_back(id);
    EXPECT_EQ(started_ids(d.out()), expected) << report(d);
  });
}

GRADED_TEST(Order, FifoWithinOnePriority, 3, "README §Pitfalls 5") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue, {"--aging-ms", "0"});
  Gate gate;
  const auto first = queue.submit(20, gate.cmd());
  ASSERT_TRUE(first && d.wait_for_output("Processing job " + std::to_string(*first)));
  Ids expected = {*first};
  for (int i = 0; i < 8; ++i) {
    const auto id = queue.submit(7, fmt::format("echo fifo-{}", i));
    ASSERT_TRUE(id);
    expected.push_back(*id);
  }
  gate.open();
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 9)) << report(d);
  EXPECT_EQ(started_ids(d.out()), expected) << report(d);
}

GRADED_TEST(Order, JobRunsWithShAndItsOutputPassesThrough, 2, "README §Pitfalls 11") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue);
  const auto id = queue.submit(4, "echo out-$((6*7)) && echo err-line >&2");
  ASSERT_TRUE(id);
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 1)) << report(d);
  const std::string line = fmt::format(
      "Dispatcher: Processing job {} (priority 4): echo out-$((6*7)) && echo "
      "err-line >&2\nout-42\n",
      *id);
  EXPECT_NE(d.out().find(line), std::string::npos)
      << "expected the Processing line, then the job's own output:\n"
      << line << report(d);
  EXPECT_NE(d.err().find("err-line"), std::string::npos) << report(d);
}

// ---- aging --------------------------------------------------------------------------------

GRADED_TEST(Aging, OldLowJobGoesBeforeNewerHighJobs, 6,
            "README §Pitfalls 1 and 3 — the dispatcher must see every waiting job at each "
            "decision; an aged job goes before newer ones") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue, {"--workers", "1", "--aging-ms", "300"});
  Gate gate;
  const auto first = queue.submit(31, gate.cmd());
  ASSERT_TRUE(first && d.wait_for_output("Processing job " + std::to_string(*first)));
  const auto low = queue.submit(0, "echo low");
  ipclab::Stopwatch since_low;  // the job's submit time is earlier than this
  ASSERT_TRUE(low);
  // Let the low job age (this wait is the condition itself, not a guess).
  ASSERT_TRUE(grader::wait_until([&] { return since_low.elapsed_s() > 0.45; }, 10'000ms));
  const auto high1 = queue.submit(30, "echo high1");
  const auto high2 = queue.submit(30, "echo high2");
  ASSERT_TRUE(high1 && high2);
  gate.open();
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 4)) << report(d);
  EXPECT_EQ(started_ids(d.out()), (Ids{*first, *low, *high1, *high2}))
      << "job " << *low << " (priority 0) had waited longer than --aging-ms=300 when the "
      << "worker became free: it must go before the newer priority-30 jobs\n"
      << report(d);
}

GRADED_TEST(Aging, YoungJobsKeepStrictPriority, 2, "README §The rule") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue, {"--workers", "1", "--aging-ms", "600000"});
  Gate gate;
  const auto first = queue.submit(31, gate.cmd());
  ASSERT_TRUE(first && d.wait_for_output("Processing job " + std::to_string(*first)));
  const auto low = queue.submit(0, "echo low");
  const auto high = queue.submit(30, "echo high");
  ASSERT_TRUE(low && high);
  gate.open();
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 3)) << report(d);
  EXPECT_EQ(started_ids(d.out()), (Ids{*first, *high, *low})) << report(d);
}

// ---- backpressure -------------------------------------------------------------------------

GRADED_TEST(Backpressure, FullQueueSubmitWaitsThenFails, 4,
            "README §Pitfalls 1 and 7 — a busy dispatcher leaves jobs in the queue; "
            "submit_job waits with mq_timedsend, then `error: queue full`, exit 1") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue, {"--workers", "1", "--max-msgs", "3"});
  Gate gate;
  const auto first = queue.submit(5, gate.cmd());
  ASSERT_TRUE(first && d.wait_for_output("Processing job " + std::to_string(*first)));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(queue.submit(5, fmt::format("echo fill-{}", i)));
  EXPECT_EQ(queue.depth(), 3) << "the queue (max-msgs 3) should hold the 3 waiting jobs\n"
                              << report(d);
  auto r = run(queue.argv_for(5, "echo one-too-many", {"--timeout", "400"}));
  expect_exit(r, 1);
  EXPECT_EQ(r.err.rfind("error: queue full", 0), 0u) << r.describe();
  EXPECT_EQ(r.out, "") << r.describe();
  EXPECT_GE(r.seconds, 0.35) << "submit_job must wait up to --timeout for space\n" << r.describe();
  EXPECT_EQ(queue.depth(), 3);
  gate.open();
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 4)) << report(d);
  EXPECT_EQ(d.out().find("one-too-many"), std::string::npos)
      << "a job whose submit_job failed must not run\n"
      << report(d);
}

GRADED_TEST(Backpressure, SubmitSucceedsWhenSpaceFrees, 3, "README §Pitfalls 7") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue, {"--workers", "1", "--max-msgs", "2"});
  Gate gate;
  const auto first = queue.submit(5, gate.cmd());
  ASSERT_TRUE(first && d.wait_for_output("Processing job " + std::to_string(*first)));
  ASSERT_TRUE(queue.submit(5, "echo fill-a") && queue.submit(5, "echo fill-b"));
  grader::Process waiting(queue.argv_for(9, "echo got-in", {"--timeout", "60000"}));
  // It must be blocked in mq_timedsend (where /proc tells us), not failed or finished.
  grader::wait_until([&] {
    return !waiting.running() || lab04_test::current_syscall(waiting.pid()) == SYS_mq_timedsend;
  });
  ASSERT_TRUE(waiting.running()) << "submit_job gave up on a full queue before --timeout:\n"
                                 << waiting.finish().describe();
  EXPECT_EQ(waiting.out(), "");
  gate.open();  // the dispatcher takes jobs again: space frees up
  auto r = waiting.finish(20'000ms);
  expect_exit(r, 0);
  EXPECT_EQ(r.out.rfind("Job ", 0), 0u) << r.describe();
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 4)) << report(d);
  EXPECT_NE(d.out().find("got-in"), std::string::npos) << report(d);
}

// ---- mq_notify ----------------------------------------------------------------------------

GRADED_TEST(Notify, RegistersAndReArmsAfterEveryNotification, 6,
            "README §Pitfalls 4 — mq_notify is one-shot: re-arm it every time, before draining") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue, {"--notify", "--workers", "1"});
  const bool visible = lab04_test::dev_mqueue_mounted();
  auto registered = [&] { return !visible || queue.notify_pid() == d.pid(); };
  for (int round = 1; round <= 4; ++round) {
    ASSERT_TRUE(grader::wait_until(registered))
        << "round " << round << ": /dev/mqueue" << queue.name()
        << " does not show the dispatcher (pid " << d.pid()
        << ") registered with mq_notify while it waits for work (NOTIFY_PID: " << queue.notify_pid()
        << ")\n"
        << report(d);
    if (visible) {
      EXPECT_NE(lab04_test::current_syscall(d.pid()), SYS_mq_timedreceive)
          << "in --notify mode the dispatcher must wait for the notification, not in "
             "mq_receive";
    }
    const auto id = queue.submit(3, fmt::format("echo round-{}", round));
    ASSERT_TRUE(id);
    ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", static_cast<std::size_t>(round)))
        << "job " << *id << " (round " << round << ") never ran: was mq_notify re-armed?\n"
        << report(d);
  }
  EXPECT_EQ(started_ids(d.out()), (Ids{1, 2, 3, 4})) << report(d);
}

GRADED_TEST(Notify, OneNotificationDrainsABurst, 3,
            "README §Pitfalls 4 — one notification for many messages: drain until empty") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue, {"--notify", "--workers", "2", "--aging-ms", "0"});
  if (lab04_test::dev_mqueue_mounted()) {
    ASSERT_TRUE(grader::wait_until([&] { return queue.notify_pid() == d.pid(); })) << report(d);
  }
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(queue.submit(6, fmt::format("echo burst-{}", i)));
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 7))
      << "7 jobs were submitted back to back; not all of them ran\n"
      << report(d);
  EXPECT_EQ(queue.depth(), 0);
}

// ---- SIGTERM and restart ------------------------------------------------------------------

GRADED_TEST(Shutdown, SigtermFinishesRunningJobLeavesQueuedOnes, 6,
            "README §Pitfalls 1 and 8 — SIGTERM: running jobs finish, waiting jobs stay queued") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue, {"--workers", "1"});
  Gate gate;
  const auto first = queue.submit(10, gate.cmd());
  ASSERT_TRUE(first && d.wait_for_output("Processing job " + std::to_string(*first)));
  for (unsigned p : {3u, 7u, 5u}) ASSERT_TRUE(queue.submit(p, fmt::format("echo queued-{}", p)));
  d.signal(SIGTERM);
  EXPECT_FALSE(d.wait(300ms)) << "the dispatcher exited while job " << *first
                              << " was still running: it must let it finish\n"
                              << report(d);
  gate.open();
  auto r = d.finish(20'000ms);
  expect_exit(r, 0);
  EXPECT_NE(r.out.find("gate-passed"), std::string::npos)
      << "the running job was not allowed to finish\n"
      << r.describe();
  EXPECT_NE(r.out.find(fmt::format("Dispatcher: Finished job {}: exited with status 0", *first)),
            std::string::npos)
      << r.describe();
  EXPECT_EQ(started_ids(r.out), Ids{*first}) << "no queued job may start after SIGTERM\n"
                                             << r.describe();
  EXPECT_EQ(queue.depth(), 3) << "the 3 jobs that had not started must still be in the queue";
}

GRADED_TEST(Shutdown, RestartPicksUpQueuedJobs, 5,
            "README §Pitfalls 1 and 13 — the queue outlives the dispatcher; never unlink it on "
            "exit") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  Ids expected;
  {
    LAB04_START(d, queue, {"--workers", "1", "--aging-ms", "0"});
    Gate gate;
    const auto first = queue.submit(10, gate.cmd());
    ASSERT_TRUE(first && d.wait_for_output("Processing job " + std::to_string(*first)));
    const auto a = queue.submit(3, "echo restart-3");
    const auto b = queue.submit(7, "echo restart-7");
    const auto c = queue.submit(5, "echo restart-5");
    const auto e = queue.submit(7, "echo restart-7b");
    ASSERT_TRUE(a && b && c && e);
    expected = {*b, *e, *c, *a};
    d.signal(SIGTERM);
    gate.open();
    expect_exit(d.finish(20'000ms), 0);
  }
  ASSERT_EQ(queue.depth(), 4) << "after SIGTERM the queue should hold the 4 waiting jobs";
  LAB04_START(d2, queue, {"--workers", "1", "--aging-ms", "0"});
  ASSERT_TRUE(wait_count(d2, "Dispatcher: Finished job", 4))
      << "the restarted dispatcher did not run the jobs left in the queue\n"
      << report(d2);
  EXPECT_EQ(started_ids(d2.out()), expected) << report(d2);
  // And it still takes new work, with ids that keep growing.
  const auto next = queue.submit(1, "echo after-restart");
  ASSERT_TRUE(next);
  EXPECT_GT(*next, *std::max_element(expected.begin(), expected.end()));
  EXPECT_TRUE(wait_count(d2, "Dispatcher: Finished job", 5)) << report(d2);
}

GRADED_TEST(Shutdown, KilledDispatchersJobRunsAgain, 3,
            "README §Restart — at least once: a job is journaled until it is reaped") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  const std::string runs = grader::scratch() + "/runs";
  // The first run stays (until killed); the second one finishes.
  const std::string cmd = fmt::format(
      "echo run >> '{0}'; if [ $(wc -l < '{0}') -ge 2 ]; then echo second-run; else sleep 60; fi",
      runs);
  std::uint64_t id = 0;
  std::vector<pid_t> first_run;
  {
    LAB04_START(d, queue, {"--workers", "1"});
    const auto job = queue.submit(5, cmd);
    ASSERT_TRUE(job);
    id = *job;
    ASSERT_TRUE(grader::wait_until(
        [&] {
          std::ifstream in(runs);
          return std::string(std::istreambuf_iterator<char>(in), {}).find("run") !=
                 std::string::npos;
        },
        10'000ms))
        << "the job never started\n"
        << report(d);
    first_run = ipclab::child_pids(d.pid());
    ASSERT_EQ(::kill(d.pid(), SIGKILL), 0);
    ASSERT_TRUE(d.wait(10'000ms));
  }
  for (const pid_t p : first_run)  // its job dies with it: no run overlaps the next one
    EXPECT_TRUE(grader::wait_until(
        [&] {
          const char s = ipclab::process_state(p);
          return s == 0 || s == 'Z';
        },
        5'000ms))
        << "job process " << p << " outlived its killed dispatcher";
  LAB04_START(d2, queue, {"--workers", "1"});
  EXPECT_TRUE(
      d2.wait_for_output(fmt::format("Finished job {}: exited with status 0", id), 10'000ms))
      << "the job the killed dispatcher was running was not run again\n"
      << report(d2);
  EXPECT_NE(d2.out().find("second-run"), std::string::npos) << report(d2);
  d2.signal(SIGTERM);
  expect_exit(d2.finish(10'000ms), 0);
  // The leak guard checks that the journal left nothing in the run directory.
}

// ---- unlink, usage, limits ----------------------------------------------------------------

GRADED_TEST(Unlink, DispatcherUnlinkRemovesTheQueue, 2, "README §Pitfalls 13") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  {
    LAB04_START(d, queue);
    ASSERT_TRUE(queue.submit(2, "true"));
    d.signal(SIGTERM);
    expect_exit(d.finish(), 0);
  }
  ASSERT_TRUE(queue.exists()) << "job_dispatcher must not unlink its queue when it stops";
  auto r = run({"job_dispatcher", "--unlink"});
  expect_exit(r, 0);
  EXPECT_EQ(r.out, fmt::format("Queue {} unlinked\n", queue.name())) << r.describe();
  EXPECT_FALSE(queue.exists()) << "the queue still exists after job_dispatcher --unlink";
  auto again = run({"job_dispatcher", "--unlink"});
  expect_exit(again, 1);
  EXPECT_EQ(again.err.rfind("error: ", 0), 0u) << again.describe();
}

// ---- one live dispatcher per queue ----------------------------------------------------------

GRADED_TEST(Instance, LiveDispatcherRefusesSecondAndUnlink, 1,
            "README §Pitfalls 13 — one live dispatcher per queue; --unlink only a dead one's") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  LAB04_START(d, queue);
  const std::string lock = ipclab::InstanceLock::path_of(queue.lock_name());
  EXPECT_EQ(::access(lock.c_str(), F_OK), 0) << "a serving dispatcher holds " << lock;
  auto second = run({"job_dispatcher", "--msg-size", std::to_string(lab04_test::kTestMsgSize)});
  expect_exit(second, 1);
  EXPECT_NE(second.err.find("already running"), std::string::npos) << second.describe();
  auto u = run({"job_dispatcher", "--unlink"});
  expect_exit(u, 1);
  EXPECT_NE(u.err.find("already running"), std::string::npos) << u.describe();
  EXPECT_TRUE(queue.exists()) << "--unlink removed a live dispatcher's queue";
  const auto id = queue.submit(3, "echo still-served");
  ASSERT_TRUE(id);
  EXPECT_TRUE(d.wait_for_output("Finished job " + std::to_string(*id)))
      << "the live dispatcher stopped serving\n"
      << report(d);
  d.signal(SIGTERM);
  expect_exit(d.finish(), 0);
}

GRADED_TEST(Instance, LockFileGoneAfterCleanStop, 1,
            "README §Pitfalls 13 — a clean stop removes the lock file, never the queue") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  const std::string lock = ipclab::InstanceLock::path_of(queue.lock_name());
  for (int sig : {SIGTERM, SIGINT}) {
    LAB04_START(d, queue);
    EXPECT_EQ(::access(lock.c_str(), F_OK), 0) << "a serving dispatcher holds " << lock;
    d.signal(sig);
    expect_exit(d.finish(), 0);
    EXPECT_NE(::access(lock.c_str(), F_OK), 0) << lock << " is still there after signal " << sig;
  }
  EXPECT_TRUE(queue.exists()) << "the queue outlives the dispatcher";
  // A killed dispatcher leaves a stale lock file: the next one takes it over.
  {
    LAB04_START(k, queue);
    k.kill();
  }
  LAB04_START(again, queue);
  again.signal(SIGTERM);
  expect_exit(again.finish(), 0);
  EXPECT_NE(::access(lock.c_str(), F_OK), 0) << "the stale lock file was not taken over";
}

GRADED_TEST(Usage, BadPriorityIsExit2, 2, "README §Pitfalls 12 — priorities are 0..31") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  auto q = ipclab::PosixMq::create(queue.name(), lab::kDefaultMaxMsgs, lab04_test::kTestMsgSize);
  for (const char* p : {"--priority=32", "--priority=-1", "--priority=1000", "--priority=x"}) {
    auto r = run({"submit_job", p, "--cmd=echo nope"});
    expect_exit(r, 2);
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.describe();
  }
  expect_exit(run({"submit_job", "--priority=3"}), 2);  // no --cmd
  EXPECT_EQ(queue.depth(), 0) << "a rejected job must not be queued";
  auto ok31 = run({"submit_job", "--priority=31", "--cmd=echo top"});
  expect_exit(ok31, 0);
  auto ok0 = run({"submit_job", "--priority=0", "--cmd=echo bottom"});
  expect_exit(ok0, 0);
  EXPECT_EQ(ok0.out, "Job 2 queued (priority 0)\n") << ok0.describe();
  EXPECT_EQ(queue.depth(), 2);
}

GRADED_TEST(Limits, AttributeErrorNamesTheLimit, 3,
            "README §Pitfalls 9 — say which limit refused the queue") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  // Above the kernel's hard ceilings: refused even for root with CAP_SYS_RESOURCE.
  auto big = run({"job_dispatcher", "--msg-size", "16777217"});
  expect_exit(big, 3);
  EXPECT_NE(big.err.find("msgsize_max"), std::string::npos) << big.describe();
  EXPECT_NE(big.err.find("16777216"), std::string::npos)
      << "name the ceiling (16 MiB) the size is above\n"
      << big.describe();
  auto many = run({"job_dispatcher", "--max-msgs", "65537", "--msg-size", "64"});
  expect_exit(many, 3);
  EXPECT_NE(many.err.find("msg_max"), std::string::npos) << many.describe();
  EXPECT_NE(many.err.find("65536"), std::string::npos) << many.describe();
  EXPECT_FALSE(queue.exists()) << "a refused queue must not exist";
}
