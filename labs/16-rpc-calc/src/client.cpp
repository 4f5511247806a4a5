// The client's call wrapper: a client handle made within a timeout, the calls through
// rpcgen's stubs, and every way a call can fail mapped to one RpcErrorKind.
//
// What TI-RPC reports, measured on this machine (README §Pitfalls 3):
//   rpcbind not running         clnt_create: RPC_SYSTEMERROR (tcp) or RPC_CANTRECV (udp),
//                               errno ECONNREFUSED
//   program not registered      clnt_create: RPC_PROGNOTREGISTERED
//   server killed, registration left behind
//                               clnt_create: RPC_SYSTEMERROR, ECONNREFUSED (tcp: the same
//                               as no rpcbind!); udp: the call fails, RPC_CANTRECV
//   server hung (SIGSTOP)       the call: RPC_TIMEDOUT
//   version not served          rpcbind gives the address of another version, the
//                               server answers the call with RPC_PROGVERSMISMATCH
#include <rpc/rpc.h>        // clnt_create_timed, clnt_call, rpc_createerr
#include <rpc/rpcb_prot.h>  // RPCBPROG, RPCBVERS

#include <algorithm>  // std::max
#include <chrono>     // std::chrono
#include <string>     // std::string

#include <fmt/core.h>  // fmt::format

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/error.hpp"  // UsageError
#include "ipclab/rpc.hpp"    // rpc::to_timeval
#include "lab16/calc.hpp"

namespace ipclab::lab16 {
namespace {

std::string what_program(const ClientOptions& o) {
  return fmt::format("program 0x{:08x} version {}", o.prog, o.vers);
}

/// Whether rpcbind answers on the host: a client handle for rpcbind's own program over
/// TCP (refused at once when nobody listens on port 111).
bool rpcbind_answers(const std::string& host, std::chrono::milliseconds timeout) {
  timeval tv = rpc::to_timeval(timeout);
  CLIENT* c = clnt_create_timed(host.c_str(), RPCBPROG, RPCBVERS, "tcp", &tv);
  if (c == nullptr) return false;
  clnt_destroy(c);
  return true;
}

/// The error for a failed clnt_create_timed, from rpc_createerr.
RpcError creation_error(const ClientOptions& o, const Deadline& deadline) {
  const clnt_stat stat = rpc_createerr.cf_stat;
  const std::string text = clnt_spcreateerror(o.host.c_str());  // "HOST: RPC: ..."
  switch (stat) {
    case RPC_PROGNOTREGISTERED:
      return {RpcErrorKind::kNotRegistered,
              fmt::format("{} not registered on {}", what_program(o), o.host)};
    case RPC_UNKNOWNHOST:
    case RPC_UNKNOWNPROTO:
      return {RpcErrorKind::kOther, text};
    case RPC_TIMEDOUT:     // the lookup did not come back: rpcbind is there but hung
    case RPC_RPCBFAILURE:  // (RPC_PMAPFAILURE is the same value)
      return {RpcErrorKind::kRpcbindDown,
              fmt::format("rpcbind not answering on {} ({})", o.host, text)};
    default:
      break;
  }
  // A refused connection is rpcbind's port or the server's: ask rpcbind itself.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline.remaining());
  if (!rpcbind_answers(o.host, std::max(left, std::chrono::milliseconds(200))))
    return {RpcErrorKind::kRpcbindDown,
            fmt::format("rpcbind not running on {} ({})", o.host, text)};
  return {RpcErrorKind::kNoAnswer,
          fmt::format("server not answering: {} is registered on {}, but nobody serves it over {} "
                      "({})",
                      what_program(o), o.host, proto_name(o.proto), text)};
}

}  // namespace

Calculator::Calculator(const ClientOptions& opts) : opts_(opts) {
  const Deadline deadline(opts_.timeout);
  timeval tv = rpc::to_timeval(opts_.timeout);
  clnt_ =
      clnt_create_timed(opts_.host.c_str(), opts_.prog, opts_.vers, proto_name(opts_.proto), &tv);
  if (clnt_ == nullptr) throw creation_error(opts_, deadline);
  // The total time a call may take (the stubs' own 25 s TIMEOUT is ignored once this is
  // set); for UDP, how long to wait before sending the request again.
  clnt_control(clnt_, CLSET_TIMEOUT, reinterpret_cast<char*>(&tv));
  if (opts_.proto == Proto::kUdp) {
    timeval retry = rpc::to_timeval(std::max(opts_.timeout / 5, std::chrono::milliseconds(20)));
    clnt_control(clnt_, CLSET_RETRY_TIMEOUT, reinterpret_cast<char*>(&retry));
  }
}

Calculator::~Calculator() {
  if (clnt_ != nullptr) clnt_destroy(clnt_);
}

Answer Calculator::call(Op op, int a, int b) {
  if (op == Op::kDivide && opts_.vers < CALC_VERS2)
    throw UsageError("divide needs version 2 (version 1 has add, subtract and multiply)");
  operands args{a, b};
  Answer answer;
  clnt_stat st = RPC_SUCCESS;
  if (opts_.vers == CALC_VERS) {
    int v = 0;
    switch (op) {
      case Op::kAdd:
        st = add_1(&args, &v, clnt_);
        break;
      case Op::kSubtract:
        st = subtract_1(&args, &v, clnt_);
        break;
      default:
        st = multiply_1(&args, &v, clnt_);
        break;
    }
    answer.value = v;
  } else {
    calc_result r{};
    switch (op) {
      case Op::kAdd:
        st = add_2(&args, &r, clnt_);
        break;
      case Op::kSubtract:
        st = subtract_2(&args, &r, clnt_);
        break;
      case Op::kMultiply:
        st = multiply_2(&args, &r, clnt_);
        break;
      case Op::kDivide:
        st = divide_2(&args, &r, clnt_);
        break;
    }
    answer.status = r.status;
    answer.value = r.status == CALC_OK ? r.calc_result_u.value : 0;
  }
  if (st == RPC_SUCCESS) return answer;

  rpc_err err{};
  clnt_geterr(clnt_, &err);
  const std::string text = clnt_sperror(clnt_, opts_.host.c_str());
  switch (st) {
    case RPC_PROGVERSMISMATCH:
      throw RpcError(
          RpcErrorKind::kVersionMismatch,
          fmt::format("program version mismatch: {} serves program 0x{:08x} version(s) "
                      "{} to {}, not {}",
                      opts_.host, opts_.prog, err.re_vers.low, err.re_vers.high, opts_.vers));
    case RPC_TIMEDOUT:
    case RPC_CANTRECV:
    case RPC_CANTSEND:
    case RPC_SYSTEMERROR:
      throw RpcError(RpcErrorKind::kNoAnswer,
                     fmt::format("server not answering: {} on {} over {} ({})", what_program(opts_),
                                 opts_.host, proto_name(opts_.proto), text));
    default:
      throw RpcError(RpcErrorKind::kOther, text);
  }
}

}  // namespace ipclab::lab16
