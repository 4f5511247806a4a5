// Lab 14 — a memory-mapped key-value database: one file, mapped MAP_SHARED by every process
// that uses it. You write src/mmapdb.cpp (the class Db, the header check validate_header,
// and the three functions of the CRC path: choose_crc_path, cpu_features, crc_path);
// everything else in this header is given: the file layout, the hash, the CRC, the slot
// encoding and the test hooks.
//
// File layout (all offsets in bytes; the grader reads and damages files of this layout):
//
//   [0, kHeaderSize)        the header (one page): a static part written once by create()
//                           and covered by header_crc, then the dynamic fields writers move
//   [kHeaderSize, heap_end) the heap, an append-only arena: records and index tables, each
//                           8-byte aligned, in the order they were appended
//   [heap_end, file_size)   free space; a growth ftruncate()s the file and remaps
//
//   index table: 2^k slots of 8 bytes (a uint64_t each), linear probing, home slot =
//                key tag & (slots - 1). Slot 0 = empty, 1 = tombstone (deleted), else
//                offset/8 of the record in the high 32 bits and the key's tag in the low 32.
//   record:      RecordHead (crc, key_len, value_len), then the key, then the value,
//                padded to 8 bytes. crc = crc32c of everything after the crc field.
//
// The rules that make it work (README "The core question"):
//   - Writers hold the exclusive fcntl (OFD) lock on kLockByte, one at a time. They write
//     a record past heap_end, then advance heap_end, then publish the slot (publish_slot,
//     a release store). A record that a slot points to is complete and never changes.
//   - Readers (get) take no lock and make no system call: they load the slot (acquire),
//     verify the record's CRC and compare the key. list, stats and check take the shared
//     lock so that no writer moves under them.
//   - Growth: the writer ftruncate()s the file bigger, stores file_size, then bumps
//     generation. An index that gets too full is rebuilt twice as big in fresh heap space
//     and published by storing index_ref, then generation. Readers compare generation with
//     the one they mapped and remap when it changed.
//   - A process killed at any instant leaves only complete published records (SIGKILL does
//     not lose stores to a MAP_SHARED mapping: they are in the page cache). msync(MS_SYNC)
//     at commit is what makes them survive a power cut as well.
#pragma once

#include <signal.h>     // raise, SIGKILL: the test hook
#include <sys/types.h>  // off_t

#include <atomic>       // std::atomic_ref, std::atomic
#include <cstddef>      // std::byte, std::size_t
#include <cstdint>      // std::uint32_t, std::uint64_t
#include <cstdlib>      // std::getenv, std::strtoll
#include <cstring>      // std::memcpy
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <type_traits>  // std::is_trivially_copyable_v
#include <utility>      // std::pair, std::exchange
#include <vector>       // std::vector

#include <fmt/core.h>  // fmt::format for messages

#include "ipclab/error.hpp"  // OperationFailed, UsageError
#include "ipclab/fd.hpp"     // Fd
#include "ipclab/shm.hpp"    // Mapping

