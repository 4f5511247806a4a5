// Lab 09 reference: the key-value store over fcntl open-file-description record locks.
//
// Why OFD locks (F_OFD_SETLKW) and not classic POSIX locks (F_SETLKW): a classic lock
// belongs to the process, so (1) closing ANY descriptor of the file in this process drops
// every lock the process holds on it — a library that opens the file a second time, or a
// getpwnam() that happens to read it, silently unlocks us; and (2) two threads, or two
// KvStore objects in one process, never exclude each other. An OFD lock belongs to the
// open file description our open(2) made: only closing that one releases it, and each
// KvStore (each open) is a separate owner. The price: no deadlock detection. We pay it
// with a lock hierarchy that cannot deadlock:
//
//   gate -> header (read: every operation; write: create, grow) -> insert lock (write:
//   insert, delete) -> at most one record lock. Never two record locks, never an upgrade.
//
// Invariants: the table moves (grows) only under the header write lock, so an operation
// that holds the header lock shared sees one table throughout; a key moves (is inserted
// into a free slot or deleted) only under the insert lock and the record's write lock; a
// record's bytes change only under its write lock (or the header write lock). So a reader
// that finds the key in a record it has read-locked sees it whole, and an updater that
// finds the key under the record's write lock may change it in place.
//
// Growth is crash-safe without a journal: the new table is written into fresh space at the
// end of the file, and only the header write that follows makes it the table. A process
// killed before that write leaves the old table, whole, as the table.
#include <fcntl.h>     // open, fcntl, F_OFD_SETLKW, fallocate
#include <sys/stat.h>  // fstat
#include <unistd.h>    // ftruncate, pread, pwrite

#include <algorithm>  // std::sort, std::min
#include <chrono>     // std::chrono
#include <cstring>    // std::memcpy, std::memcmp
#include <random>     // std::minstd_rand
#include <thread>     // std::this_thread::sleep_for

#include "ipclab/error.hpp"
#include "lab09/kvstore.hpp"

