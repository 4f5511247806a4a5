// Lab 12 hidden grader: random shapes, in-place use, many consumers, waking on close.
#include <random>  // std::mt19937_64

#include "../public/common.hpp"

using lab12_test::fill;
using lab12_test::mismatch;
using lab12_test::SharedCounters;
using lab12_test::ShmRing;
using lab12_test::Status;

GRADED_TEST(Hidden, RandomCapacitiesAndSizesByteExact, 5,
            "README §Pitfalls 1 and 2 — wrap-around, publication order") {
  grader::repeat(4, [](int, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const std::size_t caps[] = {64, 128, 512, 2048, 65536};
    const std::size_t cap = caps[rng() % 5];
    lab12_test::stream("h", cap, 60'000, 0, cap / 2, 1, seed, 60s);
  });
}

GRADED_TEST(Hidden, SixConsumersOnATinyRingExactlyOnce, 4, "README §Pitfalls 5") {
  grader::repeat(2, [](int, std::uint64_t seed) {
    lab12_test::stream("h", 256, 40'000, 16, 120, 6, seed, 60s);
  });
}

GRADED_TEST(Hidden, InPlaceApiContract, 2, "README §The API") {
  ShmRing r = ShmRing::create("h", 512);
  ShmRing c = ShmRing::open("h", grader::deadline(5s));
  EXPECT_THROW(r.commit(), std::logic_error) << "commit before any reserve";
  auto slot = r.reserve(40, grader::deadline(1s));
  ASSERT_TRUE(slot.has_value());
  EXPECT_EQ(slot->size(), 40u);
  EXPECT_THROW((void)r.reserve(8, grader::deadline(1s)), std::logic_error)
      << "a second reserve before commit";
  fill(*slot, 7);
  std::span<const std::byte> msg;
  EXPECT_EQ(c.peek(msg, grader::deadline(30ms)), Status::kTimeout)
      << "a reserved message is not yet visible";
  r.commit();
  EXPECT_THROW(r.commit(), std::logic_error) << "a second commit of one reservation";
  ASSERT_EQ(c.peek(msg, grader::deadline(1s)), Status::kMessage);
  EXPECT_EQ(mismatch(msg, 7, 40), "");
  EXPECT_THROW((void)c.peek(msg, grader::deadline(1s)), std::logic_error)
      << "peek twice without release";
  c.release();
  EXPECT_THROW(c.release(), std::logic_error) << "release without peek";
  r.close();
  EXPECT_THROW((void)r.reserve(8, grader::deadline(1s)), std::logic_error) << "reserve after close";
  EXPECT_EQ(c.peek(msg, grader::deadline(1s)), Status::kClosed);
  ShmRing::remove("h");
}

GRADED_TEST(Hidden, CapacityBoundsAreInclusive, 1,
            "README §The API — a power of two from 64 B to 1 GiB, both included") {
  namespace lab = ipclab::lab12;
  for (std::size_t c = lab::kMinCapacity; c <= lab::kMaxCapacity; c *= 2)
    EXPECT_TRUE(lab::valid_capacity(c)) << c;
  for (const std::size_t c : {std::size_t{0}, std::size_t{1}, lab::kMinCapacity / 2,
                              lab::kMinCapacity + 1, std::size_t{3000}, lab::kMaxCapacity - 1,
                              lab::kMaxCapacity + 1, lab::kMaxCapacity * 2, ~std::size_t{0}})
    EXPECT_FALSE(lab::valid_capacity(c)) << c;
  EXPECT_THROW((void)ShmRing::create("h", 3000), ipclab::UsageError);
  EXPECT_THROW((void)ShmRing::create("h", lab::kMinCapacity / 2), ipclab::UsageError);
  ShmRing::create("h", lab::kMinCapacity).close();
  ShmRing::remove("h");
}

GRADED_TEST(Hidden, CloseWakesEverySleepingConsumer, 3,
            "README §Waiting — close() must wake all sleepers") {
  SharedCounters counters;
  ShmRing ring = ShmRing::create("h", 4096);
  std::vector<grader::Child> kids;
  for (int i = 0; i < 3; ++i)
    kids.emplace_back(
        [&, i] {
          ShmRing c = ShmRing::open("h", grader::deadline(10s));
          std::vector<std::byte> got;
          counters.progress(i).store(1);
          if (c.pop(got, grader::deadline(30s)) != Status::kClosed)
            throw std::runtime_error("consumer: expected kClosed from an empty, closed ring");
        },
        fmt::format("consumer {}", i));
  ASSERT_TRUE(grader::wait_until([&] {
    return counters.progress(0).load() + counters.progress(1).load() +
               counters.progress(2).load() ==
           3;
  }));
  grader::wait_until([] { return false; }, 300ms);  // let them fall asleep
  ring.close();
  const std::string why = grader::join(kids, 10s);
  EXPECT_TRUE(why.empty()) << "three consumers asleep on an empty ring, then close(): " << why;
  ShmRing::remove("h");
}

GRADED_TEST(Hidden, WaitDrainedReturnsOnlyWhenAllIsTaken, 2, "README §The API") {
  SharedCounters counters;
  ShmRing ring = ShmRing::create("h", 4096);
  std::vector<std::byte> buf(100);
  for (std::uint64_t s = 0; s < 10; ++s) {
    fill(buf, s);
    ASSERT_TRUE(ring.push(buf, grader::deadline(1s)));
  }
  EXPECT_FALSE(ring.wait_drained(grader::deadline(50ms)))
      << "10 messages wait: the ring is not drained";
  grader::Child consumer(
      [&] {
        ShmRing c = ShmRing::open("h", grader::deadline(10s));
        for (std::uint64_t s = 0; s < 10; ++s) {
          std::span<const std::byte> msg;
          if (c.peek(msg, grader::deadline(10s)) != Status::kMessage)
            throw std::runtime_error("peek failed");
          const std::string why = mismatch(msg, s, 100);
          if (!why.empty()) throw std::runtime_error(why);
          // Counted before release(): the release of the 10th message is what may let
          // wait_drained return, so by then the count must read 10.
          counters.progress(0).store(s + 1);
          c.release();
        }
      },
      "consumer");
  EXPECT_TRUE(ring.wait_drained(grader::deadline(10s))) << "the consumer took all 10: drained";
  EXPECT_EQ(counters.progress(0).load(), 10u) << "wait_drained returned before the last release";
  const auto done = consumer.finish(10s);
  EXPECT_TRUE(done.passed()) << done.describe();
  ShmRing::remove("h");
}

GRADED_TEST(Hidden, OpenWaitsForALateCreator, 2, "README §The API — open() waits") {
  SharedCounters counters;
  grader::Child consumer(
      [&] {
        counters.progress(0).store(1);
        ShmRing c = ShmRing::open("h", grader::deadline(20s));
        std::vector<std::byte> got;
        if (c.pop(got, grader::deadline(20s)) != Status::kMessage || mismatch(got, 0, 50) != "")
          throw std::runtime_error("the first message did not arrive intact");
      },
      "consumer");
  ASSERT_TRUE(grader::wait_until([&] { return counters.progress(0).load() == 1; }));
  grader::wait_until([] { return false; }, 200ms);
  ShmRing ring = ShmRing::create("h", 1024);
  std::vector<std::byte> buf(50);
  fill(buf, 0);
  ASSERT_TRUE(ring.push(buf, grader::deadline(1s)));
  const auto done = consumer.finish(10s);
  ASSERT_FALSE(done.timed_out) << "open() did not find a ring created after it started";
  EXPECT_TRUE(done.passed()) << done.describe();
  ShmRing::remove("h");
}
