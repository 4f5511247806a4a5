// Lab 09 — a key-value store in one file, with one fcntl byte-range lock per record.
//
// File layout (the grader reads it):
//
//   [0, kHeaderSize)                            the header: magic, version, the table's
//                                               place and size, the user's slot limit
//   [record_offset(table, i), + kRecordSize)    record i of the table, for i in [0, slots)
//
// The table grows: when an insert finds no free slot (or probes too far), the table is
// rehashed into a region twice its size at the end of the file, and the header, rewritten
// last, makes the new table the table. A new file's first table starts at kHeaderSize.
//
// Locks (open-file-description locks, F_OFD_SETLKW; see the README for why not F_SETLKW),
// in the order they are taken — the lock hierarchy:
//   1. the gate lock (kGateLock, a byte past any data): held (write) by whoever wants the
//      header lock exclusively, and (read) for an instant by everyone else before taking
//      the header lock shared, so that a steady stream of readers cannot starve a grower.
//   2. the header lock covers exactly the header bytes. Every operation holds it (read)
//      from before it reads the header until it is done with the table: the table cannot
//      move under it. It is held (write) while the file is created or checked and while the
//      table grows.
//   3. the insert lock (kInsertLock, another byte past any data): held (write) while a key
//      is inserted into a free slot or deleted — the two operations that change which slot
//      holds which key.
//   4. record i's lock covers exactly record i's bytes, no more, no less. It is held (read)
//      while the record is read and (write) while it is written or read-modified-written.
//   Never two record locks at once, never an upgrade (a read lock turned into a write lock:
//   two upgraders wait for each other forever). So the store cannot deadlock, which
//   matters because the kernel does no deadlock detection for OFD locks.
//
// You write src/kvstore.cpp. Everything in this header is given: the layout, the hash, the
// record I/O helpers and the test hook.
#pragma once

#include <sched.h>      // sched_yield
#include <sys/types.h>  // off_t
#include <time.h>       // nanosleep
#include <unistd.h>     // pread, pwrite, getpid

#include <atomic>       // std::atomic
#include <cstddef>      // std::size_t, offsetof
#include <cstdint>      // std::uint32_t, std::uint64_t
#include <cstdlib>      // std::getenv
#include <functional>   // std::function
#include <optional>     // std::optional
#include <random>       // std::minstd_rand
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <type_traits>  // std::is_trivially_copyable_v
#include <utility>      // std::pair, std::exchange
#include <vector>       // std::vector

#include "ipclab/clock.hpp"  // now_ns
#include "ipclab/error.hpp"  // check_unix, OperationFailed
#include "ipclab/fd.hpp"     // Fd

namespace ipclab::lab09 {

// ---- layout --------------------------------------------------------------------------------

inline constexpr std::size_t kHeaderSize = 64;        // one cache line; room for future fields
inline constexpr std::size_t kRecordSize = 256;       // 16-byte record header + key + value
inline constexpr std::size_t kMaxKey = 48;            // bytes
inline constexpr std::size_t kMaxValue = 192;         // bytes
inline constexpr std::uint32_t kDefaultSlots = 64;    // a new file's first table
inline constexpr std::uint32_t kMaxSlots = 1u << 20;  // 256 MiB of records at most
/// An insert that probes more slots than this grows the table (if --max-slots allows).
inline constexpr std::uint32_t kGrowProbe = 32;
inline constexpr char kMagic[8] = {'I', 'P', 'C', 'L', 'K', 'V', '0', '9'};
inline constexpr std::uint32_t kVersion = 2;

/// The file header, at offset 0.
struct Header {
  char magic[8];              // kMagic
  std::uint32_t version;      // kVersion
  std::uint32_t slots;        // number of records of the table now
  std::uint32_t record_size;  // kRecordSize
  std::uint32_t max_slots;    // the table never grows past this (set when the file is created)
  std::uint64_t table;        // file offset of the table's record 0
  char reserved[kHeaderSize - 32];
};
static_assert(sizeof(Header) == kHeaderSize, "the header is exactly kHeaderSize bytes");
static_assert(std::is_trivially_copyable_v<Header>, "the header is read and written raw");

/// What a slot holds. A deleted slot is a tombstone: probing goes on past it (an empty
/// slot ends a probe), and an insert may reuse it.
enum class SlotState : std::uint32_t { kEmpty = 0, kUsed = 1, kDeleted = 2 };

/// One record, as it is on disk.
struct Record {
  SlotState state;
  std::uint32_t key_len;
  std::uint32_t value_len;
  std::uint32_t reserved;
  char key[kMaxKey];
  char value[kMaxValue];

