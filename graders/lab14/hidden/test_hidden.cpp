// Lab 14 hidden grader: a fuzz corpus of damaged files, gets without system calls, a reader
// racing a writer, overwrites and deletes.
#include <linux/seccomp.h>  // SECCOMP_MODE_STRICT
#include <sys/prctl.h>      // prctl
#include <sys/syscall.h>    // SYS_exit
#include <unistd.h>         // syscall

#include <random>  // std::mt19937_64

#include "../public/common.hpp"

namespace lab = ipclab::lab14;

using grader::expect_exit;
using grader::run;
using lab14_test::create_db;
using lab14_test::Db;
using lab14_test::db_path;
using lab14_test::first_bad_key;
using lab14_test::key_of;
using lab14_test::last_committed;
using lab14_test::writer_argv;

GRADED_TEST(Hidden, FuzzCorpusOfDamagedFilesNeverCrashes, 4,
            "README §Pitfalls 5 and 6 — never trust an offset or a length read from the file") {
  const auto f = db_path("fuzz-src.db");
  create_db(f, "64K");
  expect_exit(run(writer_argv(f, "z", 300, {"--batch", "30", "--quiet"})), 0);
  {
    Db db = Db::open(f);
    for (int i = 0; i < 300; i += 7) db.del(key_of("z", static_cast<std::uint64_t>(i)));
  }
  const std::string good = lab14_test::read_bytes(f);
  const auto h = lab14_test::header_of(good);
  const std::uint64_t ioff = lab::index_offset(h.index_ref);
  const std::uint64_t ibytes = std::uint64_t{8} << lab::index_log2_slots(h.index_ref);
  std::mt19937_64 rng(grader::seed());
  const auto g = db_path("fuzz.db");
  for (int n = 0; n < 36; ++n) {
    std::string bad = good;
    std::string what;
    const int kind = n % 4;
    if (kind == 0) {  // the header's first 128 bytes
      const auto at = rng() % 128;
      bad[at] = static_cast<char>(bad[at] ^ (1 << (rng() % 8)));
      what = fmt::format("bit flipped at header byte {}", at);
    } else if (kind == 1) {  // the index: a slot's offset or tag
      const auto at = ioff + rng() % ibytes;
      bad[at] = static_cast<char>(rng());
      what = fmt::format("index byte {} set at random", at);
    } else if (kind == 2) {  // the records
      const auto at = ioff + ibytes + rng() % (h.heap_end - ioff - ibytes);
      for (int k = 0; k < 4; ++k) bad[at + k] = static_cast<char>(rng());
      what = fmt::format("4 heap bytes at {} set at random", at);
    } else {
      const auto len = rng() % good.size();
      bad.resize(len);
      what = fmt::format("truncated to {} bytes", len);
    }
    lab14_test::write_bytes(g, bad);
    const std::vector<std::vector<std::string>> cmds = {
        {"mmapdb", "check", g},
        {"mmapdb", "get", g, "z00000123"},
        {"mmapdb", "list", g},
        {"mmapdb", "--no-sync", "insert", g, "z00000200", "new value"}};
    for (const auto& cmd : cmds) {
      auto r = run(cmd);
      ASSERT_FALSE(r.timed_out) << what << ": hung\n" << r.describe();
      ASSERT_FALSE(r.status.signaled()) << what << ": crashed\n" << r.describe();
      ASSERT_TRUE(r.exit_code() == 0 || r.exit_code() == 1) << what << "\n" << r.describe();
      if (r.exit_code() == 1) {
        EXPECT_TRUE(r.err.rfind("error: corrupt database", 0) == 0 ||
                    r.err == "error: key not found\n")
            << what << "\n"
            << r.describe();
      }
    }
  }
}

