// Lab 07 hidden grader: more shapes, the shared variant under threads and yields, close()
// racing with busy producers, and more process shapes.
#include <random>  // std::mt19937_64

#include "../public/common.hpp"
#include "ipclab/names.hpp"  // names::posix

namespace lab = ipclab::lab07;

using lab::BoundedBuffer;
using lab::SharedBoundedBuffer;
using lab07_test::Shape;

GRADED_TEST(Hidden, RandomShapesWithYields, 5,
            "README §Pitfalls 1 — wait in a while loop, not an if") {
  lab::set_test_yield(true);
  grader::repeat(8, [&](int, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const Shape s{1 + static_cast<int>(rng() % 10), 1 + static_cast<int>(rng() % 10), 1 + rng() % 3,
                  1500 + rng() % 1500};
    BoundedBuffer<std::uint64_t> b(s.capacity);
    {
      const std::string problems = lab07_test::run_shape(b, s);
      EXPECT_TRUE(problems.empty()) << problems;
    }
  });
}

GRADED_TEST(Hidden, SharedBufferEveryItemOnceWithYields, 4,
            "README §Pitfalls 1 and 7 — while loops; process-shared condvars") {
  lab::set_test_yield(true);
  const std::vector<Shape> shapes = {{1, 1, 1, 1500}, {8, 8, 1, 3000}, {3, 9, 2, 3000}};
  grader::repeat(3, [&](int i, std::uint64_t) {
    for (std::size_t k = 0; k < shapes.size(); ++k) {
      const std::string name = ipclab::names::posix(fmt::format("lab07.shape{}.{}", i, k));
      auto b = SharedBoundedBuffer::create(name, shapes[k].capacity);
      SharedBoundedBuffer::unlink(name);  // the mapping lives on
      {
        const std::string problems = lab07_test::run_shape(b, shapes[k]);
        EXPECT_TRUE(problems.empty()) << problems;
      }
    }
  });
}

GRADED_TEST(Hidden, SharedConsumerBlockedUsesNoCpu, 2,
            "README §Pitfalls 5 — wait on the condition variable, never spin or poll") {
  const std::string name = ipclab::names::posix("lab07.busy");
  auto b = SharedBoundedBuffer::create(name, 2);
  SharedBoundedBuffer::unlink(name);
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
  std::thread t([&] {
    tid = lab07_test::gettid();
    b.pop();
    done = true;
  });
  ASSERT_TRUE(grader::wait_until([&] { return tid.load() != 0; }));
  if (!lab07_test::wait_blocked(tid.load())) {
    b.close();
    t.join();
    FAIL() << "the consumer never went to sleep: it spins instead of waiting";
  }
  const auto ticks = lab07_test::ticks_over_window(tid.load());
  EXPECT_LE(ticks, 3u) << "a blocked consumer used " << ticks << " ticks in 0.5 s";
  b.close();
  if (!grader::wait_until([&] { return done.load(); }, 5'000ms))
    grader::abandon_test("close() did not wake a consumer blocked on the shared buffer");
  t.join();
}

GRADED_TEST(Hidden, CloseWhileProducersPushLosesNothing, 4,
            "README §Pitfalls 4 — every push that returned true is popped exactly once") {
  lab::set_test_yield(true);
  grader::repeat(8, [&](int, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    BoundedBuffer<std::uint64_t> b(1 + rng() % 3);
    constexpr int kProducers = 5, kConsumers = 4;
    constexpr std::uint64_t kMax = 1'000'000;
    std::atomic<std::uint64_t> next{0};
    std::vector<std::atomic<std::uint8_t>> accepted(kMax + 1), popped(kMax + 1);
    std::atomic<int> producers_done{0}, consumers_done{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < kProducers; ++i)
      ts.emplace_back([&] {
        for (std::uint64_t item; (item = next.fetch_add(1) + 1) <= kMax;) {
          if (!b.push(item)) break;
          accepted[item] = 1;
        }
        producers_done.fetch_add(1);
      });
    for (int i = 0; i < kConsumers; ++i)
      ts.emplace_back([&] {
        while (auto v = b.pop())
          if (*v <= kMax) popped[*v].fetch_add(1);
        consumers_done.fetch_add(1);
      });
    const std::uint64_t close_after = 300 + rng() % 1000;
    grader::wait_until([&] { return next.load() > close_after; }, 5'000ms);
    b.close();
    if (!grader::wait_until(
            [&] { return producers_done.load() == kProducers && consumers_done == kConsumers; },
            10'000ms))
      grader::abandon_test("close() while producers and consumers are busy: some never returned");
    for (auto& t : ts) t.join();
    std::uint64_t lost = 0, twice = 0, phantom = 0;
    for (std::uint64_t i = 1; i <= kMax; ++i) {
      if (accepted[i] && popped[i] == 0) ++lost;
      if (popped[i] > 1) ++twice;
      if (!accepted[i] && popped[i] != 0) ++phantom;
    }
    EXPECT_EQ(lost, 0u) << "items whose push() returned true were never popped";
    EXPECT_EQ(twice, 0u) << "items popped twice";
    EXPECT_EQ(phantom, 0u) << "items popped although their push() returned false";
  });
}

GRADED_TEST(Hidden, ProcessShapes, 3,
            "README §Pitfalls 7 — PTHREAD_PROCESS_SHARED on the mutex and both condvars") {
  const std::vector<Shape> shapes = {{8, 8, 1, 1500}, {1, 6, 2, 1000}, {6, 1, 3, 1000}};
  for (const auto& s : shapes) {
    auto r = grader::run(lab07_test::program_args(s, "processes"),
                         {.timeout = 15'000ms, .env = {"IPCLAB_LAB07_YIELD=1"}});
    lab07_test::expect_good_run(r, s);
    if (HasFailure()) break;  // one hung shape is enough to know
  }
}

GRADED_TEST(Hidden, ThreadShapesThroughProgram, 2) {
  const std::vector<Shape> shapes = {{1, 1, 1, 500}, {8, 8, 1, 2000}, {16, 3, 5, 2000}};
  for (const auto& s : shapes) {
    auto r = grader::run(lab07_test::program_args(s, "threads"),
                         {.timeout = 15'000ms, .env = {"IPCLAB_LAB07_YIELD=1"}});
    lab07_test::expect_good_run(r, s);
    if (HasFailure()) break;  // one hung shape is enough to know
  }
}
