// Lab 14: the memory-mapped database. Read the layout and the rules at the top of
// include/lab14/mmapdb.hpp and the README ("The core question", "Thinking exercise")
// before you start. Helpers (the fcntl lock, reading a record, a probe) go in an anonymous
// namespace here.
#include "lab14/mmapdb.hpp"

#include "ipclab/error.hpp"  // check_unix, NotImplemented

namespace ipclab::lab14 {

CrcPath choose_crc_path([[maybe_unused]] CpuFeatures f) {
  // TODO(lab14): the fastest path a CPU with f can run (the table in the header): a pure
  // function of f, read nothing else.
  throw NotImplemented("TODO(lab14): implement choose_crc_path() in src/mmapdb.cpp");
}

CpuFeatures cpu_features() {
  // TODO(lab14): __builtin_cpu_init(), then __builtin_cpu_supports for each field (x86-64).
  throw NotImplemented("TODO(lab14): implement cpu_features() in src/mmapdb.cpp");
}

CrcPath crc_path() {
  // TODO(lab14): choose_crc_path(cpu_features()), decided once (a constant of this file);
  // get, list and check verify record CRCs this way.
  throw NotImplemented("TODO(lab14): implement crc_path() in src/mmapdb.cpp");
}

Layout validate_header([[maybe_unused]] const Header& h, [[maybe_unused]] std::uint64_t real_size) {
  // TODO(lab14): every check of the doc block in the header, in its order, each bound
  // inclusive; CorruptDatabase naming the first that fails. Load each dynamic field once
  // (load_acquire): another process may be storing them. open(), check() and refresh() use
  // it (or its parts): one definition of what a sound header is.
  throw NotImplemented("TODO(lab14): implement validate_header() in src/mmapdb.cpp");
}

Db Db::create([[maybe_unused]] const std::string& path, [[maybe_unused]] std::uint64_t size,
              [[maybe_unused]] const OpenOptions& opts) {
  // TODO(lab14): check size (UsageError outside kMinSize..kMaxSize); open with
  // O_CREAT|O_EXCL|O_CLOEXEC (EEXIST: OperationFailed); take the
  // exclusive lock; ftruncate; map; fill the header (static part, then header_crc) and the
  // dynamic fields (first index at kHeaderSize, heap_end after it); msync; unlock. On an
  // error after the file exists, unlink it.
  throw NotImplemented("TODO(lab14): implement Db::create() in src/mmapdb.cpp");
}

Db Db::open([[maybe_unused]] const std::string& path, [[maybe_unused]] const OpenOptions& opts) {
  // TODO(lab14): open (O_CLOEXEC); take the shared lock; fstat; refuse a file shorter than the
  // header; validate the header against the real size BEFORE mapping file_size bytes (a mapping
  // past the end of the file is SIGBUS on first touch); map; refresh(); unlock.
  // The descriptor may be 0 (stdin closed): it locks and unlocks like any other.
  throw NotImplemented("TODO(lab14): implement Db::open() in src/mmapdb.cpp");
}

void Db::refresh() {
  // TODO(lab14): load generation, index_ref, file_size (acquire); remap if file_size changed
  // (after checking it against fstat); check the index lies inside the mapping; remember
  // generation, index_ref, the index pointer and the mask in s_.
  throw NotImplemented("TODO(lab14): implement Db::refresh() in src/mmapdb.cpp");
}

std::optional<std::string_view> Db::get([[maybe_unused]] std::string_view key) {
  // TODO(lab14): no lock, no system call. Compare the header's generation with s_'s (refresh
  // if it moved); probe from key_tag(key) & mask: an empty slot ends the search; for a live
  // slot with the key's tag, check the record is inside the mapping (else refresh once,
  // then CorruptDatabase), verify its CRC (CorruptDatabase), compare the key.
  throw NotImplemented("TODO(lab14): implement Db::get() in src/mmapdb.cpp");
}

void Db::put([[maybe_unused]] std::string_view key, [[maybe_unused]] std::string_view value) {
  // TODO(lab14): check key and value; then, inside in_transaction() (given: it begins and
  // commits unless you are in a transaction already): grow the file if the record does not
  // fit; probe (existing slot, or first tombstone/empty); rebuild the index twice as big if
  // a new key would pass the load limit; write the record past heap_end, advance heap_end,
  // publish_slot() — in that order; raise used_slots for an empty slot taken.
  throw NotImplemented("TODO(lab14): implement Db::put() in src/mmapdb.cpp");
}

bool Db::del([[maybe_unused]] std::string_view key) {
  // TODO(lab14): like put, but publish kTombstone in the key's slot.
  throw NotImplemented("TODO(lab14): implement Db::del() in src/mmapdb.cpp");
}

void Db::begin() {
  // TODO(lab14): take the exclusive fcntl lock (F_OFD_SETLKW on kLockByte); then catch up
  // with other writers (compare generation, index_ref AND file_size with yours).
  throw NotImplemented("TODO(lab14): implement Db::begin() in src/mmapdb.cpp");
}

void Db::commit() {
  // TODO(lab14): msync(MS_SYNC) the mapping if s_.opts.sync; release the lock (always).
  throw NotImplemented("TODO(lab14): implement Db::commit() in src/mmapdb.cpp");
}

std::vector<std::pair<std::string, std::string>> Db::list() {
  // TODO(lab14): under the shared lock: every live slot's record (CRC verified), sorted.
  throw NotImplemented("TODO(lab14): implement Db::list() in src/mmapdb.cpp");
}

Stats Db::stats() {
  // TODO(lab14): under the shared lock: count live and tombstone slots; sizes; generation.
  throw NotImplemented("TODO(lab14): implement Db::stats() in src/mmapdb.cpp");
}

Stats Db::check() {
  // TODO(lab14): under the shared lock: the header as open() checks it, then every slot
  // (see the contract in the header).
  throw NotImplemented("TODO(lab14): implement Db::check() in src/mmapdb.cpp");
}

}  // namespace ipclab::lab14
