// Lab 14: the memory-mapped database. Read the layout and the rules at the top of
// include/lab14/mmapdb.hpp and the README before you start.
//
// Invariants this file keeps (a SIGKILL may stop it between any two lines):
//   1. Every byte in [kHeaderSize, heap_end) belongs to a complete record or index table.
//      A record is written past heap_end first; heap_end moves over it only afterwards.
//   2. A live slot points to a complete record with a matching CRC: the slot is published
//      (release store) only after heap_end moved over its record.
//   3. used_slots is never above the number of non-empty slots: it is raised only after
//      the slot is published, and set to the live count of a new index before index_ref.
//   4. file_size never exceeds the real file size: ftruncate first, then the store.
// Lock order: one lock only, the byte kLockByte: exclusive for a write transaction, shared
// for list/stats/check and while open() validates. get() takes none.
#include "lab14/mmapdb.hpp"

#include <fcntl.h>     // open, fcntl, F_OFD_SETLKW
#include <sys/mman.h>  // msync, madvise
#include <sys/stat.h>  // fstat
#include <unistd.h>    // ftruncate

#if defined(__x86_64__)
#include <immintrin.h>  // AVX-512 and VPCLMULQDQ: the CRC of a get
#endif

#include <algorithm>      // std::sort, std::max
#include <bit>            // std::bit_floor, std::bit_width
#include <cstring>        // std::memcpy, std::memcmp, std::memset
#include <unordered_set>  // std::unordered_set: duplicate keys in check()

#include "ipclab/error.hpp"  // check_unix, retry_eintr

namespace ipclab::lab14 {
namespace {

constexpr std::uint64_t kGrowStep = 1u << 20;  // files grow in whole MiB

/// The sizes a database file may have: what create() accepts, and a header's file_size.
constexpr bool file_size_in_range(std::uint64_t n) { return n >= kMinSize && n <= kMaxSize; }
/// The index sizes a database may have: what a header's index_ref may say, and what a
/// rebuild may make.
constexpr bool index_log2_in_range(unsigned log2) {
  return log2 >= kMinLog2Slots && log2 <= kMaxLog2Slots;
}

/** Takes (F_RDLCK/F_WRLCK, waiting) or drops (F_UNLCK) this open file's lock on kLockByte.
 *  OFD locks belong to the open file description: another Db on the same file in the same
 *  process does not share them, and closing some other descriptor does not drop them. */
void lock_byte(int fd, short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = kLockByte;
  fl.l_len = 1;
  const int cmd = type == F_UNLCK ? F_OFD_SETLK : F_OFD_SETLKW;
  check_unix(retry_eintr([&] { return ::fcntl(fd, cmd, &fl); }), "fcntl(lock byte, {})",
             type == F_UNLCK   ? "unlock"
             : type == F_RDLCK ? "shared"
                               : "exclusive");
}

/// The shared lock for the length of a scope (not taken when the handle already holds the
/// exclusive one: an OFD lock on the same byte would be converted, not added).
class SharedLock {
 public:
  SharedLock(int fd, bool already_exclusive) : fd_(already_exclusive ? -1 : fd) {
    if (fd_ >= 0) lock_byte(fd_, F_RDLCK);
  }
  SharedLock(const SharedLock&) = delete;
  SharedLock& operator=(const SharedLock&) = delete;
  ~SharedLock() {
    if (fd_ < 0) return;
    try {
      lock_byte(fd_, F_UNLCK);
    } catch (...) {  // NOLINT(bugprone-empty-catch): the lock goes with the descriptor
    }
  }

