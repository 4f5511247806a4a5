// Lab 14 hidden grader: a fuzz corpus of damaged files, gets without system calls, a reader
// racing a writer, overwrites and deletes; each header field checked alone, a header changed
// under an open Db, used_slots, a failed create, close-on-exec descriptors, the shared lock
// on descriptor 0, the header of the largest database.
#include <fcntl.h>          // fcntl, FD_CLOEXEC
#include <linux/seccomp.h>  // SECCOMP_MODE_STRICT
#include <signal.h>         // signal, SIGXFSZ
#include <sys/prctl.h>      // prctl
#include <sys/resource.h>   // setrlimit, RLIMIT_FSIZE
#include <sys/syscall.h>    // SYS_exit
#include <unistd.h>         // syscall

#include <algorithm>   // std::sort
#include <atomic>      // std::atomic
#include <cerrno>      // errno
#include <filesystem>  // std::filesystem::directory_iterator, canonical
#include <random>      // std::mt19937_64
#include <thread>      // std::thread
#include <vector>      // std::vector

#include <fmt/format.h>  // fmt::join

#include "../public/common.hpp"
#include "grader/locks.hpp"  // blocked_lock_requests

namespace lab = ipclab::lab14;

using grader::expect_exit;
using grader::expect_output;
using grader::run;
using lab14_test::create_db;
using lab14_test::Db;
using lab14_test::db_path;
using lab14_test::expect_all_report_corrupt;
using lab14_test::expect_corrupt;
using lab14_test::first_bad_key;
using lab14_test::header_of;
using lab14_test::key_of;
using lab14_test::last_committed;
using lab14_test::poke;
using lab14_test::read_bytes;
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

// ---- each header field alone; a header changed under an open Db -----------------------------

namespace {

/// make_valid's file with its bytes, its header and where its index is.
struct ValidFile {
  std::string path, good;
  lab::Header h0{};
  std::uint64_t ioff = 0;
  unsigned log2 = 0;
};

ValidFile valid_file(const std::string& name) {
  ValidFile v;
  v.path = lab14_test::make_valid(name);
  v.good = read_bytes(v.path);
  v.h0 = header_of(v.good);
  v.ioff = lab::index_offset(v.h0.index_ref);
  v.log2 = lab::index_log2_slots(v.h0.index_ref);
  return v;
}

}  // namespace

GRADED_TEST(Hidden, EveryHeaderFieldIsCheckedAlone, 2,
            "README §Pitfalls 5 — validate the header (magic, version, CRC, every size) before "
            "trusting it") {
  using lab::Header;
  const auto [f, good, h0, ioff, log2] = valid_file("fields.db");
  struct Damage {
    const char* what;
    void (*apply)(Header&, std::uint64_t ioff, unsigned log2);
  };
  // Each damage alone, with header_crc recomputed: only the field's own check can catch it.
  const Damage damages[] = {
      {"header_size doubled", [](Header& h, auto, auto) { h.header_size *= 2; }},
      {"align 16", [](Header& h, auto, auto) { h.align = 16; }},
      {"max_key one more", [](Header& h, auto, auto) { h.max_key += 1; }},
      {"max_value one less", [](Header& h, auto, auto) { h.max_value -= 1; }},
      {"an index of 512 slots (fewer than 1024)",
       [](Header& h, std::uint64_t at, auto) { h.index_ref = lab::make_index_ref(at, 9); }},
      {"an index at offset 0, over the header",
       [](Header& h, auto, unsigned l2) { h.index_ref = lab::make_index_ref(0, l2); }},
      {"file_size below kMinSize (still above heap_end)",
       [](Header& h, auto, auto) { h.file_size = lab::align_up(h.heap_end, lab::kAlign); }},
      {"file_size not a multiple of 8 (and within the real size)",
       [](Header& h, auto, auto) { h.file_size += 4; }},
  };
  ASSERT_LT(h0.heap_end + lab::kAlign, lab::kMinSize) << "the test needs a small heap";
  const auto g = db_path("damaged.db");
  for (const auto& d : damages) {
    Header h = h0;
    d.apply(h, ioff, log2);
    h.header_crc = lab::crc32c(&h, lab::kHeaderCrcBytes);
    std::string bad = good + std::string(4096, '\0');  // a page more than file_size says
    std::memcpy(bad.data(), &h, sizeof h);
    lab14_test::write_bytes(g, bad);
    expect_all_report_corrupt(g, std::string(d.what) + " (header CRC right)");
  }
}

