// Lab 09 public grader: the store's contract, its locking, and the kernel semantics of
// fcntl record locks (a killed holder releases; a blocked locker sleeps).
#include <signal.h>    // SIGKILL
#include <sys/stat.h>  // stat, umask
#include <unistd.h>    // close, ftruncate, pread, pwrite

#include <atomic>   // std::atomic
#include <cstddef>  // offsetof
#include <random>   // std::mt19937_64
#include <thread>   // std::this_thread::sleep_for

#include "common.hpp"

GRADER_LAB("lab09", "Key-value store with fcntl record locks");

using grader::expect_exit;
using grader::expect_output;
using lab09_test::db;
using lab09_test::kvrun;
using lab09_test::kvstart;
namespace lab = ipclab::lab09;

namespace {

/// Parses "locked K slot S bytes A-B" from a lock-test's output.
struct Locked {
  long slot = -1, first = -1, last = -1;
};
Locked parse_locked(const std::string& out) {
  Locked l;
  const auto p = out.find("locked ");
  if (p == std::string::npos) return l;
  const auto s = out.find(" slot ", p);
  if (s == std::string::npos) return l;
  std::sscanf(out.c_str() + s, " slot %ld bytes %ld-%ld", &l.slot, &l.first, &l.last);
  return l;
}

}  // namespace

// ---- the store's contract ----------------------------------------------------------------

GRADED_TEST(Store, SetGetDelList, 3, "README §The API") {
  const auto f = db();
  expect_exit(kvrun(f, {"set", "color", "blue"}), 0);
  expect_exit(kvrun(f, {"set", "shape", "round thing"}), 0);
  auto g = kvrun(f, {"get", "color"});
  expect_output(g, "blue\n");
  expect_exit(g, 0);
  expect_exit(kvrun(f, {"set", "color", "red"}), 0);  // overwrite in place
  expect_output(kvrun(f, {"get", "color"}), "red\n");
  expect_output(kvrun(f, {"list"}), "color=red\nshape=round thing\n");
  auto missing = kvrun(f, {"get", "nosuch"});
  expect_exit(missing, 1);
  EXPECT_EQ(missing.err, "error: key not found\n") << missing.describe();
  expect_exit(kvrun(f, {"del", "color"}), 0);
  auto gone = kvrun(f, {"get", "color"});
  expect_exit(gone, 1);
  EXPECT_EQ(gone.err, "error: key not found\n") << gone.describe();
  expect_exit(kvrun(f, {"del", "color"}), 1);
  expect_output(kvrun(f, {"list"}), "shape=round thing\n");
  auto inc = kvrun(f, {"incr", "n", "--times", "5"});
  expect_output(inc, "5\n");
  expect_output(kvrun(f, {"get", "n"}), "5\n");
}

GRADED_TEST(Store, FullTableIsDatabaseFull, 3,
            "README §Pitfalls 6 — probe every slot, then fail with `database full`") {
  const auto f = db();
  for (int i = 0; i < 4; ++i)
    expect_exit(
        kvrun(f, {"--max-slots", "4", "set", fmt::format("k{}", i), fmt::format("v{}", i)}, 4), 0);
  auto full = kvrun(f, {"set", "k4", "v4"});
  expect_exit(full, 1);
  EXPECT_EQ(full.err, "error: database full\n") << full.describe();
  auto inc = kvrun(f, {"incr", "k5"});
  expect_exit(inc, 1);
  EXPECT_EQ(inc.err, "error: database full\n") << inc.describe();
  expect_exit(kvrun(f, {"set", "k2", "changed"}), 0);  // an existing key still updates
  expect_output(kvrun(f, {"get", "k2"}), "changed\n");
  expect_exit(kvrun(f, {"get", "k4"}), 1);  // a probe of a full table ends
  expect_exit(kvrun(f, {"del", "k1"}), 0);  // a tombstone is a free slot again
  expect_exit(kvrun(f, {"set", "k4", "v4"}), 0);
  expect_output(kvrun(f, {"list"}), "k0=v0\nk2=changed\nk3=v3\nk4=v4\n");
}

