// Lab 15 public grader: the full and empty edges, batches and the wrap, two threads, two
// processes through POSIX shared memory, the documented memory orders, the benchmark.
#include <sched.h>  // sched_getaffinity, CPU_COUNT

#include <cctype>      // std::isalnum
#include <cstring>     // std::memcpy
#include <filesystem>  // std::filesystem::exists
#include <string>      // std::string

#include "common.hpp"
#include "ipclab/error.hpp"  // UsageError, OperationFailed, SysError
#include "ipclab/names.hpp"  // names::posix

namespace lab = ipclab::lab15;

GRADER_LAB("lab15", "Lock-free SPSC queue");

using grader::expect_exit;
using grader::run;
using lab15_test::Fat;
using lab15_test::items;
using lab15_test::Owned;
using lab15_test::SpscQueue;
using lab15_test::StreamOptions;
using lab15_test::two_thread_stream;

// ---- edges, one thread ----------------------------------------------------------------------

GRADED_TEST(Edges, CapacityIsExactlyUsable, 3,
            "README §Pitfalls 2 — full is tail - head == capacity, empty is tail == head") {
  for (std::size_t cap : {1u, 2u, 8u, 64u}) {
    Owned<std::uint64_t> q(cap);
    ASSERT_EQ(q->capacity(), cap);
    for (int cycle = 0; cycle < 3; ++cycle) {  // three times round, so the indices wrap
      for (std::size_t i = 0; i < cap; ++i)
        ASSERT_TRUE(q->try_push(cycle * 1000 + i))
            << "capacity " << cap << ": try_push number " << i + 1 << " failed; all " << cap
            << " slots must be usable";
      EXPECT_FALSE(q->try_push(999)) << "capacity " << cap << ": try_push succeeded when full";
      EXPECT_EQ(q->size_approx(), cap) << "capacity " << cap << ": size_approx when full";
      for (std::size_t i = 0; i < cap; ++i) {
        std::uint64_t v = 0;
        ASSERT_TRUE(q->try_pop(v)) << "capacity " << cap << ": try_pop number " << i + 1
                                   << " failed with items in the queue";
        ASSERT_EQ(v, cycle * 1000 + i) << "capacity " << cap << ": items out of order";
      }
      std::uint64_t v = 4242;
      EXPECT_FALSE(q->try_pop(v)) << "capacity " << cap << ": try_pop succeeded when empty";
      EXPECT_EQ(v, 4242u) << "a failed try_pop must leave its argument alone";
      EXPECT_EQ(q->size_approx(), 0u);
    }
  }
}

GRADED_TEST(Edges, EmptyQueueRefusesPops, 1, "README §Pitfalls 2") {
  Owned<std::uint64_t> q(16);
  std::uint64_t v = 7;
  EXPECT_FALSE(q->try_pop(v)) << "try_pop on a new queue";
  std::uint64_t buf[4] = {1, 2, 3, 4};
  EXPECT_EQ(q->pop_n(buf, 4), 0u) << "pop_n on a new queue";
  ASSERT_TRUE(q->try_push(5));
  ASSERT_TRUE(q->try_pop(v));
  EXPECT_EQ(v, 5u);
  EXPECT_FALSE(q->try_pop(v)) << "try_pop after the only item was taken";
}