GRADED_TEST(Hidden, GetMakesNoSystemCall, 3,
            "README §The core question — a point read is loads from the mapping, no syscall") {
  const auto f = db_path("nosys.db");
  create_db(f, "1M");
  expect_exit(run(writer_argv(f, "s", 2000, {"--batch", "500", "--quiet"})), 0);
  std::vector<std::string> keys, values;
  for (int i = 0; i < 2000; i += 3) {
    keys.push_back(key_of("s", static_cast<std::uint64_t>(i)));
    values.push_back(lab::test_value(keys.back()));
  }
  // Strict mode can be entered only from no seccomp mode at all (not under a container's
  // filter, not without CONFIG_SECCOMP).
  if (::prctl(PR_GET_SECCOMP) != 0) GTEST_SKIP() << "seccomp strict mode not available here";
  grader::Child reader(
      [&] {
        auto* db = new Db(Db::open(f));  // never destroyed: munmap would be a system call
        (void)db->get(keys[0]);          // anything lazy happens here, before the filter
        ASSERT_EQ(::prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT), 0) << "prctl(PR_SET_SECCOMP)";
        // From here on the kernel allows read, write, exit and sigreturn only: any other
        // system call kills this process with SIGKILL. So no gtest failure here (it
        // allocates) and no return into the harness (it ends with exit_group): the verdict
        // is the status of the exit system call.
        bool right = true;
        for (std::size_t i = 0; i < keys.size(); ++i) {
          const auto v = db->get(keys[i]);
          if (!v || *v != values[i]) right = false;
        }
        if (db->get("s-never-inserted").has_value()) right = false;
        ::syscall(SYS_exit, right ? 0 : 1);
      },
      "reader under seccomp");
  const auto end = reader.finish(10'000ms);
  EXPECT_FALSE(end.status.signaled() && end.status.signal() == SIGKILL)
      << "get() made a system call (the process was killed by the seccomp filter, which "
         "allows only read, write and exit): a point read must find the record through the "
         "mapping alone";
  EXPECT_TRUE(end.passed()) << "gets returned wrong values (exit status 1) or threw: "
                            << end.describe();
}

GRADED_TEST(Hidden, ReaderFollowsAConcurrentWriter, 3,
            "README §Pitfalls 1 and 4 — publish after the record; remap on a new generation") {
  const auto f = db_path("follow.db");
  create_db(f, "64K");
  Db reader = Db::open(f);
  grader::Process w(writer_argv(f, "r", 8000, {"--batch", "7"}));
  std::mt19937_64 rng(grader::seed());
  long long seen = -1;
  std::string bad;
  while (bad.empty()) {
    const bool done = !w.running();
    const long long committed = last_committed(w.out());
    if (committed >= 0) {
      // The newest committed key and a few random older ones must all be there, right.
      for (int k = 0; k < 8 && bad.empty(); ++k) {
        const auto i = k == 0 ? committed : static_cast<long long>(rng() % (committed + 1));
        const auto key = key_of("r", static_cast<std::uint64_t>(i));
        const auto v = reader.get(key);
        if (!v)
          bad = key + " missing after the writer committed it";
        else if (*v != lab::test_value(key))
          bad = key + " has a wrong value";
      }
      seen = committed;
    }
    if (done) break;
  }
  EXPECT_EQ(bad, "") << "a reader (never reopened) saw a committed insert wrong";
  auto r = w.finish(30'000ms);
  expect_exit(r, 0);
  EXPECT_EQ(seen, 7999);
  EXPECT_EQ(first_bad_key(reader, "r", 8000), "");
}

GRADED_TEST(Hidden, OverwritesAndDeletesKeepTheLatestValue, 2, "README §The file and the API") {
  const auto f = db_path("overwrite.db");
  Db db = Db::create(f, 64 * 1024, {.sync = false});  // thousands of commits: no msync
  for (int round = 0; round < 300; ++round)
    for (int k = 0; k < 10; ++k)
      db.put(fmt::format("key{}", k), fmt::format("value {} of key {}", round, k));
  EXPECT_TRUE(db.del("key3"));
  EXPECT_FALSE(db.del("key3"));
  db.put("key5", "");  // an empty value is a value
  Db again = Db::open(f);
  const auto all = again.list();
  ASSERT_EQ(all.size(), 9u);
  EXPECT_EQ(all[0], (std::pair<std::string, std::string>{"key0", "value 299 of key 0"}));
  EXPECT_FALSE(again.get("key3").has_value());
  ASSERT_TRUE(again.get("key5").has_value());
  EXPECT_EQ(*again.get("key5"), "");
  const auto st = again.check();
  EXPECT_EQ(st.keys, 9u);
  EXPECT_EQ(st.tombstones, 1u);
  EXPECT_LE(st.slots, 2048u) << "overwrites must reuse the key's slot, not take new ones";
}
