// Lab 09 hidden grader: more shapes of the same races — many keys in a small table (probe
// chains under contention), concurrent inserts and deletes, concurrent creation, threads
// with stores of their own, and more key pairs for the parallelism check.
#include <algorithm>  // std::sort
#include <map>        // std::map
#include <random>     // std::mt19937_64
#include <thread>     // std::thread

#include "../public/common.hpp"

using grader::expect_exit;
using grader::expect_output;
using lab09_test::db;
using lab09_test::kvrun;
using lab09_test::kvstart;
namespace lab = ipclab::lab09;

GRADED_TEST(Hidden, IncrementsOfCollidingKeysInASmallTable, 5,
            "README §Pitfalls 1 — the read, the change and the write under one write lock") {
  grader::repeat(3, [](int i, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const auto f = db(fmt::format("small{}.db", i));
    lab::KvStore::open(f, {.create = true, .slots = 8});
    // Keys that share a home slot, so their probe chains overlap.
    std::vector<std::string> keys;
    const std::uint32_t home = static_cast<std::uint32_t>(rng() % 8);
    for (int n = 0; keys.size() < 3; ++n) {
      std::string k = fmt::format("c{}", n);
      if (lab::home_slot(k, 8) == home) keys.push_back(k);
    }
    const int procs = 3 + static_cast<int>(rng() % 6);
    const int times = 150 + static_cast<int>(rng() % 150);
    std::vector<grader::Child> workers;
    for (int p = 0; p < procs; ++p)
      workers.emplace_back(
          [&, p] {
            lab::set_test_yield(true);
            auto s = lab::KvStore::open(f);
            for (int n = 0; n < times; ++n)
              s.update(keys[static_cast<std::size_t>(n + p) % keys.size()],
                       [](std::optional<std::string_view> old) {
                         const long v = old ? std::stol(std::string(*old)) : 0;
                         lab::test_yield_point();
                         return std::to_string(v + 1);
                       });
          },
          fmt::format("worker {}", p));
    const std::string why = grader::join(workers, 60'000ms);
    EXPECT_TRUE(why.empty()) << why;
    auto s = lab::KvStore::open(f);
    long total = 0;
    for (const auto& k : keys) {
      auto v = s.get(k);
      ASSERT_TRUE(v.has_value()) << k;
      total += std::stol(*v);
    }
    EXPECT_EQ(total, static_cast<long>(procs) * times)
        << procs << " processes x " << times << " increments spread over 3 colliding keys";
    EXPECT_EQ(s.list().size(), keys.size()) << "a key was inserted twice";
  });
}

GRADED_TEST(Hidden, ConcurrentInsertsAndDeletesLoseNothing, 5,
            "README §Pitfalls 6 — claiming a free slot needs the insert lock") {
  grader::repeat(3, [](int i, std::uint64_t) {
    const auto f = db(fmt::format("ins{}.db", i));
    lab::KvStore::open(f, {.create = true, .slots = 64});
    std::vector<grader::Child> workers;
    for (int p = 0; p < 6; ++p)
      workers.emplace_back(
          [&, p] {
            lab::set_test_yield(true);
            auto s = lab::KvStore::open(f);
            for (int n = 0; n < 8; ++n)
              s.set(fmt::format("p{}k{}", p, n), fmt::format("v{}.{}", p, n));
            for (int n = 0; n < 8; n += 2)
              ASSERT_TRUE(s.del(fmt::format("p{}k{}", p, n))) << "del of a key it had set";
            for (int n = 0; n < 8; n += 4) s.set(fmt::format("p{}k{}", p, n), "again");
          },
          fmt::format("worker {}", p));
    const std::string why = grader::join(workers, 60'000ms);
    EXPECT_TRUE(why.empty()) << why;
    std::vector<std::pair<std::string, std::string>> want;
    for (int p = 0; p < 6; ++p)
      for (int n = 0; n < 8; ++n) {
        if (n % 4 == 0)
          want.emplace_back(fmt::format("p{}k{}", p, n), "again");
        else if (n % 2 == 1)
          want.emplace_back(fmt::format("p{}k{}", p, n), fmt::format("v{}.{}", p, n));
      }
    std::sort(want.begin(), want.end());
    auto s = lab::KvStore::open(f);
    EXPECT_EQ(s.list(), want) << "6 processes inserting, deleting and re-inserting 8 keys each";
  });
}

GRADED_TEST(Hidden, ConcurrentFirstOpensCreateOnce, 3,
            "README §Pitfalls 8 — create the file under the header lock") {
  grader::repeat(3, [](int i, std::uint64_t) {
    const auto f = db(fmt::format("create{}.db", i));
    std::vector<grader::Process> ps;
    for (int p = 0; p < 6; ++p)
      ps.push_back(kvstart(f, {"set", fmt::format("k{}", p), fmt::format("v{}", p)}, 16));
    for (auto& p : ps) expect_exit(p.finish(30'000ms), 0);
    expect_output(kvrun(f, {"list"}), "k0=v0\nk1=v1\nk2=v2\nk3=v3\nk4=v4\nk5=v5\n");
    EXPECT_EQ(lab::KvStore::open(f).slots(), 16u);
  });
}

GRADED_TEST(Hidden, ThreadsWithTheirOwnStoresExcludeEachOther, 4,
            "README §Pitfalls 7 — OFD locks: each open is an owner, threads included") {
  const auto f = db();
  lab::set_test_yield(true);
  {
    auto s = lab::KvStore::open(f);
    s.set("t", "0");
  }
  std::vector<std::thread> ts;
  std::atomic<int> errors{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      try {
        auto s = lab::KvStore::open(f);  // its own open file description
        for (int n = 0; n < 250; ++n)
          s.update("t", [](std::optional<std::string_view> old) {
            const long v = old ? std::stol(std::string(*old)) : 0;
            lab::test_yield_point();
            return std::to_string(v + 1);
          });
      } catch (...) {
        errors.fetch_add(1);
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(lab::KvStore::open(f).get("t"), std::optional<std::string>("1000"))
      << "4 threads x 250 increments, each thread with its own KvStore";
}

GRADED_TEST(Hidden, ManyKeyPairsLockInParallel, 3,
            "README §Pitfalls 2 — lock the record's bytes, not the whole file") {
  grader::repeat(4, [](int i, std::uint64_t seed) {
    const auto f = db(fmt::format("pairs{}.db", i));
    const auto [a, b] = lab09_test::keys_in_distinct_slots(32, seed);
    expect_exit(kvrun(f, {"set", a, "1"}, 32), 0);
    auto pa = kvstart(f, {"lock-test", a, "--hold-ms", "60000"});
    ASSERT_TRUE(pa.wait_for_output("locked", 10'000ms)) << pa.err();
    auto pb = kvstart(f, {"lock-test", b, "--hold-ms", "60000"});
    ASSERT_TRUE(grader::wait_until(
        [&] {
          return pb.out().find("locked") != std::string::npos ||
                 lab09_test::blocked_waiters(f) > 0 || pb.exited();
        },
        10'000ms));
    EXPECT_NE(pb.out().find("locked " + b), std::string::npos)
        << a << " and " << b << " have different slots, yet " << b << " could not be locked";
    // A third key whose (empty) home slot is neither a's nor b's is not held up either.
    std::string c = "c";
    while (lab::home_slot(c, 32) == lab::home_slot(a, 32) ||
           lab::home_slot(c, 32) == lab::home_slot(b, 32))
      c += "c";
    auto other = grader::run(lab09_test::kv_argv(f, {"set", c, "1"}), {.timeout = 10'000ms});
    expect_exit(other, 0);
  });
}