GRADED_TEST(Edges, BatchesFillPartlyAndWrap, 3,
            "README §Pitfalls 3 — a batch that crosses the end of the slot array is two copies") {
  Owned<std::uint64_t> q(8);
  std::uint64_t in[12], out[12] = {};
  for (int i = 0; i < 12; ++i) in[i] = 100 + i;
  EXPECT_EQ(q->push_n(in, 5), 5u) << "push_n of 5 into an empty queue of 8";
  EXPECT_EQ(q->push_n(in + 5, 5), 3u) << "push_n of 5 with room for 3 must push 3 (partial)";
  EXPECT_EQ(q->push_n(in, 1), 0u) << "push_n into a full queue must push 0";
  EXPECT_EQ(q->pop_n(out, 6), 6u) << "pop_n of 6 from a full queue of 8";
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], 100u + i) << "pop_n item " << i;
  // Now head = 6, tail = 8: the next push starts at slot 0 (after the wrap) ...
  EXPECT_EQ(q->push_n(in + 8, 4), 4u) << "push_n after the wrap";
  // ... and this pop crosses the end of the array: slots 6, 7, then 0..3.
  EXPECT_EQ(q->pop_n(out, 12), 6u) << "pop_n of 12 with 6 items must take 6";
  const std::uint64_t want[6] = {106, 107, 108, 109, 110, 111};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[i], want[i]) << "pop_n across the wrap, item " << i;
  EXPECT_EQ(q->pop_n(out, 3), 0u) << "pop_n from an empty queue";
  // A push_n that crosses the end: head = tail = 12 (slot 4); 6 items use slots 4..7, 0, 1.
  EXPECT_EQ(q->push_n(in, 6), 6u);
  for (int i = 0; i < 6; ++i) {
    std::uint64_t v = 0;
    ASSERT_TRUE(q->try_pop(v));
    EXPECT_EQ(v, 100u + i) << "try_pop after a push_n that crossed the end, item " << i;
  }
}

GRADED_TEST(Edges, RandomOperationsMatchAModel, 3,
            "README §Pitfalls 2 and 3 — compare with a std::deque by hand") {
  grader::repeat(4, [](int, std::uint64_t seed) {
    for (std::size_t cap : {1u, 2u, 4u, 16u, 128u}) {
      const std::string err = lab15_test::model_check(cap, seed + cap, 4000);
      ASSERT_EQ(err, "") << err;
    }
  });
}

GRADED_TEST(Edges, BadCapacityAndForeignMemoryRejected, 1, "README §The API") {
  alignas(64) static unsigned char mem[4096];
  for (std::size_t cap : {0u, 3u, 12u, 100u})
    EXPECT_THROW(SpscQueue<std::uint64_t>::create_in(mem, sizeof mem, cap), ipclab::UsageError)
        << "capacity " << cap << " is not a power of two";
  EXPECT_THROW(SpscQueue<std::uint64_t>::create_in(mem, 100, 64), ipclab::UsageError)
      << "100 bytes cannot hold 64 items";
  std::fill(std::begin(mem), std::end(mem), 0);
  EXPECT_THROW(SpscQueue<std::uint64_t>::attach_in(mem, sizeof mem), ipclab::OperationFailed)
      << "zeroed memory is not a queue";
  SpscQueue<std::uint64_t>::create_in(mem, sizeof mem, 16);
  EXPECT_NO_THROW(SpscQueue<std::uint64_t>::attach_in(mem, sizeof mem));
  const std::size_t short_map = SpscQueue<std::uint64_t>::bytes_for(16) - 1;
  EXPECT_THROW(SpscQueue<std::uint64_t>::attach_in(mem, short_map), ipclab::OperationFailed)
      << "a mapping of " << short_map
      << " bytes cannot hold the queue's 16 slots (bytes_for(16) = " << short_map + 1 << ")";
  EXPECT_THROW(SpscQueue<Fat>::attach_in(mem, sizeof mem), ipclab::OperationFailed)
      << "a queue of 8-byte items attached as a queue of 32-byte items";
}

GRADED_TEST(Edges, CreateWritesOnlyTheBytesItWasGiven, 1,
            "README §The API — create_in owns bytes_for(capacity) bytes, not one more") {
  // The caller's memory goes on after the queue's bytes (a second queue, another header):
  // create_in may write all of bytes_for(capacity), and nothing past it.
  constexpr std::size_t kAfter = 256;
  constexpr unsigned char kUntouched = 0xAB;
  for (std::size_t cap : {1u, 2u, 16u, 64u}) {
    const std::size_t bytes = SpscQueue<std::uint64_t>::bytes_for(cap);
    alignas(64) static unsigned char mem[SpscQueue<std::uint64_t>::bytes_for(64) + kAfter];
    std::fill(std::begin(mem), std::end(mem), kUntouched);
    SpscQueue<std::uint64_t>::create_in(mem, bytes, cap);
    std::size_t intact = 0;
    while (intact < kAfter && mem[bytes + intact] == kUntouched) ++intact;
    EXPECT_EQ(intact, kAfter) << "capacity " << cap << ": create_in(mem, " << bytes << ", " << cap
                              << ") wrote byte " << bytes + intact
                              << ", past the bytes_for(capacity) it was given (a loop over the "
                                 "slots that runs once too often?)";
  }
}