namespace ipclab::lab14 {

// ---- layout ----------------------------------------------------------------------------------

inline constexpr char kMagic[8] = {'I', 'P', 'C', 'M', 'M', 'D', 'B', '1'};
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 4096;    // one page: the header never shares a page
inline constexpr std::size_t kAlign = 8;            // records and tables start on 8 bytes
inline constexpr std::size_t kMaxKey = 1024;        // bytes (key_len is 16 bits)
inline constexpr std::size_t kMaxValue = 1u << 20;  // bytes
/// Smallest file create() accepts: the header, a 1024-slot index and some heap.
inline constexpr std::uint64_t kMinSize = std::uint64_t{64} * 1024;
/// Largest file: a slot keeps offset/8 in 32 bits.
inline constexpr std::uint64_t kMaxSize = (std::uint64_t{1} << 32) * kAlign;
/// The byte the fcntl locks cover (inside the header, never written through the lock).
inline constexpr off_t kLockByte = 0;
/// An index is rebuilt twice as big before more than 7/10 of its slots are in use: a new key
/// that would make more than slots * 7/10 of them non-empty has it rebuilt first, and a new
/// key that would not, does not.
inline constexpr std::uint64_t kMaxLoadNum = 7, kMaxLoadDen = 10;
/// Index sizes, as log2 of the slots: at least 1024 slots; at most 2^31 (a tag's low bits
/// give the home slot, and a larger table would not fit in kMaxSize).
inline constexpr unsigned kMinLog2Slots = 10, kMaxLog2Slots = 31;

/// The header, at offset 0. Plain integers: the dynamic fields are read and written through
/// std::atomic_ref (load_acquire/store_release below), so the struct stays trivially
/// copyable and its layout is exactly what is on disk. The padding is deliberate: the
/// writer's heap_end does not share a cache line with the fields every reader loads.
// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding)
struct Header {
  // -- static part: written once by create(), covered by header_crc --
  char magic[8];              // kMagic
  std::uint32_t version;      // kVersion
  std::uint32_t header_size;  // kHeaderSize
  std::uint32_t align;        // kAlign
  std::uint32_t max_key;      // kMaxKey
  std::uint32_t max_value;    // kMaxValue
  std::uint32_t header_crc;   // crc32c of the bytes before this field (kHeaderCrcBytes)
  // -- dynamic part: written by the writer holding the exclusive lock --
  alignas(64) std::uint64_t generation;  // bumped after file_size or index_ref changes
  std::uint64_t file_size;               // bytes mapped; the file is at least this long
  std::uint64_t index_ref;               // make_index_ref(offset, log2 slots)
  alignas(64) std::uint64_t heap_end;    // where the next record goes
  std::uint64_t used_slots;  // non-empty slots of the current index (a hint: after a crash
                             // it may be lower than the truth, never higher)
};
inline constexpr std::size_t kHeaderCrcBytes = offsetof(Header, header_crc);
static_assert(sizeof(Header) <= kHeaderSize, "the header fits its page");
static_assert(std::is_trivially_copyable_v<Header>, "the header is the bytes on disk");

/// The header's dynamic fields, as one load of each read them.
struct Layout {
  std::uint64_t generation, file_size, index_ref, heap_end, used_slots;
};

/// What precedes a record's key and value. 12 bytes: a 16-byte key and a 100-byte value
/// make a 128-byte record.
struct RecordHead {
  std::uint32_t crc;        // crc32c of the record from key_len to the end of the value
  std::uint16_t key_len;    // 1..kMaxKey
  std::uint16_t reserved;   // 0
  std::uint32_t value_len;  // 0..kMaxValue
};
static_assert(sizeof(RecordHead) == 12, "the record head is 12 bytes on disk");

constexpr std::uint64_t align_up(std::uint64_t n, std::uint64_t a) { return (n + a - 1) / a * a; }
/// Bytes a record of these lengths occupies in the heap (head + key + value, padded).
constexpr std::uint64_t record_size(std::size_t key_len, std::size_t value_len) {
  return align_up(sizeof(RecordHead) + key_len + value_len, kAlign);
}

// ---- index slots and refs ---------------------------------------------------------------------

inline constexpr std::uint64_t kEmptySlot = 0;
inline constexpr std::uint64_t kTombstone = 1;

constexpr std::uint64_t make_slot(std::uint64_t record_offset, std::uint32_t tag) {
  return (record_offset / kAlign) << 32 | tag;
}
/// The record offset of a live slot (0 for empty and tombstone slots: 0 is the header).
constexpr std::uint64_t slot_offset(std::uint64_t slot) { return (slot >> 32) * kAlign; }
constexpr std::uint32_t slot_tag(std::uint64_t slot) { return static_cast<std::uint32_t>(slot); }
constexpr bool slot_live(std::uint64_t slot) { return slot_offset(slot) != 0; }

/// index_ref packs the index table's offset and log2 of its slot count in one word, so a
/// reader never sees a new offset with an old size.
constexpr std::uint64_t make_index_ref(std::uint64_t offset, unsigned log2_slots) {
  return (offset / kAlign) << 8 | log2_slots;
}
constexpr std::uint64_t index_offset(std::uint64_t ref) { return (ref >> 8) * kAlign; }
constexpr unsigned index_log2_slots(std::uint64_t ref) { return static_cast<unsigned>(ref & 0xff); }

// ---- hash and CRC (given) ------------------------------------------------------------------

/// 64-bit hash of a key, 8 bytes at a time (a multiply-xorshift mix; not cryptographic).
/// tag = the high 32 bits; home slot = tag & (slots - 1).
inline std::uint64_t key_hash(std::string_view key) {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;
  std::uint64_t h = 0x243F6A8885A308D3ull ^ (key.size() * kMul);
  std::size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, key.data() + i, 8);
    h = (h ^ (w * 0xC2B2AE3D27D4EB4Full)) * kMul;
    h ^= h >> 29;
  }
  // The last key.size() % 8 bytes as a little-endian number (0 if none). Read as the key's
  // last 8 bytes shifted, not by a memcpy of a variable length (a library call in a get).
  std::uint64_t tail = 0;
  if (const std::size_t rest = key.size() - i; rest != 0 && key.size() >= 8) {
    std::memcpy(&tail, key.data() + key.size() - 8, 8);
    tail >>= 64 - 8 * rest;
  } else {
    for (std::size_t k = rest; k-- > 0;) tail = tail << 8 | static_cast<unsigned char>(key[i + k]);
  }
  h = (h ^ (tail * 0x165667B19E3779F9ull)) * kMul;
  h ^= h >> 32;  // fold the high bits down: the tag and the home slot both come from them
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  return h;
}
inline std::uint32_t key_tag(std::string_view key) {
  return static_cast<std::uint32_t>(key_hash(key) >> 32);
}