  std::string_view key_view() const { return {key, key_len}; }
  std::string_view value_view() const { return {value, value_len}; }
};
static_assert(sizeof(Record) == kRecordSize, "a record is exactly kRecordSize bytes");
static_assert(std::is_trivially_copyable_v<Record>, "records are read and written raw");
inline constexpr std::size_t kRecordHeadSize = offsetof(Record, key);  // state + lengths

/// Where record `slot` of the table at file offset `table` starts.
constexpr off_t record_offset(off_t table, std::uint32_t slot) {
  return table + static_cast<off_t>(std::size_t{slot} * kRecordSize);
}
/// Where record `slot` of a new file's first table starts (the table at kHeaderSize).
constexpr off_t record_offset(std::uint32_t slot) {
  return record_offset(static_cast<off_t>(kHeaderSize), slot);
}

/// The gate lock and the insert lock: one byte each, far past any data (a lock may cover
/// bytes the file does not have; SQLite locks bytes at 1 GiB the same way). The file is at
/// most a few GiB, so no record ever reaches them.
struct LockByte {
  off_t start;
  off_t len;
};
inline constexpr LockByte kGateLock{off_t{1} << 40, 1};
inline constexpr LockByte kInsertLock{(off_t{1} << 40) + 1, 1};

/// 64-bit FNV-1a of the key bytes. A key's home slot is key_hash(key) % slots; linear
/// probing goes on with home + 1, home + 2, ... modulo slots.
constexpr std::uint64_t key_hash(std::string_view key) {
  std::uint64_t h = 14695981039346656037ull;
  for (const char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}
constexpr std::uint32_t home_slot(std::string_view key, std::uint32_t slots) {
  return static_cast<std::uint32_t>(key_hash(key) % slots);
}

// ---- the test hook -------------------------------------------------------------------------

/// -1: not decided yet (read IPCLAB_LAB09_YIELD on first use); 0: off; 1: on.
inline std::atomic<int> g_test_yield{-1};

/// Turns the test hook on or off for this process (the grader does; tools leave it alone).
inline void set_test_yield(bool on) { g_test_yield.store(on ? 1 : 0, std::memory_order_relaxed); }

/**
 * @brief A point where a race, if there is one, is made to happen.
 *
 * Off unless the environment has IPCLAB_LAB09_YIELD=1 (the grader sets it) or
 * set_test_yield(true) was called. When on, it gives the CPU away (sched_yield or a sleep
 * of a few microseconds) at random, so that another process runs in the middle of what the
 * caller is doing. Called by write_record between its two writes, and by the incr command
 * between reading the old value and writing the new one. Correctly locked code does not
 * care; unlocked code loses updates or tears records, every time.
 */
inline void test_yield_point() {
  int on = g_test_yield.load(std::memory_order_relaxed);
  if (on < 0) {
    const char* env = std::getenv("IPCLAB_LAB09_YIELD");
    on = (env != nullptr && env[0] != '\0' && env[0] != '0') ? 1 : 0;
    g_test_yield.store(on, std::memory_order_relaxed);
  }
  if (on == 0) return;
  thread_local std::minstd_rand rng(static_cast<std::uint32_t>(
      ipclab::now_ns() ^ (static_cast<std::uint64_t>(::getpid()) << 20)));
  switch (rng() % 4) {
    case 0:
      return;
    case 1:
    case 2:
      ::sched_yield();
      return;
    default: {
      const timespec ts{0, static_cast<long>(1000 + rng() % 20'000)};  // 1-21 us
      ::nanosleep(&ts, nullptr);
      return;
    }
  }
}

// ---- record I/O (given) ----------------------------------------------------------------------

/**
 * @brief Reads record `slot` of the table at `table` (one pread). The caller holds the
 *        record's lock (read or write), or the header lock exclusively.
 * @throws SysError on an I/O error, OperationFailed on a record that makes no sense (a
 *         length out of range: not a database of this lab, or a torn write).
 */
inline Record read_record(int fd, off_t table, std::uint32_t slot) {
  Record r{};
  const ssize_t n = ipclab::check_unix(::pread(fd, &r, sizeof r, record_offset(table, slot)),
                                       "pread record {}", slot);
  if (static_cast<std::size_t>(n) != sizeof r)
    throw OperationFailed(fmt::format("short read of record {} (file truncated?)", slot));
  if (r.key_len > kMaxKey || r.value_len > kMaxValue ||
      static_cast<std::uint32_t>(r.state) > static_cast<std::uint32_t>(SlotState::kDeleted))
    throw OperationFailed(fmt::format("corrupt record {}", slot));
  return r;
}

/**
 * @brief Writes record `slot` of the table at `table`. The caller holds the record's write
 *        lock, or the header lock exclusively.
 *
 * Like a real store, it writes the data first and the record head (state and lengths)
 * last, in two writes: a record is consistent only under its lock. (Even one pwrite
 * would not do: Linux does not make a buffered write atomic with respect to a concurrent
 * read of the same bytes.) test_yield_point() runs between the two writes.
 */
inline void write_record(int fd, off_t table, std::uint32_t slot, const Record& r) {
  const auto* bytes = reinterpret_cast<const char*>(&r);
  const off_t off = record_offset(table, slot);
  const ssize_t body =
      ipclab::check_unix(::pwrite(fd, bytes + kRecordHeadSize, kRecordSize - kRecordHeadSize,
                                  off + static_cast<off_t>(kRecordHeadSize)),
                         "pwrite record {}", slot);
  test_yield_point();
  const ssize_t head =
      ipclab::check_unix(::pwrite(fd, bytes, kRecordHeadSize, off), "pwrite record {} head", slot);
  if (static_cast<std::size_t>(body) != kRecordSize - kRecordHeadSize ||
      static_cast<std::size_t>(head) != kRecordHeadSize)
    throw OperationFailed(fmt::format("short write of record {} (disk full?)", slot));
}

// ---- locks (you write these) ---------------------------------------------------------------

enum class LockType { kRead, kWrite };

/**
 * @brief Locks bytes [start, start + len) of the file open on `fd`, waiting as long as it
 *        takes (F_OFD_SETLKW: the caller sleeps in the kernel, it never spins).
 *
 * The lock belongs to the open file description behind `fd` (not to the process): it is
 * released by unlock_range, or when the last descriptor of that open file description is
 * closed — which includes the process dying, even by SIGKILL. A read lock is shared with
 * other read locks; a write lock excludes every other lock on those bytes.
 *
 * @param len  the number of bytes, > 0 (0 would mean "to the end of the file, however far
 *             it grows": never what a record lock wants)
 * @throws SysError if fcntl fails with anything but EINTR (retried) or EDEADLK (retried
 *         after a short, growing, random backoff: the kernel reports a deadlock for
 *         process-owned locks; OFD locks get no detection, so a retry is the whole cure)
 *
 * TODO(lab09): implement in src/kvstore.cpp.
 */
void lock_range(int fd, LockType type, off_t start, off_t len);

/**
 * @brief Releases the lock this open file description holds on [start, start + len).
 * TODO(lab09): implement in src/kvstore.cpp.
 */
void unlock_range(int fd, off_t start, off_t len);

/// A held byte-range lock: unlocks when it goes out of scope (given).
class RangeLock {
 public:
  RangeLock() = default;
  RangeLock(int fd, LockType type, off_t start, off_t len) : fd_(fd), start_(start), len_(len) {
    lock_range(fd_, type, start_, len_);
  }
  RangeLock(RangeLock&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), start_(o.start_), len_(o.len_) {}
  RangeLock& operator=(RangeLock&& o) noexcept {
    if (this != &o) {
      release();
      fd_ = std::exchange(o.fd_, -1);
      start_ = o.start_;
      len_ = o.len_;
    }
    return *this;
  }
  RangeLock(const RangeLock&) = delete;
  RangeLock& operator=(const RangeLock&) = delete;
  ~RangeLock() { release(); }

  bool held() const { return fd_ >= 0; }
  off_t start() const { return start_; }
  off_t len() const { return len_; }
  /// Unlocks now (idempotent). Errors are ignored: the lock goes away with the fd anyway.
  void release() noexcept {
    if (fd_ < 0) return;
    try {
      unlock_range(std::exchange(fd_, -1), start_, len_);
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing better to do in a destructor
    }
  }

 private:
  int fd_ = -1;
  off_t start_ = 0;
  off_t len_ = 0;
};

// ---- the store (you write it) ----------------------------------------------------------------

/// Throws UsageError (exit 2) if the key is empty or longer than kMaxKey bytes (given).
inline void check_key(std::string_view key) {
  if (key.empty()) throw UsageError("empty key");
  if (key.size() > kMaxKey)
    throw UsageError(fmt::format("key too long ({} bytes, at most {})", key.size(), kMaxKey));
}
/// Throws UsageError (exit 2) if the value is longer than kMaxValue bytes (given).
inline void check_value(std::string_view value) {
  if (value.size() > kMaxValue)
    throw UsageError(fmt::format("value too long ({} bytes, at most {})", value.size(), kMaxValue));
}

class KvStore {
 public:
  struct OpenOptions {
    /// Create the file if it does not exist (with `slots` records, all empty).
    bool create = true;
    /// The first table's size, used only when the file is created.
    std::uint32_t slots = kDefaultSlots;
    /// The most slots the table may grow to, used only when the file is created (then
    /// stored in the header): an insert that finds no free slot in a table of max_slots
    /// fails with "database full".
    std::uint32_t max_slots = kMaxSlots;
  };

  /**
   * @brief Opens (and if needed creates) the database at `path`.
   *
   * Opens the file with its own open file description (open(2), O_CLOEXEC; a new file gets
   * mode 0644, less the umask), then takes the
   * gate and the header lock, both exclusive: if the file is empty it sizes the file to
   * hold `slots` empty records at kHeaderSize and writes the header; otherwise it checks the
   * header (magic, version, record size, slot counts, file size). Concurrent first opens
   * must create it exactly once.
   *
   * @throws UsageError if opts.slots is 0 or above opts.max_slots, or opts.max_slots above
   *         kMaxSlots; OperationFailed if the file is not a database of this lab; SysError on
   *         system errors (ENOENT without create).
   * TODO(lab09): implement in src/kvstore.cpp.
   */
  static KvStore open(const std::string& path, const OpenOptions& opts);
  static KvStore open(const std::string& path) { return open(path, OpenOptions{}); }

  /// The table's size when this store last read the header (it grows meanwhile).
  std::uint32_t slots() const { return slots_; }
  int fd() const { return fd_.get(); }

  // Every operation below first takes the header lock shared (through the gate) and reads
  // the header: where the table is and how many slots it has. It keeps that lock until it
  // is done with the table.

  /**
   * @brief The value of `key`, or nullopt. Probes from the home slot, taking each record's
   *        read lock while it reads it, up to an empty slot (or all slots).
   * @throws UsageError for a bad key. TODO(lab09)
   */
  std::optional<std::string> get(std::string_view key);

  /**
   * @brief Sets `key` to `value`: in place under the record's write lock if the key exists;
   *        else under the insert lock, in the first tombstone or empty slot of its probe
   *        sequence. If there is none, or the probe was longer than kGrowProbe, the table
   *        grows first (all locks released, then the gate and the header lock exclusive:
   *        a rehash into a table twice the size at the end of the file, committed by the
   *        header write), and the insert starts again.
   * @throws UsageError for a bad key or value; OperationFailed("database full") if the key
   *         is absent, no slot is free and the table has max_slots slots. TODO(lab09)
   */
  void set(std::string_view key, std::string_view value);

  /**
   * @brief Deletes `key` (its slot becomes a tombstone), under the insert lock and the
   *        record's write lock. @return false if the key was not there. TODO(lab09)
   */
  bool del(std::string_view key);

  /// Every key and value, sorted by key; each record read under its read lock. TODO(lab09)
  std::vector<std::pair<std::string, std::string>> list();

  /// Computes a key's new value from its old one (nullopt: the key is absent).
  using Updater = std::function<std::string(std::optional<std::string_view> old_value)>;

  /**
   * @brief Read-modify-write: sets `key` to fn(old value), atomically with respect to every
   *        other operation on that key — the read, fn and the write all happen under the
   *        record's write lock (taken once, never upgraded from a read lock).
   * @return the new value
   * @throws UsageError for a bad key or a bad new value; OperationFailed("database full").
   * TODO(lab09)
   */
  std::string update(std::string_view key, const Updater& fn);

  /// A record lock held for a key, as lock_key returns it, with the header lock (shared)
  /// it is held under: the table cannot move while the record is held.
  struct KeyLock {
    RangeLock header;  // declared first: released last
    RangeLock lock;
    std::uint32_t slot = 0;
  };

  /**
   * @brief Takes and returns the write lock of `key`'s record: the slot that holds the key,
   *        or, if it is absent, the slot an insert would use now (nothing is written; the
   *        table grows first if an insert would grow it). For `kvstore lock-test`.
   * @throws OperationFailed("database full") as set() does. TODO(lab09)
   */
  KeyLock lock_key(std::string_view key);

 private:
  KvStore(Fd fd, std::uint32_t slots) : fd_(std::move(fd)), slots_(slots) {}
  // Helpers (a probe, an insert under the insert lock, the growth) go in an anonymous
  // namespace in src/kvstore.cpp: they get the descriptor and the table as arguments.
  Fd fd_;
  std::uint32_t slots_ = 0;
};

}  // namespace ipclab::lab09
