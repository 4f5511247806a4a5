// Lab 18: the client side. Read the contract in include/lab18/kv.hpp and the README's "The
// client" section before you start. rpcgen's client stubs (kv_clnt.c, in the build
// directory) show how each procedure is called.
#include "ipclab/error.hpp"  // ipclab::NotImplemented
#include "lab18/kv.hpp"

namespace ipclab::lab18 {

Connection::Connection(const Address& addr, [[maybe_unused]] std::chrono::milliseconds timeout)
    : addr_(addr) {
  // TODO(lab18): connect a TCP socket to addr within the timeout (getaddrinfo, a
  // non-blocking connect and poll), then clnt_vc_create on it (KV_PROG, KV_VERS),
  // CLSET_FD_CLOSE, and CLSET_TIMEOUT for every call. Failure: NetworkError naming addr.
  throw NotImplemented("TODO(lab18): implement Connection::Connection() in src/client.cpp");
}

Connection::~Connection() {
  if (clnt_ != nullptr) clnt_destroy(clnt_);
}

PutReply Connection::put([[maybe_unused]] std::uint64_t client_id,
                         [[maybe_unused]] std::uint64_t request_id,
                         [[maybe_unused]] const std::string& key, [[maybe_unused]] bool present,
                         [[maybe_unused]] const std::string& value) {
  // TODO(lab18): put_1; a clnt_stat other than RPC_SUCCESS is a NetworkError.
  throw NotImplemented("TODO(lab18): implement Connection::put() in src/client.cpp");
}

GetReply Connection::get([[maybe_unused]] const std::string& key) {
  // TODO(lab18): get_1, from_xdr, then xdr_free what XDR allocated for the result.
  throw NotImplemented("TODO(lab18): implement Connection::get() in src/client.cpp");
}

Entry Connection::local_get([[maybe_unused]] const std::string& key) {
  throw NotImplemented("TODO(lab18): implement Connection::local_get() in src/client.cpp");
}

std::pair<bool, Version> Connection::store([[maybe_unused]] const Entry& e) {
  throw NotImplemented("TODO(lab18): implement Connection::store() in src/client.cpp");
}

std::vector<Entry> Connection::pull() {
  throw NotImplemented("TODO(lab18): implement Connection::pull() in src/client.cpp");
}

bool Connection::ping() {
  // TODO(lab18): the null procedure (clnt_call with NULLPROC and xdr_void both ways).
  throw NotImplemented("TODO(lab18): implement Connection::ping() in src/client.cpp");
}

}  // namespace ipclab::lab18