/// CRC-32C (Castagnoli) of `len` bytes, continuing from `crc` (0 to start). The SSE4.2
/// crc32 instruction where the CPU has it, else slicing-by-8 tables (given/crc32c.cpp): both
/// well under a nanosecond a byte, because a get checks a CRC every time.
std::uint32_t crc32c(const void* data, std::size_t len, std::uint32_t crc = 0);
/// Test hook: how many times this thread has called crc32c() so far. The grader reads it
/// before and after some gets or a list() to see which way their record CRCs went.
std::uint64_t crc32c_calls();

/// The CRC a record must carry: of its bytes after the crc field.
inline std::uint32_t record_crc(const RecordHead* rec) {
  return crc32c(&rec->key_len,
                sizeof(RecordHead) - sizeof rec->crc + rec->key_len + rec->value_len);
}

// ---- the CRC path (you write the choice) --------------------------------------------------
//
// A get verifies a record's CRC every time, so how it computes it is a large part of its
// cost (README "What a get touches"). Which way is fastest depends on the CPU, and a way
// the CPU does not have is SIGILL, not an error. The choice is split in two, so that it can
// be tested on one machine for every CPU: choose_crc_path() decides from a set of features
// (a pure function: the grader gives it every combination, those of CPUs it does not have
// included), and crc_path() applies it to this CPU's features, once.

/// The ways to compute a record's CRC-32C, slowest first.
enum class CrcPath {
  kPortable,     // the given crc32c() (a call; it has its own CPU dispatch)
  kInstruction,  // inline crc32 instructions, 8 bytes each: needs SSE4.2
  kVector,       // 64 bytes a step, folded with carry-less multiplies (VPCLMULQDQ on 512-bit
                 // registers, AVX-512F), the key compared with one masked byte compare
                 // (AVX-512BW), the last 16 bytes through crc32 (SSE4.2)
};

/// What the CRC paths need of a CPU (each as __builtin_cpu_supports names it).
struct CpuFeatures {
  bool sse42 = false;       // "sse4.2": the crc32 instruction
  bool avx512f = false;     // "avx512f": 512-bit registers
  bool avx512bw = false;    // "avx512bw": byte-masked loads and compares
  bool vpclmulqdq = false;  // "vpclmulqdq": carry-less multiply on 512-bit registers
};

/**
 * @brief The fastest CRC path a CPU with the features `f` can run, never one it cannot:
 *        kVector if it has all four features, else kInstruction if it has sse42, else
 *        kPortable. A pure function of `f` (it reads nothing else).
 * TODO(lab14): implement in src/mmapdb.cpp.
 */
