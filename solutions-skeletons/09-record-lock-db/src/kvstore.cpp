// Lab 09: a key-value store with one fcntl (OFD) record lock per record. Read the contract
// in include/lab09/kvstore.hpp and the README ("The core question", "Pitfalls") first.
#include <fcntl.h>     // open, fcntl, F_OFD_SETLKW, F_OFD_SETLK, struct flock
#include <sys/stat.h>  // fstat
#include <unistd.h>    // ftruncate, pread, pwrite

#include "ipclab/error.hpp"  // check_unix, throw_errno, OperationFailed, NotImplemented
#include "lab09/kvstore.hpp"

namespace ipclab::lab09 {

void lock_range([[maybe_unused]] int fd, [[maybe_unused]] LockType type,
                [[maybe_unused]] off_t start, [[maybe_unused]] off_t len) {
  // TODO(lab09): fill a struct flock (l_whence SEEK_SET, l_pid 0) and call
  // fcntl(fd, F_OFD_SETLKW, &fl); retry on EINTR; on EDEADLK sleep a short random, growing
  // while and retry; throw SysError on anything else.
  throw NotImplemented("TODO(lab09): implement lock_range() in src/kvstore.cpp");
}

void unlock_range([[maybe_unused]] int fd, [[maybe_unused]] off_t start,
                  [[maybe_unused]] off_t len) {
  // TODO(lab09): F_UNLCK the same range with F_OFD_SETLK.
  throw NotImplemented("TODO(lab09): implement unlock_range() in src/kvstore.cpp");
}

KvStore KvStore::open([[maybe_unused]] const std::string& path,
                      [[maybe_unused]] const OpenOptions& opts) {
  // TODO(lab09): open(2) O_RDWR | O_CLOEXEC (| O_CREAT), take the gate and the header lock
  // (both write), then create (empty file: ftruncate to record_offset(slots), then write the
  // Header: slots, max_slots, table = kHeaderSize) or check the header. Return
  // KvStore(std::move(fd), slots).
  throw NotImplemented("TODO(lab09): implement KvStore::open() in src/kvstore.cpp");
}

std::optional<std::string> KvStore::get([[maybe_unused]] std::string_view key) {
  // TODO(lab09): gate (read) -> header lock (read), drop the gate, read the header (the
  // table's offset and slots); then probe from home_slot(key, slots): read-lock a record,
  // read_record(), unlock; stop at the key or at an empty slot.
  throw NotImplemented("TODO(lab09): implement KvStore::get() in src/kvstore.cpp");
}

void KvStore::set([[maybe_unused]] std::string_view key, [[maybe_unused]] std::string_view value) {
  // TODO(lab09): update() with a function that ignores the old value is one way.
  throw NotImplemented("TODO(lab09): implement KvStore::set() in src/kvstore.cpp");
}

std::string KvStore::update([[maybe_unused]] std::string_view key,
                            [[maybe_unused]] const Updater& fn) {
  // TODO(lab09): under the header lock (read), find the key's record under its WRITE lock
  // and write fn(old) there; if the key is absent, take the insert lock and insert
  // fn(nullopt) into the first free slot of the probe sequence (checking again that nobody
  // inserted the key meanwhile). No free slot, or a probe longer than kGrowProbe: release
  // everything, grow the table under the gate and the header lock (write), start again.
  throw NotImplemented("TODO(lab09): implement KvStore::update() in src/kvstore.cpp");
}

bool KvStore::del([[maybe_unused]] std::string_view key) {
  // TODO(lab09): under the header lock (read) and the insert lock, find the key's record
  // (write lock) and make it a tombstone (SlotState::kDeleted).
  throw NotImplemented("TODO(lab09): implement KvStore::del() in src/kvstore.cpp");
}

std::vector<std::pair<std::string, std::string>> KvStore::list() {
  // TODO(lab09): under the header lock (read), every used record, each read under its read
  // lock, sorted by key.
  throw NotImplemented("TODO(lab09): implement KvStore::list() in src/kvstore.cpp");
}

KvStore::KeyLock KvStore::lock_key([[maybe_unused]] std::string_view key) {
  // TODO(lab09): like update() without the write: return the header lock (read) and the
  // record's write lock, held.
  throw NotImplemented("TODO(lab09): implement KvStore::lock_key() in src/kvstore.cpp");
}

}  // namespace ipclab::lab09
