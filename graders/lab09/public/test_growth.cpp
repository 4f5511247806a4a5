// Lab 09 public grader, growth: the table grows under the header lock held exclusively,
// while every other operation holds it shared — many writers store every key, a grower
// waits for a process that holds a record, and a grower killed midway loses nothing.
#include <fcntl.h>   // open, O_APPEND
#include <unistd.h>  // write

#include <fstream>   // std::ifstream
#include <optional>  // std::optional
#include <random>    // std::mt19937_64
#include <set>       // std::set
#include <sstream>   // std::istringstream

#include "common.hpp"

using grader::expect_exit;
using grader::expect_output;
using lab09_test::db;
using lab09_test::kvrun;
using lab09_test::kvstart;
namespace lab = ipclab::lab09;

namespace {

std::string value_of(int writer, int n) { return fmt::format("v{}.{}", writer, n); }

/// The complete lines of a file (a line still being written is left out).
std::vector<std::string> complete_lines(const std::string& path) {
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return grader::lines(text);
}

/// A full table of 4 slots (k0..k3 = v0..v3) and `lock-test` holding k0's record: nullopt,
/// the failure reported, if it never says `locked`.
std::optional<grader::Process> full_table_with_k0_held(const std::string& f) {
  for (int i = 0; i < 4; ++i)
    expect_exit(kvrun(f, {"set", fmt::format("k{}", i), fmt::format("v{}", i)}, 4), 0);
  auto holder = kvstart(f, {"lock-test", "k0", "--hold-ms", "60000"});
  if (!holder.wait_for_output("locked", 10'000ms)) {
    ADD_FAILURE() << "lock-test k0 never said `locked`: " << holder.err();
    return std::nullopt;
  }
  return holder;
}

}  // namespace

GRADED_TEST(Growth, EightWritersStoreEveryKey, 8,
            "README §Pitfalls 11 — grow the table; `database full` only at --max-slots") {
  const auto f = db();
  lab::KvStore::open(f, {.create = true, .slots = 8});
  constexpr int kWriters = 8, kKeys = 500;
  std::vector<grader::Child> workers;
  for (int p = 0; p < kWriters; ++p)
    workers.emplace_back(
        [&, p] {
          lab::set_test_yield(p % 2 == 0);
          auto s = lab::KvStore::open(f);
          for (int n = 0; n < kKeys; ++n) s.set(fmt::format("w{}k{}", p, n), value_of(p, n));
        },
        fmt::format("writer {}", p));
  for (int r = 0; r < 2; ++r)  // readers meanwhile: what they see is always whole and right
    workers.emplace_back(
        [&, r] {
          auto s = lab::KvStore::open(f);
          for (int round = 0; round < 10; ++round) {
            for (const auto& [k, v] : s.list()) {
              int p = -1, n = -1;
              ASSERT_EQ(std::sscanf(k.c_str(), "w%dk%d", &p, &n), 2) << "a strange key " << k;
              ASSERT_EQ(v, value_of(p, n)) << "key " << k;
            }
            const std::string k = fmt::format("w{}k{}", (round + r) % kWriters, round * 7);
            if (auto v = s.get(k)) {
              ASSERT_EQ(*v, value_of((round + r) % kWriters, round * 7));
            }
          }
        },
        fmt::format("reader {}", r));
  const std::string why = grader::join(workers, 50'000ms);
  ASSERT_TRUE(why.empty()) << why;
  auto s = lab::KvStore::open(f);
  const auto all = s.list();
  EXPECT_EQ(all.size(), std::size_t{kWriters} * kKeys)
      << kWriters << " writers x " << kKeys << " keys, all distinct";
  for (int p = 0; p < kWriters; ++p)
    for (int n = 0; n < kKeys; n += 13)
      EXPECT_EQ(s.get(fmt::format("w{}k{}", p, n)), std::optional<std::string>(value_of(p, n)));
  EXPECT_GE(s.slots(), std::uint32_t{kWriters} * kKeys) << "the table should have grown";
}

GRADED_TEST(Growth, GrowerWaitsForARecordHolder, 4,
            "README §Pitfalls 11 — every operation holds the header lock "
            "shared; growth takes it exclusive") {
  const auto f = db();
  auto holder = full_table_with_k0_held(f);
  ASSERT_TRUE(holder);
  auto grower = kvstart(f, {"set", "k4", "v4"});  // the 4-slot table is full: it must grow
  ASSERT_TRUE(grader::wait_until(
      [&] { return lab09_test::blocked_waiters(f) > 0 || grower.exited(); }, 10'000ms))
      << "the grower neither finished nor waited in the kernel";
  ASSERT_FALSE(grower.exited())
      << "the table grew (or the insert failed) while another process held one of its "
         "records:\n"
      << grower.finish().describe();
  holder->kill();  // its locks die with it: the grower goes on
  expect_exit(grower.finish(20'000ms), 0);
  expect_output(kvrun(f, {"list"}), "k0=v0\nk1=v1\nk2=v2\nk3=v3\nk4=v4\n");
  EXPECT_GT(lab::KvStore::open(f).slots(), 4u);
}

GRADED_TEST(Growth, GrowsPastAProbeOfKGrowProbeAndDoubles, 2,
            "README §Growth and the lock hierarchy — grow when a probe is longer than "
            "kGrowProbe, to twice the slots") {
  // Keys that all hash to one home slot of a 64-slot table: the k-th of them probes k
  // slots (k-1 used, then an empty one). Up to a probe of kGrowProbe the table stays; the
  // next key probes kGrowProbe + 1 slots and the table doubles, once.
  const auto f = db();
  constexpr std::uint32_t kSlots = 64;
  auto s = lab::KvStore::open(f, {.create = true, .slots = kSlots, .max_slots = 1024});
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < lab::kGrowProbe + 1; ++i)
    if (auto k = fmt::format("h{}", i); lab::home_slot(k, kSlots) == 5) keys.push_back(k);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    s.set(keys[i], fmt::format("v{}", i));
    const auto want = i < lab::kGrowProbe ? kSlots : 2 * kSlots;
    ASSERT_EQ(lab::KvStore::open(f).slots(), want)
        << "after the insert of key " << i + 1 << ", which probed " << i + 1
        << " slots (kGrowProbe is " << lab::kGrowProbe << "), the table of " << kSlots
        << " slots should have " << want;
  }
  for (std::size_t i = 0; i < keys.size(); ++i)
    EXPECT_EQ(s.get(keys[i]), fmt::format("v{}", i)) << "key " << keys[i];
}

GRADED_TEST(Growth, TwoGrowersDoubleTheTableOnce, 2,
            "README §Growth and the lock hierarchy — read the header again: if the table "
            "changed, another process grew it already") {
  // Two inserts into a full 4-slot table both wait on a record another process holds,
  // each under the header lock (shared). When it is released, one of them grows the table
  // — after the other has also found the old table full, which it still holds. That one
  // must then see the new header and insert, not grow again.
  const auto f = db();
  auto holder = full_table_with_k0_held(f);
  ASSERT_TRUE(holder);
  auto b = kvstart(f, {"set", "k4", "v4"});
  auto c = kvstart(f, {"set", "k5", "v5"});
  ASSERT_TRUE(grader::wait_until(
      [&] { return lab09_test::blocked_waiters(f) >= 2 || b.exited() || c.exited(); }, 10'000ms))
      << "the two inserts did not both wait in the kernel";
  holder->kill();  // its locks die with it
  expect_exit(b.finish(20'000ms), 0);
  expect_exit(c.finish(20'000ms), 0);
  expect_output(kvrun(f, {"list"}), "k0=v0\nk1=v1\nk2=v2\nk3=v3\nk4=v4\nk5=v5\n");
  EXPECT_EQ(lab::KvStore::open(f).slots(), 8u)
      << "two inserts that both found the 4-slot table full: it should have doubled once";
}

GRADED_TEST(Growth, NewTableIsFreshSpacePastTheEnd, 1,
            "README §Growth and the lock hierarchy — the new table goes into fresh space at "
            "the end of the file") {
  // Bytes past the table (here 193 of them, the last one 1: what a torn write or another
  // program may leave) are not the new table's: it starts past the file's last byte, so
  // every slot of it is empty.
  const auto f = db();
  {
    auto s = lab::KvStore::open(f, {.create = true, .slots = 8});
    s.set("k0", "v0");
  }
  {
    ipclab::Fd fd(::open(f.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    ASSERT_TRUE(fd);
    std::string tail(193, '\0');
    tail.back() = '\1';
    ASSERT_EQ(::write(fd.get(), tail.data(), tail.size()), static_cast<ssize_t>(tail.size()));
  }
  auto s = lab::KvStore::open(f, {.create = false});
  std::string want = "k0=v0\n";
  for (int i = 1; i <= 8; ++i) {
    s.set(fmt::format("k{}", i), fmt::format("v{}", i));
    want += fmt::format("k{}=v{}\n", i, i);
  }
  ASSERT_GT(lab::KvStore::open(f).slots(), 8u) << "nine keys in 8 slots: the table grew";
  expect_output(kvrun(f, {"list"}), want);
}

GRADED_TEST(Growth, KilledGrowerLosesNoAcknowledgedKey, 4,
            "README §Pitfalls 11 — the header write, last, commits the new table") {
  grader::repeat(4, [](int i, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const auto f = db(fmt::format("kill{}.db", i));
    const std::string acks = grader::scratch() + fmt::format("/acks{}", i);
    lab::KvStore::open(f, {.create = true, .slots = 2});
    // The writer writes a key's name to `acks` once set() has returned for it.
    grader::Child writer(
        [&] {
          lab::set_test_yield(true);  // slow, yielding record writes: a wide growth window
          ipclab::Fd out(ipclab::check_unix(
              ::open(acks.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600), "open"));
          auto s = lab::KvStore::open(f);
          for (int n = 0;; ++n) {
            const std::string k = fmt::format("key{}", n);
            s.set(k, "value of " + k);
            ipclab::write_full(out.get(), k + "\n");
          }
        },
        "writer");
    const std::size_t kill_at = 40 + rng() % 400;
    ASSERT_TRUE(grader::wait_until(
        [&] { return complete_lines(acks).size() >= kill_at || writer.exited(); }, 30'000ms));
    ASSERT_FALSE(writer.exited()) << "the writer ended before " << kill_at << " keys:\n"
                                  << writer.finish().failures;
    writer.kill();
    const auto acked = complete_lines(acks);
    auto s = lab::KvStore::open(f);
    std::set<std::string> keys;
    for (const auto& [k, v] : s.list()) {
      EXPECT_TRUE(keys.insert(k).second) << "key " << k << " is in the table twice";
      EXPECT_EQ(v, "value of " + k);
    }
    for (const auto& k : acked)
      EXPECT_TRUE(keys.contains(k)) << "acknowledged key " << k << " lost";
    EXPECT_LE(keys.size(), acked.size() + 1) << "keys the writer never set";
    expect_exit(kvrun(f, {"set", "after", "kill"}), 0);  // the file is still a good store
  });
}