GRADED_TEST(Hidden, HeaderDamagedUnderAnOpenDbIsReported, 2,
            "README §Pitfalls 5 — a remap reads a header another process wrote: check "
            "file_size and index_ref again; a writer checks heap_end") {
  using lab::Header;
  const auto [f, good, h0, ioff, log2] = valid_file("remap.db");
  const struct {
    const char* what;
    std::size_t field;
    std::uint64_t value;
  } damages[] = {
      {"an index of 512 slots (fewer than 1024)", offsetof(Header, index_ref),
       lab::make_index_ref(ioff, 9)},
      {"an index at offset 0, over the header", offsetof(Header, index_ref),
       lab::make_index_ref(0, log2)},
      {"an index of 2^20 slots, past the end of the file", offsetof(Header, index_ref),
       lab::make_index_ref(ioff, 20)},
      {"file_size 2 MiB, past the end of the file", offsetof(Header, file_size),
       std::uint64_t{2} << 20},
      {"file_size 32 KiB, below kMinSize", offsetof(Header, file_size), std::uint64_t{32} << 10},
  };
  for (const auto& d : damages) {
    lab14_test::write_bytes(f, good);
    // In a child: a get that follows such a header may crash.
    grader::Child reader(
        [&] {
          Db db = Db::open(f);
          ASSERT_TRUE(db.get("d00000007").has_value());
          // Another process's stores: the field (damaged), then the generation.
          poke(f, d.field, d.value);
          poke(f, offsetof(Header, generation), h0.generation + 1);
          try {
            (void)db.get("d00000007");
            ADD_FAILURE() << "get() after the header changed to " << d.what
                          << " and the generation was bumped returned instead of throwing "
                             "CorruptDatabase";
          } catch (const lab::CorruptDatabase&) {
          }
        },
        "reader");
    const auto r = reader.finish(10'000ms);
    EXPECT_TRUE(r.passed()) << d.what << ":\n" << r.describe();
  }
  // A writer reads heap_end afresh in every transaction: it must check it too. The index
  // lies in [4096, heap_end): a heap_end inside it would have the record written over it.
  // In a child: a put that follows such a header may crash.
  const auto expect_put_refused = [](const std::string& db, std::uint64_t heap_end,
                                     const std::string& key, const std::string& why) {
    grader::Child writer(
        [&] {
          Db w = Db::open(db, {.sync = false});
          poke(db, offsetof(Header, heap_end), heap_end);
          try {
            w.put(key, "new value");
            ADD_FAILURE() << "put() with heap_end " << heap_end << " (" << why
                          << ") returned instead of throwing CorruptDatabase";
          } catch (const lab::CorruptDatabase&) {
          }
        },
        "writer");
    const auto r = writer.finish(10'000ms);
    EXPECT_TRUE(r.passed()) << "heap_end " << heap_end << ":\n" << r.describe();
  };
  const std::uint64_t index_end = ioff + (std::uint64_t{8} << log2);
  for (const std::uint64_t heap_end : {std::uint64_t{8}, std::uint64_t{64} << 20}) {
    lab14_test::write_bytes(f, good);
    expect_put_refused(f, heap_end, "d00000007",
                       fmt::format("outside [{0}, file_size]: the index ends at {0}", index_end));
  }
  // A new database (its heap is its index alone) whose heap_end is moved back inside the
  // index: a new key's probe meets no record to find wrong, and its record would be
  // written over the index's last slot.
  const auto g = db_path("heap-in-index.db");
  { Db made = Db::create(g, lab::kMinSize, {.sync = false}); }
  const Header fresh = header_of(read_bytes(g));
  const std::uint64_t fresh_end = lab::index_offset(fresh.index_ref) +
                                  (std::uint64_t{8} << lab::index_log2_slots(fresh.index_ref));
  ASSERT_EQ(fresh.heap_end, fresh_end) << "a new database's heap is its first index";
  expect_put_refused(g, fresh_end - lab::kAlign, "new key",
                     fmt::format("inside the index, which ends at {}: its record went over the "
                                 "index",
                                 fresh_end));
}

GRADED_TEST(Hidden, WriterCatchesUpWithAnIndexWhoseGenerationBumpWasLost, 2,
            "README §Pitfalls 4 — after taking the lock, compare index_ref too: a writer killed "
            "before its generation bump leaves generation unchanged") {
  using lab::Header;
  const auto f = db_path("lost-bump.db");
  Db a = Db::create(f, 64 * 1024, {.sync = false});
  a.put("first", "1");
  Db b = Db::open(f, {.sync = false});
  // b grows the file well past what its next index needs; a remaps to the grown file.
  for (int i = 0; i < 3; ++i) b.put(fmt::format("big{}", i), std::string(lab::kMaxValue, 'x'));
  ASSERT_EQ(a.get("first"), std::optional<std::string_view>("1"));
  const Header grown = header_of(read_bytes(f));
  // b rebuilds the index (no growth needed), as a writer killed before its generation
  // bump would leave it: index_ref new, generation as a last saw it.
  const std::uint64_t slots = b.stats().slots;
  int rebuilt_at = 0;
  b.begin();
  for (; b.stats().slots == slots; ++rebuilt_at) {
    b.put(fmt::format("r{:05}", rebuilt_at), "v");
    ASSERT_LT(rebuilt_at, 100'000) << "the index never grew";
  }
  b.commit();
  const Header rebuilt = header_of(read_bytes(f));
  ASSERT_NE(rebuilt.index_ref, grown.index_ref);
  ASSERT_EQ(rebuilt.file_size, grown.file_size)
      << "the test needs a rebuild without growth (3 MiB of values grew the file first)";
  poke(f, offsetof(Header, generation), grown.generation);
  a.put("after", "2");  // a transaction: a must find the index b made
  Db c = Db::open(f);
  EXPECT_EQ(c.get("after"), std::optional<std::string_view>("2"))
      << "a writer whose generation was current but whose index_ref was old wrote into the "
         "old index: the key is lost";
  EXPECT_EQ(c.get("first"), std::optional<std::string_view>("1"));
  for (int i = 0; i < rebuilt_at; ++i) {
    const std::string k = fmt::format("r{:05}", i);
    ASSERT_EQ(c.get(k), std::optional<std::string_view>("v"))
        << k
        << " (put by the other writer) is lost: the writer with the old index_ref worked "
           "on (or rebuilt from) the old index";
  }
}

GRADED_TEST(Hidden, WriterCatchesUpWithAFileSizeWhoseGenerationBumpWasLost, 1,
            "README §Pitfalls 4 — after taking the lock, compare file_size too: a writer killed "
            "between its growth and its generation bump leaves generation unchanged") {
  using lab::Header;
  constexpr std::uint64_t kMiB = 1024 * 1024;
  const auto f = db_path("lost-growth.db");
  Db a = Db::create(f, lab::kMinSize, {.sync = false});
  a.put("first", "1");
  ASSERT_EQ(a.mapped_size(), lab::kMinSize);
  const Header before = header_of(read_bytes(f));
  // Another writer's growth to 2 MiB, killed before its generation bump: the file is
  // ftruncate()d, then file_size stored, and generation stays as a saw it.
  ASSERT_EQ(::truncate(f.c_str(), static_cast<off_t>(2 * kMiB)), 0) << std::strerror(errno);
  poke(f, offsetof(Header, file_size), 2 * kMiB);
  // A record that does not fit in the 64 KiB a has mapped, and fits in the 2 MiB file.
  const std::string big(256 * 1024, 'x');
  a.put("big", big);
  const Header after = header_of(read_bytes(f));
  EXPECT_EQ(after.file_size, 2 * kMiB)
      << "a 256 KiB record fits in the 2 MiB the file already had (file_size said so, the "
         "generation unchanged at "
      << before.generation
      << "), yet the file grew: the writer did not catch up with file_size after taking the "
         "lock, and grew the file again from its old mapping";
  EXPECT_EQ(lab14_test::file_size(f), after.file_size);
  Db c = Db::open(f);
  EXPECT_EQ(c.get("big"), std::optional<std::string_view>(big));
  EXPECT_EQ(c.get("first"), std::optional<std::string_view>("1"));
  EXPECT_NO_THROW((void)c.check());
}

GRADED_TEST(Hidden, TheIndexIsRebuiltPastSevenTenthsNotBefore, 1,
            "README §The file and the API — a new key that would make more than 7/10 of the "
            "slots non-empty has the index rebuilt first; one that would not, does not") {
  const auto f = db_path("load.db");
  Db db = Db::create(f, lab::kMinSize, {.sync = false});
  const std::uint64_t slots = db.stats().slots;
  ASSERT_EQ(slots, 2048u) << "a 64 KiB file starts with 2048 slots";
  const std::uint64_t fit = slots * lab::kMaxLoadNum / lab::kMaxLoadDen;  // 1433 of 2048
  db.begin();
  for (std::uint64_t i = 0; i < fit; ++i) db.put(fmt::format("k{:05}", i), "v");
  db.commit();
  EXPECT_EQ(db.stats().slots, slots)
      << fit << " keys make " << fit << " of " << slots << " slots non-empty, not more than 7/10 ("
      << slots * lab::kMaxLoadNum / 10.0 << "): the index is not rebuilt yet";
  EXPECT_EQ(header_of(read_bytes(f)).used_slots, fit);
  const std::string last = fmt::format("k{:05}", fit);
  db.put(last, "v");
  EXPECT_EQ(db.stats().slots, 2 * slots)
      << "key " << fit + 1 << " would make " << fit + 1 << " of " << slots
      << " slots non-empty, more than 7/10: the index is rebuilt (twice as big) first";
  // The heap then ends with the new index and the record appended after it, nothing more.
  const lab::Header h = header_of(read_bytes(f));
  const std::uint64_t index_end =
      lab::index_offset(h.index_ref) + (std::uint64_t{8} << lab::index_log2_slots(h.index_ref));
  EXPECT_EQ(h.heap_end, index_end + lab::record_size(last.size(), 1))
      << "after the rebuild and the put of " << last
      << ": the index table takes 8 bytes a slot of the heap, and the record comes after it";
  EXPECT_EQ(db.check().keys, fit + 1);
}

GRADED_TEST(Hidden, TheFirstIndexHasSizeOver32SlotsRoundedDown, 1,
            "README §The file and the API — create: the first index has size/32 slots rounded "
            "down to a power of two, at least 1024") {
  constexpr std::uint64_t kKiB = 1024, kMiB = 1024 * kKiB;
  const std::pair<std::uint64_t, std::uint64_t> sizes[] = {
      {lab::kMinSize, 2048},
      {kMiB, 32768},                 // the README's session
      {2 * kMiB - 4 * kKiB, 32768},  // 65408 slots' worth: rounded down
      {2 * kMiB, 65536},
  };
  for (const auto& [size, slots] : sizes) {
    const auto f = db_path(fmt::format("first-index-{}.db", size));
    Db db = Db::create(f, size, {.sync = false});
    EXPECT_EQ(db.stats().slots, slots)
        << "a new database of " << size << " bytes: size/32 = " << size / 32
        << ", the largest power of two not above it is " << slots;
    const lab::Header h = header_of(read_bytes(f));
    EXPECT_EQ(lab::index_offset(h.index_ref), lab::kHeaderSize) << size << " bytes";
    EXPECT_EQ(h.heap_end, lab::kHeaderSize + 8 * slots)
        << size << " bytes: a new database's heap is its first index";
  }
}

// ---- get, used_slots, create, descriptors ----------------------------------------------------

GRADED_TEST(Hidden, GetSkipsTheDamagedRecordOfAnotherKey, 2,
            "README §Pitfalls 6 — get reads the records of the slots with its key's tag only") {
  const auto f = lab14_test::make_valid("other-tag.db");
  std::string bytes = read_bytes(f);
  const lab::Header h = header_of(bytes);
  const std::uint64_t ioff = lab::index_offset(h.index_ref);
  const std::uint64_t mask = (std::uint64_t{1} << lab::index_log2_slots(h.index_ref)) - 1;
  const std::string damaged = "d00000042";
  const auto [slot_at, off] = lab14_test::locate(bytes, damaged);
  ASSERT_NE(off, 0u) << "the grader could not find " << damaged << "'s record";
  const std::uint64_t at = (slot_at - ioff) / 8;                       // the slot that holds it
  bytes[off + sizeof(lab::RecordHead) + damaged.size() + 10] ^= 0x01;  // one value bit
  lab14_test::write_bytes(f, bytes);
  // A key never inserted whose probe starts at that slot, with another tag.
  std::string absent;
  for (int n = 0; absent.empty(); ++n) {
    const std::string k = fmt::format("absent{}", n);
    if ((lab::key_tag(k) & mask) == at && lab::key_tag(k) != lab::key_tag(damaged)) absent = k;
  }
  Db db = Db::open(f);
  try {
    EXPECT_FALSE(db.get(absent).has_value()) << absent << " was never inserted";
  } catch (const lab::CorruptDatabase& e) {
    ADD_FAILURE() << "get(\"" << absent << "\") probes slot " << at << ", which holds " << damaged
                  << " (damaged) under another tag: it must skip that slot without "
                  << "reading the record, not report: " << e.what();
  }
  auto g = run({"mmapdb", "get", f, absent});
  expect_exit(g, 1);
  EXPECT_EQ(g.err, "error: key not found\n") << g.describe();
}

namespace {

/// The non-empty slots of the index the file's header names.
std::uint64_t non_empty_slots(const std::string& bytes) {
  const lab::Header h = header_of(bytes);
  const std::uint64_t ioff = lab::index_offset(h.index_ref);
  std::uint64_t n = 0;
  for (std::uint64_t i = 0; i < std::uint64_t{1} << lab::index_log2_slots(h.index_ref); ++i) {
    std::uint64_t s = 0;
    std::memcpy(&s, bytes.data() + ioff + i * 8, 8);
    n += s != lab::kEmptySlot ? 1 : 0;
  }
  return n;
}

}  // namespace

GRADED_TEST(Hidden, UsedSlotsCountsAReusedTombstoneOnce, 1,
            "README §The file and the API — used_slots: the non-empty slots; a put raises it only "
            "if it took an empty slot") {
  const auto f = db_path("used.db");
  Db db = Db::create(f, 64 * 1024, {.sync = false});
  for (int round = 0; round < 20; ++round) {
    db.put("again", "v");
    ASSERT_TRUE(db.del("again"));
  }
  db.put("again", "last");
  std::string bytes = read_bytes(f);
  EXPECT_EQ(header_of(bytes).used_slots, non_empty_slots(bytes))
      << "used_slots must count the non-empty slots of the index: a put that reuses its "
         "key's tombstone takes no new slot";
  // A key at home in slot 0, then keys until the index is rebuilt: the new index's
  // used_slots counts every live slot of the old one, slot 0 included.
  const std::uint64_t slots = db.stats().slots;
  std::string k0;
  for (int i = 0; k0.empty(); ++i)
    if (const std::string k = fmt::format("zero{}", i); (lab::key_tag(k) & (slots - 1)) == 0)
      k0 = k;
  db.put(k0, "v");
  db.put(k0, "v2");  // a key in slot 0 replaced, deleted, put again
  EXPECT_EQ(db.get(k0), std::optional<std::string_view>("v2")) << k0 << ", in slot 0";
  EXPECT_TRUE(db.del(k0)) << k0 << ", in slot 0";
  EXPECT_FALSE(db.get(k0).has_value()) << k0 << ", deleted from slot 0";
  db.put(k0, "v3");
  EXPECT_EQ(db.check().tombstones, 0u) << k0 << " put again must take back its tombstone in slot 0";
  bytes = read_bytes(f);
  EXPECT_EQ(header_of(bytes).used_slots, non_empty_slots(bytes))
      << "a key in slot 0 replaced, deleted and put again";
  db.put("gone", "x");
  ASSERT_TRUE(db.del("gone"));
  const lab::Stats st = db.stats(), ck = db.check();  // slot 0 live, one tombstone
  EXPECT_EQ(st.keys, ck.keys) << "stats() and check() count the live slots differently";
  EXPECT_EQ(st.tombstones, ck.tombstones) << "stats() and check() count the tombstones differently";
  db.begin();
  for (int i = 0; db.stats().slots == slots; ++i) {
    db.put(fmt::format("u{:05}", i), "v");
    ASSERT_LT(i, 100'000) << "the index never grew";
  }
  db.commit();
  bytes = read_bytes(f);
  EXPECT_EQ(header_of(bytes).used_slots, non_empty_slots(bytes))
      << "after a rebuild, used_slots must be the live keys moved (and the new one)";
}

GRADED_TEST(Hidden, GrowthAloneBumpsTheGeneration, 1,
            "README §The file and the API — generation: bumped after file_size or index_ref "
            "changes") {
  const auto f = db_path("grow-gen.db");
  Db db = Db::create(f, 64 * 1024, {.sync = false});
  const lab::Header before = header_of(read_bytes(f));
  db.put("big", std::string(200 * 1024, 'b'));  // the file grows; the index does not change
  const lab::Header after = header_of(read_bytes(f));
  ASSERT_GT(after.file_size, before.file_size) << "a 200 KiB value must grow a 64 KiB file";
  ASSERT_EQ(after.index_ref, before.index_ref);
  EXPECT_GT(after.generation, before.generation)
      << "the file grew but the generation did not change: readers would not remap";
}

GRADED_TEST(Hidden, CreateChecksItsSize, 1,
            "README §The file and the API — create: UsageError for a size out of range") {
  for (const std::uint64_t size : {lab::kMinSize - 1, lab::kMaxSize + 1}) {
    const auto f = db_path(fmt::format("size{}.db", size));
    EXPECT_THROW((void)Db::create(f, size), ipclab::UsageError) << "Db::create(" << size << ")";
    EXPECT_FALSE(std::filesystem::exists(f)) << "a refused create() made " << f;
  }
  // The bounds themselves are in range: on a file that exists, create() of kMinSize or
  // kMaxSize fails because the file exists, never because of its size.
  const auto taken = db_path("taken.db");
  lab14_test::write_bytes(taken, "not a database");
  for (const std::uint64_t size : {lab::kMinSize, lab::kMaxSize}) {
    try {
      (void)Db::create(taken, size);
      ADD_FAILURE() << "Db::create(a file that exists, " << size << ") returned";
    } catch (const ipclab::UsageError& e) {
      ADD_FAILURE() << "Db::create(a file that exists, " << size << ") threw UsageError ("
                    << e.what() << "): " << size
                    << " is in range (kMinSize..kMaxSize, both included); the error is that "
                       "the file exists (OperationFailed)";
    } catch (const ipclab::OperationFailed&) {
    }
  }
  EXPECT_EQ(read_bytes(taken), "not a database") << "a refused create() changed the file";
  // Descriptor 0 is a descriptor: with standard input closed, open() returns it.
  const auto f0 = db_path("on-fd0.db");
  grader::Child on_fd0(
      [&] {
        ::close(0);
        errno = EEXIST;  // left by an earlier failure
        try {
          Db db = Db::create(f0, lab::kMinSize, {.sync = false});
          db.put("k", "v");
          EXPECT_EQ(db.get("k"), std::optional<std::string_view>("v"));
        } catch (const std::exception& e) {
          ADD_FAILURE() << "with standard input closed (open() returns descriptor 0) and errno "
                           "EEXIST beforehand, create() threw: "
                        << e.what();
        }
      },
      "create() on descriptor 0");
  const auto r0 = on_fd0.finish(10'000ms);
  EXPECT_TRUE(r0.passed()) << r0.describe();
  // errno says something only after a call failed: a value left by an earlier failure
  // must not make a create() that worked report that the file exists.
  const auto f = db_path("errno.db");
  errno = EEXIST;
  EXPECT_NO_THROW((void)Db::create(f, lab::kMinSize)) << "with errno EEXIST beforehand";
}

GRADED_TEST(Hidden, FailedCreateLeavesNoFile, 1,
            "README §The file and the API — create: no half-made database left behind") {
  const auto f = db_path("too-big.db");
  grader::Child creator(
      [&] {
        // ftruncate past RLIMIT_FSIZE fails with EFBIG once SIGXFSZ is ignored.
        (void)::signal(SIGXFSZ, SIG_IGN);
        const rlimit lim{128 * 1024, 128 * 1024};
        ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
        try {
          (void)Db::create(f, 1024 * 1024);
          ADD_FAILURE() << "create() of a 1 MiB file under a 128 KiB RLIMIT_FSIZE succeeded";
        } catch (const ipclab::SysError&) {
        }
      },
      "creator");
  const auto r = creator.finish(10'000ms);
  EXPECT_TRUE(r.passed()) << "create() should throw SysError (ftruncate: EFBIG)\n" << r.describe();
  EXPECT_EQ(lab14_test::file_size(f), 0u);
  EXPECT_FALSE(std::filesystem::exists(f)) << "a create() that failed left its file behind";
}

GRADED_TEST(Hidden, DescriptorsAreCloseOnExec, 1,
            "README §The file and the API — open the file with O_CLOEXEC") {
  const auto f = db_path("cloexec.db");
  const auto expect_cloexec = [&](const char* how) {
    const auto path = std::filesystem::canonical(f);
    int found = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      if (std::filesystem::read_symlink(e.path(), ec) != path) continue;
      const int fd = std::stoi(e.path().filename().string());
      ++found;
      const int flags = ::fcntl(fd, F_GETFD);
      EXPECT_TRUE(flags >= 0 && (flags & FD_CLOEXEC) != 0)
          << "the descriptor of a Db from " << how
          << " is not close-on-exec: a program the caller execs would inherit it";
    }
    EXPECT_GT(found, 0) << "no descriptor of " << path << " open after " << how;
  };
  {
    Db db = Db::create(f, 64 * 1024);
    expect_cloexec("create()");
  }
  Db db = Db::open(f);
  expect_cloexec("open()");
}

GRADED_TEST(Hidden, HeapFilledToTheEndOfTheFileIsValid, 1,
            "README §The file and the API — heap_end may reach file_size: the file grows only "
            "when a record does not fit") {
  using lab::Header;
  const auto f = db_path("full.db");
  Db db = Db::create(f, 64 * 1024, {.sync = false});
  // A record of exactly `end - heap_end` bytes: the heap then ends at `end`.
  const auto fill_to = [&](const std::string& key, std::uint64_t end) {
    const Header h = header_of(read_bytes(f));
    const std::uint64_t need = end - h.heap_end;
    const std::string value(need - sizeof(lab::RecordHead) - key.size(), 'f');
    ASSERT_EQ(lab::record_size(key.size(), value.size()), need);
    db.put(key, value);
    EXPECT_EQ(db.get(key), std::optional<std::string_view>(value));
    EXPECT_EQ(header_of(read_bytes(f)).heap_end, end);
  };
  fill_to("fill", 64 * 1024);  // the last byte of the file
  EXPECT_EQ(lab14_test::file_size(f), 64u * 1024) << "a record that fits must not grow the file";
  auto c = run({"mmapdb", "check", f});
  expect_exit(c, 0);                // heap_end == file_size
  fill_to("to-1MiB", 1024 * 1024);  // grows the file to hold a record ending on a whole MiB
  db.put("one-more", "value");
  Db again = Db::open(f);
  EXPECT_EQ(again.get("one-more"), std::optional<std::string_view>("value"));
  EXPECT_TRUE(again.get("fill").has_value());
  EXPECT_TRUE(again.get("to-1MiB").has_value());
  c = run({"mmapdb", "check", f});
  expect_exit(c, 0);
}

namespace {

/// The bytes of a record of `key` and `value` with its CRC right (padding included).
std::string record_bytes(const std::string& key, const std::string& value) {
  std::string rec(lab::record_size(key.size(), value.size()), '\0');
  lab::RecordHead head{};
  head.key_len = static_cast<std::uint16_t>(key.size());
  head.value_len = static_cast<std::uint32_t>(value.size());
  std::memcpy(rec.data(), &head, sizeof head);
  std::memcpy(rec.data() + sizeof head, key.data(), key.size());
  std::memcpy(rec.data() + sizeof head + key.size(), value.data(), value.size());
  head.crc = lab::record_crc(reinterpret_cast<const lab::RecordHead*>(rec.data()));
  std::memcpy(rec.data(), &head, sizeof head);
  return rec;
}

void put_u64(std::string& bytes, std::uint64_t at, std::uint64_t v) {
  std::memcpy(bytes.data() + at, &v, sizeof v);
}

}  // namespace

GRADED_TEST(Hidden, CraftedRecordsWithRightCrcsAreReported, 2,
            "README §Pitfalls 6 — a slot's offset and a record's lengths come from the file: "
            "check them, even when the CRC matches") {
  using lab::Header;
  const auto f = lab14_test::make_valid("crafted.db");
  const std::string good = read_bytes(f);
  const Header h = header_of(good);
  const std::string key7 = "d00000007";
  const auto [slot7, rec7] = lab14_test::locate(good, key7);
  ASSERT_NE(rec7, 0u) << "the grader could not find " << key7 << "'s record";
  const std::uint64_t ioff = lab::index_offset(h.index_ref);
  const std::uint64_t mask = (std::uint64_t{1} << lab::index_log2_slots(h.index_ref)) - 1;
  {
    // A record with a key of kMaxKey + 1 bytes appended at heap_end, named by a slot with
    // its key's tag at the first free place of its probe sequence.
    std::string bytes = good;
    const std::string key(lab::kMaxKey + 1, 'k');
    const std::string rec = record_bytes(key, "v");
    ASSERT_LE(h.heap_end + rec.size(), h.file_size) << "the test needs room for the record";
    bytes.replace(h.heap_end, rec.size(), rec);
    put_u64(bytes, offsetof(Header, heap_end), h.heap_end + rec.size());
    const std::uint32_t tag = lab::key_tag(key);
    for (std::uint64_t i = tag & mask;; i = (i + 1) & mask) {
      std::uint64_t s = 0;
      std::memcpy(&s, bytes.data() + ioff + i * 8, 8);
      if (s != lab::kEmptySlot) continue;
      put_u64(bytes, ioff + i * 8, lab::make_slot(h.heap_end, tag));
      break;
    }
    lab14_test::write_bytes(f, bytes);
    expect_corrupt(run({"mmapdb", "check", f}), "a record with a key of 1025 bytes, mmapdb check");
    expect_corrupt(run({"mmapdb", "list", f}), "a record with a key of 1025 bytes, mmapdb list");
  }
  {
    // d00000007's record, copied whole into the header page's unused bytes and named there.
    std::string bytes = good;
    const std::uint64_t at = 2048;
    const std::string rec = record_bytes(key7, lab::test_value(key7));
    ASSERT_EQ(good.compare(rec7, rec.size(), rec), 0) << "the grader's copy of " << key7;
    bytes.replace(at, rec.size(), rec);
    put_u64(bytes, slot7, lab::make_slot(at, lab::key_tag(key7)));
    lab14_test::write_bytes(f, bytes);
    expect_all_report_corrupt(f, "a slot naming a record inside the header page");
  }
  {
    // A key at its home slot moved two slots on, past an empty one: no probe reaches it.
    std::string bytes = good;
    bool moved = false;
    for (std::uint64_t i = 0; i <= mask && !moved; ++i) {
      std::uint64_t s[3] = {};
      for (std::uint64_t k = 0; k < 3; ++k)
        std::memcpy(&s[k], bytes.data() + ioff + ((i + k) & mask) * 8, 8);
      if (!lab::slot_live(s[0]) || (lab::slot_tag(s[0]) & mask) != i || s[1] != lab::kEmptySlot ||
          s[2] != lab::kEmptySlot)
        continue;
      put_u64(bytes, ioff + ((i + 2) & mask) * 8, s[0]);
      put_u64(bytes, ioff + i * 8, lab::kEmptySlot);
      moved = true;
    }
    ASSERT_TRUE(moved) << "the test needs a key at home followed by two empty slots";
    lab14_test::write_bytes(f, bytes);
    expect_corrupt(
        run({"mmapdb", "check", f}),
        "a slot two places past its key's home with an empty slot between, mmapdb check");
  }
  for (const std::uint16_t reserved : {std::uint16_t{0x0001}, std::uint16_t{0x0100}}) {
    // d00000007's record with a reserved field that is not 0, its CRC made right again.
    std::string bytes = good;
    lab::RecordHead head{};
    std::memcpy(&head, bytes.data() + rec7, sizeof head);
    head.reserved = reserved;
    std::memcpy(bytes.data() + rec7, &head, sizeof head);
    head.crc = lab::record_crc(reinterpret_cast<const lab::RecordHead*>(bytes.data() + rec7));
    std::memcpy(bytes.data() + rec7, &head, sizeof head);
    lab14_test::write_bytes(f, bytes);
    expect_all_report_corrupt(f, fmt::format("a record whose reserved field is {:#06x}", reserved));
  }
  {
    // d00000007's value_len with its high byte set (2^24 bytes more than the file has), the
    // CRC made right for the record as it was: value_len is read whole, and out of range.
    std::string bytes = good;
    lab::RecordHead head{};
    std::memcpy(&head, bytes.data() + rec7, sizeof head);
    const std::size_t covered = sizeof head - sizeof head.crc + head.key_len + head.value_len;
    head.value_len += std::uint32_t{1} << 24;
    std::memcpy(bytes.data() + rec7, &head, sizeof head);
    head.crc = lab::crc32c(bytes.data() + rec7 + sizeof head.crc, covered);
    std::memcpy(bytes.data() + rec7, &head, sizeof head);
    lab14_test::write_bytes(f, bytes);
    expect_all_report_corrupt(f, fmt::format("a record whose value_len is {} (2^24 more than its "
                                             "value's), its CRC right for the value it has",
                                             head.value_len));
  }
  {
    // d00000007's slot names an offset 1 GiB past the file.
    std::string bytes = good;
    put_u64(bytes, slot7, lab::make_slot(std::uint64_t{1} << 30, lab::key_tag(key7)));
    lab14_test::write_bytes(f, bytes);
    expect_all_report_corrupt(f, "a slot naming an offset 1 GiB past the file");
  }
}

GRADED_TEST(Hidden, KeysOfEveryLengthRoundTrip, 1,
            "README §The file and the API — keys of 1..1024 bytes, values up to 1 MiB") {
  const auto f = db_path("long-keys.db");
  Db db = Db::create(f, 64 * 1024, {.sync = false});
  std::vector<std::string> keys;
  for (const std::size_t len : {1, 8, 63, 64, 65, 100, 512, 1023, 1024}) {
    keys.push_back(std::string(len, 'a'));
    keys.back().back() = 'z';
    db.put(keys.back(), lab::test_value(keys.back()));
  }
  const std::string biggest(lab::kMaxValue, 'v');  // and the largest value there may be
  db.put("biggest", biggest);
  Db again = Db::open(f);
  EXPECT_EQ(again.get("biggest"), std::optional<std::string_view>(biggest)) << "a 1 MiB value";
  for (const auto& k : keys) {
    const std::string want = lab::test_value(k);
    EXPECT_EQ(again.get(k), std::optional<std::string_view>(want))
        << "a key of " << k.size() << " bytes";
    std::string other = k;
    other.back() = 'y';  // same length, one byte off: never inserted
    EXPECT_FALSE(again.get(other).has_value()) << "a key of " << other.size() << " bytes";
  }
}

GRADED_TEST(Hidden, CreatedFileHasMode0644, 1,
            "README §The file and the API — create: mode 0644 (less the umask)") {
  const auto f = db_path("mode.db");
  const mode_t mask = ::umask(022);
  (void)::umask(mask);
  (void)Db::create(f, 64 * 1024);
  struct stat st {};
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644 & ~mask)
      << fmt::format("mode {:o}, umask {:o}", st.st_mode & 0777, mask);
}

GRADED_TEST(Hidden, AnIndexWithNoEmptySlotIsProbedToItsLastSlot, 1,
            "README §Pitfalls 3 — never probe more than `slots` steps, but probe every one") {
  using lab::Header;
  const auto f = db_path("no-empty.db");
  {
    Db db = Db::create(f, 64 * 1024);
    db.put("k", "v1");
  }
  // Every slot a tombstone but the one before k's home, which holds k: the last slot of
  // k's probe sequence, and no empty slot anywhere to end a probe early.
  std::string bytes = read_bytes(f);
  const Header h = header_of(bytes);
  const std::uint64_t ioff = lab::index_offset(h.index_ref);
  const std::uint64_t mask = (std::uint64_t{1} << lab::index_log2_slots(h.index_ref)) - 1;
  const auto [slot_at, rec] = lab14_test::locate(bytes, "k");
  ASSERT_NE(rec, 0u);
  std::uint64_t k_slot = 0;
  std::memcpy(&k_slot, bytes.data() + slot_at, 8);
  for (std::uint64_t i = 0; i <= mask; ++i) put_u64(bytes, ioff + i * 8, lab::kTombstone);
  put_u64(bytes, ioff + ((lab::key_tag("k") - 1) & mask) * 8, k_slot);
  put_u64(bytes, offsetof(Header, used_slots), mask + 1);
  lab14_test::write_bytes(f, bytes);
  Db db = Db::open(f, {.sync = false});
  EXPECT_EQ(db.get("k"), std::optional<std::string_view>("v1"))
      << "k sits in the last slot its probe reaches";
  EXPECT_FALSE(db.get("absent").has_value());
  db.put("k", "v2");  // must find k there and replace it, not add a second k
  EXPECT_EQ(db.get("k"), std::optional<std::string_view>("v2"));
  expect_exit(run({"mmapdb", "check", f}), 0);
  expect_output(run({"mmapdb", "list", f}), "k=v2\n");
}

GRADED_TEST(Hidden, FileGrowsByAnEighthInWholeMiB, 1,
            "README §The file and the API — the file grows by ftruncate (1/8 more, whole MiB)") {
  // Small records into a 64 KiB file until it passes 12 MiB: each growth takes the file
  // from n bytes to n + n/8 rounded up to a whole MiB (1, 2, ..., 9, 11, 13 MiB).
  constexpr std::uint64_t kMiB = 1024 * 1024;
  const auto f = db_path("grow-eighth.db");
  Db db = Db::create(f, lab::kMinSize, {.sync = false});
  const std::string value(4000, 'v');
  std::vector<std::uint64_t> sizes = {std::filesystem::file_size(f)};
  for (int i = 0; sizes.back() <= 12 * kMiB && i < 20'000; ++i) {
    db.put(fmt::format("k{:05}", i), value);
    const std::uint64_t now = std::filesystem::file_size(f);
    if (now != sizes.back()) sizes.push_back(now);
  }
  ASSERT_GT(sizes.back(), 12 * kMiB) << "the file never passed 12 MiB";
  for (std::size_t k = 1; k < sizes.size(); ++k) {
    const std::uint64_t from = sizes[k - 1];
    EXPECT_EQ(sizes[k], lab::align_up(from + from / 8, kMiB))
        << "a file of " << from << " bytes grew to " << sizes[k]
        << " (every size: " << fmt::format("{}", fmt::join(sizes, ", ")) << ")";
  }
}

GRADED_TEST(Hidden, KeysWithOneTagDifferingInOneByteStayApart, 1,
            "README §The file and the API — a slot's tag only narrows the search: compare "
            "the whole key") {
  // Pairs of keys that differ in one byte and share their 32-bit tag (found by a search
  // over suffixes): only a compare of every byte of the key tells them apart. 16 bytes, and
  // 64 (a whole 512-bit register: a compare of up to 64 bytes may take them another way).
  const struct {
    const char* rest;
    int first, second;
    std::size_t at = 0;  // the byte they differ in
  } pairs[] = {
      {"?-tag-0000254850", 150, 222},
      {"?-tag-of-a-64-byte-key-that-differs-in-its-first-byte-0000365540", 135, 241},
      // and 65 bytes, differing in their last: one byte past a 512-bit register
      {"a-65-byte-key-differing-in-its-last-byte-from-another-0000104588?", 139, 155, 64},
  };
  const auto f = db_path("same-tag.db");
  Db db = Db::create(f, lab::kMinSize, {.sync = false});
  for (const auto& p : pairs) {
    std::string one = p.rest;
    std::string two = one;
    one[p.at] = static_cast<char>(p.first);
    two[p.at] = static_cast<char>(p.second);
    ASSERT_EQ(lab::key_tag(one), lab::key_tag(two)) << "the grader's two keys must share a tag";
    db.put(one, "first");
    db.put(two, "second");
    EXPECT_EQ(db.get(one), std::optional<std::string_view>("first"))
        << "a " << one.size() << "-byte key that differs from another only in its byte " << p.at
        << " took its value";
    EXPECT_EQ(db.get(two), std::optional<std::string_view>("second")) << one.size() << " bytes";
  }
}

GRADED_TEST(Hidden, SharedLockWorksOnDescriptorZero, 1,
            "README §The file and the API — list(), stats(), check(): under the shared lock, "
            "taken and released on any descriptor, 0 included") {
  const auto f = db_path("fd0.db");
  {
    Db db = Db::create(f, lab::kMinSize, {.sync = false});
    db.put("key", "value");
  }
  grader::Child child(
      [&] {
        ::close(0);  // a program started with its standard input closed
        Db db = Db::open(f);
        struct stat mine {
        }, file{};
        ASSERT_EQ(::fstat(0, &mine), 0) << "Db::open() must hold the file open";
        ASSERT_EQ(::stat(f.c_str(), &file), 0);
        ASSERT_TRUE(mine.st_dev == file.st_dev && mine.st_ino == file.st_ino)
            << "the Db's descriptor should be 0, the lowest free one";
        // The lock on kLockByte as another open file description sees it.
        ipclab::Fd other(ipclab::check_unix(::open(f.c_str(), O_RDWR | O_CLOEXEC), "open"));
        const auto byte_lock = [&](short type) {
          struct flock fl {};
          fl.l_type = type;
          fl.l_whence = SEEK_SET;
          fl.l_start = lab::kLockByte;
          fl.l_len = 1;
          const int cmd = type == F_UNLCK ? F_OFD_SETLK : F_OFD_GETLK;
          ipclab::check_unix(::fcntl(other.get(), cmd, &fl), "fcntl");
          return fl.l_type;
        };
        EXPECT_EQ(byte_lock(F_WRLCK), F_UNLCK) << "open() left its shared lock on descriptor 0";
        (void)db.list();
        EXPECT_EQ(byte_lock(F_WRLCK), F_UNLCK) << "list() left its shared lock on descriptor 0";
        (void)db.stats();
        EXPECT_EQ(byte_lock(F_WRLCK), F_UNLCK) << "stats() left its shared lock on descriptor 0";
        (void)db.check();
        EXPECT_EQ(byte_lock(F_WRLCK), F_UNLCK) << "check() left its shared lock on descriptor 0";

        // Inside a transaction, list() and stats() keep the exclusive lock as it is.
        db.begin();
        (void)db.list();
        (void)db.stats();
        EXPECT_EQ(byte_lock(F_RDLCK), F_WRLCK)
            << "list() or stats() inside begin()..commit() changed the transaction's exclusive "
               "lock on descriptor 0";
        db.commit();

        // Another holder of the exclusive lock: list() must wait for it in the kernel.
        struct flock ex {};
        ex.l_type = F_WRLCK;
        ex.l_whence = SEEK_SET;
        ex.l_start = lab::kLockByte;
        ex.l_len = 1;
        ASSERT_EQ(::fcntl(other.get(), F_OFD_SETLK, &ex), 0) << "the byte should be free";
        std::atomic<bool> listed{false};
        std::thread lister([&] {
          (void)db.list();
          listed = true;
        });
        const bool waited = grader::wait_until(
            [&] { return grader::blocked_lock_requests(f) > 0 || listed; }, 10'000ms);
        EXPECT_TRUE(waited && !listed)
            << "list() on descriptor 0 did not wait for the shared lock while another process "
               "held the exclusive one";
        (void)byte_lock(F_UNLCK);
        lister.join();
      },
      "a Db on descriptor 0");
  const auto r = child.finish(20'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}

GRADED_TEST(Hidden, RecordsOfEveryLengthModulo64RoundTrip, 1,
            "README §The file and the API — keys of 1..1024 bytes, values up to 1 MiB") {
  // Key lengths 1..64 with a value of 0 and of 100 bytes: records of every length modulo 64
  // (a CRC computed 64, 32, 8, 4 or 1 bytes at a time must end on the record's last byte).
  const auto f = db_path("every-length.db");
  Db db = Db::create(f, lab::kMinSize, {.sync = false});
  std::vector<std::pair<std::string, std::string>> want;
  for (const std::size_t value_size : {0, 100})
    for (std::size_t len = 1; len <= 64; ++len) {
      const std::string key(len, value_size == 0 ? 'e' : 'f');
      want.emplace_back(key, lab::test_value(key, value_size));
      db.put(key, want.back().second);
    }
  std::sort(want.begin(), want.end());
  Db again = Db::open(f);
  for (const auto& [k, v] : want)
    EXPECT_EQ(again.get(k), std::optional<std::string_view>(v))
        << "a record of a " << k.size() << "-byte key and a " << v.size() << "-byte value";
  EXPECT_EQ(again.list(), want) << "list() of records of every length modulo 64";
  EXPECT_EQ(again.check().keys, want.size()) << "check() of records of every length modulo 64";
}

GRADED_TEST(Hidden, APutTakesTheFirstTombstoneOnItsProbePath, 1,
            "README §The file and the API — a new key takes the first tombstone on its probe "
            "path") {
  const auto f = db_path("first-tombstone.db");
  Db db = Db::create(f, lab::kMinSize, {.sync = false});
  const std::uint64_t slots = db.stats().slots;
  // Three keys at home in slot 0 (the first tombstone there is slot 0 itself).
  std::vector<std::string> home0;
  for (int i = 0; home0.size() < 3; ++i)
    if (std::string k = fmt::format("home{}", i); (lab::key_tag(k) & (slots - 1)) == 0)
      home0.push_back(std::move(k));
  db.put(home0[0], "a");  // slot 0
  db.put(home0[1], "b");  // slot 1
  ASSERT_TRUE(db.del(home0[0]));
  ASSERT_TRUE(db.del(home0[1]));  // tombstones in slots 0 and 1
  db.put(home0[2], "c");
  const std::string bytes = read_bytes(f);
  const std::uint64_t ioff = lab::index_offset(header_of(bytes).index_ref);
  const auto at = lab14_test::locate(bytes, home0[2]).slot_at;
  EXPECT_EQ(at, ioff) << "a new key whose probe path has tombstones in slots 0 and 1 must take "
                         "slot 0, the first; it took slot "
                      << (at - ioff) / 8;
  EXPECT_EQ(db.get(home0[2]), std::optional<std::string_view>("c"));
  EXPECT_EQ(db.check().tombstones, 1u);
}

GRADED_TEST(Hidden, AnIndexOf1024SlotsIsValid, 1,
            "README §The file and the API — an index of at least 1024 slots (a rebuild for few "
            "live keys makes the smallest)") {
  using lab::Header;
  const auto f = db_path("index-1024.db");
  { Db made = Db::create(f, lab::kMinSize, {.sync = false}); }
  const Header h = header_of(read_bytes(f));
  ASSERT_GT(lab::index_log2_slots(h.index_ref), 10u) << "a 64 KiB file starts with 2048 slots";
  Db reader = Db::open(f);
  // Another process's rebuild, as a writer stores it: the first 1024 (empty) slots of the
  // same table become the index, then the generation moves.
  poke(f, offsetof(Header, index_ref), lab::make_index_ref(lab::index_offset(h.index_ref), 10));
  poke(f, offsetof(Header, generation), h.generation + 1);
  EXPECT_NO_THROW(EXPECT_FALSE(reader.get("k0").has_value()))
      << "a remap to an index of 1024 slots";
  try {
    Db db = Db::open(f, {.sync = false});
    EXPECT_EQ(db.stats().slots, 1024u);
    for (int i = 0; i < 100; ++i) db.put(fmt::format("k{}", i), "v");
    EXPECT_EQ(reader.get("k99"), std::optional<std::string_view>("v"));
    EXPECT_EQ(db.check().keys, 100u);
  } catch (const lab::CorruptDatabase& e) {
    ADD_FAILURE() << "a database whose index has 1024 slots was refused: " << e.what();
  }
  expect_exit(run({"mmapdb", "check", f}), 0);
}

GRADED_TEST(Hidden, ARecordAtTheHeapsFirstByteIsValid, 1,
            "README §The file and the API — [4096, heap_end): records and index tables, "
            "appended") {
  // A valid file where the index moved to the end of the heap and d00000007's record lies
  // at 4096, the heap's first byte (where the first index was).
  using lab::Header;
  const auto f = lab14_test::make_valid("at-4096.db");
  std::string bytes = read_bytes(f);
  const Header h = header_of(bytes);
  const std::uint64_t ioff = lab::index_offset(h.index_ref);
  const std::uint64_t ibytes = std::uint64_t{8} << lab::index_log2_slots(h.index_ref);
  ASSERT_EQ(ioff, lab::kHeaderSize) << "a new database's index starts at the heap's first byte";
  ASSERT_LE(h.heap_end + ibytes, h.file_size) << "the test needs room for a second index";
  bytes.replace(h.heap_end, ibytes, bytes.substr(ioff, ibytes));
  put_u64(bytes, offsetof(Header, index_ref),
          lab::make_index_ref(h.heap_end, lab::index_log2_slots(h.index_ref)));
  put_u64(bytes, offsetof(Header, heap_end), h.heap_end + ibytes);
  const std::string key7 = "d00000007";
  const std::string rec = record_bytes(key7, "at the heap's first byte");
  bytes.replace(lab::kHeaderSize, rec.size(), rec);
  const auto slot7 = lab14_test::locate(bytes, key7).slot_at;
  ASSERT_NE(slot7, 0u) << "the grader could not find " << key7 << "'s slot";
  put_u64(bytes, slot7, lab::make_slot(lab::kHeaderSize, lab::key_tag(key7)));
  lab14_test::write_bytes(f, bytes);
  expect_exit(run({"mmapdb", "check", f}), 0);
  auto r = run({"mmapdb", "get", f, key7});
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "at the heap's first byte\n") << r.describe();
}

GRADED_TEST(Hidden, TheLockCoversByteZeroAlone, 1,
            "README §The file and the API — begin() takes the exclusive lock on byte 0, not on "
            "the whole file") {
  const auto f = db_path("one-byte.db");
  Db db = Db::create(f, lab::kMinSize, {.sync = false});
  db.begin();
  // What another open file description finds in the way of an exclusive lock (len 0: to the
  // end of the file and beyond).
  const grader::LockHolder at0 = grader::lock_holder(f, lab::kLockByte, 1);
  EXPECT_EQ(at0.type, F_WRLCK) << "inside begin()..commit() byte 0 must be locked exclusively";
  const grader::LockHolder rest = grader::lock_holder(f, 1, 0);
  EXPECT_EQ(rest.type, F_UNLCK)
      << "inside begin()..commit() a lock covers bytes past byte 0 (it starts at " << rest.start
      << ", " << (rest.len == 0 ? "to the end of the file" : fmt::format("{} bytes", rest.len))
      << "): the lock is on byte 0 alone (l_len = 1), and a length of 0 means the whole file";
  db.commit();
}

GRADED_TEST(Hidden, ARemapAcceptsTheSmallestFileSize, 1,
            "README §Pitfalls 5 — a remap checks file_size against the range open() accepts: "
            "kMinSize itself is in it") {
  using lab::Header;
  const auto f = db_path("remap-min.db");
  {
    Db db = Db::create(f, 2 * lab::kMinSize, {.sync = false});
    db.put("k", "v");
  }
  const Header h = header_of(read_bytes(f));
  ASSERT_LE(h.heap_end, lab::kMinSize) << "the grader expected the heap to end below 64 KiB";
  Db db = Db::open(f);
  ASSERT_EQ(db.get("k"), std::optional<std::string_view>("v"));
  // Another process's stores: file_size the smallest valid one (the file stays longer, and
  // the heap ends below it: open() accepts this header), then the generation.
  poke(f, offsetof(Header, file_size), lab::kMinSize);
  poke(f, offsetof(Header, generation), h.generation + 1);
  try {
    EXPECT_EQ(db.get("k"), std::optional<std::string_view>("v"))
        << "get() after another process set file_size to kMinSize";
  } catch (const lab::CorruptDatabase& e) {
    ADD_FAILURE() << "get() after another process set file_size to kMinSize (64 KiB, the "
                     "smallest valid size; the heap ends below it) threw: "
                  << e.what() << ". A remap accepts every file_size open() accepts";
  }
  EXPECT_NO_THROW((void)Db::open(f).check()) << "the same header through a fresh open()";
}

namespace {

/// The header of the largest database there can be: a 32 GiB file whose heap runs to its end,
/// with an index of 2^31 slots at the heap's first byte, every slot used. No test can make
/// the file (each runs under an RLIMIT_FSIZE of 256 MiB): validate_header() is given its
/// header alone.
lab::Header largest_header() {
  lab::Header h{};
  std::memcpy(h.magic, lab::kMagic, sizeof lab::kMagic);
  h.version = lab::kVersion;
  h.header_size = lab::kHeaderSize;
  h.align = lab::kAlign;
  h.max_key = lab::kMaxKey;
  h.max_value = lab::kMaxValue;
  h.header_crc = lab::crc32c(&h, lab::kHeaderCrcBytes);
  h.generation = 9;
  h.file_size = lab::kMaxSize;
  h.index_ref = lab::make_index_ref(lab::kHeaderSize, lab::kMaxLog2Slots);
  h.heap_end = lab::kMaxSize;
  h.used_slots = std::uint64_t{1} << lab::kMaxLog2Slots;
  return h;
}

}  // namespace

GRADED_TEST(Hidden, TheLargestDatabaseIsValid, 1,
            "README §The file and the API — validate_header: every bound is inclusive, a file "
            "of kMaxSize and an index of 2^31 slots included") {
  using lab::Header;
  constexpr std::uint64_t kIndexBytes = std::uint64_t{8} << lab::kMaxLog2Slots;  // 16 GiB
  struct Case {
    const char* what;
    void (*apply)(Header&);
    std::uint64_t real_size;
  };
  const Case valid[] = {
      {"the largest database: file_size = the real size = kMaxSize (32 GiB), heap_end = "
       "file_size, an index of 2^31 slots at 4096, used_slots = 2^31",
       [](Header&) {}, lab::kMaxSize},
      {"the same with the index of 2^31 slots ending at heap_end, the file's last byte",
       [](Header& h) {
         h.index_ref = lab::make_index_ref(lab::kMaxSize - kIndexBytes, lab::kMaxLog2Slots);
       },
       lab::kMaxSize},
  };
  for (const auto& c : valid) {
    Header h = largest_header();
    c.apply(h);
    try {
      const lab::Layout l = lab::validate_header(h, c.real_size);
      EXPECT_EQ(l.generation, h.generation) << c.what;
      EXPECT_EQ(l.file_size, h.file_size) << c.what;
      EXPECT_EQ(l.index_ref, h.index_ref) << c.what;
      EXPECT_EQ(l.heap_end, h.heap_end) << c.what;
      EXPECT_EQ(l.used_slots, h.used_slots) << c.what;
    } catch (const lab::CorruptDatabase& e) {
      ADD_FAILURE() << "validate_header() refused " << c.what << ": " << e.what()
                    << ". Every bound of the header's check is inclusive";
    }
  }
  // One step past each bound: refused.
  const Case past[] = {
      {"file_size kMaxSize + 8 (the real size and heap_end the same)",
       [](Header& h) { h.file_size = h.heap_end = lab::kMaxSize + lab::kAlign; },
       lab::kMaxSize + lab::kAlign},
      {"a real size one byte short of file_size (kMaxSize)", [](Header&) {}, lab::kMaxSize - 1},
      {"heap_end 8 past file_size (kMaxSize)", [](Header& h) { h.heap_end += lab::kAlign; },
       lab::kMaxSize + lab::kAlign},
      {"an index of 2^32 slots (32 GiB, at 4096: past heap_end too)",
       [](Header& h) { h.index_ref = lab::make_index_ref(lab::kHeaderSize, 32); }, lab::kMaxSize},
      {"an index of 2^31 slots ending 8 bytes past heap_end",
       [](Header& h) {
         h.index_ref =
             lab::make_index_ref(lab::kMaxSize - kIndexBytes + lab::kAlign, lab::kMaxLog2Slots);
       },
       lab::kMaxSize},
      {"used_slots 2^31 + 1, above the index's slots", [](Header& h) { h.used_slots += 1; },
       lab::kMaxSize},
  };
  for (const auto& c : past) {
    Header h = largest_header();
    c.apply(h);
    EXPECT_THROW((void)lab::validate_header(h, c.real_size), lab::CorruptDatabase) << c.what;
  }
}