CrcPath choose_crc_path(CpuFeatures f);

/// This CPU's features (__builtin_cpu_supports; none off x86-64). TODO(lab14)
CpuFeatures cpu_features();

/**
 * @brief The path this process computes record CRCs with: choose_crc_path(cpu_features()),
 *        decided once. Every record CRC that get(), list() and check() verify goes this
 *        way: with kPortable through crc32c(), with kInstruction and kVector without
 *        calling it (the grader counts the calls with crc32c_calls()).
 * TODO(lab14)
 */
CrcPath crc_path();

// ---- atomics on the mapping ------------------------------------------------------------------

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free,
              "shared-memory atomics must be lock-free (address-free across processes)");

inline std::uint64_t load_acquire(const std::uint64_t& word) {
  // atomic_ref needs a non-const object; the load does not write.
  return std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(word))  // NOLINT
      .load(std::memory_order_acquire);
}
inline void store_release(std::uint64_t& word, std::uint64_t value) {
  std::atomic_ref<std::uint64_t>(word).store(value, std::memory_order_release);
}

// ---- the test hook -----------------------------------------------------------------------

/// The publication count at which publish_slot kills this process (0: never). Read once
/// from IPCLAB_LAB14_CRASH_AT; the grader sets it to crash a writer at a chosen insert.
inline std::uint64_t crash_at() {
  static const std::uint64_t at = [] {
    const char* env = std::getenv("IPCLAB_LAB14_CRASH_AT");
    return env != nullptr ? static_cast<std::uint64_t>(std::strtoll(env, nullptr, 10)) : 0;
  }();
  return at;
}

/**
 * @brief Makes `slot` hold `value`, visible to readers in every process: the one way a slot
 *        of the current index changes (insert, replace, delete). A new index is filled with
 *        plain stores where no reader looks, then published by storing index_ref.
 *
 * A release store: whatever this process wrote before (the record the slot points to)
 * is visible to a reader whose acquire load sees `value`. Test hook: with
 * IPCLAB_LAB14_CRASH_AT=N the process kills itself with SIGKILL right after the N-th
 * publication, as `kill -9` would at that instant. A record published before it was
 * complete is then found broken by `mmapdb check`.
 */
inline void publish_slot(std::uint64_t& slot, std::uint64_t value) {
  store_release(slot, value);
  static std::uint64_t published = 0;  // per process: the writer is single-threaded
  if (crash_at() != 0 && ++published == crash_at()) (void)::raise(SIGKILL);
}

/// Loads a slot for a reader (acquire: pairs with the release in publish_slot).
inline std::uint64_t load_slot(const std::uint64_t& slot) { return load_acquire(slot); }

// ---- errors and checks (given) -----------------------------------------------------------

/// A file that is not a sound database of this lab: bad magic or header CRC, a field out of
/// range, a truncated file, a record whose CRC does not match. Exit code 1; the message
/// starts with "corrupt database".
class CorruptDatabase : public OperationFailed {
 public:
  explicit CorruptDatabase(const std::string& what)
      : OperationFailed("corrupt database: " + what) {}
};

/// Throws UsageError (exit 2) for an empty key or one longer than kMaxKey.
inline void check_key(std::string_view key) {
  if (key.empty()) throw UsageError("empty key");
  if (key.size() > kMaxKey)
    throw UsageError(fmt::format("key too long ({} bytes, at most {})", key.size(), kMaxKey));
}
/// Throws UsageError (exit 2) for a value longer than kMaxValue.
inline void check_value(std::string_view value) {
  if (value.size() > kMaxValue)
    throw UsageError(fmt::format("value too long ({} bytes, at most {})", value.size(), kMaxValue));
}

/// The value the test programs store under `key` (mmapdb_writer, the grader): `size`
/// bytes derived from the key, so any reader can tell a right value from a wrong one.
inline std::string test_value(std::string_view key, std::size_t size = 100) {
  std::string v(size, '\0');
  std::uint64_t x = key_hash(key) | 1;
  for (auto& c : v) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>('a' + x % 26);
  }
  return v;
}

// ---- the header check (you write it) ---------------------------------------------------------

