// mmapdb bench (given). The workload of docs/benchmarking.md: N random 16-byte keys with 100-byte
// values. First each contender is filled: the N keys put in a random order into an empty database,
// kFillBatch puts a transaction (timed once: "fill"). Then `runs` rounds, the contenders
// interleaved with the order turning each round (docs/benchmarking.md): random gets in a fresh
// random order, every value verified ("get"), and random puts that replace existing keys, kBatch a
// transaction ("put"). No contender syncs to disk (mmapdb without msync, LMDB MDB_NOSYNC,
// SQLite synchronous=OFF): the benchmark measures the engines, not the disk. LMDB reads in
// one read transaction per round; SQLite uses prepared statements, WAL mode, a WITHOUT
// ROWID table and one read transaction per round. SQLite is ~10x slower: a timed phase
// stops once it has run kPhaseBudget and done at least kMinOps (a rate needs no more). Two
// bounds are measured in the same rounds, on mmapdb's file and the same keys through a mapping
// of their own, with nothing checked: "index probe" (the key's slot alone: one cache miss) and
// "slot+record" (the slot, then the value it points to: the two dependent misses any get of
// this design pays); the report says what part of the second bound mmapdb's get reaches.
#include "bench.hpp"

#include <fcntl.h>     // open
#include <lmdb.h>      // LMDB, the B+tree peer
#include <sqlite3.h>   // SQLite, the SQL peer
#include <sys/mman.h>  // madvise
#include <sys/stat.h>  // stat
#include <unistd.h>    // unlink

#include <algorithm>  // std::shuffle, std::min
#include <array>      // std::array
#include <cstring>    // std::memcpy
#include <memory>     // std::unique_ptr
#include <numeric>    // std::iota
#include <random>     // std::mt19937_64
#include <vector>     // std::vector

#include "ipclab/clock.hpp"  // now_ns
#include "ipclab/error.hpp"  // OperationFailed, check_unix
#include "ipclab/fd.hpp"     // Fd
#include "ipclab/json.hpp"   // json_number, json_string
#include "ipclab/shm.hpp"    // Mapping
#include "lab14/mmapdb.hpp"

