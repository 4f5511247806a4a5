// Lab 04 hidden grader: concurrency of submitters, no job lost or run twice across
// restarts, ages that survive a restart, and the corners of the message format, limits
// and signals.
#include <signal.h>        // SIGTERM, SIGINT
#include <sys/resource.h>  // setrlimit, RLIMIT_MSGQUEUE

#include <map>     // std::map
#include <random>  // std::mt19937_64
#include <set>     // std::set

#include "../public/common.hpp"
#include "ipclab/clock.hpp"  // Stopwatch

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