/**
 * @brief What open() and check() verify of a header before they trust it (README §Pitfalls
 *        5), and what a remap checks again of the fields it uses: a pure function of the
 *        header's bytes and the real file size, so that the grader can give it the headers
 *        of files no test can make (32 GiB, an index of 2^31 slots).
 *
 * In this order: magic, version, header_crc, the four sizes (header_size, align, max_key,
 * max_value: this program's); file_size in [kMinSize, kMaxSize] and a multiple of kAlign;
 * file_size not above real_size (a truncated file); heap_end in [kHeaderSize, file_size] and
 * a multiple of kAlign; the index of 2^kMinLog2Slots to 2^kMaxLog2Slots slots, starting at
 * or after kHeaderSize and ending at or before heap_end; used_slots not above its slots.
 * Every bound is inclusive: the largest database (file_size = real_size = kMaxSize, a heap
 * to its end, an index of 2^31 slots all used) is valid.
 *
 * @return the dynamic fields it checked (each loaded once, with load_acquire)
 * @throws CorruptDatabase naming the first check that fails.
 * TODO(lab14): implement in src/mmapdb.cpp.
 */
Layout validate_header(const Header& h, std::uint64_t real_size);

// ---- the database (you write it) --------------------------------------------------------------

struct OpenOptions {
  /// msync(MS_SYNC) at every commit (durable against a power cut, ~ms each). Off: commits
  /// survive a crashed process (SIGKILL), not a crashed machine — LMDB's MDB_NOSYNC.
  bool sync = true;
};

struct Stats {
  std::uint64_t keys = 0;        // live slots
  std::uint64_t tombstones = 0;  // deleted slots
  std::uint64_t slots = 0;       // index size
  std::uint64_t heap_end = 0;    // bytes of the file in use
  std::uint64_t file_size = 0;   // bytes of the file
  std::uint64_t generation = 0;
};

class Db {
 public:
  /**
   * @brief Creates a new database file of `size` bytes and opens it.
   *
   * The file must not exist (O_EXCL). Writes the header (static part and its CRC), sizes
   * the file with ftruncate, and places the first index at kHeaderSize: the largest power
   * of two of slots not above size / 32 (at least 1024), all empty. Holds the exclusive
   * lock while it does so, and msyncs before it returns.
   *
   * @throws UsageError if size is below kMinSize or above kMaxSize; OperationFailed if the
   *         file exists; SysError on other system errors.
   * TODO(lab14): implement in src/mmapdb.cpp.
   */
  static Db create(const std::string& path, std::uint64_t size, const OpenOptions& opts = {});

  /**
   * @brief Opens an existing database: maps it and validates the header under the shared
   *        lock (magic, version, header CRC, sizes; file_size not beyond the real file
   *        size; heap_end and the index inside the file).
   * @throws CorruptDatabase for a file that fails those checks (including a file shorter
   *         than the header); SysError if it cannot be opened.
   * TODO(lab14)
   */
  static Db open(const std::string& path, const OpenOptions& opts = {});

  /**
   * @brief The value of `key`, or nullopt. No lock, no system call (unless the generation
   *        changed, then it remaps first): probe from the home slot, and for each live slot
   *        with the key's tag check that the record lies inside the mapping, verify its CRC,
   *        compare the key.
   * @return a view into the mapping, valid until the next call on this Db
   * @throws CorruptDatabase for a slot that points outside the heap or a record whose CRC
   *         does not match; UsageError for a bad key.
   * TODO(lab14)
   */
  std::optional<std::string_view> get(std::string_view key);

  /**
   * @brief Inserts `key` or replaces its value. Outside begin()/commit() it is a
   *        transaction of its own (begin, put, commit). Appends the record, advances
   *        heap_end, publishes the slot — in that order; grows the index or the file first
   *        when needed.
   * @throws UsageError for a bad key or value; SysError (ftruncate/mmap failed).
   * TODO(lab14)
   */
  void put(std::string_view key, std::string_view value);

  /**
   * @brief Deletes `key` (its slot becomes a tombstone). Outside begin()/commit() it is a
   *        transaction of its own. @return false if the key was not there. TODO(lab14)
   */
  bool del(std::string_view key);