 private:
  int fd_;
};

std::uint64_t real_file_size(int fd) {
  struct stat st {};
  check_unix(::fstat(fd, &st), "fstat");
  return static_cast<std::uint64_t>(st.st_size);
}

/**
 * Maps the whole file. Without msync at commit (opts.sync off), asks for 2 MiB pages
 * (MADV_HUGEPAGE): the page cache then holds the file in 2 MiB folios, mapped one PMD each, so
 * a random get costs no TLB miss and page walk for its slot and its record, only their cache
 * misses (about 20% more gets a second). With msync at every commit, not: the folio is the unit
 * of write-back, and a commit that dirties three small pages would write three 2 MiB folios
 * (2-3 times slower commits). Advice only: a kernel that cannot maps 4 KiB pages as before.
 */
Mapping map_file(int fd, std::uint64_t size, const OpenOptions& opts) {
  Mapping map(fd, size);
  if (!opts.sync) (void)::madvise(map.data(), map.size(), MADV_HUGEPAGE);
  return map;
}

Layout load_layout(const Header& h) {
  // generation first: a writer stores the others before it bumps generation.
  Layout l{};
  l.generation = load_acquire(h.generation);
  l.index_ref = load_acquire(h.index_ref);  // before file_size: a new index lies in it
  l.file_size = load_acquire(h.file_size);
  l.heap_end = load_acquire(h.heap_end);
  l.used_slots = load_acquire(h.used_slots);
  return l;
}

/// Throws CorruptDatabase unless file_size is a size a database may have and the file of
/// `real_size` bytes holds it (open, check, and a remap to a new file_size).
void check_file_size(std::uint64_t file_size, std::uint64_t real_size) {
  if (!file_size_in_range(file_size) || file_size % kAlign != 0)
    throw CorruptDatabase(fmt::format("file_size {} out of range", file_size));
  if (file_size > real_size)
    throw CorruptDatabase(
        fmt::format("truncated file: {} bytes, the header says {}", real_size, file_size));
}

/// Throws CorruptDatabase unless the index `ref` names lies inside [kHeaderSize, end).
void check_index_ref(std::uint64_t ref, std::uint64_t end) {
  const unsigned log2 = index_log2_slots(ref);
  const std::uint64_t ioff = index_offset(ref);
  // The range first: it is what keeps the shift below defined.
  if (!index_log2_in_range(log2) || ioff < kHeaderSize || ioff + (std::uint64_t{8} << log2) > end)
    throw CorruptDatabase("index table out of range");
}

}  // namespace

Layout validate_header(const Header& h, std::uint64_t real_size) {
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) throw CorruptDatabase("bad magic");
  if (h.version != kVersion)
    throw CorruptDatabase(fmt::format("version {} (this program reads {})", h.version, kVersion));
  if (h.header_crc != crc32c(&h, kHeaderCrcBytes)) throw CorruptDatabase("bad header CRC");
  if (h.header_size != kHeaderSize || h.align != kAlign || h.max_key != kMaxKey ||
      h.max_value != kMaxValue)
    throw CorruptDatabase("header sizes differ from this program's");
  const Layout l = load_layout(h);
  check_file_size(l.file_size, real_size);
  if (l.heap_end < kHeaderSize || l.heap_end > l.file_size || l.heap_end % kAlign != 0)
    throw CorruptDatabase(fmt::format("heap_end {} out of range", l.heap_end));
  check_index_ref(l.index_ref, l.heap_end);
  if (l.used_slots > (std::uint64_t{1} << index_log2_slots(l.index_ref)))
    throw CorruptDatabase("used_slots above the index size");
  return l;
}

