// Lab 12 public grader, the programs: shm_ring_producer and shm_ring_consumer as
// unrelated processes, signals, and shm_ring_bench run once, tiny, verified.
#include <csignal>  // SIGINT, SIGTERM
#include <set>      // std::set
#include <sstream>  // std::istringstream

#include "common.hpp"

namespace lab = ipclab::lab12;

using grader::expect_exit;
using grader::expect_output;
using grader::run;
using lab12_test::ShmRing;

namespace {

/// The sequence numbers a consumer printed (--print-seq), in order.
std::vector<std::uint64_t> seqs(const std::string& out) {
  std::vector<std::uint64_t> v;
  std::istringstream in(out);
  for (std::uint64_t s = 0; in >> s;) v.push_back(s);
  return v;
}

grader::RunOptions slow() {
  grader::RunOptions o;
  o.timeout = 30'000ms;
  return o;
}

}  // namespace

GRADED_TEST(Programs, TextLinesArriveInOrder, 2, "README §Programs") {
  const std::string lines =
      "first line\n\nsecond, after an empty one\n" + std::string(300, 'x') + "\nlast\n";
  grader::Process consumer({"shm_ring_consumer", "--name=t", "--text", "--timeout=20"});
  auto p = run({"shm_ring_producer", "--name=t", "--stdin", "--capacity=1KiB", "--timeout=20"},
               {.input = lines, .timeout = 30'000ms});
  expect_exit(p, 0);
  auto c = consumer.finish(10'000ms);
  expect_output(c, lines);
  expect_exit(c, 0);
}

GRADED_TEST(Programs, ConsumerThatStartsFirstWaitsAtNoCpu, 5,
            "README §Waiting — open() sleeps between looks; peek() sleeps after its spin") {
  grader::Process consumer({"shm_ring_consumer", "--name=t", "--print-seq", "--timeout=30"});
  // No ring yet: the consumer waits for it to appear. It must not burn a CPU doing so.
  grader::wait_until([] { return false; }, 200ms);
  ASSERT_FALSE(consumer.exited()) << "the consumer gave up at once:\n"
                                  << consumer.finish().describe();
  double cpu0 = grader::cpu_seconds(consumer.pid());
  grader::wait_until([] { return false; }, 500ms);
  double cpu = grader::cpu_seconds(consumer.pid()) - cpu0;
  EXPECT_LT(cpu, 0.1) << "waiting for the ring to appear used " << cpu << " s of CPU in 0.5 s";
  // The ring exists, empty: the consumer now waits for data, again at ~0 CPU.
  ShmRing ring = ShmRing::create("t", 4096);
  grader::wait_until([] { return false; }, 200ms);
  cpu0 = grader::cpu_seconds(consumer.pid());
  grader::wait_until([] { return false; }, 500ms);
  cpu = grader::cpu_seconds(consumer.pid()) - cpu0;
  EXPECT_LT(cpu, 0.1) << "waiting on an empty ring used " << cpu << " s of CPU in 0.5 s";
  std::vector<std::byte> buf(64);
  for (std::uint64_t seq = 0; seq < 3; ++seq) {
    lab::fill_message(buf, seq);
    ASSERT_TRUE(ring.push(buf, grader::deadline(5s)));
  }
  ring.close();
  auto r = consumer.finish(10'000ms);
  expect_output(r, "0\n1\n2\n");
  expect_exit(r, 0);
  ShmRing::remove("t");
}

GRADED_TEST(Programs, GeneratedStreamArrivesVerifiedAndInOrder, 3, "README §Programs") {
  grader::Process consumer({"shm_ring_consumer", "--name=t", "--print-seq", "--timeout=20"});
  auto p =
      run({"shm_ring_producer", "--name=t", "--count=30000", "--capacity=4KiB", "--min-size=16",
           "--max-size=1500", "--seed=" + std::to_string(grader::seed()), "--timeout=20"},
          slow());
  expect_exit(p, 0);
  EXPECT_NE(p.out.find("sent 30000 messages"), std::string::npos) << p.describe();
  auto c = consumer.finish(10'000ms);
  expect_exit(c, 0);
  const auto got = seqs(c.out);
  ASSERT_EQ(got.size(), 30000u) << c.describe();
  for (std::uint64_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], i) << "the consumer's " << i << "th message";
}

GRADED_TEST(Programs, TwoConsumerProcessesSplitTheStream, 3,
            "README §Pitfalls 5 — each message to exactly one consumer") {
  grader::Process c1({"shm_ring_consumer", "--name=t", "--print-seq", "--timeout=20"});
  grader::Process c2({"shm_ring_consumer", "--name=t", "--print-seq", "--timeout=20"});
  auto p = run({"shm_ring_producer", "--name=t", "--count=50000", "--capacity=8KiB",
                "--max-size=600", "--timeout=20"},
               slow());
  expect_exit(p, 0);
  auto r1 = c1.finish(10'000ms), r2 = c2.finish(10'000ms);
  expect_exit(r1, 0);
  expect_exit(r2, 0);
  auto all = seqs(r1.out);
  const auto b = seqs(r2.out);
  all.insert(all.end(), b.begin(), b.end());
  const std::set<std::uint64_t> unique(all.begin(), all.end());
  EXPECT_EQ(all.size(), 50000u) << "messages delivered in total (duplicates count twice)";
  EXPECT_EQ(unique.size(), 50000u) << "distinct messages delivered";
}

GRADED_TEST(Programs, SignalsStopBothSidesAndRemoveTheRing, 4,
            "README §Programs — ShutdownSignals; the producer removes the ring on every exit") {
  for (int sig : {SIGTERM, SIGINT}) {
    // A producer blocked on a full ring (no consumer), a consumer blocked on nothing.
    grader::Process p(
        {"shm_ring_producer", "--name=t", "--count=1000000", "--capacity=4KiB", "--timeout=60"});
    ASSERT_TRUE(grader::wait_until([] { return lab12_test::objects_now() != ""; }, 10'000ms))
        << "the producer made no ring";
    grader::wait_until([] { return false; }, 100ms);
    p.signal(sig);
    auto st = p.wait(5'000ms);
    ASSERT_TRUE(st.has_value()) << "the producer did not stop within 5 s of signal " << sig;
    EXPECT_TRUE(st->exited() && st->exit_code() == 1) << st->describe();
    EXPECT_NE(p.err().find("interrupted"), std::string::npos) << p.err();
    EXPECT_EQ(lab12_test::objects_now(), "") << "left behind after signal " << sig;

    grader::Process c({"shm_ring_consumer", "--name=none", "--timeout=60"});
    grader::wait_until([] { return false; }, 100ms);
    c.signal(sig);
    auto cs = c.wait(5'000ms);
    ASSERT_TRUE(cs.has_value()) << "the consumer did not stop within 5 s of signal " << sig;
    EXPECT_TRUE(cs->exited() && cs->exit_code() == 1) << cs->describe();
  }
}

GRADED_TEST(Programs, TimeoutsAndBadArguments, 1, "README §Programs — exit codes") {
  auto c = run({"shm_ring_consumer", "--name=none", "--timeout=0.3"});
  expect_exit(c, 1);
  EXPECT_NE(c.err.find("error: "), std::string::npos) << c.describe();
  expect_exit(run({"shm_ring_producer", "--name=t", "--capacity=3000"}), 2);
  expect_exit(run({"shm_ring_producer", "--name=t", "--max-size=5000", "--capacity=4KiB"}), 2);
  expect_exit(run({"shm_ring_bench", "--pin=sideways"}), 2);
  expect_exit(run({"shm_ring_bench", "--format=xml"}), 2);
  expect_exit(run({"shm_ring_bench", "--buffer-size=3000"}), 2);
  EXPECT_EQ(lab12_test::objects_now(), "");
}

// ---- the benchmark, once, tiny ----------------------------------------------------------

namespace {
std::vector<std::string> tiny_bench(const std::string& format) {
  return {"shm_ring_bench",   "--buffer-size=64KiB", "--iterations=3000", "--msg-size=1024",
          "--round-trips=50", "--warmup=10",         "--runs=1",          "--pin=none",
          "--timeout=20",     "--format=" + format};
}
}  // namespace

GRADED_TEST(Bench, TinyRunVerifiesAndReportsEveryContender, 3, "README §Benchmark") {
  auto r = run(tiny_bench("json"), slow());
  expect_exit(r, 0);
  for (const char* key : {"\"benchmark\": \"shm_ring_bench\"", "\"shm_ring\"", "\"pipe\"",
                          "\"unix_socket\"", "\"boost_mq\"", "\"memcpy\"", "\"shm_ring/pipe\"",
                          "\"shm_ring/unix_socket\"", "\"shm_ring/boost_mq\"", "\"p99_ns\""})
    EXPECT_NE(r.out.find(key), std::string::npos) << "JSON lacks " << key << "\n" << r.describe();
  auto t = run(tiny_bench("table"), slow());
  expect_exit(t, 0);
  EXPECT_NE(t.out.find("memcpy bound"), std::string::npos) << t.describe();
  EXPECT_EQ(lab12_test::objects_now(), "");
}

GRADED_TEST(Bench, CorruptedPayloadFailsLoudly, 3,
            "README §Benchmark — every message is verified by its receiver") {
  auto r = run(tiny_bench("table"), {.timeout = 30'000ms, .env = {"IPCLAB_BENCH_CORRUPT=100"}});
  expect_exit(r, 1);
  EXPECT_NE(r.err.find("verification failed"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("shm_ring"), std::string::npos) << r.describe();
  EXPECT_EQ(lab12_test::objects_now(), "");
}