  /**
   * @brief Starts a write transaction: takes the exclusive lock (waiting for it) and
   *        catches up with any growth another writer made. TODO(lab14)
   */
  void begin();

  /**
   * @brief Ends the write transaction: msync(MS_SYNC) if opts.sync, then releases the
   *        lock. Every put and del before it has then "returned". TODO(lab14)
   */
  void commit();

  /// Every key and value, sorted by key, under the shared lock. @throws CorruptDatabase
  /// for a bad record. TODO(lab14)
  std::vector<std::pair<std::string, std::string>> list();

  /// Counts of the current index and sizes, under the shared lock. TODO(lab14)
  Stats stats();

  /**
   * @brief Verifies the whole file under the shared lock: the header (as open does), and
   *        every slot of the index — a live slot points to a record inside the heap and
   *        not inside the index table, whose lengths are in range, whose CRC matches, whose
   *        key has the slot's tag and is reached by probing from its home slot, and no key
   *        appears twice; used_slots is not above the non-empty slots.
   * @return the same counts as stats()
   * @throws CorruptDatabase naming the first problem found.
   * TODO(lab14)
   */
  Stats check();

  /// The generation this handle has mapped (tests watch it change on growth).
  std::uint64_t generation() const { return s_.generation; }
  /// Bytes this handle has mapped.
  std::size_t mapped_size() const { return map_.size(); }
  /// The file offset of a byte of this handle's mapping (a view get() returned).
  std::uint64_t offset_of(const void* p) const {
    return static_cast<std::uint64_t>(static_cast<const char*>(p) -
                                      static_cast<const char*>(map_.data()));
  }

  Db(Db&& o) noexcept
      : fd_(std::move(o.fd_)), map_(std::move(o.map_)), s_(std::exchange(o.s_, State{})) {}
  Db& operator=(Db&& o) noexcept {
    if (this != &o) {
      close_quietly();
      fd_ = std::move(o.fd_);
      map_ = std::move(o.map_);
      s_ = std::exchange(o.s_, State{});
    }
    return *this;
  }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() { close_quietly(); }

 private:
  /// What this handle knows of the file besides the descriptor and the mapping. Add what
  /// you need; it must stay a plain struct (it is reset when a Db is moved from).
  struct State {
    OpenOptions opts;
    std::uint64_t generation = 0;    // the generation mapped
    std::uint64_t index_ref = 0;     // the index mapped (offset and size)
    std::uint64_t* index = nullptr;  // its first slot, inside the mapping
    std::uint64_t mask = 0;          // slots - 1
    bool in_txn = false;             // begin() was called and commit() not yet
  };
  Db(Fd fd, Mapping map, const OpenOptions& opts) : fd_(std::move(fd)), map_(std::move(map)) {
    s_.opts = opts;
  }
  /// Ends an open transaction without throwing (destructor, move-assignment).
  void close_quietly() noexcept {
    if (!s_.in_txn) return;
    try {
      commit();
    } catch (...) {  // NOLINT(bugprone-empty-catch): the lock goes with the descriptor anyway
    }
  }
  /**
   * @brief Runs `write` (the body of put or del) inside the caller's transaction, or
   *        outside begin()/commit() inside one of its own: begin(), write(), commit().
   *        If `write` throws, a transaction of its own ends without msync (the lock is
   *        released) and the exception goes on.
   */
  template <typename Write>
  void in_transaction(Write&& write) {
    if (s_.in_txn) {
      write();
      return;
    }
    begin();
    try {
      write();
    } catch (...) {
      const bool sync = std::exchange(s_.opts.sync, false);  // commit() only unlocks
      close_quietly();
      s_.opts.sync = sync;
      throw;
    }
    commit();
  }
  /// Catches up with the file's header: remaps if file_size changed, re-reads index_ref.
  /// TODO(lab14): you write it; get() calls it when the generation moved.
  void refresh();
  Header* header() const { return map_.as<Header>(); }
  std::byte* base() const { return map_.as<std::byte>(); }

  Fd fd_;
  Mapping map_;
  State s_;
};

}  // namespace ipclab::lab14
