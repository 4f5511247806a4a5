// Lab 12 hidden grader: random shapes, in-place use, many consumers, waking on close.
#include <random>  // std::mt19937_64

#include "../public/common.hpp"

using lab12_test::Board;
using lab12_test::check;
using lab12_test::Child;
using lab12_test::fill;
using lab12_test::in;
using lab12_test::Shared;
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
  ShmRing c = ShmRing::open("h", in(5s));
  auto slot = r.reserve(40, in(1s));
  ASSERT_TRUE(slot.has_value());
  EXPECT_EQ(slot->size(), 40u);
  EXPECT_THROW((void)r.reserve(8, in(1s)), std::logic_error) << "a second reserve before commit";
  fill(*slot, 7);
  std::span<const std::byte> msg;
  EXPECT_EQ(c.peek(msg, in(30ms)), Status::kTimeout) << "a reserved message is not yet visible";
  r.commit();
  ASSERT_EQ(c.peek(msg, in(1s)), Status::kMessage);
  EXPECT_EQ(check(msg, 7, 40), "");
  EXPECT_THROW((void)c.peek(msg, in(1s)), std::logic_error) << "peek twice without release";
  c.release();
  EXPECT_THROW(c.release(), std::logic_error) << "release without peek";
  r.close();
  EXPECT_THROW((void)r.reserve(8, in(1s)), std::logic_error) << "reserve after close";
  EXPECT_EQ(c.peek(msg, in(1s)), Status::kClosed);
  ShmRing::remove("h");
}

GRADED_TEST(Hidden, CloseWakesEverySleepingConsumer, 3,
            "README §Waiting — close() must wake all sleepers") {
  Shared shared;
  Board& board = shared.board();
  ShmRing ring = ShmRing::create("h", 4096);
  std::vector<Child> kids;
  for (int i = 0; i < 3; ++i)
    kids.emplace_back(board, [&, i] {
      ShmRing c = ShmRing::open("h", in(10s));
      std::vector<std::byte> got;
      board.progress[i].store(1);
      if (c.pop(got, in(30s)) != Status::kClosed)
        throw std::runtime_error("consumer: expected kClosed from an empty, closed ring");
    });
  ASSERT_TRUE(grader::wait_until([&] {
    return board.progress[0].load() + board.progress[1].load() + board.progress[2].load() == 3;
  }));
  grader::wait_until([] { return false; }, 300ms);  // let them fall asleep
  ring.close();
  lab12_test::expect_all_ok(kids, board, 10s,
                            "three consumers asleep on an empty ring, then close()");
  ShmRing::remove("h");
}

GRADED_TEST(Hidden, WaitDrainedReturnsOnlyWhenAllIsTaken, 2, "README §The API") {
  Shared shared;
  Board& board = shared.board();
  ShmRing ring = ShmRing::create("h", 4096);
  std::vector<std::byte> buf(100);
  for (std::uint64_t s = 0; s < 10; ++s) {
    fill(buf, s);
    ASSERT_TRUE(ring.push(buf, in(1s)));
  }
  EXPECT_FALSE(ring.wait_drained(in(50ms))) << "10 messages wait: the ring is not drained";
  Child consumer(board, [&] {
    ShmRing c = ShmRing::open("h", in(10s));
    for (std::uint64_t s = 0; s < 10; ++s) {
      std::span<const std::byte> msg;
      if (c.peek(msg, in(10s)) != Status::kMessage) throw std::runtime_error("peek failed");
      const std::string why = check(msg, s, 100);
      if (!why.empty()) throw std::runtime_error(why);
      // Counted before release(): the release of the 10th message is what may let
      // wait_drained return, so by then the count must read 10.
      board.progress[0].store(s + 1);
      c.release();
    }
    board.done[0].store(1);
  });
  EXPECT_TRUE(ring.wait_drained(in(10s))) << "the consumer took all 10: drained";
  EXPECT_EQ(board.progress[0].load(), 10u) << "wait_drained returned before the last release";
  auto st = consumer.wait(10s);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->exited() && st->exit_code() == 0) << board.error;
  ShmRing::remove("h");
}

GRADED_TEST(Hidden, OpenWaitsForALateCreator, 2, "README §The API — open() waits") {
  Shared shared;
  Board& board = shared.board();
  Child consumer(board, [&] {
    board.progress[0].store(1);
    ShmRing c = ShmRing::open("h", in(20s));
    std::vector<std::byte> got;
    if (c.pop(got, in(20s)) != Status::kMessage || check(got, 0, 50) != "")
      throw std::runtime_error("the first message did not arrive intact");
  });
  ASSERT_TRUE(grader::wait_until([&] { return board.progress[0].load() == 1; }));
  grader::wait_until([] { return false; }, 200ms);
  ShmRing ring = ShmRing::create("h", 1024);
  std::vector<std::byte> buf(50);
  fill(buf, 0);
  ASSERT_TRUE(ring.push(buf, in(1s)));
  auto st = consumer.wait(10s);
  ASSERT_TRUE(st.has_value()) << "open() did not find a ring created after it started";
  EXPECT_TRUE(st->exited() && st->exit_code() == 0) << board.error;
  ShmRing::remove("h");
}