namespace ipclab::lab14 {
namespace {

constexpr std::size_t kKeyBytes = 16, kValueBytes = 100;
constexpr std::uint64_t kBatch = 1000;              // puts a transaction, every contender
constexpr std::uint64_t kFillBatch = 100'000;       // a bulk load: fewer, bigger transactions
constexpr double kPhaseBudget = 1.0;                // seconds: a slow contender stops early ...
constexpr std::uint64_t kMinOps = 20'000;           // ... but not before this many ops
constexpr std::uint64_t kDefaultSize = 100u << 20;  // mmapdb create's default

using Key = std::array<char, kKeyBytes>;

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// Value i: its number in the first 8 bytes, mix(i) in the last 8, a filler between.
void make_value(std::uint64_t i, char* out) {
  std::memset(out, static_cast<int>('a' + i % 26), kValueBytes);
  const std::uint64_t m = mix(i);
  std::memcpy(out, &i, 8);
  std::memcpy(out + kValueBytes - 8, &m, 8);
}

/// Checks value i the cheap way (64-bit words, the same for every contender).
void verify(const char* name, std::uint64_t i, const void* data, std::size_t size) {
  std::uint64_t a = 0, b = 0;
  if (data != nullptr && size == kValueBytes) {
    std::memcpy(&a, data, 8);
    std::memcpy(&b, static_cast<const char*>(data) + kValueBytes - 8, 8);
  }
  if (data == nullptr || size != kValueBytes || a != i || b != mix(i))
    throw OperationFailed(fmt::format("bench: {} returned a wrong value for key #{}", name, i));
}

std::uint64_t file_bytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

/// Removes the files on the way out, whatever happens.
struct Cleanup {
  explicit Cleanup(std::vector<std::string> p) : paths(std::move(p)) {}
  std::vector<std::string> paths;
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  ~Cleanup() {
    for (const auto& p : paths) ::unlink(p.c_str());
  }
};

struct Workload {
  std::vector<Key> keys;
  std::vector<std::uint32_t> order;  // reshuffled for every phase
  /// keys[order[j]] at j, laid out before each phase so that reading the next key is a
  /// sequential read, not a cache miss of the benchmark's own (for every contender alike).
  std::vector<Key> in_order;
  void shuffle(std::mt19937_64& rng) {
    std::shuffle(order.begin(), order.end(), rng);
    in_order.resize(order.size());
    for (std::size_t j = 0; j < order.size(); ++j) in_order[j] = keys[order[j]];
  }
  /// The key of the index at `p` (a pointer into order).
  const Key& key(const std::uint32_t* p) const {
    return in_order[static_cast<std::size_t>(p - order.data())];
  }
};

/// One database under test. fill/put/get take a slice of indices into the workload.
class Contender {
 public:
  virtual ~Contender() = default;
  virtual void put(const Workload& w, const std::uint32_t* idx, std::size_t n) = 0;
  virtual void begin_gets() {}
  virtual void get(const Workload& w, const std::uint32_t* idx, std::size_t n) = 0;
  virtual void end_gets() {}
  virtual std::uint64_t file_size() const = 0;
};

class MmapdbContender final : public Contender {
 public:
  MmapdbContender(const std::string& path, std::uint64_t keys)
      : files_({path}),
        path_(path),
        // Sized for the data like a user would, up to create's default; growth does the rest.
        db_(Db::create(
            path,
            std::clamp<std::uint64_t>(keys * (kKeyBytes + kValueBytes), kMinSize, kDefaultSize),
            {.sync = false})) {}
  void put(const Workload& w, const std::uint32_t* idx, std::size_t n) override {
    char value[kValueBytes];
    db_.begin();
    for (std::size_t j = 0; j < n; ++j) {
      make_value(idx[j], value);
      db_.put({w.key(idx + j).data(), kKeyBytes}, {value, kValueBytes});
    }
    db_.commit();
  }
  void get(const Workload& w, const std::uint32_t* idx, std::size_t n) override {
    for (std::size_t j = 0; j < n; ++j) {
      const auto v = db_.get({w.key(idx + j).data(), kKeyBytes});
      verify("mmapdb", idx[j], v ? v->data() : nullptr, v ? v->size() : 0);
    }
  }
  std::uint64_t file_size() const override { return file_bytes(path_); }

 private:
  Cleanup files_;
  std::string path_;
  Db db_;
};

void lmdb_check(int rc, const char* what) {
  if (rc != MDB_SUCCESS) throw OperationFailed(fmt::format("lmdb {}: {}", what, mdb_strerror(rc)));
}

class LmdbContender final : public Contender {
 public:
  LmdbContender(const std::string& path, std::uint64_t keys)
      : files_({path, path + "-lock"}), path_(path) {
    lmdb_check(mdb_env_create(&env_), "env_create");
    lmdb_check(mdb_env_set_mapsize(env_, std::max<std::size_t>(1u << 30, keys * 1024)),
               "set_mapsize");
    lmdb_check(mdb_env_open(env_, path.c_str(), MDB_NOSUBDIR | MDB_NOSYNC, 0644), "env_open");
    MDB_txn* txn = nullptr;
    lmdb_check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    lmdb_check(mdb_dbi_open(txn, nullptr, 0, &dbi_), "dbi_open");
    lmdb_check(mdb_txn_commit(txn), "txn_commit");
  }
  LmdbContender(const LmdbContender&) = delete;
  LmdbContender& operator=(const LmdbContender&) = delete;
  ~LmdbContender() override {
    if (rtxn_ != nullptr) mdb_txn_abort(rtxn_);
    mdb_env_close(env_);
  }
  void put(const Workload& w, const std::uint32_t* idx, std::size_t n) override {
    char value[kValueBytes];
    MDB_txn* txn = nullptr;
    lmdb_check(mdb_txn_begin(env_, nullptr, 0, &txn), "txn_begin");
    for (std::size_t j = 0; j < n; ++j) {
      make_value(idx[j], value);
      MDB_val k{kKeyBytes, const_cast<char*>(w.key(idx + j).data())};  // NOLINT: C API
      MDB_val v{kValueBytes, value};
      const int rc = mdb_put(txn, dbi_, &k, &v, 0);
      if (rc != MDB_SUCCESS) mdb_txn_abort(txn);
      lmdb_check(rc, "put");
    }
    lmdb_check(mdb_txn_commit(txn), "txn_commit");
  }
  void begin_gets() override {
    lmdb_check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &rtxn_), "txn_begin(rdonly)");
  }
  void get(const Workload& w, const std::uint32_t* idx, std::size_t n) override {
    for (std::size_t j = 0; j < n; ++j) {
      MDB_val k{kKeyBytes, const_cast<char*>(w.key(idx + j).data())};  // NOLINT: C API
      MDB_val v{};
      const int rc = mdb_get(rtxn_, dbi_, &k, &v);
      verify("lmdb", idx[j], rc == MDB_SUCCESS ? v.mv_data : nullptr, v.mv_size);
    }
  }
  void end_gets() override {
    mdb_txn_abort(rtxn_);
    rtxn_ = nullptr;
  }
  std::uint64_t file_size() const override { return file_bytes(path_); }

