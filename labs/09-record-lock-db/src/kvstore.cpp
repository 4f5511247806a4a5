// Lab 09 reference: the key-value store over fcntl open-file-description record locks.
//
// Why OFD locks (F_OFD_SETLKW) and not classic POSIX locks (F_SETLKW): a classic lock
// belongs to the process, so (1) closing ANY descriptor of the file in this process drops
// every lock the process holds on it — a library that opens the file a second time, or a
// getpwnam() that happens to read it, silently unlocks us; and (2) two threads, or two
// KvStore objects in one process, never exclude each other. An OFD lock belongs to the
// open file description our open(2) made: only closing that one releases it, and each
// KvStore (each open) is a separate owner. The price: no deadlock detection. We pay it
// with a lock order that cannot deadlock:
//
//   header lock (write) -> at most one record lock; never two record locks at once.
//
// Invariants: a key moves (is inserted into a free slot or deleted) only under the header
// write lock and the record's write lock; a record's bytes change only under its write
// lock. So a reader that finds the key in a record it has read-locked sees it whole, and
// an updater that finds the key under the record's write lock may change it in place
// without the header lock.
#include <fcntl.h>     // open, fcntl, F_OFD_SETLKW
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

RangeLock header_lock(int fd) { return {fd, LockType::kWrite, 0, kHeaderSize}; }
RangeLock record_lock(int fd, std::uint32_t slot, LockType type) {
  return {fd, type, record_offset(slot), kRecordSize};
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
std::optional<Found> find(int fd, std::uint32_t slots, std::string_view key, LockType type) {
  std::uint32_t s = home_slot(key, slots);
  for (std::uint32_t i = 0; i < slots; ++i, s = (s + 1) % slots) {
    RangeLock lock = record_lock(fd, s, type);
    const Record r = read_record(fd, s);
    if (r.state == SlotState::kEmpty) return std::nullopt;
    if (r.state == SlotState::kUsed && r.key_view() == key)
      return Found{s, std::move(lock), r, true};
  }
  return std::nullopt;
}

/// Under the header write lock (the caller holds it): the record holding `key`, or the
/// first free (tombstone or empty) slot of its probe sequence, write-locked.
Found place(int fd, std::uint32_t slots, std::string_view key) {
  std::optional<std::uint32_t> free;
  std::uint32_t s = home_slot(key, slots);
  for (std::uint32_t i = 0; i < slots; ++i, s = (s + 1) % slots) {
    RangeLock lock = record_lock(fd, s, LockType::kWrite);
    const Record r = read_record(fd, s);
    if (r.state == SlotState::kUsed) {
      if (r.key_view() == key) return Found{s, std::move(lock), r, true};
      continue;
    }
    if (!free) free = s;
    if (r.state == SlotState::kEmpty) break;  // the key is nowhere further on
  }
  if (!free) throw OperationFailed("database full");
  // A free slot changes only under the header lock, which we hold: locking it again is safe.
  RangeLock lock = record_lock(fd, *free, LockType::kWrite);
  return Found{*free, std::move(lock), read_record(fd, *free), false};
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
std::string apply(int fd, Found& f, std::string_view key, const KvStore::Updater& fn) {
  std::string value = f.exists ? fn(f.rec.value_view()) : fn(std::nullopt);
  check_value(value);
  fill(f.rec, key, value);
  write_record(fd, f.slot, f.rec);
  return value;
}

}  // namespace

KvStore KvStore::open(const std::string& path, const OpenOptions& opts) {
  if (opts.slots == 0 || opts.slots > kMaxSlots)
    throw UsageError(fmt::format("slots must be in 1..{}", kMaxSlots));
  Fd fd(check_unix(::open(path.c_str(), O_RDWR | O_CLOEXEC | (opts.create ? O_CREAT : 0), 0644),
                   "open {}", path));
  RangeLock h = header_lock(fd.get());
  struct stat st {};
  check_unix(::fstat(fd.get(), &st), "fstat {}", path);
  Header hdr{};
  if (st.st_size == 0) {  // we create it: size first, then the header that makes it valid
    check_unix(::ftruncate(fd.get(), record_offset(opts.slots)), "ftruncate {}", path);
    std::memcpy(hdr.magic, kMagic, sizeof kMagic);
    hdr.version = kVersion;
    hdr.slots = opts.slots;
    hdr.record_size = kRecordSize;
    const ssize_t n = check_unix(::pwrite(fd.get(), &hdr, sizeof hdr, 0), "pwrite {}", path);
    if (static_cast<std::size_t>(n) != sizeof hdr)
      throw OperationFailed(fmt::format("short write of the header of {}", path));
    return {std::move(fd), opts.slots};
  }
  const ssize_t n = check_unix(::pread(fd.get(), &hdr, sizeof hdr, 0), "pread {}", path);
  if (static_cast<std::size_t>(n) != sizeof hdr || std::memcmp(hdr.magic, kMagic, 8) != 0 ||
      hdr.version != kVersion || hdr.record_size != kRecordSize || hdr.slots == 0 ||
      hdr.slots > kMaxSlots || st.st_size < record_offset(hdr.slots))
    throw OperationFailed(fmt::format("{} is not a kvstore database", path));
  return {std::move(fd), hdr.slots};
}

std::optional<std::string> KvStore::get(std::string_view key) {
  check_key(key);
  auto f = find(fd(), slots_, key, LockType::kRead);
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
  if (auto f = find(fd(), slots_, key, LockType::kWrite)) return apply(fd(), *f, key, fn);
  // Absent: insert under the header lock (someone may have inserted it meanwhile: place()
  // finds it then, and fn sees its value).
  RangeLock h = header_lock(fd());
  Found f = place(fd(), slots_, key);
  return apply(fd(), f, key, fn);
}

bool KvStore::del(std::string_view key) {
  check_key(key);
  RangeLock h = header_lock(fd());
  auto f = find(fd(), slots_, key, LockType::kWrite);
  if (!f) return false;
  f->rec = Record{};
  f->rec.state = SlotState::kDeleted;  // a tombstone: probes go on past it
  write_record(fd(), f->slot, f->rec);
  return true;
}

std::vector<std::pair<std::string, std::string>> KvStore::list() {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::uint32_t s = 0; s < slots_; ++s) {
    RangeLock lock = record_lock(fd(), s, LockType::kRead);
    const Record r = read_record(fd(), s);
    if (r.state == SlotState::kUsed) out.emplace_back(r.key_view(), r.value_view());
  }
  std::sort(out.begin(), out.end());
  return out;
}

KvStore::KeyLock KvStore::lock_key(std::string_view key) {
  check_key(key);
  if (auto f = find(fd(), slots_, key, LockType::kWrite)) return {std::move(f->lock), f->slot};
  RangeLock h = header_lock(fd());
  Found f = place(fd(), slots_, key);
  return {std::move(f.lock), f.slot};
}

}  // namespace ipclab::lab09