GRADED_TEST(Store, TombstoneOfAFullTableIsReusedInPlace, 2,
            "README §Growth and the lock hierarchy — a probe of every slot is not longer than "
            "kGrowProbe when the table has kGrowProbe slots") {
  // A table of kGrowProbe slots, full, then one key deleted: a new key probes every slot
  // once (no empty one ends the probe), finds the tombstone, and goes there. The table
  // grows only when a key finds no free slot at all.
  const auto f = db();
  auto s = lab::KvStore::open(f, {.create = true, .slots = lab::kGrowProbe, .max_slots = 1024});
  for (std::uint32_t i = 0; i < lab::kGrowProbe; ++i) s.set(fmt::format("k{}", i), "v");
  ASSERT_EQ(lab::KvStore::open(f).slots(), lab::kGrowProbe) << "a table with room grew";
  ASSERT_TRUE(s.del("k7"));
  s.set("new1", "v");
  EXPECT_EQ(lab::KvStore::open(f).slots(), lab::kGrowProbe)
      << "the new key probed the " << lab::kGrowProbe
      << " slots once and found a tombstone: the table should not grow";
  s.set("new2", "v");
  EXPECT_EQ(lab::KvStore::open(f).slots(), 2 * lab::kGrowProbe)
      << "no free slot left: the table should double";
  EXPECT_EQ(s.list().size(), std::size_t{lab::kGrowProbe} + 1);
}

GRADED_TEST(Store, KeyAtTheEndOfAFullProbeIsFound, 1, "README §Pitfalls 6 — probe every slot") {
  // Four keys with the same home slot fill a table of 4 that cannot grow: the last one is
  // found only by a probe of all 4 slots.
  const auto f = db();
  auto s = lab::KvStore::open(f, {.create = true, .slots = 4, .max_slots = 4});
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < 4; ++i)
    if (auto k = fmt::format("q{}", i); lab::home_slot(k, 4) == 2) keys.push_back(k);
  for (const auto& k : keys) s.set(k, "v" + k);
  for (const auto& k : keys)
    EXPECT_EQ(s.get(k), "v" + k) << "key " << k << " of a full table, all four with home slot 2";
  EXPECT_TRUE(s.del(keys.back())) << "the last key of the probe";
  EXPECT_EQ(s.get(keys.back()), std::nullopt);
}

