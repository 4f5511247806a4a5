// The server's side: who is calling (the credential the client wrote into the call's
// header, and on the local transport the kernel's word), what the policy says, the
// duplicate-request cache, and the procedures rpcgen's dispatcher calls.
#include <sys/socket.h>  // getsockopt, getsockname, SO_PEERCRED, ucred

#include <cstdint>  // std::uint32_t

#include "lab17/calc_auth.hpp"

namespace ipclab::lab17 {

Caller identify(const svc_req* rq) {
  Caller c;
  c.flavor = static_cast<std::uint32_t>(rq->rq_cred.oa_flavor);
  // TI-RPC decoded the AUTH_SYS body already (_svcauth_unix): rq_clntcred points at it.
  // The body is the client's claim, nothing more.
  if (c.flavor == AUTH_SYS && rq->rq_clntcred != nullptr) {
    const auto* parms = static_cast<const authunix_parms*>(static_cast<void*>(rq->rq_clntcred));
    c.uid = parms->aup_uid;
    c.gid = parms->aup_gid;
    c.machine = parms->aup_machname != nullptr ? parms->aup_machname : "";
  }
  // On a connection over an AF_UNIX socket the kernel knows who connected: each accepted
  // connection is its own transport, and xp_fd is its socket.
  const int fd = rq->rq_xprt->xp_fd;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 && ss.ss_family == AF_UNIX) {
    ucred cred{};
    socklen_t clen = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
      c.peer_uid = cred.uid;
      c.peer_gid = cred.gid;
    } else {
      c.peer_uid = static_cast<uid_t>(-1);  // a local caller we cannot vouch for: no match
    }
  }
  return c;
}

auth_stat decide(const Policy& policy, const Caller& caller, std::uint32_t proc) {
  switch (caller.flavor) {
    case AUTH_NONE:
      return policy.public_procs.contains(proc) ? AUTH_OK : AUTH_TOOWEAK;
    case AUTH_SYS:
      if (!policy.allowed_uids.contains(caller.uid)) return AUTH_BADCRED;
      if (caller.peer_uid.has_value() && *caller.peer_uid != caller.uid) return AUTH_BADCRED;
      return AUTH_OK;
    default:
      return AUTH_REJECTEDCRED;
  }
}

DuplicateCache::DuplicateCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

DuplicateCache::Lookup DuplicateCache::find(std::uint64_t client_id,
                                            std::uint64_t request_id) const {
  Lookup l;
  if (auto it = replies_.find({client_id, request_id}); it != replies_.end()) {
    l.found = Found::kReplay;
    l.reply = it->second;
    return l;
  }
  if (auto it = expired_.find(client_id); it != expired_.end() && request_id <= it->second)
    l.found = Found::kExpired;
  return l;
}

void DuplicateCache::insert(std::uint64_t client_id, std::uint64_t request_id,
                            const accum_result& reply) {
  const Key key{client_id, request_id};
  if (!replies_.emplace(key, reply).second) return;  // already there: keep the first reply
  order_.push_back(key);
  while (order_.size() > capacity_) {
    const Key old = order_.front();
    order_.pop_front();
    replies_.erase(old);
    auto& high = expired_[old.first];
    if (old.second > high) high = old.second;
  }
}

accum_result accumulate(ServerState& state, const accum_args& args) {
  const auto hit = state.cache.find(args.client_id, args.request_id);
  state.last_accumulate = hit.found;
  switch (hit.found) {
    case DuplicateCache::Found::kReplay:
      return hit.reply;  // executed once already: the same answer, and nothing moves
    case DuplicateCache::Found::kExpired: {
      accum_result r{};
      r.status = ACCUM_EXPIRED;
      return r;
    }
    case DuplicateCache::Found::kNew:
      break;
  }
  state.total += args.amount;
  accum_result r{};
  r.status = ACCUM_OK;
  r.total = state.total;
  state.cache.insert(args.client_id, args.request_id, r);
  return r;
}

namespace {

/// Lab 16's version 1: wrapped to 32 bits without undefined behaviour.
int wrapped(Op op, int a, int b) {
  const auto ua = static_cast<std::uint32_t>(a);
  const auto ub = static_cast<std::uint32_t>(b);
  switch (op) {
    case Op::kAdd:
      return static_cast<int>(ua + ub);
    case Op::kSubtract:
      return static_cast<int>(ua - ub);
    default:
      return static_cast<int>(ua * ub);
  }
}

}  // namespace
}  // namespace ipclab::lab17

namespace lab = ipclab::lab17;

// rpcgen -M: the arguments decoded, the result to fill in, the request. The policy was
// applied before (main/calc_server_auth.cpp). TRUE: the dispatcher sends *result.
bool_t add_1_svc(operands* args, int* result, svc_req* /*req*/) {
  *result = lab::wrapped(lab::Op::kAdd, args->a, args->b);
  return TRUE;
}
bool_t subtract_1_svc(operands* args, int* result, svc_req* /*req*/) {
  *result = lab::wrapped(lab::Op::kSubtract, args->a, args->b);
  return TRUE;
}
bool_t multiply_1_svc(operands* args, int* result, svc_req* /*req*/) {
  *result = lab::wrapped(lab::Op::kMultiply, args->a, args->b);
  return TRUE;
}
bool_t accumulate_1_svc(accum_args* args, accum_result* result, svc_req* /*req*/) {
  *result = lab::accumulate(lab::server_state(), *args);
  return TRUE;
}
