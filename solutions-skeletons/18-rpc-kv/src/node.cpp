// Lab 18: the coordinator. Read the contract in include/lab18/kv.hpp and the README's
// "The coordinator" section (and its thinking exercise) before you start.
#include "ipclab/error.hpp"  // ipclab::NotImplemented
#include "lab18/kv.hpp"

namespace ipclab::lab18 {

// Calls to several peers go out in parallel: a thread per call (std::thread, detached,
// sharing its answer through a std::shared_ptr to a struct with a mutex and a condition
// variable), each through with_peer (given/peers.cpp); the caller waits on the condition
// variable for what it needs, until the peer timeout.

PutReply Node::put([[maybe_unused]] std::uint64_t client_id,
                   [[maybe_unused]] std::uint64_t request_id,
                   [[maybe_unused]] const std::string& key, [[maybe_unused]] bool present,
                   [[maybe_unused]] const std::string& value) {
  // TODO(lab18): the duplicate-request cache first (drc_: a reply, or a run in progress
  // to wait for; the waiters are woken however that run ends, an exception too, and all of them
  // if one condition variable serves every request id); phase 1, the
  // versions of a majority; phase 2, the stamped write stored by a majority. Never KV_OK before a
  // majority holds the write.
  throw NotImplemented("TODO(lab18): implement Node::put() in src/node.cpp");
}

GetReply Node::get([[maybe_unused]] const std::string& key) {
  // TODO(lab18): a majority's entries, the newest of them (not the first to come back),
  // written back to the replicas that were behind until a majority holds it (one that answered
  // with the newest holds it already: counted, sent no STORE).
  throw NotImplemented("TODO(lab18): implement Node::get() in src/node.cpp");
}

Entry Node::local_get([[maybe_unused]] const std::string& key) {
  throw NotImplemented("TODO(lab18): implement Node::local_get() in src/node.cpp");
}

std::pair<bool, Version> Node::store([[maybe_unused]] const Entry& e) {
  // TODO(lab18): apply to the replica, invalidate the cache's entry, answer the version.
  throw NotImplemented("TODO(lab18): implement Node::store() in src/node.cpp");
}

std::vector<Entry> Node::pull() {
  throw NotImplemented("TODO(lab18): implement Node::pull() in src/node.cpp");
}

std::size_t Node::catch_up() {
  // TODO(lab18): PULL from each peer, apply what is newer; count the peers that answered.
  throw NotImplemented("TODO(lab18): implement Node::catch_up() in src/node.cpp");
}

}  // namespace ipclab::lab18