GRADED_TEST(Edges, DamagedCapacityInTheHeaderRejected, 1, "README §The API") {
  // A valid magic and item size over capacity fields another process (or a stray write)
  // damaged: attach_in must refuse each, or `index & mask_` indexes outside the mapping.
  // Line 2 of the layout (README §The API): magic_, capacity_, mask_, item_size_.
  struct Damage {
    std::uint64_t capacity, mask;
    const char* what;
  };
  const Damage cases[] = {
      {0, ~std::uint64_t{0}, "capacity 0 (with mask_ = capacity_ - 1 wrapped to all ones)"},
      {0, 0, "capacity 0"},
      {12, 11, "capacity 12, not a power of two"},
      {16, 7, "capacity 16 with mask 7"},
      {16, 31, "capacity 16 with mask 31"},
  };
  alignas(64) static unsigned char mem[4096];
  for (const Damage& d : cases) {
    SpscQueue<std::uint64_t>::create_in(mem, sizeof mem, 16);
    std::memcpy(mem + 2 * ipclab::lab15::kCacheLine + 8, &d.capacity, sizeof d.capacity);
    std::memcpy(mem + 2 * ipclab::lab15::kCacheLine + 16, &d.mask, sizeof d.mask);
    EXPECT_THROW(SpscQueue<std::uint64_t>::attach_in(mem, sizeof mem), ipclab::OperationFailed)
        << "a header claiming " << d.what << " was attached";
  }
}

// ---- two threads ---------------------------------------------------------------------------

