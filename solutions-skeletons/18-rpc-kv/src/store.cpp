// Lab 18: the replica. Read the contract in include/lab18/kv.hpp and the README's "The
// replica" section before you start.
#include "ipclab/error.hpp"  // ipclab::NotImplemented
#include "lab18/kv.hpp"

namespace ipclab::lab18 {

Store::Store(std::string dir) : dir_(std::move(dir)) {
  // TODO(lab18): with a directory, create it, open DIR/kv.log (O_RDWR | O_CREAT |
  // O_CLOEXEC) and replay it: each whole record with a good checksum into map_, the newest
  // version of a key winning; stop at the first record that is cut short or damaged and
  // truncate the file there, so that new records follow the last good one.
  throw NotImplemented("TODO(lab18): implement Store::Store() in src/store.cpp");
}

Store::~Store() = default;

std::string Store::log_path() const { return dir_.empty() ? "" : dir_ + "/kv.log"; }

Entry Store::get([[maybe_unused]] const std::string& key) const {
  // TODO(lab18): under the mutex, the entry, or {key, {0, 0}, false, ""}.
  throw NotImplemented("TODO(lab18): implement Store::get() in src/store.cpp");
}

bool Store::apply([[maybe_unused]] const Entry& e) {
  // TODO(lab18): under the mutex: an older or equal version changes nothing (false); a
  // newer one goes to the log (one record, then fdatasync) before the map, then true.
  throw NotImplemented("TODO(lab18): implement Store::apply() in src/store.cpp");
}

std::vector<Entry> Store::all() const {
  // TODO(lab18): under the mutex, every entry in key order.
  throw NotImplemented("TODO(lab18): implement Store::all() in src/store.cpp");
}

}  // namespace ipclab::lab18