namespace {

// ---- what a get touches ----------------------------------------------------------------------
//
// A get is two dependent cache misses, the index slot and then the record, and the work around
// them: hashing the key, the record's checks, its CRC and the key comparison. Consecutive gets
// overlap their misses only as far as the CPU's out-of-order window (a few hundred
// instructions) reaches past one get into the next ones, so a get's speed is how few
// instructions it takes. The lookup below is written for that (README "Benchmark"): the record
// head read once into registers, the CRC 64 bytes per instruction where the CPU can, the key
// compared inline.

/// How this CPU computes a record's CRC-32C fastest (CrcPath in the header): the given crc32c
/// (portable), a crc32 instruction per 8 bytes (SSE4.2, every x86-64 CPU since about 2008),
/// or 64 bytes per carry-less multiply (AVX-512 with VPCLMULQDQ: Ice Lake and later Xeons,
/// Zen 4). Decided once, before main: the dispatch below is a compare with a constant.
const CrcPath kCrcPath = choose_crc_path(cpu_features());

#if defined(__x86_64__)
/// One crc32 instruction on the 8 (4, 1) bytes at p, the load folded into it. Inline assembly
/// rather than the intrinsic: it needs no target attribute, so it inlines anywhere.
inline std::uint64_t crc_word(std::uint64_t c, const unsigned char* p) {
  std::uint64_t w = 0;
  std::memcpy(&w, p, 8);
  asm("crc32q %1, %0" : "+r"(c) : "rm"(w));
  return c;
}
inline std::uint32_t crc_half(std::uint32_t c, const unsigned char* p) {
  std::uint32_t w = 0;
  std::memcpy(&w, p, 4);
  asm("crc32l %1, %0" : "+r"(c) : "rm"(w));
  return c;
}
inline std::uint32_t crc_byte(std::uint32_t c, const unsigned char* p) {
  asm("crc32b %1, %0" : "+r"(c) : "rm"(*p));
  return c;
}

/// The CRC-32C register after `n` more bytes at p (no inversions): crc32 instructions, four
/// words a loop.
[[gnu::always_inline]] inline std::uint32_t crc_words(std::uint64_t c, const unsigned char* p,
                                                      std::size_t n) {
  for (; n >= 32; n -= 32, p += 32)
    c = crc_word(crc_word(crc_word(crc_word(c, p), p + 8), p + 16), p + 24);
  for (; n >= 8; n -= 8, p += 8) c = crc_word(c, p);
  auto c32 = static_cast<std::uint32_t>(c);
  if (n >= 4) c32 = crc_half(c32, p), p += 4, n -= 4;
  for (; n > 0; --n, ++p) c32 = crc_byte(c32, p);
  return c32;
}

/// The folding constant that moves a 64-bit half of a 128-bit lane `n + 1` bits further:
/// x^n mod P (P the CRC-32C polynomial 0x1EDC6F41), bit-reflected into the high half of a
/// 64-bit word (bit 63 - j holds x^j), as VPCLMULQDQ multiplies reflected operands.
constexpr long long fold_constant(unsigned n) {
  std::uint64_t r = 1;
  for (unsigned i = 0; i < n; ++i) {
    r <<= 1;
    if ((r >> 32) != 0) r ^= 0x11EDC6F41ull;
  }
  std::uint64_t k = 0;
  for (unsigned j = 0; j < 32; ++j) k |= (r >> j & 1) << (63 - j);
  return static_cast<long long>(k);
}

/**
 * record_crc(r) for a record of `total` >= 64 bytes (head, key, value): 64 bytes per step
 * with carry-less multiplies, where the crc32 instruction takes 8 bytes per step. Eight times
 * fewer instructions, for the CRC a get checks every time.
 *
 * CRC-32C is the remainder of the message (times x^32) modulo P, so any part of the message
 * may be replaced by something equal to it modulo P. Start from the record's first byte, with
 * its crc field (not covered) zeroed: leading zeros change nothing when the register starts
 * at 0, and starting at ~0 is the same as inverting the first 4 covered bytes. Then fold:
 * each 128-bit lane of the 64 bytes held is multiplied forward by x^512 (one VPCLMULQDQ per
 * half, by x^575 and x^511 mod P) and added (xor) to the next 64 bytes. The four lanes left
 * fold into the last one the same way, and the crc32 instruction reduces those 16 bytes and
 * goes on over the tail of fewer than 64 bytes.
 */
__attribute__((target("avx512f,vpclmulqdq"))) inline std::uint32_t record_crc_vector(
    const RecordHead* r, std::size_t total) {
  const auto* p = reinterpret_cast<const unsigned char*>(r);
  constexpr auto kCovered = static_cast<long long>(0xFFFFFFFF00000000ull);  // not the crc field
  const __m512i keep = _mm512_set_epi64(-1, -1, -1, -1, -1, -1, -1, kCovered);
  const __m512i invert = _mm512_set_epi64(0, 0, 0, 0, 0, 0, 0, kCovered);  // the register's ~0
  __m512i x = _mm512_ternarylogic_epi64(_mm512_loadu_si512(p), keep, invert, 0x6A);  // x&k^i
  constexpr long long kHi = fold_constant(511), kLo = fold_constant(575);
  const __m512i by512 = _mm512_set_epi64(kHi, kLo, kHi, kLo, kHi, kLo, kHi, kLo);
  const unsigned char* const blocks_end = p + (total & ~std::size_t{63});
  for (p += 64; p != blocks_end; p += 64)
    x = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, by512, 0x00),
                                  _mm512_clmulepi64_epi128(x, by512, 0x11), _mm512_loadu_si512(p),
                                  0x96);  // a ^ b ^ c
  // Lanes 0, 1, 2 lie 384, 256, 128 bits before lane 3. (The maskz forms: GCC 12 warns about
  // the undefined vector the plain ones start from.)
  const __m512i to_last =
      _mm512_set_epi64(0, 0, fold_constant(127), fold_constant(191), fold_constant(255),
                       fold_constant(319), fold_constant(383), fold_constant(447));
  const __m512i sum = _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, to_last, 0x00),
                                                _mm512_clmulepi64_epi128(x, to_last, 0x11),
                                                _mm512_maskz_mov_epi64(0xC0, x), 0x96);
  const __m512i half = _mm512_xor_si512(sum, _mm512_maskz_shuffle_i64x2(0xFF, sum, sum, 0x4E));
  const __m512i all = _mm512_xor_si512(half, _mm512_maskz_shuffle_i64x2(0xFF, half, half, 0xB1));
  std::uint64_t c = 0;  // the 16 bytes left (in every lane), through the crc32 instruction
  asm("crc32q %1, %0" : "+r"(c) : "r"(static_cast<std::uint64_t>(all[0])));
  asm("crc32q %1, %0" : "+r"(c) : "r"(static_cast<std::uint64_t>(all[1])));
  if (const std::size_t tail = total & 63; tail != 0) [[unlikely]]  // none for 128 bytes
    c = crc_words(c, p, tail);
  return ~static_cast<std::uint32_t>(c);
}

