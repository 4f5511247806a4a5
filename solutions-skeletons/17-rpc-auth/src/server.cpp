// Lab 17: the server's side. Read the contract in include/lab17/calc_auth.hpp and the
// README's "The server" section before you start. rpcgen's dispatcher (calc_auth_svc.c, in
// the build directory) shows how the *_svc functions are called, and
// main/calc_server_auth.cpp how identify and decide are.
#include "ipclab/error.hpp"  // ipclab::NotImplemented
#include "lab17/calc_auth.hpp"

namespace ipclab::lab17 {

Caller identify([[maybe_unused]] const svc_req* rq) {
  // TODO(lab17):
  //  1. the flavor: rq->rq_cred.oa_flavor;
  //  2. AUTH_SYS: TI-RPC decoded the body into an authunix_parms, rq->rq_clntcred points at
  //     it (aup_uid, aup_gid, aup_machname);
  //  3. a connection over an AF_UNIX socket (getsockname on rq->rq_xprt->xp_fd says which
  //     family): getsockopt(fd, SOL_SOCKET, SO_PEERCRED, struct ucred) gives the uid and gid
  //     of the process that connected.
  throw NotImplemented("TODO(lab17): implement identify() in src/server.cpp");
}

auth_stat decide([[maybe_unused]] const Policy& policy, [[maybe_unused]] const Caller& caller,
                 [[maybe_unused]] std::uint32_t proc) {
  // TODO(lab17): AUTH_NONE -> public or AUTH_TOOWEAK; AUTH_SYS -> AUTH_BADCRED unless the
  // uid is allowed and (over the local socket) is the peer's uid; else AUTH_REJECTEDCRED.
  throw NotImplemented("TODO(lab17): implement decide() in src/server.cpp");
}

DuplicateCache::DuplicateCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

DuplicateCache::Lookup DuplicateCache::find([[maybe_unused]] std::uint64_t client_id,
                                            [[maybe_unused]] std::uint64_t request_id) const {
  // TODO(lab17): the cached reply (kReplay); kExpired if the id is at or below the client's
  // highest evicted id; else kNew.
  throw NotImplemented("TODO(lab17): implement DuplicateCache::find() in src/server.cpp");
}

void DuplicateCache::insert([[maybe_unused]] std::uint64_t client_id,
                            [[maybe_unused]] std::uint64_t request_id,
                            [[maybe_unused]] const accum_result& reply) {
  // TODO(lab17): remember the reply; past capacity, drop the oldest entry and remember its
  // id as its client's highest evicted id.
  throw NotImplemented("TODO(lab17): implement DuplicateCache::insert() in src/server.cpp");
}

accum_result accumulate([[maybe_unused]] ServerState& state,
                        [[maybe_unused]] const accum_args& args) {
  // TODO(lab17): consult the cache first; only a new request moves the total, and its reply
  // goes into the cache.
  throw NotImplemented("TODO(lab17): implement accumulate() in src/server.cpp");
}

}  // namespace ipclab::lab17

// TODO(lab17): the four procedures rpcgen's dispatcher calls (declared in calc_auth.h).
// Each writes its answer into *result and returns TRUE.
bool_t add_1_svc([[maybe_unused]] operands* args, [[maybe_unused]] int* result,
                 [[maybe_unused]] svc_req* req) {
  throw ipclab::NotImplemented("TODO(lab17): implement add_1_svc() in src/server.cpp");
}
bool_t subtract_1_svc([[maybe_unused]] operands* args, [[maybe_unused]] int* result,
                      [[maybe_unused]] svc_req* req) {
  throw ipclab::NotImplemented("TODO(lab17): implement subtract_1_svc() in src/server.cpp");
}
bool_t multiply_1_svc([[maybe_unused]] operands* args, [[maybe_unused]] int* result,
                      [[maybe_unused]] svc_req* req) {
  throw ipclab::NotImplemented("TODO(lab17): implement multiply_1_svc() in src/server.cpp");
}
bool_t accumulate_1_svc([[maybe_unused]] accum_args* args, [[maybe_unused]] accum_result* result,
                        [[maybe_unused]] svc_req* req) {
  throw ipclab::NotImplemented("TODO(lab17): implement accumulate_1_svc() in src/server.cpp");
}