 private:
  Cleanup files_;
  std::string path_;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_txn* rtxn_ = nullptr;
};

class SqliteContender final : public Contender {
 public:
  explicit SqliteContender(const std::string& path)
      : files_({path, path + "-wal", path + "-shm", path + "-journal"}), path_(path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK)
      throw OperationFailed(fmt::format("sqlite open {}: {}", path, sqlite3_errmsg(db_)));
    exec(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
        "CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID;");
    check(sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)", -1, &ins_,
                             nullptr),
          "prepare insert");
    check(sqlite3_prepare_v2(db_, "SELECT v FROM kv WHERE k = ?1", -1, &sel_, nullptr),
          "prepare select");
  }
  SqliteContender(const SqliteContender&) = delete;
  SqliteContender& operator=(const SqliteContender&) = delete;
  ~SqliteContender() override {
    sqlite3_finalize(ins_);
    sqlite3_finalize(sel_);
    sqlite3_close(db_);
  }
  void put(const Workload& w, const std::uint32_t* idx, std::size_t n) override {
    char value[kValueBytes];
    exec("BEGIN");
    for (std::size_t j = 0; j < n; ++j) {
      make_value(idx[j], value);
      sqlite3_bind_blob(ins_, 1, w.key(idx + j).data(), kKeyBytes, SQLITE_STATIC);
      sqlite3_bind_blob(ins_, 2, value, kValueBytes, SQLITE_STATIC);
      check(sqlite3_step(ins_), "insert");
      sqlite3_reset(ins_);
    }
    exec("COMMIT");
  }
  void begin_gets() override { exec("BEGIN"); }
  void get(const Workload& w, const std::uint32_t* idx, std::size_t n) override {
    for (std::size_t j = 0; j < n; ++j) {
      sqlite3_bind_blob(sel_, 1, w.key(idx + j).data(), kKeyBytes, SQLITE_STATIC);
      const int rc = sqlite3_step(sel_);
      verify("sqlite", idx[j], rc == SQLITE_ROW ? sqlite3_column_blob(sel_, 0) : nullptr,
             rc == SQLITE_ROW ? static_cast<std::size_t>(sqlite3_column_bytes(sel_, 0)) : 0);
      sqlite3_reset(sel_);
    }
  }
  void end_gets() override { exec("COMMIT"); }
  std::uint64_t file_size() const override {
    return file_bytes(path_) + file_bytes(path_ + "-wal");
  }

 private:
  void check(int rc, const char* what) const {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
      throw OperationFailed(fmt::format("sqlite {}: {}", what, sqlite3_errmsg(db_)));
  }
  void exec(const char* sql) const {
    check(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr), sql);
  }

  Cleanup files_;
  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* ins_ = nullptr;
  sqlite3_stmt* sel_ = nullptr;
};