GRADED_TEST(Store, CreationWaitsForTheHeaderLock, 1,
            "README §Pitfalls 8 — create the file under the header lock, exclusive") {
  // An empty file whose header lock another open file description holds shared (as a
  // checker of the file would): a first open must wait for it before it creates the table.
  const auto f = db();
  ipclab::Fd fd(::open(f.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd);
  struct flock fl {};
  fl.l_type = F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = static_cast<off_t>(lab::kHeaderSize);
  ASSERT_EQ(::fcntl(fd.get(), F_OFD_SETLK, &fl), 0) << "the grader's shared header lock";
  auto p = kvstart(f, {"set", "k", "v"});
  ASSERT_TRUE(grader::wait_until([&] { return lab09_test::blocked_waiters(f) > 0 || p.exited(); },
                                 10'000ms))
      << "kvstore set neither finished nor waited in the kernel";
  struct stat st {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_size, 0) << "the file was created while another process held its header "
                              "lock shared";
  EXPECT_FALSE(p.exited()) << p.finish().describe();
  fl.l_type = F_UNLCK;
  ASSERT_EQ(::fcntl(fd.get(), F_OFD_SETLK, &fl), 0);
  expect_exit(p.finish(20'000ms), 0);
  expect_output(kvrun(f, {"get", "k"}), "v\n");
}

GRADED_TEST(Store, NewFileHasMode0644, 1, "README §The API — a new file gets mode 0644") {
  const mode_t old = ::umask(022);
  const auto f = db("mode.db");
  (void)lab::KvStore::open(f, {.create = true});
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644U) << fmt::format("{} has mode {:o}", f, st.st_mode & 07777);
}

GRADED_TEST(Store, IncrOverflowIsAnError, 1, "README §Program — incr never wraps") {
  const auto f = db();
  for (const auto& [start, by] : std::vector<std::pair<std::string, std::string>>{
           {"9223372036854775807", "1"}, {"-9223372036854775808", "-1"}}) {
    expect_exit(kvrun(f, {"set", "n", start}), 0);
    auto r = kvrun(f, {"incr", "n", "--by=" + by});
    expect_exit(r, 1);
    EXPECT_EQ(r.err, "error: overflow\n") << r.describe();
    expect_output(kvrun(f, {"get", "n"}), start + "\n");  // the value is left as it was
  }
}

GRADED_TEST(Store, TooLongIsUsageError, 2, "README §The API — limits are exit 2") {
  const auto f = db();
  const std::string key48(lab::kMaxKey, 'k'), value192(lab::kMaxValue, 'v');
  expect_exit(kvrun(f, {"set", key48, value192}), 0);
  expect_output(kvrun(f, {"get", key48}), value192 + "\n");
  for (const auto& args : std::vector<std::vector<std::string>>{{"set", key48 + "k", "v"},
                                                                {"set", "k", value192 + "v"},
                                                                {"get", key48 + "k"},
                                                                {"incr", key48 + "k"},
                                                                {"set", "", "v"}}) {
    auto r = kvrun(f, args);
    expect_exit(r, 2);
    EXPECT_TRUE(r.err.starts_with("error: ")) << r.describe();
  }
  expect_output(kvrun(f, {"list"}), key48 + "=" + value192 + "\n");  // nothing else written
}

// ---- locking -------------------------------------------------------------------------------

GRADED_TEST(Locking, EightProcessesIncrementExactly4000, 8,
            "README §Pitfalls 1 — the read, the change and the write under one write lock") {
  grader::repeat(2, [](int i, std::uint64_t) {
    const auto f = db();
    const std::string key = fmt::format("counter{}", i);
    std::vector<grader::Process> ps;
    for (int p = 0; p < 8; ++p) ps.push_back(kvstart(f, {"incr", key, "--times", "500"}));
    for (auto& p : ps) {
      auto r = p.finish(60'000ms);
      expect_exit(r, 0);
    }
    auto g = kvrun(f, {"get", key});
    expect_output(g, "4000\n");
    ASSERT_FALSE(::testing::Test::HasFailure()) << "8 x 500 increments of one key";
  });
}

GRADED_TEST(Locking, DifferentKeysLockInParallel, 6,
            "README §Pitfalls 2 — lock the record's bytes, not the whole file") {
  grader::repeat(3, [](int, std::uint64_t seed) {
    const auto f = db();
    const auto [a, b] = lab09_test::keys_in_distinct_slots(lab::kDefaultSlots, seed);
    auto pa = kvstart(f, {"lock-test", a, "--hold-ms", "60000"});
    ASSERT_TRUE(pa.wait_for_output("locked", 10'000ms))
        << "lock-test " << a << " never printed `locked`\n"
        << pa.err();
    auto pb = kvstart(f, {"lock-test", b, "--hold-ms", "60000"});
    // Either pb gets its lock, or it blocks in the kernel (on a's lock: the bug).
    ASSERT_TRUE(grader::wait_until(
        [&] {
          return pb.out().find("locked") != std::string::npos ||
                 lab09_test::blocked_waiters(f) > 0 || pb.exited();
        },
        10'000ms));
    EXPECT_NE(pb.out().find("locked " + b), std::string::npos)
        << "`lock-test " << b << "` could not lock its record while `lock-test " << a << "` held "
        << a << "'s: different keys must not exclude each other.\n"
        << "blocked lock requests on the file: " << lab09_test::blocked_waiters(f)
        << "\nstderr: " << pb.err();
    EXPECT_EQ(pa.out().find("released"), std::string::npos);  // a still holds
  });
}

GRADED_TEST(Locking, SameKeyWaitsAsleepInTheKernel, 6,
            "README §Pitfalls 3 — F_OFD_SETLKW sleeps; never poll with F_OFD_SETLK") {
  const auto f = db();
  auto holder = kvstart(f, {"lock-test", "hot", "--hold-ms", "60000"});
  ASSERT_TRUE(holder.wait_for_output("locked", 10'000ms)) << holder.err();
  auto waiter = kvstart(f, {"lock-test", "hot"});
  ASSERT_TRUE(grader::wait_until(
      [&] { return lab09_test::blocked_waiters(f) > 0 || waiter.exited(); }, 10'000ms))
      << "the second lock-test of the same key never blocked in F_OFD_SETLKW";
  EXPECT_EQ(waiter.out().find("locked"), std::string::npos)
      << "two processes held the same record's write lock at once:\nholder: " << holder.out()
      << "waiter: " << waiter.out();
  ASSERT_EQ(lab09_test::blocked_waiters(f), 1) << "the waiter must be blocked in the kernel";
  // Blocked means asleep: no CPU time while it waits.
  const double before = grader::cpu_seconds(waiter.pid());
  std::this_thread::sleep_for(grader::scaled(400ms));
  const double used = grader::cpu_seconds(waiter.pid()) - before;
  EXPECT_LT(used, 0.05) << "a blocked locker used " << used << " s of CPU in 0.4 s: busy-waiting";
  EXPECT_TRUE(waiter.running());
}

GRADED_TEST(Locking, KilledHolderReleasesItsLock, 6,
            "README §Pitfalls 4 — the kernel releases a dead process's locks") {
  grader::repeat(2, [](int i, std::uint64_t) {
    const auto f = db();
    const std::string key = fmt::format("k{}", i);
    auto holder = kvstart(f, {"lock-test", key, "--hold-ms", "60000"});
    ASSERT_TRUE(holder.wait_for_output("locked", 10'000ms)) << holder.err();
    auto waiter = kvstart(f, {"lock-test", key});
    ASSERT_TRUE(grader::wait_until([&] { return lab09_test::blocked_waiters(f) > 0; }, 10'000ms))
        << "the waiter never blocked on the held record";
    holder.kill();  // SIGKILL: no destructor, no unlock — only the kernel can release it
    ASSERT_TRUE(waiter.wait_for_output("released", 10'000ms))
        << "the next locker did not get the lock after its holder was killed\n"
        << waiter.err();
    expect_exit(waiter.finish(), 0);
  });
  // A process killed in the middle of many locked increments leaves the store usable.
  const auto f = db("busy.db");
  auto busy = kvstart(f, {"incr", "n", "--times", "100000000"});
  ASSERT_TRUE(grader::wait_until(
      [&] {
        auto r = grader::run(lab09_test::kv_argv(f, {"get", "n"}), {.timeout = 5s});
        return r.exit_code() == 0 && r.out != "0\n";
      },
      10'000ms));
  busy.kill();
  auto after = kvrun(f, {"incr", "n", "--times", "3"});
  expect_exit(after, 0);
}

GRADED_TEST(Locking, LockCoversExactlyTheRecord, 6,
            "README §Pitfalls 2 — record i's lock is [record_offset(i), +kRecordSize)") {
  const auto f = db();
  for (const std::string key : {"alpha", "omega"}) {
    const std::uint32_t slot = lab::home_slot(key, lab::kDefaultSlots);  // empty table
    auto p = kvstart(f, {"lock-test", key, "--hold-ms", "60000"});
    ASSERT_TRUE(p.wait_for_output("locked", 10'000ms)) << p.err();
    const off_t off = lab::record_offset(slot);
    const auto h = lab09_test::record_holder(f, slot);
    EXPECT_TRUE(h.locked()) << "no lock on record " << slot << " of key " << key;
    EXPECT_EQ(h.type, F_WRLCK);
    EXPECT_EQ(h.start, off) << "the lock starts at the wrong byte";
    EXPECT_EQ(h.len, static_cast<off_t>(lab::kRecordSize)) << "the lock has the wrong length";
    EXPECT_TRUE(lab09_test::holder_of(f, off, 1).locked()) << "first byte not covered";
    EXPECT_TRUE(lab09_test::holder_of(f, off + lab::kRecordSize - 1, 1).locked())
        << "last byte not covered";
    const auto header = lab09_test::holder_of(f, 0, lab::kHeaderSize);
    EXPECT_EQ(header.type, F_RDLCK)
        << "while a record is held, the header lock must be held shared (not write-locked, "
           "not free: the table must not move under the record)";
    EXPECT_FALSE(lab09_test::holder_of(f, lab::kInsertLock.start, lab::kInsertLock.len).locked())
        << "the insert lock is still held while a record is held";
    if (slot > 0) {
      EXPECT_FALSE(lab09_test::record_holder(f, slot - 1).locked()) << "record before locked";
    }
    if (slot + 1 < lab::kDefaultSlots) {
      EXPECT_FALSE(lab09_test::record_holder(f, slot + 1).locked()) << "record after locked";
    }
    const auto l = parse_locked(p.out());
    EXPECT_EQ(l.slot, slot) << p.out();
    p.kill();
  }
}

GRADED_TEST(Locking, RecordsAreNeverTorn, 6,
            "README §Pitfalls 5 — a reader takes the record's read lock too") {
  grader::repeat(2, [](int i, std::uint64_t seed) {
    const auto f = db(fmt::format("torn{}.db", i));
    lab::KvStore::open(f);  // create it once
    const std::vector<std::string> keys = {"x", "y"};
    std::vector<grader::Child> workers;
    for (int w = 0; w < 3; ++w)
      workers.emplace_back(
          [&, w] {
            lab::set_test_yield(true);
            auto s = lab::KvStore::open(f);
            std::mt19937_64 rng(seed + w);
            for (int n = 0; n < 300; ++n)
              s.set(keys[rng() % keys.size()],
                    lab09_test::sealed_value(fmt::format("w{}n{}", w, n), 20 + rng() % 160));
          },
          fmt::format("writer {}", w));
    for (int r = 0; r < 3; ++r)
      workers.emplace_back(
          [&] {
            lab::set_test_yield(true);
            auto s = lab::KvStore::open(f);
            for (int n = 0; n < 600; ++n) {
              auto v = s.get(keys[n % keys.size()]);
              ASSERT_TRUE(!v || lab09_test::sealed_ok(*v)) << "torn value read: " << *v;
            }
          },
          fmt::format("reader {}", r));
    const std::string why = grader::join(workers, 60'000ms);
    EXPECT_TRUE(why.empty()) << "3 writers and 3 readers of two keys; a reader saw a value that "
                                "is not one whole write: "
                             << why;
    auto s = lab::KvStore::open(f);
    for (const auto& k : keys) {
      auto v = s.get(k);
      ASSERT_TRUE(v.has_value());
      EXPECT_TRUE(lab09_test::sealed_ok(*v)) << "final value of " << k << ": " << *v;
    }
  });
}

GRADED_TEST(Locking, ClosingAnotherFdKeepsTheLock, 5,
            "README §Pitfalls 7 — classic POSIX locks die with ANY close of the file") {
  const auto f = db();
  auto s = lab::KvStore::open(f);
  auto held = s.lock_key("trap");
  ASSERT_TRUE(lab09_test::record_holder(f, held.slot).locked()) << "lock_key took no lock";
  {  // the trap: something else in this process opens and closes the same file
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  EXPECT_TRUE(lab09_test::record_holder(f, held.slot).locked())
      << "closing another descriptor of the file dropped the store's record lock";
  // Another process cannot take it either (and gives up after its --timeout).
  auto r = grader::run(lab09_test::kv_argv(f, {"--timeout", "300", "lock-test", "trap"}),
                       {.timeout = 20'000ms});
  EXPECT_EQ(r.out.find("locked"), std::string::npos) << r.describe();
  expect_exit(r, 1);
  held.lock.release();
  expect_exit(kvrun(f, {"lock-test", "trap"}), 0);
}

// ---- a damaged file, a bad descriptor --------------------------------------------------------

GRADED_TEST(Store, DamagedFileIsAClearError, 3,
            "README §The file and its locks — open() checks the whole header and the size") {
  const auto damage = [](const std::string& path, const char* what, const auto& how) {
    {
      auto store = lab::KvStore::open(path, {.create = true, .slots = 8});
      store.set("k", "v");
    }
    ipclab::Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd) << path;
    how(fd.get());
    try {
      auto store = lab::KvStore::open(path, {.create = false, .slots = 8});
      ADD_FAILURE() << "open() of a file with " << what << " must throw OperationFailed, not "
                    << "succeed (" << store.slots() << " slots)";
    } catch (const ipclab::OperationFailed&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "open() of a file with " << what
                    << " must throw OperationFailed, not: " << e.what();
    }
  };
  damage(db("magic.db"), "a wrong magic",
         [](int fd) { ASSERT_EQ(::pwrite(fd, "X", 1, offsetof(lab::Header, magic)), 1); });
  damage(db("magic7.db"), "the magic's last byte wrong",
         [](int fd) { ASSERT_EQ(::pwrite(fd, "X", 1, offsetof(lab::Header, magic) + 7), 1); });
  const auto bump = [](std::size_t offset) {  // a header field one more than the store wrote
    return [offset](int fd) {
      std::uint32_t v = 0;
      ASSERT_EQ(::pread(fd, &v, sizeof v, static_cast<off_t>(offset)), 4);
      ++v;
      ASSERT_EQ(::pwrite(fd, &v, sizeof v, static_cast<off_t>(offset)), 4);
    };
  };
  damage(db("version.db"), "another version", bump(offsetof(lab::Header, version)));
  damage(db("record.db"), "another record size", bump(offsetof(lab::Header, record_size)));
  damage(db("zero.db"), "zero slots", [](int fd) {
    const std::uint32_t zero = 0;
    ASSERT_EQ(::pwrite(fd, &zero, sizeof zero, offsetof(lab::Header, slots)), 4);
  });
  const auto put = [](std::size_t offset, std::uint32_t v) {  // a header field set to v
    return [offset, v](int fd) {
      ASSERT_EQ(::pwrite(fd, &v, sizeof v, static_cast<off_t>(offset)), 4);
    };
  };
  damage(db("maxslots.db"), "max_slots above kMaxSlots",
         put(offsetof(lab::Header, max_slots), lab::kMaxSlots + 1));
  damage(db("slots.db"), "more slots than max_slots (4)", put(offsetof(lab::Header, max_slots), 4));
  damage(db("short.db"), "its last record cut short",
         [](int fd) { ASSERT_EQ(::ftruncate(fd, lab::record_offset(8) - 1), 0); });
  damage(db("header.db"), "half a header",
         [](int fd) { ASSERT_EQ(::ftruncate(fd, lab::kHeaderSize / 2), 0); });
}

GRADED_TEST(Locking, LockOnABadDescriptorThrows, 2,
            "README §Pitfalls 9 — retry EINTR and EDEADLK only; any other error is an error") {
  std::atomic<int> done{0};
  std::thread t([&] {
    try {
      lab::lock_range(-1, lab::LockType::kWrite, 0, 1);
      ADD_FAILURE() << "lock_range(-1, ...) returned instead of throwing SysError (EBADF)";
    } catch (const ipclab::SysError& e) {
      EXPECT_EQ(e.code(), std::errc::bad_file_descriptor) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "lock_range(-1, ...) must throw SysError (EBADF), not: " << e.what();
    }
    done = 1;
  });
  if (!grader::wait_until([&] { return done.load() == 1; }, 5'000ms))
    grader::abandon_test(
        "lock_range(-1, ...) did not return within 5 s: it retries an error "
        "that will never go away (EBADF)");
  t.join();
}

GRADED_TEST(Store, SlotCountLimitsAndCloseOnExec, 2,
            "README §The API — slots 1..kMaxSlots; open() with O_CLOEXEC; lengths > 0") {
  EXPECT_THROW((void)lab::KvStore::open(db("zero.db"), {.create = true, .slots = 0}),
               ipclab::UsageError);
  EXPECT_THROW(
      (void)lab::KvStore::open(db("huge.db"), {.create = true, .slots = lab::kMaxSlots + 1}),
      ipclab::UsageError);
  EXPECT_THROW((void)lab::KvStore::open(
                   db("hugemax.db"), {.create = true, .slots = 8, .max_slots = lab::kMaxSlots + 1}),
               ipclab::UsageError)
      << "max_slots above kMaxSlots";
  EXPECT_NO_THROW(
      (void)lab::KvStore::open(db("onemax.db"), {.create = true, .slots = 1, .max_slots = 1}))
      << "a table of one slot that may never grow is a table";
  {
    auto store = lab::KvStore::open(db("one.db"), {.create = true, .slots = 1});
    EXPECT_EQ(store.slots(), 1u) << "a table of one slot is a table";
    const int flags = ::fcntl(store.fd(), F_GETFD);
    EXPECT_TRUE(flags >= 0 && (flags & FD_CLOEXEC) != 0)
        << "the store's descriptor must be close-on-exec (a child exec'd by the caller would "
           "otherwise hold its locks' open file description)";
  }
  ipclab::Fd fd(::open(db("one.db").c_str(), O_RDWR | O_CLOEXEC));
  try {
    lab::lock_range(fd.get(), lab::LockType::kWrite, 0, 0);
    ADD_FAILURE()
        << "lock_range with length 0 (in fcntl: to the end of the file) must throw EINVAL";
  } catch (const ipclab::SysError& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument) << e.what();
  }
}