/// Whether `a` and `b` are the same bytes: one masked compare of up to 64 bytes (AVX-512BW),
/// where a memcmp call costs a dozen branches.
__attribute__((target("avx512f,avx512bw"))) inline bool same_bytes_vector(std::string_view a,
                                                                          std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.size() > 64) return std::memcmp(a.data(), b.data(), a.size()) == 0;
  const __mmask64 m = a.size() == 64 ? ~__mmask64{0} : (__mmask64{1} << a.size()) - 1;
  return _mm512_mask_cmpneq_epi8_mask(m, _mm512_maskz_loadu_epi8(m, a.data()),
                                      _mm512_maskz_loadu_epi8(m, b.data())) == 0;
}
#endif

/// record_crc(r) for a record of `total` bytes (head, key, value), computed the way `P` says.
template <CrcPath P>
[[gnu::always_inline]] inline std::uint32_t record_crc_as(const RecordHead* r, std::size_t total) {
#if defined(__x86_64__)
  if constexpr (P == CrcPath::kVector)
    if (total >= 64) return record_crc_vector(r, total);
  if constexpr (P != CrcPath::kPortable)
    return ~crc_words(0xFFFFFFFFu, reinterpret_cast<const unsigned char*>(&r->key_len),
                      total - sizeof r->crc);
#endif
  return crc32c(&r->key_len, total - sizeof r->crc);
}

/// A record found in the mapping: its head, key and value (views into the mapping).
struct Record {
  const RecordHead* head = nullptr;  // nullptr: the record does not lie inside the mapping
  std::string_view key, value;
};

[[noreturn]] void bad_record(std::uint64_t off, const char* what) {
  throw CorruptDatabase(fmt::format("record at {}: {}", off, what));
}

/// The record at `off` if it lies inside [kHeaderSize, limit) with sane lengths and a
/// matching CRC (computed as `P` says); a Record without head if it does not fit (the caller
/// decides: remap, or corrupt); throws CorruptDatabase for a bad CRC or bad lengths. The head
/// is read once, in two loads, and taken apart in registers.
template <CrcPath P>
[[gnu::always_inline]] inline Record record_at_as(const std::byte* base, std::uint64_t off,
                                                  std::uint64_t limit) {
  static_assert(offsetof(RecordHead, key_len) == 4 && offsetof(RecordHead, reserved) == 6 &&
                offsetof(RecordHead, value_len) == 8);
  if (off < kHeaderSize || off % kAlign != 0 || off + sizeof(RecordHead) > limit) return {};
  const auto* r = reinterpret_cast<const RecordHead*>(base + off);
  std::uint64_t first = 0;  // crc | key_len << 32 | reserved << 48 (little-endian)
  std::uint32_t value_len = 0;
  std::memcpy(&first, r, 8);
  std::memcpy(&value_len, &r->value_len, 4);
  // key_len in 1..kMaxKey and reserved 0, in one comparison: reserved is the high half.
  const std::size_t key_len = first >> 32;
  if (key_len - 1 >= kMaxKey || value_len > kMaxValue) [[unlikely]]
    bad_record(off, "lengths out of range");
  const std::size_t total = sizeof(RecordHead) + key_len + value_len;
  if (off + align_up(total, kAlign) > limit) return {};
  if (static_cast<std::uint32_t>(first) != record_crc_as<P>(r, total)) [[unlikely]]
    bad_record(off, "bad CRC");
  const auto* key = reinterpret_cast<const char*>(r + 1);
  return {r, {key, key_len}, {key + key_len, value_len}};
}

/// record_at_as for the writer, list() and check(): the crc32 instruction where there is one.
Record record_at(const std::byte* base, std::uint64_t off, std::uint64_t limit) {
#if defined(__x86_64__)
  if (kCrcPath != CrcPath::kPortable) return record_at_as<CrcPath::kInstruction>(base, off, limit);
#endif
  return record_at_as<CrcPath::kPortable>(base, off, limit);
}

/// What a lookup found: the value (data, size); no value (data == nullptr); or a record that
/// lies beyond the mapping (size == kOutside: remap, or the file is corrupt). Two words, so
/// that it comes back in registers.
struct Hit {
  const char* data = nullptr;
  std::size_t size = 0;
};
constexpr std::size_t kOutside = ~std::size_t{0};