/// A bound on mmapdb's get, measured on its file: each key's slot found by probing (hash, home
/// slot, linear probing to the key's tag) and, with `record`, its record's key compared and
/// value read, as a get must, but nothing else: no bounds, no lengths, no CRC, no remap.
/// Through a read-only mapping of its own, 2 MiB pages asked for as mmapdb asks.
class BoundContender final : public Contender {
 public:
  BoundContender(std::string path, bool record) : path_(std::move(path)), record_(record) {}
  void put(const Workload&, const std::uint32_t*, std::size_t) override {}
  void begin_gets() override {
    fd_ = Fd(check_unix(::open(path_.c_str(), O_RDONLY | O_CLOEXEC), "open {}", path_));
    map_ = Mapping(fd_.get(), file_bytes(path_), PROT_READ);
    (void)::madvise(map_.data(), map_.size(), MADV_HUGEPAGE);
    const auto* h = map_.as<Header>();
    index_ =
        reinterpret_cast<const std::uint64_t*>(map_.as<const char>() + index_offset(h->index_ref));
    mask_ = (std::uint64_t{1} << index_log2_slots(h->index_ref)) - 1;
  }
  void get(const Workload& w, const std::uint32_t* idx, std::size_t n) override {
    const char* const base = map_.as<const char>();
    for (std::size_t j = 0; j < n; ++j) {
      const char* key = w.key(idx + j).data();
      const std::uint32_t tag = key_tag({key, kKeyBytes});
      std::uint64_t i = tag & mask_, s = 0;
      for (;; i = (i + 1) & mask_) {
        s = load_slot(index_[i]);
        if (s == kEmptySlot) break;
        if (slot_tag(s) != tag) continue;
        if (!record_) break;
        // Two keys of 1M share a tag about a hundred times: the key decides.
        if (std::memcmp(base + slot_offset(s) + sizeof(RecordHead), key, kKeyBytes) == 0) break;
      }
      if (record_)
        verify("slot+record", idx[j], base + slot_offset(s) + sizeof(RecordHead) + kKeyBytes,
               kValueBytes);
      else
        sink_ += s;  // the probes are not optimized away
    }
  }
  void end_gets() override {
    map_ = Mapping();
    fd_ = Fd();
  }
  std::uint64_t file_size() const override { return 0; }

 private:
  std::string path_;
  bool record_;
  Fd fd_;
  Mapping map_;
  const std::uint64_t* index_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint64_t sink_ = 0;
};

/// Runs op over w.order in slices of kBatch; with a budget, stops once it has run
/// kPhaseBudget seconds and at least kMinOps ops. Returns ops/s.
template <typename Op>
double timed(const Workload& w, bool budget, Op&& op, std::uint64_t batch = kBatch) {
  const std::int64_t t0 = now_ns();
  std::size_t done = 0;
  while (done < w.order.size()) {
    const std::size_t n = std::min<std::size_t>(batch, w.order.size() - done);
    op(w.order.data() + done, n);
    done += n;
    if (budget && done >= kMinOps && static_cast<double>(now_ns() - t0) / 1e9 > kPhaseBudget) break;
  }
  return static_cast<double>(done) / (static_cast<double>(now_ns() - t0) / 1e9);
}

}  // namespace

