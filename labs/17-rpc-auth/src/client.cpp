// The client's side: a client handle over TCP, UDP or the local socket, the credential the
// caller chose in place of the handle's default AUTH_NONE, and the calls with their
// failures split in two: the server refused the credential (AuthError), or no answer came
// (NetworkError).
#include <sys/socket.h>  // socket, AF_UNIX
#include <sys/un.h>      // sockaddr_un
#include <unistd.h>      // gethostname, close

#include <rpc/rpc.h>  // clnt_create_timed, clnt_vc_create, authunix_create, authnone_create

#include <algorithm>  // std::max
#include <cstring>    // std::memcpy

#include <fmt/core.h>  // fmt::format

#include "ipclab/rpc.hpp"  // rpc::to_timeval
#include "lab17/calc_auth.hpp"

namespace ipclab::lab17 {
namespace {

const char* netid(Transport t) { return t == Transport::kUdp ? "udp" : "tcp"; }

std::string where(const ClientOptions& o) {
  if (o.transport == Transport::kLocal) return fmt::format("the local socket {}", o.local_path);
  return fmt::format("program 0x{:08x} on {} over {}", o.prog, o.host, netid(o.transport));
}

/// A client handle on a new AF_UNIX stream socket; clnt_vc_create connects it to the path.
CLIENT* local_client(const ClientOptions& o) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (o.local_path.size() >= sizeof sun.sun_path)
    throw NetworkError(fmt::format("socket path too long: {}", o.local_path));
  std::memcpy(sun.sun_path, o.local_path.c_str(), o.local_path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  netbuf addr{sizeof sun, sizeof sun, &sun};
  CLIENT* c = clnt_vc_create(fd, &addr, o.prog, CALC_AUTH_VERS, 0, 0);
  if (c == nullptr) {
    ::close(fd);
    return nullptr;
  }
  clnt_control(c, CLSET_FD_CLOSE, nullptr);  // clnt_destroy closes the socket
  return c;
}

}  // namespace

AuthCalculator::AuthCalculator(const ClientOptions& opts) : opts_(opts) {
  timeval tv = rpc::to_timeval(opts_.timeout);
  if (opts_.transport == Transport::kLocal)
    clnt_ = local_client(opts_);
  else
    clnt_ = clnt_create_timed(opts_.host.c_str(), opts_.prog, CALC_AUTH_VERS,
                              netid(opts_.transport), &tv);
  if (clnt_ == nullptr)
    throw NetworkError(fmt::format(
        "cannot reach {} ({})", where(opts_),
        clnt_spcreateerror(opts_.transport == Transport::kLocal ? "connect" : opts_.host.c_str())));
  clnt_control(clnt_, CLSET_TIMEOUT, reinterpret_cast<char*>(&tv));
  if (opts_.transport == Transport::kUdp) {
    timeval retry = rpc::to_timeval(std::max(opts_.timeout / 5, std::chrono::milliseconds(20)));
    clnt_control(clnt_, CLSET_RETRY_TIMEOUT, reinterpret_cast<char*>(&retry));
  }
  // Every handle starts with AUTH_NONE. AUTH_SYS is a claim the client writes itself: any
  // uid and gid it likes, and a machine name; the server can only believe it or not.
  AUTH* auth = nullptr;
  if (opts_.auth_none) {
    auth = authnone_create();
  } else {
    char host[256] = {};
    (void)::gethostname(host, sizeof host - 1);
    auth = authunix_create(host, opts_.uid, opts_.gid, 0, nullptr);
  }
  if (auth == nullptr) {
    clnt_destroy(clnt_);
    clnt_ = nullptr;
    throw NetworkError("cannot create the credential (authunix_create)");
  }
  auth_destroy(clnt_->cl_auth);
  clnt_->cl_auth = auth;
}

AuthCalculator::~AuthCalculator() {
  if (clnt_ == nullptr) return;
  auth_destroy(clnt_->cl_auth);  // clnt_destroy does not free the credential
  clnt_destroy(clnt_);
}

namespace {

[[noreturn]] void fail(CLIENT* clnt, clnt_stat st, const ClientOptions& o) {
  rpc_err err{};
  clnt_geterr(clnt, &err);
  if (st == RPC_AUTHERROR) throw AuthError(err.re_why, clnt_sperrno(st));
  throw NetworkError(
      fmt::format("server not answering: {} ({})", where(o), clnt_sperror(clnt, o.host.c_str())));
}

}  // namespace

int AuthCalculator::call(Op op, int a, int b) {
  operands args{a, b};
  int v = 0;
  clnt_stat st = RPC_SUCCESS;
  switch (op) {
    case Op::kAdd:
      st = add_1(&args, &v, clnt_);
      break;
    case Op::kSubtract:
      st = subtract_1(&args, &v, clnt_);
      break;
    case Op::kMultiply:
      st = multiply_1(&args, &v, clnt_);
      break;
    case Op::kAccumulate:
      throw std::invalid_argument("call(kAccumulate): use accumulate()");
  }
  if (st != RPC_SUCCESS) fail(clnt_, st, opts_);
  return v;
}

accum_result AuthCalculator::accumulate(std::uint64_t client_id, std::uint64_t request_id,
                                        int amount) {
  accum_args args{client_id, request_id, amount};
  accum_result r{};
  const clnt_stat st = accumulate_1(&args, &r, clnt_);
  if (st != RPC_SUCCESS) fail(clnt_, st, opts_);
  return r;
}

}  // namespace ipclab::lab17