/// get()'s lookup in the index at `index` (mask = slots - 1) of a mapping of `limit` bytes at
/// `base`: the slots from the key's home, each slot's tag compared first (the slot of another
/// key costs no record read), then the record checked and its key compared.
template <CrcPath P>
[[gnu::always_inline]] inline Hit find_as(const std::byte* base, std::uint64_t limit,
                                          const std::uint64_t* index, std::uint64_t mask,
                                          std::string_view key) {
  const std::uint32_t tag = key_tag(key);
  std::uint64_t i = tag & mask;
  for (std::uint64_t n = 0; n <= mask; ++n, i = (i + 1) & mask) {
    const std::uint64_t s = load_slot(index[i]);  // acquire: the record is complete
    if (slot_tag(s) != tag || !slot_live(s)) {
      if (s == kEmptySlot) return {};
      continue;
    }
    const Record r = record_at_as<P>(base, slot_offset(s), limit);
    if (r.head == nullptr) return {nullptr, kOutside};
#if defined(__x86_64__)
    if constexpr (P == CrcPath::kVector) {
      if (same_bytes_vector(r.key, key)) return {r.value.data(), r.value.size()};
      continue;
    }
#endif
    if (r.key == key) return {r.value.data(), r.value.size()};
  }
  return {};
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,vpclmulqdq"))) Hit find_vector(const std::byte* base,
                                                                       std::uint64_t limit,
                                                                       const std::uint64_t* index,
                                                                       std::uint64_t mask,
                                                                       std::string_view key) {
  return find_as<CrcPath::kVector>(base, limit, index, mask, key);
}
Hit find_instruction(const std::byte* base, std::uint64_t limit, const std::uint64_t* index,
                     std::uint64_t mask, std::string_view key) {
  return find_as<CrcPath::kInstruction>(base, limit, index, mask, key);
}
#endif
Hit find_portable(const std::byte* base, std::uint64_t limit, const std::uint64_t* index,
                  std::uint64_t mask, std::string_view key) {
  return find_as<CrcPath::kPortable>(base, limit, index, mask, key);
}

/// find_as with the CRC the fastest way this CPU has.
inline Hit find(const std::byte* base, std::uint64_t limit, const std::uint64_t* index,
                std::uint64_t mask, std::string_view key) {
#if defined(__x86_64__)
  if (kCrcPath == CrcPath::kVector) return find_vector(base, limit, index, mask, key);
  if (kCrcPath == CrcPath::kInstruction) return find_instruction(base, limit, index, mask, key);
#endif
  return find_portable(base, limit, index, mask, key);
}

}  // namespace

// ---- the CRC path -----------------------------------------------------------------------------

CrcPath choose_crc_path(CpuFeatures f) {
  if (!f.sse42) return CrcPath::kPortable;  // the vector path ends with crc32 instructions too
  if (f.avx512f && f.avx512bw && f.vpclmulqdq) return CrcPath::kVector;
  return CrcPath::kInstruction;
}

CpuFeatures cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__)
  __builtin_cpu_init();  // needed when called during static initialization
  f.sse42 = __builtin_cpu_supports("sse4.2") != 0;
  f.avx512f = __builtin_cpu_supports("avx512f") != 0;
  f.avx512bw = __builtin_cpu_supports("avx512bw") != 0;
  f.vpclmulqdq = __builtin_cpu_supports("vpclmulqdq") != 0;
#endif
  return f;
}

CrcPath crc_path() { return kCrcPath; }

// ---- opening --------------------------------------------------------------------------------

Db Db::create(const std::string& path, std::uint64_t size, const OpenOptions& opts) {
  if (!file_size_in_range(size))
    throw UsageError(fmt::format("size {} out of range ({}..{} bytes)", size, kMinSize, kMaxSize));
  size = align_up(size, kHeaderSize);
  const int raw = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (raw < 0 && errno == EEXIST) throw OperationFailed(fmt::format("{} exists", path));
  Fd fd(check_unix(raw, "open(\"{}\", O_CREAT|O_EXCL)", path));
  try {
    lock_byte(fd.get(), F_WRLCK);  // an opener waits until the header is complete
    check_unix(::ftruncate(fd.get(), static_cast<off_t>(size)), "ftruncate(\"{}\", {})", path,
               size);
    Mapping map = map_file(fd.get(), size, opts);
    auto* h = map.as<Header>();
    std::memcpy(h->magic, kMagic, sizeof kMagic);
    h->version = kVersion;
    h->header_size = kHeaderSize;
    h->align = kAlign;
    h->max_key = kMaxKey;
    h->max_value = kMaxValue;
    h->header_crc = crc32c(h, kHeaderCrcBytes);
    const auto log2 = std::max<unsigned>(
        kMinLog2Slots, static_cast<unsigned>(std::bit_width(std::bit_floor(size / 32))) - 1);
    h->generation = 1;
    h->file_size = size;
    h->index_ref = make_index_ref(kHeaderSize, log2);  // the fresh file reads as zeros: empty
    h->heap_end = kHeaderSize + (std::uint64_t{8} << log2);
    h->used_slots = 0;
    map.sync();
    Db db(std::move(fd), std::move(map), opts);
    db.refresh();
    lock_byte(db.fd_.get(), F_UNLCK);
    return db;
  } catch (...) {
    ::unlink(path.c_str());  // no half-made database left behind
    throw;
  }
}

