// Lab 15 hidden grader: tiny capacities under two threads, mixed single and batch calls on
// each side, the wrap at every offset, reused memory, size_approx under load, and a tiny
// queue between two processes.
#include <cstring>  // std::memset

#include "../public/common.hpp"

using grader::expect_exit;
using grader::run;
using lab15_test::Fat;
using lab15_test::items;
using lab15_test::Owned;
using lab15_test::SpscQueue;
using lab15_test::StreamOptions;
using lab15_test::two_thread_stream;

GRADED_TEST(Hidden, TinyCapacitiesTwoThreads, 3, "README §Pitfalls 1 and 2") {
  grader::repeat(2, [](int, std::uint64_t seed) {
    for (std::size_t cap : {1u, 2u}) {
      Owned<std::uint64_t> q(cap);
      StreamOptions o;
      o.count = items(50'000, 10'000);
      o.producer_batch = seed % 2 == 0 ? 0 : 3;
      o.consumer_batch = seed % 2 == 0 ? 3 : 0;
      o.seed = seed;
      const std::string err = two_thread_stream(*q, o);
      ASSERT_EQ(err, "") << "capacity " << cap << ": " << err;
    }
  });
}

GRADED_TEST(Hidden, WrapAtEveryOffset, 2, "README §Pitfalls 3") {
  constexpr std::size_t kCap = 16;
  for (std::size_t offset = 0; offset < kCap; ++offset) {
    for (std::size_t n = 1; n <= kCap; ++n) {
      Owned<std::uint64_t> q(kCap);
      std::uint64_t v = 0, seq = 0;
      for (std::size_t i = 0; i < offset; ++i) {  // move head and tail to `offset`
        ASSERT_TRUE(q->try_push(seq));
        ASSERT_TRUE(q->try_pop(v));
        ++seq;
      }
      std::vector<std::uint64_t> in(n), out(n, 0);
      for (std::size_t i = 0; i < n; ++i) in[i] = seq + i;
      ASSERT_EQ(q->push_n(in.data(), n), n) << "offset " << offset << ", batch " << n;
      ASSERT_EQ(q->pop_n(out.data(), n), n) << "offset " << offset << ", batch " << n;
      ASSERT_EQ(in, out) << "a batch of " << n << " starting at slot " << offset
                         << " came out different";
    }
  }
}

GRADED_TEST(Hidden, CreateOverUsedMemoryStartsEmpty, 1, "README §The API") {
  ipclab::Mapping mem = ipclab::Mapping::anonymous_shared(SpscQueue<std::uint64_t>::bytes_for(8));
  std::memset(mem.data(), 0xab, mem.size());
  auto* q = SpscQueue<std::uint64_t>::create_in(mem.data(), mem.size(), 8);
  std::uint64_t v = 0;
  EXPECT_FALSE(q->try_pop(v)) << "a new queue in reused memory must be empty";
  EXPECT_EQ(q->size_approx(), 0u);
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(q->try_push(i)) << "push " << i;
  EXPECT_FALSE(q->try_push(8));
  // The memory of that full queue, reused for a new one of the same capacity: slot i holds
  // stamp i + 1, which is "full" for the new queue's first lap unless every stamp is reset.
  q = SpscQueue<std::uint64_t>::create_in(mem.data(), mem.size(), 8);
  EXPECT_FALSE(q->try_pop(v)) << "a new queue over an old full queue of the same capacity "
                                 "popped an item: reset the stamp of every slot, slot 0 too";
  std::uint64_t out[8] = {};
  EXPECT_EQ(q->pop_n(out, 8), 0u) << "pop_n on a new queue over an old full queue";
}

GRADED_TEST(Hidden, SizeApproxStaysInRangeUnderLoad, 1, "README §The API") {
  Owned<Fat> q(32);
  std::atomic<bool> done{false};
  std::atomic<std::size_t> worst{0};
  std::thread watcher([&] {  // a third thread: it must not starve the two sides
    for (int n = 1; !done.load(); ++n) {
      const std::size_t s = q->size_approx();
      if (s > 32) worst.store(s);
      if (n % 64 == 0) std::this_thread::sleep_for(100us);
    }
  });
  StreamOptions o;
  o.count = items(100'000, 20'000);
  const std::string err = two_thread_stream(*q, o);
  done.store(true);
  watcher.join();
  EXPECT_EQ(err, "");
  EXPECT_EQ(worst.load(), 0u) << "size_approx() returned more than the capacity";
}

GRADED_TEST(Hidden, TinyQueueBetweenProcesses, 2, "README §Pitfalls 1 and 2") {
  const std::string n = std::to_string(items(200'000, 50'000));
  grader::Process consumer({"spsc_stream", "consume", "--name", "tiny", "--count", n, "--capacity",
                            "2", "--timeout", "20"});
  ASSERT_TRUE(consumer.wait_for_output("ready", 10'000ms)) << consumer.err();
  auto prod = run({"spsc_stream", "produce", "--name", "tiny", "--count", n, "--timeout", "20"},
                  {.timeout = 40'000ms});
  auto cons = consumer.finish(40'000ms);
  expect_exit(cons, 0);
  expect_exit(prod, 0);
}