int run_bench(const BenchOptions& opts) {
  if (opts.keys < 1000 || opts.keys > 50'000'000)
    throw UsageError("--keys must be between 1000 and 50M");
  Workload w;
  std::mt19937_64 rng(opts.seed);
  w.keys.resize(opts.keys);
  for (auto& k : w.keys) {
    const std::uint64_t a = rng(), b = rng();
    std::memcpy(k.data(), &a, 8);
    std::memcpy(k.data() + 8, &b, 8);
  }
  w.order.resize(opts.keys);
  std::iota(w.order.begin(), w.order.end(), 0u);

  bench::Report report("mmapdb bench");
  report.param("keys", json_number(static_cast<double>(opts.keys)));
  report.param("key_bytes", json_number(kKeyBytes));
  report.param("value_bytes", json_number(kValueBytes));
  report.param("batch", json_number(kBatch));
  report.param("runs", json_number(opts.runs));
  report.param("sync", json_string("off for every contender"));
  report.note(fmt::format(
      "{} random {}-byte keys, {}-byte values; fill: all keys put in random order into an "
      "empty database, {} a transaction; get: random order, every value verified; put: "
      "random replaces, {} a transaction",
      opts.keys, kKeyBytes, kValueBytes, kFillBatch, kBatch));
  report.note(
      "no fsync/msync anywhere (LMDB MDB_NOSYNC, SQLite WAL + synchronous=OFF); LMDB gets in "
      "one read txn; SQLite prepared statements, WITHOUT ROWID, one read txn");
  // Three engines, then the two bounds (gets only).
  const char* names[5] = {"mmapdb", "lmdb", "sqlite", "index probe", "slot+record"};
  for (const char* n : names) report.add(fmt::format("{} get", n));
  for (std::size_t c = 0; c < 3; ++c) report.add(fmt::format("{} put", names[c]));
  for (std::size_t c = 0; c < 3; ++c) report.add(fmt::format("{} fill", names[c]));

  std::unique_ptr<Contender> dbs[5];
  dbs[0] = std::make_unique<MmapdbContender>(opts.file, opts.keys);
  dbs[1] = std::make_unique<LmdbContender>(opts.file + ".lmdb", opts.keys);
  dbs[2] = std::make_unique<SqliteContender>(opts.file + ".sqlite");
  dbs[3] = std::make_unique<BoundContender>(opts.file, false);
  dbs[4] = std::make_unique<BoundContender>(opts.file, true);
  const double raw = static_cast<double>(opts.keys * (kKeyBytes + kValueBytes));
  std::mt19937_64 order_rng(mix(opts.seed));
  for (std::size_t c = 0; c < 3; ++c) {  // fill: every key, timed whole
    w.shuffle(order_rng);
    Contender& db = *dbs[c];
    const double rate = timed(
        w, false, [&](const std::uint32_t* idx, std::size_t n) { db.put(w, idx, n); }, kFillBatch);
    report.at(fmt::format("{} fill", names[c])).record(rate);
    const double ratio = static_cast<double>(db.file_size()) / raw;
    report.param(fmt::format("{}_file_ratio", names[c]), json_number(ratio));
    report.note(fmt::format("{} file after the fill: {:.1f} MB, {:.2f}x the raw {:.1f} MB",
                            names[c], static_cast<double>(db.file_size()) / 1e6, ratio, raw / 1e6));
  }

  bench::interleave(opts.runs, 5, [&](int, std::size_t c) {
    Contender& db = *dbs[c];
    w.shuffle(order_rng);
    db.begin_gets();
    const double get =
        timed(w, true, [&](const std::uint32_t* idx, std::size_t n) { db.get(w, idx, n); });
    db.end_gets();
    if (c >= 3) {  // a bound: gets only
      report.at(fmt::format("{} get", names[c])).record(get);
      return;
    }
    w.shuffle(order_rng);
    const double put =
        timed(w, true, [&](const std::uint32_t* idx, std::size_t n) { db.put(w, idx, n); });
    report.at(fmt::format("{} get", names[c])).record(get);
    report.at(fmt::format("{} put", names[c])).record(put);
  });

  report.ratio("mmapdb get", "lmdb get");
  report.ratio("mmapdb get", "sqlite get");
  report.ratio("mmapdb put", "lmdb put");
  report.ratio("mmapdb put", "sqlite put");
  report.ratio("mmapdb fill", "lmdb fill");
  report.ratio("mmapdb get", "slot+record get");
  report.note(fmt::format(
      "mmapdb get reaches {:.0f}% of the slot+record bound (a get's two dependent cache misses, "
      "the key compared, nothing else checked) and {:.0f}% of a bare index probe (one miss)",
      100 * bench::ratio(report.at("mmapdb get"), report.at("slot+record get")),
      100 * bench::ratio(report.at("mmapdb get"), report.at("index probe get"))));
  fmt::print("{}", bench::format(report, opts.format));
  return 0;
}

}  // namespace ipclab::lab14