Db Db::open(const std::string& path, const OpenOptions& opts) {
  Fd fd(check_unix(::open(path.c_str(), O_RDWR | O_CLOEXEC), "open(\"{}\")", path));
  SharedLock lock(fd.get(), false);
  const std::uint64_t real = real_file_size(fd.get());
  if (real < kHeaderSize)
    throw CorruptDatabase(fmt::format("truncated file: {} bytes, shorter than the header", real));
  Layout l{};
  {
    const Mapping head(fd.get(), kHeaderSize, PROT_READ);
    l = validate_header(*head.as<Header>(), real);
  }
  Mapping map = map_file(fd.get(), l.file_size, opts);
  Db db(std::move(fd), std::move(map), opts);
  db.refresh();
  return db;
}

void Db::refresh() {
  const Layout l = load_layout(*header());
  if (l.file_size != map_.size()) {
    check_file_size(l.file_size, real_file_size(fd_.get()));  // what open() accepts
    map_ = map_file(fd_.get(), l.file_size, s_.opts);  // the old mapping goes: views end here
  }
  check_index_ref(l.index_ref, map_.size());
  const unsigned log2 = index_log2_slots(l.index_ref);
  const std::uint64_t ioff = index_offset(l.index_ref);
  s_.generation = l.generation;
  s_.index_ref = l.index_ref;
  s_.index = reinterpret_cast<std::uint64_t*>(base() + ioff);
  s_.mask = (std::uint64_t{1} << log2) - 1;
}

// ---- reading ----------------------------------------------------------------------------------

std::optional<std::string_view> Db::get(std::string_view key) {
  check_key(key);
  // The fast path: one load of a header word that changes only on growth.
  if (load_acquire(header()->generation) != s_.generation) refresh();
  Hit hit = find(base(), map_.size(), s_.index, s_.mask, key);
  if (hit.size == kOutside) [[unlikely]] {  // past our mapping: the file grew, or it is corrupt
    refresh();
    hit = find(base(), map_.size(), s_.index, s_.mask, key);
    if (hit.size == kOutside) throw CorruptDatabase("a slot points outside the file");
  }
  if (hit.data == nullptr) return std::nullopt;
  return std::string_view(hit.data, hit.size);
}