GRADED_TEST(Threads, SequencedItemsOneAtATime, 4,
            "README §Pitfalls 1 — release when you publish, acquire when you look (run TSan)") {
  grader::repeat(3, [](int, std::uint64_t seed) {
    for (std::size_t cap : {4u, 1024u}) {
      Owned<std::uint64_t> q(cap);
      StreamOptions o;
      // A tiny queue hands over nearly every item: fewer items, the same number of laps.
      o.count = cap < 16 ? items(200'000, 40'000) : items(1'000'000, 100'000);
      o.seed = seed;
      const std::string err = two_thread_stream(*q, o);
      ASSERT_EQ(err, "") << "capacity " << cap << ": " << err;
    }
  });
}

GRADED_TEST(Threads, SequencedItemsInBatches, 3,
            "README §Pitfalls 1 and 3 — one release store per batch, after the copies") {
  grader::repeat(3, [](int, std::uint64_t seed) {
    Owned<std::uint64_t> q(64);
    StreamOptions o;
    o.count = items(1'000'000, 100'000);
    o.producer_batch = 50;
    o.consumer_batch = 70;
    o.seed = seed;
    const std::string err = two_thread_stream(*q, o);
    ASSERT_EQ(err, "") << err;
  });
}

GRADED_TEST(Threads, WideItemsArriveWhole, 2,
            "README §Pitfalls 1 — a slot read before its write is visible is a stale item") {
  grader::repeat(2, [](int, std::uint64_t seed) {
    Owned<Fat> q(16);
    StreamOptions o;
    o.count = items(300'000, 50'000);
    o.producer_batch = seed % 2 == 0 ? 0 : 7;
    o.seed = seed;
    const std::string err = two_thread_stream(*q, o);
    ASSERT_EQ(err, "") << err;
  });
}

// ---- two processes -------------------------------------------------------------------------

namespace {

/// spsc_stream consume + produce: `count` items, returns after both ended.
void stream_between_processes(std::uint64_t count, const std::vector<std::string>& extra_consume,
                              const std::vector<std::string>& extra_produce) {
  const std::string n = std::to_string(count);
  std::vector<std::string> c = {"spsc_stream", "consume", "--name",    "grader_q",
                                "--count",     n,         "--timeout", "20"};
  c.insert(c.end(), extra_consume.begin(), extra_consume.end());
  grader::Process consumer(c);
  ASSERT_TRUE(consumer.wait_for_output("ready", 10'000ms))
      << "the consumer never created the queue:\n"
      << consumer.err();
  std::vector<std::string> p = {"spsc_stream", "produce", "--name",    "grader_q",
                                "--count",     n,         "--timeout", "20"};
  p.insert(p.end(), extra_produce.begin(), extra_produce.end());
  auto prod = run(p, {.timeout = 40'000ms});
  auto cons = consumer.finish(40'000ms);
  expect_exit(cons, 0);
  EXPECT_NE(cons.out.find("received " + n + " items in order"), std::string::npos)
      << cons.describe();
  expect_exit(prod, 0);
}

}  // namespace

GRADED_TEST(Processes, TenMillionItemsInOrder, 5,
            "README §Pitfalls 1 and 4 — across processes the queue is the shared memory itself") {
  stream_between_processes(items(10'000'000, 1'000'000), {}, {});
}

GRADED_TEST(Processes, TenMillionItemsInBatches, 2, "README §Pitfalls 3") {
  stream_between_processes(items(10'000'000, 1'000'000), {"--batch", "61", "--capacity", "1024"},
                           {"--batch", "37"});
}

GRADED_TEST(Processes, TwoMappingsSeeOneQueue, 2,
            "README §Pitfalls 4 — nothing inside the queue may be a pointer") {
  auto owner = lab::SharedSpscQueue<std::uint64_t>::create("two_maps", 32);
  auto other = lab::SharedSpscQueue<std::uint64_t>::attach("two_maps");
  ASSERT_NE(&owner.queue(), &other.queue()) << "expected two mappings at two addresses";
  EXPECT_EQ(other.queue().capacity(), 32u);
  for (std::uint64_t i = 0; i < 100; ++i) {  // wraps three times
    ASSERT_TRUE(owner.queue().try_push(i * 3));
    std::uint64_t v = 0;
    ASSERT_TRUE(other.queue().try_pop(v)) << "an item pushed through one mapping is not "
                                             "visible through the other";
    EXPECT_EQ(v, i * 3);
  }
  EXPECT_THROW(lab::SharedSpscQueue<Fat>::attach("two_maps"), ipclab::OperationFailed);
}

GRADED_TEST(Processes, FailedMapLeavesNoObject, 1) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a sanitizer's shadow memory does not fit under ulimit -v";
#endif
  // 128 MiB of slots (8M slots of 16 bytes: an 8-byte item and its stamp): the object is
  // created and sized (tmpfs is sparse), then mmap fails under a 96 MiB address-space
  // limit. The leak guard fails the test on a leftover object.
  auto r = run({"sh", "-c", "ulimit -v 98304 && exec \"$0\" \"$@\"", grader::program("spsc_stream"),
                "consume", "--name", "big_q", "--capacity", std::to_string(1u << 23), "--count",
                "1", "--timeout", "1"},
               {.timeout = 10'000ms});
  expect_exit(r, 3);
  EXPECT_NE(r.err.find("mmap"), std::string::npos) << r.describe();
  EXPECT_FALSE(std::filesystem::exists("/dev/shm" + ipclab::names::posix("big_q")))
      << "a consume whose mmap failed left its shm object behind";
}

// ---- the memory orders, documented -----------------------------------------------------------

GRADED_TEST(Docs, EveryAtomicOperationNamesItsOrderAndWhy, 2,
            "README §Pitfalls 5 — name the order, and say what it pairs with") {
  const auto lines = lab15_test::read_lines(LAB15_IMPL_SOURCE);
  ASSERT_FALSE(lines.empty()) << "cannot read " << LAB15_IMPL_SOURCE;
  int ops = 0;
  std::vector<std::string> problems;
  auto trimmed = [](const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    return b == std::string::npos ? std::string() : s.substr(b);
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string t = trimmed(lines[i]);
    if (t.rfind("//", 0) == 0 || t.rfind("*", 0) == 0 || t.rfind("/*", 0) == 0) continue;
    const std::string code = t.substr(0, t.find("//"));
    // Every use of head_ or tail_ (not cached_head_/cached_tail_) must be a member call:
    // `tail_ + 1`, `++tail_` or `tail_ = x` are implicit seq_cst operations.
    for (const char* idx : {"head_", "tail_"}) {
      for (std::size_t at = code.find(idx); at != std::string::npos; at = code.find(idx, at + 1)) {
        const bool word_start =
            at == 0 ||
            !(std::isalnum(static_cast<unsigned char>(code[at - 1])) || code[at - 1] == '_');
        if (!word_start) continue;
        const std::size_t after = code.find_first_not_of(" \t", at + 5);
        if (after == std::string::npos || code[after] != '.')
          problems.push_back(
              fmt::format("line {}: `{}` used without .load/.store: {}", i + 1, idx, t));
      }
    }
    const bool is_op =
        code.find(".load(") != std::string::npos || code.find(".store(") != std::string::npos ||
        code.find(".exchange(") != std::string::npos || code.find(".fetch_") != std::string::npos ||
        code.find("compare_exchange") != std::string::npos;
    if (!is_op) continue;
    ++ops;
    const bool order =
        code.find("memory_order") != std::string::npos ||
        (i + 1 < lines.size() && lines[i + 1].find("memory_order") != std::string::npos);
    if (!order) problems.push_back(fmt::format("line {}: no explicit memory order: {}", i + 1, t));
    const bool commented =
        t.find("//") != std::string::npos || (i > 0 && trimmed(lines[i - 1]).rfind("//", 0) == 0);
    if (!commented)
      problems.push_back(fmt::format(
          "line {}: no comment on this line or right above it saying why: {}", i + 1, t));
  }
  EXPECT_GE(ops, 4) << "expected the index loads and stores of try_push/try_pop/push_n/pop_n in "
                    << LAB15_IMPL_SOURCE;
  EXPECT_TRUE(problems.empty()) << fmt::format("{}", fmt::join(problems, "\n"));
}

// ---- the benchmark -------------------------------------------------------------------------

GRADED_TEST(Bench, LockfreeBenchRunsAndChecksItems, 1, "README §Benchmark") {
  for (const char* mode : {"threads", "processes"}) {
    const std::vector<std::string> argv = {"lockfree_bench",
                                           "--iterations=20k",
                                           "--round-trips=200",
                                           "--runs=1",
                                           "--pin=none",
                                           "--format=json",
                                           "--mode",
                                           mode,
                                           "--timeout=10"};
    auto r = run(argv, {.timeout = 60'000ms});
    expect_exit(r, 0);
    EXPECT_NE(r.out.find("\"name\": \"spsc\""), std::string::npos) << r.describe();
    EXPECT_NE(r.out.find("\"spsc/best_peer\""), std::string::npos) << r.describe();
    // The test hook corrupts one of our items: the consumer must catch it.
    auto bad = run(argv, {.timeout = 60'000ms, .env = {"IPCLAB_BENCH_CORRUPT=777"}});
    expect_exit(bad, 1);
    EXPECT_NE(bad.err.find("verification failed"), std::string::npos) << bad.describe();
  }
  // --transfers (README "The next step") needs two CPUs: a table with a row per queue.
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (::sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) >= 2) {
    auto t = run({"lockfree_bench", "--transfers", "--iterations=20k", "--timeout=10"},
                 {.timeout = 60'000ms});
    expect_exit(t, 0);
    for (const char* row : {"\nspsc ", "\nboost_spsc ", "\nspsc_batch64 "})
      EXPECT_NE(t.out.find(row), std::string::npos) << "no row " << row << "\n" << t.describe();
  }
  // spsc_stream's consumer catches a missing item too.
  grader::Process consumer({"spsc_stream", "consume", "--name", "gap", "--count", "1000"});
  ASSERT_TRUE(consumer.wait_for_output("ready", 10'000ms)) << consumer.err();
  auto prod = run({"spsc_stream", "produce", "--name", "gap", "--count", "1000", "--skip", "500"});
  auto cons = consumer.finish(20'000ms);
  expect_exit(cons, 1);
  EXPECT_NE(cons.err.find("item 500: expected sequence number 500, got 501"), std::string::npos)
      << cons.describe();
}