namespace ipclab::lab09 {

void lock_range(int fd, LockType type, off_t start, off_t len) {
  if (len <= 0) throw_error(EINVAL, "lock_range: length {} (must be > 0)", len);
  struct flock fl {};
  fl.l_type = type == LockType::kRead ? F_RDLCK : F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  fl.l_pid = 0;  // must be 0 for OFD locks
  auto backoff = std::chrono::microseconds(500);
  thread_local std::minstd_rand rng(static_cast<std::uint32_t>(now_ns()));
  for (;;) {
    if (::fcntl(fd, F_OFD_SETLKW, &fl) == 0) return;
    if (errno == EINTR) continue;
    if (errno == EDEADLK) {
      // Someone we wait for waits for us. Back off a random while and try again; the
      // other side (or its own retry) gets through meanwhile.
      std::this_thread::sleep_for(
          backoff / 2 +
          std::chrono::microseconds(rng() % static_cast<std::uint32_t>(backoff.count())));
      backoff = std::min(backoff * 2, std::chrono::microseconds(100'000));
      continue;
    }
    throw_errno("fcntl(F_OFD_SETLKW, bytes {}..{})", start, start + len - 1);
  }
}

void unlock_range(int fd, off_t start, off_t len) {
  struct flock fl {};
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  fl.l_pid = 0;
  check_unix(::fcntl(fd, F_OFD_SETLK, &fl), "fcntl(F_OFD_SETLK, F_UNLCK, bytes {}..{})", start,
             start + len - 1);
}

namespace {

RangeLock record_lock(int fd, off_t table, std::uint32_t slot, LockType type) {
  return {fd, type, record_offset(table, slot), kRecordSize};
}
RangeLock byte_lock(int fd, LockByte b, LockType type) { return {fd, type, b.start, b.len}; }

Header read_header(int fd) {
  Header hdr{};
  const ssize_t n = check_unix(::pread(fd, &hdr, sizeof hdr, 0), "pread header");
  if (static_cast<std::size_t>(n) != sizeof hdr) throw OperationFailed("short read of the header");
  return hdr;
}
void write_header(int fd, const Header& hdr) {
  const ssize_t n = check_unix(::pwrite(fd, &hdr, sizeof hdr, 0), "pwrite header");
  if (static_cast<std::size_t>(n) != sizeof hdr)
    throw OperationFailed("short write of the header (disk full?)");
}

/// The header lock, exclusive: through the gate, so readers that keep coming cannot
/// starve it (a waiting write lock does not stop new read locks on Linux; the gate does).
struct Exclusive {
  RangeLock gate, header;
};
Exclusive lock_exclusive(int fd) {
  RangeLock gate = byte_lock(fd, kGateLock, LockType::kWrite);
  return {std::move(gate), RangeLock(fd, LockType::kWrite, 0, kHeaderSize)};
}

/// The table as an operation sees it, with the header lock (shared) that keeps it there.
struct Table {
  RangeLock header;
  off_t offset = 0;
  std::uint32_t slots = 0;
  std::uint32_t max_slots = 0;
};
/// The header lock, shared: through the gate (which waits while a grower waits).
RangeLock lock_shared(int fd) {
  const RangeLock gate = byte_lock(fd, kGateLock, LockType::kRead);
  return {fd, LockType::kRead, 0, kHeaderSize};
}

Table lock_table(int fd) {
  RangeLock header = lock_shared(fd);
  const Header hdr = read_header(fd);
  return {std::move(header), static_cast<off_t>(hdr.table), hdr.slots, hdr.max_slots};
}

/// A record found by a probe, its lock still held.
struct Found {
  std::uint32_t slot = 0;
  RangeLock lock;
  Record rec{};
  bool exists = false;  // the key is in rec (else rec is a free slot for it)
};

/// Probes for `key`, locking each record while reading it; returns the one holding the key
/// with its lock held, or nullopt at an empty slot or after every slot.
std::optional<Found> find(int fd, const Table& t, std::string_view key, LockType type) {
  std::uint32_t s = home_slot(key, t.slots);
  for (std::uint32_t i = 0; i < t.slots; ++i, s = (s + 1) % t.slots) {  // each slot once
    RangeLock lock = record_lock(fd, t.offset, s, type);
    const Record r = read_record(fd, t.offset, s);
    if (r.state == SlotState::kEmpty) return std::nullopt;
    if (r.state == SlotState::kUsed && r.key_view() == key)
      return Found{s, std::move(lock), r, true};
  }
  return std::nullopt;
}

/// Under the insert lock (the caller holds it): the record holding `key`, or the first free
/// (tombstone or empty) slot of its probe sequence, write-locked. nullopt: the table should
/// grow first (no free slot, or a probe longer than kGrowProbe in a table that may grow).
std::optional<Found> place(int fd, const Table& t, std::string_view key) {
  std::optional<std::uint32_t> free;
  std::uint32_t probed = 0;
  std::uint32_t s = home_slot(key, t.slots);
  for (std::uint32_t i = 0; i < t.slots; ++i, s = (s + 1) % t.slots) {
    RangeLock lock = record_lock(fd, t.offset, s, LockType::kWrite);
    const Record r = read_record(fd, t.offset, s);
    ++probed;
    if (r.state == SlotState::kUsed) {
      if (r.key_view() == key) return Found{s, std::move(lock), r, true};
      continue;
    }
    if (!free) free = s;
    if (r.state == SlotState::kEmpty) break;  // the key is nowhere further on
  }
  const bool may_grow = t.slots < t.max_slots;
  if (!free && !may_grow) throw OperationFailed("database full");
  if (!free || (probed > kGrowProbe && may_grow)) return std::nullopt;
  // A free slot changes only under the insert lock, which we hold: locking it again is safe.
  RangeLock lock = record_lock(fd, t.offset, *free, LockType::kWrite);
  return Found{*free, std::move(lock), read_record(fd, t.offset, *free), false};
}

/// Grows the table that had `seen_slots` slots to twice the size (at most max_slots), unless
/// another process grew it meanwhile. Takes the header lock exclusive: the caller holds none.
void grow(int fd, std::uint32_t seen_slots) {
  const Exclusive ex = lock_exclusive(fd);
  Header hdr = read_header(fd);
  if (hdr.slots != seen_slots || hdr.slots >= hdr.max_slots) return;  // done, or cannot
  const auto old_table = static_cast<off_t>(hdr.table);
  const std::uint32_t old_slots = hdr.slots;
  const std::uint32_t slots = std::min(old_slots * 2, hdr.max_slots);
  // The new table goes into fresh space at the end of the file (beyond whatever a grower
  // killed earlier left there): zeroes, so every slot is empty.
  struct stat st {};
  check_unix(::fstat(fd, &st), "fstat");
  const off_t end_of_old = record_offset(old_table, old_slots);
  const off_t table =
      std::max<off_t>(end_of_old, (st.st_size + kRecordSize - 1) / static_cast<off_t>(kRecordSize) *
                                      static_cast<off_t>(kRecordSize));
  check_unix(::ftruncate(fd, record_offset(table, slots)), "ftruncate to {} slots", slots);
  for (std::uint32_t i = 0; i < old_slots; ++i) {
    const Record r = read_record(fd, old_table, i);
    if (r.state != SlotState::kUsed) continue;  // tombstones are left behind
    std::uint32_t s = home_slot(r.key_view(), slots);
    while (read_record(fd, table, s).state != SlotState::kEmpty) s = (s + 1) % slots;
    write_record(fd, table, s, r);
  }
  hdr.slots = slots;
  hdr.table = static_cast<std::uint64_t>(table);
  write_header(fd, hdr);  // the commit: from here on the new table is the table
  // The old table's disk space is given back (its bytes read as zeroes); best effort.
  (void)::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, old_table,
                    end_of_old - old_table);
}

/// The key's record, write-locked: where it is, or (absent) the free slot an insert puts it
/// in, then under the insert lock too. Grows the table as often as an insert needs it.
struct Located {
  Table table;    // the header lock, shared
  RangeLock ins;  // the insert lock, if the key is absent
  Found found;
};
Located locate(int fd, std::string_view key) {
  for (;;) {
    Table t = lock_table(fd);
    if (auto f = find(fd, t, key, LockType::kWrite))
      return {std::move(t), RangeLock(), std::move(*f)};
    // Absent: look again under the insert lock (someone may have inserted it meanwhile:
    // place() finds it then).
    RangeLock ins = byte_lock(fd, kInsertLock, LockType::kWrite);
    if (auto f = place(fd, t, key)) return {std::move(t), std::move(ins), std::move(*f)};
    const std::uint32_t seen = t.slots;
    ins.release();  // grow() takes the header lock exclusive: we must hold nothing
    t.header.release();
    grow(fd, seen);
  }
}

void fill(Record& r, std::string_view key, std::string_view value) {
  r = Record{};
  r.state = SlotState::kUsed;
  r.key_len = static_cast<std::uint32_t>(key.size());
  r.value_len = static_cast<std::uint32_t>(value.size());
  std::memcpy(r.key, key.data(), key.size());
  std::memcpy(r.value, value.data(), value.size());
}

/// Writes fn(old) into a found record (write-locked) and returns it.
std::string apply(int fd, const Table& t, Found& f, std::string_view key,
                  const KvStore::Updater& fn) {
  std::string value = f.exists ? fn(f.rec.value_view()) : fn(std::nullopt);
  check_value(value);
  fill(f.rec, key, value);
  write_record(fd, t.offset, f.slot, f.rec);
  return value;
}

}  // namespace

KvStore KvStore::open(const std::string& path, const OpenOptions& opts) {
  if (opts.max_slots == 0 || opts.max_slots > kMaxSlots)
    throw UsageError(fmt::format("max slots must be in 1..{}", kMaxSlots));
  if (opts.slots == 0 || opts.slots > opts.max_slots)
    throw UsageError(fmt::format("slots must be in 1..{} (the max slots)", opts.max_slots));
  Fd fd(check_unix(::open(path.c_str(), O_RDWR | O_CLOEXEC | (opts.create ? O_CREAT : 0), 0644),
                   "open {}", path));
  // Checking needs the header lock shared only: a process that holds a record (and so the
  // header, shared) must not keep us out. Creating needs it exclusive: then look again.
  RangeLock shared;
  std::optional<Exclusive> ex;
  struct stat st {};
  for (;;) {
    shared = lock_shared(fd.get());
    check_unix(::fstat(fd.get(), &st), "fstat {}", path);
    if (st.st_size != 0) break;
    shared.release();
    ex = lock_exclusive(fd.get());
    check_unix(::fstat(fd.get(), &st), "fstat {}", path);
    if (st.st_size == 0) break;
    ex.reset();  // created meanwhile: check it under the shared lock
  }
  Header hdr{};
  if (st.st_size == 0) {  // we create it: size first, then the header that makes it valid
    check_unix(::ftruncate(fd.get(), record_offset(opts.slots)), "ftruncate {}", path);
    std::memcpy(hdr.magic, kMagic, sizeof kMagic);
    hdr.version = kVersion;
    hdr.slots = opts.slots;
    hdr.record_size = kRecordSize;
    hdr.max_slots = opts.max_slots;
    hdr.table = kHeaderSize;
    write_header(fd.get(), hdr);
    return {std::move(fd), opts.slots};
  }
  const ssize_t n = check_unix(::pread(fd.get(), &hdr, sizeof hdr, 0), "pread {}", path);
  if (static_cast<std::size_t>(n) != sizeof hdr || std::memcmp(hdr.magic, kMagic, 8) != 0 ||
      hdr.version != kVersion || hdr.record_size != kRecordSize || hdr.slots == 0 ||
      hdr.max_slots > kMaxSlots || hdr.slots > hdr.max_slots || hdr.table < kHeaderSize ||
      st.st_size < record_offset(static_cast<off_t>(hdr.table), hdr.slots))
    throw OperationFailed(fmt::format("{} is not a kvstore database", path));
  return {std::move(fd), hdr.slots};
}

std::optional<std::string> KvStore::get(std::string_view key) {
  check_key(key);
  const Table t = lock_table(fd());
  slots_ = t.slots;
  auto f = find(fd(), t, key, LockType::kRead);
  if (!f) return std::nullopt;
  return std::string(f->rec.value_view());
}

void KvStore::set(std::string_view key, std::string_view value) {
  check_key(key);
  check_value(value);
  update(key, [&](std::optional<std::string_view>) { return std::string(value); });
}

std::string KvStore::update(std::string_view key, const Updater& fn) {
  check_key(key);
  Located at = locate(fd(), key);
  slots_ = at.table.slots;
  return apply(fd(), at.table, at.found, key, fn);
}

bool KvStore::del(std::string_view key) {
  check_key(key);
  const Table t = lock_table(fd());
  slots_ = t.slots;
  RangeLock ins = byte_lock(fd(), kInsertLock, LockType::kWrite);
  auto f = find(fd(), t, key, LockType::kWrite);
  if (!f) return false;
  f->rec = Record{};
  f->rec.state = SlotState::kDeleted;  // a tombstone: probes go on past it
  write_record(fd(), t.offset, f->slot, f->rec);
  return true;
}

std::vector<std::pair<std::string, std::string>> KvStore::list() {
  const Table t = lock_table(fd());
  slots_ = t.slots;
  std::vector<std::pair<std::string, std::string>> out;
  for (std::uint32_t s = 0; s < t.slots; ++s) {
    RangeLock lock = record_lock(fd(), t.offset, s, LockType::kRead);
    const Record r = read_record(fd(), t.offset, s);
    if (r.state == SlotState::kUsed) out.emplace_back(r.key_view(), r.value_view());
  }
  std::sort(out.begin(), out.end());
  return out;
}

KvStore::KeyLock KvStore::lock_key(std::string_view key) {
  check_key(key);
  Located at = locate(fd(), key);
  slots_ = at.table.slots;
  return {std::move(at.table.header), std::move(at.found.lock), at.found.slot};
}

}  // namespace ipclab::lab09