std::vector<std::pair<std::string, std::string>> Db::list() {
  SharedLock lock(fd_.get(), s_.in_txn);
  refresh();
  const std::uint64_t heap_end = load_acquire(header()->heap_end);
  std::vector<std::pair<std::string, std::string>> out;
  for (std::uint64_t i = 0; i <= s_.mask; ++i) {
    const std::uint64_t s = load_slot(s_.index[i]);
    if (!slot_live(s)) continue;
    const Record r = record_at(base(), slot_offset(s), std::min(heap_end, map_.size()));
    if (r.head == nullptr) throw CorruptDatabase(fmt::format("slot {} points outside the heap", i));
    out.emplace_back(r.key, r.value);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Stats Db::stats() {
  SharedLock lock(fd_.get(), s_.in_txn);
  refresh();
  Stats st;
  st.slots = s_.mask + 1;
  for (std::uint64_t i = 0; i <= s_.mask; ++i) {
    const std::uint64_t s = load_slot(s_.index[i]);
    if (slot_live(s))
      ++st.keys;
    else if (s != kEmptySlot)
      ++st.tombstones;
  }
  st.heap_end = load_acquire(header()->heap_end);
  st.file_size = map_.size();
  st.generation = s_.generation;
  return st;
}

Stats Db::check() {
  SharedLock lock(fd_.get(), s_.in_txn);
  const std::uint64_t real = real_file_size(fd_.get());
  const Layout l = validate_header(*header(), real);
  refresh();
  const std::uint64_t ioff = index_offset(s_.index_ref);
  const std::uint64_t iend = ioff + (s_.mask + 1) * 8;
  Stats st;
  st.slots = s_.mask + 1;
  std::unordered_set<std::string_view> keys;
  for (std::uint64_t i = 0; i <= s_.mask; ++i) {
    const std::uint64_t s = load_slot(s_.index[i]);
    if (s == kEmptySlot) continue;
    if (s == kTombstone) {
      ++st.tombstones;
      continue;
    }
    const std::uint64_t off = slot_offset(s);
    if (off == 0) throw CorruptDatabase(fmt::format("slot {} holds an invalid value", i));
    const Record r = record_at(base(), off, l.heap_end);
    if (r.head == nullptr) throw CorruptDatabase(fmt::format("slot {} points outside the heap", i));
    if (off < iend && off + record_size(r.key.size(), r.value.size()) > ioff)
      throw CorruptDatabase(fmt::format("slot {} points into the index", i));
    const std::string_view key = r.key;
    if (key_tag(key) != slot_tag(s))
      throw CorruptDatabase(fmt::format("slot {}: the tag does not match the key", i));
    for (std::uint64_t j = slot_tag(s) & s_.mask; j != i; j = (j + 1) & s_.mask)
      if (load_slot(s_.index[j]) == kEmptySlot)
        throw CorruptDatabase(fmt::format("slot {}: its key is not reachable by probing", i));
    if (!keys.insert(key).second)
      throw CorruptDatabase(fmt::format("slot {}: the key appears twice", i));
    ++st.keys;
  }
  if (l.used_slots > st.keys + st.tombstones)
    throw CorruptDatabase("used_slots above the slots in use");
  st.heap_end = l.heap_end;
  st.file_size = map_.size();
  st.generation = s_.generation;
  return st;
}

// ---- writing ----------------------------------------------------------------------------------

void Db::begin() {
  if (s_.in_txn) throw UsageError("begin() inside a transaction");
  lock_byte(fd_.get(), F_WRLCK);
  s_.in_txn = true;
  // Catch up with other writers. Compare every field, not only generation: a writer killed
  // between its stores and the generation bump leaves generation unchanged.
  const Layout l = load_layout(*header());
  if (l.generation != s_.generation || l.index_ref != s_.index_ref || l.file_size != map_.size())
    refresh();
}

void Db::commit() {
  if (!s_.in_txn) throw UsageError("commit() without begin()");
  s_.in_txn = false;
  struct Unlock {
    int fd;
    ~Unlock() {
      try {
        lock_byte(fd, F_UNLCK);
      } catch (...) {  // NOLINT(bugprone-empty-catch): the lock goes with the descriptor
      }
    }
  } unlock{fd_.get()};
  if (s_.opts.sync) check_unix(::msync(base(), map_.size(), MS_SYNC), "msync");
}

namespace {

/// Where a key is in the index, or where it would go.
struct Probe {
  std::int64_t found = -1;   // the slot holding the key
  std::int64_t insert = -1;  // the first tombstone or empty slot of the probe sequence
  bool insert_is_empty = false;

  /// True if the key is new and the index cannot take it: no free slot at all, or an
  /// empty slot taken would pass the load limit (a reused tombstone is already counted).
  bool too_full(std::uint64_t used_slots, std::uint64_t slots) const {
    if (found >= 0) return false;
    if (insert < 0) return true;
    return insert_is_empty && (used_slots + 1) * kMaxLoadDen > slots * kMaxLoadNum;
  }
  /// The slot a put writes (valid unless too_full()).
  std::uint64_t slot() const { return static_cast<std::uint64_t>(found >= 0 ? found : insert); }
};

Probe probe(const std::byte* base, std::uint64_t limit, const std::uint64_t* index,
            std::uint64_t mask, std::string_view key, std::uint32_t tag) {
  Probe p;
  std::uint64_t i = tag & mask;
  for (std::uint64_t n = 0; n <= mask; ++n, i = (i + 1) & mask) {
    const std::uint64_t s = index[i];  // we are the only writer: a plain read is enough
    if (s == kEmptySlot) {
      if (p.insert < 0) {
        p.insert = static_cast<std::int64_t>(i);
        p.insert_is_empty = true;
      }
      return p;
    }
    if (!slot_live(s)) {
      if (p.insert < 0) p.insert = static_cast<std::int64_t>(i);
      continue;
    }
    if (slot_tag(s) != tag) continue;
    const Record r = record_at(base, slot_offset(s), limit);
    if (r.head == nullptr) throw CorruptDatabase(fmt::format("slot {} points outside the heap", i));
    if (r.key == key) {
      p.found = static_cast<std::int64_t>(i);
      return p;
    }
  }
  return p;  // no empty slot anywhere: insert is a tombstone, or -1 (the index is full)
}

/// Grows the file so that [0, end) is inside it, unless the `mapped` bytes already cover
/// it (the caller holds the lock). @return true if it grew: the caller must refresh().
bool grow_file(int fd, Header* h, std::uint64_t mapped, std::uint64_t end) {
  if (end <= mapped) return false;
  const std::uint64_t fs = load_acquire(h->file_size);
  std::uint64_t want = align_up(std::max(end, fs + fs / 8), kGrowStep);
  if (want > kMaxSize) want = kMaxSize;
  if (end > want) throw OperationFailed("database full (the file would pass its largest size)");
  // ftruncate first: file_size must never claim bytes the file does not have (invariant 4).
  check_unix(::ftruncate(fd, static_cast<off_t>(want)), "ftruncate({} bytes)", want);
  store_release(h->file_size, want);
  store_release(h->generation, load_acquire(h->generation) + 1);  // readers: remap
  return true;
}

/// Where a rebuilt index goes: twice the live keys (at least kMinLog2Slots), in fresh heap
/// space at the cache line after heap_end.
struct NewIndex {
  std::uint64_t at = 0;    // its offset
  unsigned log2 = 0;       // log2 of its slots
  std::uint64_t live = 0;  // the live slots it will hold
  std::uint64_t bytes() const { return std::uint64_t{8} << log2; }
};

NewIndex plan_index(const std::uint64_t* index, std::uint64_t slots, std::uint64_t heap_end) {
  NewIndex n;
  for (std::uint64_t i = 0; i < slots; ++i) n.live += slot_live(index[i]) ? 1 : 0;
  n.log2 =
      std::max<unsigned>(kMinLog2Slots, static_cast<unsigned>(std::bit_width((n.live + 1) * 2)));
  // Past the largest index (2^31 slots: about 2^30 live keys) the database is full.
  if (!index_log2_in_range(n.log2)) throw OperationFailed("database full (too many keys)");
  n.at = align_up(heap_end, 64);  // slots share cache lines evenly
  return n;
}

/// Fills the new index (inside the mapping) where no reader looks, then publishes it with
/// one store of index_ref: readers keep using the old one until then. Tombstones are dropped.
void rebuild_index(std::byte* base, Header* h, const std::uint64_t* index, std::uint64_t slots,
                   const NewIndex& n) {
  auto* fresh = reinterpret_cast<std::uint64_t*>(base + n.at);
  std::memset(fresh, 0, n.bytes());  // past heap_end may hold a crashed writer's leftovers
  const std::uint64_t mask = (std::uint64_t{1} << n.log2) - 1;
  for (std::uint64_t i = 0; i < slots; ++i) {
    const std::uint64_t s = index[i];
    if (!slot_live(s)) continue;
    std::uint64_t j = slot_tag(s) & mask;
    while (fresh[j] != kEmptySlot) j = (j + 1) & mask;
    fresh[j] = s;
  }
  store_release(h->heap_end, n.at + n.bytes());
  store_release(h->used_slots, n.live);  // before index_ref: never above the truth
  store_release(h->index_ref, make_index_ref(n.at, n.log2));
  store_release(h->generation, load_acquire(h->generation) + 1);
}

/// Writes the record of `need` bytes at heap_end, advances heap_end over it (invariant 1),
/// then publishes `slot` (invariant 2) — in that order.
void append_record(std::byte* base, Header* h, std::uint64_t need, std::string_view key,
                   std::string_view value, std::uint64_t& slot, std::uint32_t tag) {
  const std::uint64_t off = load_acquire(h->heap_end);
  auto* r = reinterpret_cast<RecordHead*>(base + off);  // past heap_end: no reader looks
  r->key_len = static_cast<std::uint16_t>(key.size());
  r->reserved = 0;
  r->value_len = static_cast<std::uint32_t>(value.size());
  auto* bytes = reinterpret_cast<char*>(r + 1);
  std::memcpy(bytes, key.data(), key.size());
  std::memcpy(bytes + key.size(), value.data(), value.size());
  const std::size_t used = sizeof(RecordHead) + key.size() + value.size();
  std::memset(bytes - sizeof(RecordHead) + used, 0, need - used);  // padding: no stale bytes
  r->crc = record_crc(r);
  store_release(h->heap_end, off + need);
  publish_slot(slot, make_slot(off, tag));
}

}  // namespace

void Db::put(std::string_view key, std::string_view value) {
  check_key(key);
  check_value(value);
  in_transaction([&] {
    const std::uint32_t tag = key_tag(key);
    const std::uint64_t need = record_size(key.size(), value.size());
    Probe p;  // header() and base() are re-read after every growth: a remap moves them
    for (;;) {
      // The current index lies in [kHeaderSize, heap_end): a record appended at a heap_end
      // below its end would overwrite it.
      const std::uint64_t heap_end = load_acquire(header()->heap_end);
      const std::uint64_t index_end = index_offset(s_.index_ref) + (s_.mask + 1) * 8;
      if (heap_end < index_end || heap_end > map_.size())
        throw CorruptDatabase(fmt::format("heap_end {} out of range", heap_end));
      if (grow_file(fd_.get(), header(), map_.size(), heap_end + need)) refresh();
      p = probe(base(), heap_end, s_.index, s_.mask, key, tag);
      if (!p.too_full(load_acquire(header()->used_slots), s_.mask + 1)) break;
      const NewIndex n = plan_index(s_.index, s_.mask + 1, heap_end);
      if (grow_file(fd_.get(), header(), map_.size(), n.at + n.bytes())) refresh();
      rebuild_index(base(), header(), s_.index, s_.mask + 1, n);
      refresh();
    }
    append_record(base(), header(), need, key, value, s_.index[p.slot()], tag);
    if (p.found < 0 && p.insert_is_empty)  // a tombstone reused is already counted
      store_release(header()->used_slots, load_acquire(header()->used_slots) + 1);
  });
}

bool Db::del(std::string_view key) {
  check_key(key);
  bool found = false;
  in_transaction([&] {
    const std::uint64_t heap_end =
        std::min<std::uint64_t>(load_acquire(header()->heap_end), map_.size());
    const Probe p = probe(base(), heap_end, s_.index, s_.mask, key, key_tag(key));
    if (p.found >= 0) {
      publish_slot(s_.index[p.slot()], kTombstone);
      found = true;
    }
  });
  return found;
}

}  // namespace ipclab::lab14
