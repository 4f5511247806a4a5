// Lab 08 hidden grader: many shapes under yields with timed and try calls mixed in, waiters
// that give up, and timed writers under a reader flood.
#include <random>  // std::mt19937_64

#include "../public/common.hpp"

namespace lab = ipclab::lab08;

using lab::policy_name;
using lab08_test::Call;
using lab08_test::kAllPolicies;
using lab08_test::Policy;
using lab08_test::Room;
using lab08_test::RwLock;

GRADED_TEST(Hidden, StressManyShapesWithTimedCalls, 6,
            "README §Pitfalls 1, 3 and 6 — counts under the mutex, while loops, clean give-ups") {
  grader::repeat(3, [&](int, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (Policy p : kAllPolicies) {
      for (int k = 0; k < 3; ++k) {
        lab08_test::StressShape shape{p, 1 + static_cast<int>(rng() % 10),
                                      1 + static_cast<int>(rng() % 4), 150, k != 0};
        const std::string problem = lab08_test::run_stress(shape, rng());
        ASSERT_EQ(problem, "");
      }
    }
  });
}

GRADED_TEST(Hidden, TimedOutReadersLeaveNoTrace, 3,
            "README §Pitfalls 6 — a reader that gives up must not stay counted") {
  for (Policy p : kAllPolicies) {
    RwLock lock(p);
    ASSERT_TRUE(lock.try_lock_write());
    std::vector<std::unique_ptr<Call>> readers;
    for (int i = 0; i < 4; ++i)
      readers.push_back(std::make_unique<Call>([&lock] { return lock.try_lock_read_for(100ms); }));
    for (auto& r : readers) {
      ASSERT_TRUE(r->wait_done()) << policy_name(p) << ": a timed reader never returned";
      EXPECT_FALSE(r->result()) << policy_name(p) << ": a reader got in past a writer";
    }
    lock.unlock_write();
    // Had a timed-out reader stayed counted (waiting or admitted), the lock would not be free.
    EXPECT_TRUE(lock.try_lock_write())
        << policy_name(p) << ": after 4 readers timed out and the writer left, the lock is "
        << "not free";
    lock.unlock_write();
    // And a full cycle still works.
    ASSERT_TRUE(lock.try_lock_read());
    Call w([&lock] { return lock.try_lock_write_for(grader::scaled(5'000ms)); });
    ASSERT_TRUE(w.wait_blocked()) << policy_name(p);
    lock.unlock_read();
    ASSERT_TRUE(w.wait_done() && w.result()) << policy_name(p) << ": the writer was not woken";
    lock.unlock_write();
  }
}

GRADED_TEST(Hidden, TimedWritersUnderReaderFloodDoNotStopReaders, 3,
            "README §Pitfalls 6 — a writer that times out must not keep blocking readers") {
  for (Policy p : kAllPolicies) {
    auto room = std::make_shared<Room>(p);
    auto stop = std::make_shared<std::atomic<bool>>(false);
    std::vector<std::unique_ptr<Call>> threads;
    for (int i = 0; i < 4; ++i) {
      threads.push_back(std::make_unique<Call>([room, stop] {
        while (!stop->load()) {
          room->lock.lock_read();
          room->reader_in();
          room->reads++;
          std::this_thread::sleep_for(200us);
          room->reader_out();
          room->lock.unlock_read();
        }
        return true;
      }));
    }
    for (int i = 0; i < 2; ++i) {
      threads.push_back(std::make_unique<Call>([room, stop] {
        while (!stop->load()) {
          if (room->lock.try_lock_write_for(std::chrono::microseconds(50))) {
            room->writer_in();
            room->writes++;
            room->writer_out();
            room->lock.unlock_write();
          }
        }
        return true;
      }));
    }
    // Readers must keep getting in, round after round, while writers keep giving up.
    for (int round = 0; round < 5; ++round) {
      const long before = room->reads.load();
      ASSERT_TRUE(grader::wait_until([&] { return room->reads.load() >= before + 20; }, 5'000ms))
          << policy_name(p) << ": readers stopped getting in (" << room->reads.load()
          << " reads) while writers kept timing out";
    }
    stop->store(true);
    for (auto& t : threads)
      ASSERT_TRUE(t->wait_done(5'000ms))
          << policy_name(p) << ": a thread stayed blocked at the end";
    EXPECT_EQ(room->violations.load(), 0) << policy_name(p);
    EXPECT_TRUE(room->lock.try_lock_write()) << policy_name(p) << ": lock not free at the end";
  }
}
