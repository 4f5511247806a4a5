// Lab 16 — a calculator over Sun RPC (Stevens UNP2 ch. 16): rpcgen turns calc.x into C
// (the XDR routines, the client stubs add_1 ... divide_2, the server's dispatcher), rpcbind
// maps the program number to a port, and TI-RPC carries the calls over TCP or UDP.
//
// You write the server's procedures (src/server.cpp): the arithmetic, with overflow and
// division by zero detected, and the seven *_svc functions rpcgen's dispatcher calls; and
// the client's call wrapper (src/client.cpp): a client handle made within a timeout, the
// calls, and every RPC failure mapped to a distinct error. The programs calc_server and
// calc_client (main/), calc.x and rpcgen's output are given.
//
// Program numbers: CALC_PROG (0x31230000) by default; graders run each test's server on a
// number of its own from the transient range (--prog, ipclab::names::rpc_program()).
#pragma once

#include <chrono>       // std::chrono::milliseconds
#include <cstdint>      // std::uint32_t
#include <optional>     // std::optional
#include <stdexcept>    // std::runtime_error
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "calc.h"  // rpcgen's output (build directory): operands, calc_result, the stubs

namespace ipclab::lab16 {

// ---- operations (given) -----------------------------------------------------------------

enum class Op { kAdd, kSubtract, kMultiply, kDivide };

/// "add", "subtract", "multiply", "divide".
constexpr std::string_view op_name(Op op) {
  switch (op) {
    case Op::kAdd:
      return "add";
    case Op::kSubtract:
      return "subtract";
    case Op::kMultiply:
      return "multiply";
    default:
      return "divide";
  }
}
/// The operation named `name` (as op_name prints it), or nullopt.
constexpr std::optional<Op> parse_op(std::string_view name) {
  for (Op op : {Op::kAdd, Op::kSubtract, Op::kMultiply, Op::kDivide})
    if (op_name(op) == name) return op;
  return std::nullopt;
}
/// The RPC procedure number of an operation (ADD = 1 ... DIVIDE = 4 in calc.x).
constexpr std::uint32_t procedure(Op op) { return static_cast<std::uint32_t>(op) + 1; }

// ---- the server's procedures (src/server.cpp) -------------------------------------------

/**
 * @brief Version 2's arithmetic: a op b on 32-bit ints, exactly, or why not.
 *
 * Division truncates toward zero as in C (-7 / 2 == -3). b == 0 for kDivide is
 * DIV_BY_ZERO; a result outside int (INT_MAX + 1, INT_MIN * -1, INT_MIN / -1, ...) is
 * OVERFLOW. Never has undefined behaviour and never traps: x86's division instruction
 * raises SIGFPE for INT_MIN / -1, which would kill the server.
 *
 * @return  {CALC_OK, value} or {DIV_BY_ZERO} or {OVERFLOW} (calc_result_u.value is 0 then)
 *
 * TODO(lab16): implement in src/server.cpp.
 */
calc_result evaluate(Op op, int a, int b);

/**
 * @brief Version 1's arithmetic: version 1 has no way to say "overflow", so its answer is
 * the result wrapped to 32 bits (two's complement: INT_MAX + 1 is INT_MIN), computed
 * without undefined behaviour. Version 1 has no division.
 *
 * TODO(lab16): implement in src/server.cpp.
 */
int evaluate_v1(Op op, int a, int b);

// The *_svc procedures rpcgen's dispatcher (calc_svc.c, generated with -M) calls, declared
// in calc.h: add_1_svc, subtract_1_svc, multiply_1_svc (version 1: write the int to
// *result) and add_2_svc, subtract_2_svc, multiply_2_svc, divide_2_svc (version 2: write
// the calc_result). Each returns TRUE, so that the dispatcher sends the reply (FALSE sends
// none: the client times out). TODO(lab16): implement them in src/server.cpp, with
// extern "C" linkage (calc.h's declarations give it).

// ---- the client (src/client.cpp) --------------------------------------------------------

enum class Proto { kTcp, kUdp };
constexpr const char* proto_name(Proto p) { return p == Proto::kTcp ? "tcp" : "udp"; }

struct ClientOptions {
  std::string host = "localhost";
  std::uint32_t prog = CALC_PROG;
  std::uint32_t vers = CALC_VERS2;
  Proto proto = Proto::kTcp;
  /// Making the client handle (asking rpcbind, connecting) and each call must each finish
  /// within this; UDP retransmits within it.
  std::chrono::milliseconds timeout{2000};
};

/// Why a call did not get an answer: the transport's failures, kept apart from the
/// calculator's (those are a calc_result).
enum class RpcErrorKind {
  kRpcbindDown,      ///< nobody answers at the host's rpcbind (port 111)
  kNotRegistered,    ///< rpcbind answers, but knows no such program
  kVersionMismatch,  ///< the program is there, without this version
  kNoAnswer,         ///< registered, but the server does not answer (dead, hung, refused)
  kOther,            ///< anything else (unknown host, a garbled reply, ...)
};

/// A failed call. what() names the kind first:
///   kRpcbindDown     "rpcbind not running on HOST (...)"
///   kNotRegistered   "program 0x31230000 version 2 not registered on HOST"
///   kVersionMismatch "program version mismatch: HOST serves program 0x31230000 version(s)
///                     1 to 1, not 2"
///   kNoAnswer        "server not answering: program 0x31230000 version 2 on HOST over tcp
///                     (RPC: ...)"
/// where (...) is TI-RPC's own text (clnt_spcreateerror / clnt_sperror). Exit 3.
class RpcError : public std::runtime_error {
 public:
  RpcError(RpcErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  RpcErrorKind kind() const { return kind_; }

 private:
  RpcErrorKind kind_;
};

/// The answer to one call. Version 1's calls are always CALC_OK.
struct Answer {
  calc_status status = CALC_OK;
  int value = 0;  ///< the result when status is CALC_OK; 0 otherwise
};

/// A client handle for one server, program, version and transport; calls reuse it.
class Calculator {
 public:
  /**
   * @brief Makes the client handle within opts.timeout: asks rpcbind on opts.host for the
   * program's port (clnt_create_timed), connects (TCP), and sets the call timeout
   * (CLSET_TIMEOUT; for UDP also CLSET_RETRY_TIMEOUT, the retransmission interval: a fifth
   * of opts.timeout, at least 20 ms).
   *
   * @throws RpcError (kRpcbindDown, kNotRegistered, kVersionMismatch — rpcbind knows the
   *         program, but not this version —, kNoAnswer, kOther)
   *
   * TODO(lab16): implement in src/client.cpp.
   */
  explicit Calculator(const ClientOptions& opts);
  /// clnt_destroy: the handle and its socket go (a client that makes many leaks nothing).
  ~Calculator();
  Calculator(const Calculator&) = delete;
  Calculator& operator=(const Calculator&) = delete;

  /**
   * @brief One call: version 1's stubs (add_1, ...) or version 2's (add_2, ...).
   *
   * @return  the answer (DIV_BY_ZERO and OVERFLOW are answers, not errors)
   * @throws ipclab::UsageError for kDivide with version 1 (it has no DIVIDE) before any
   *         call; RpcError when the call fails (RPC_PROGVERSMISMATCH: kVersionMismatch;
   *         timed out or the connection failed: kNoAnswer; else kOther)
   *
   * TODO(lab16): implement in src/client.cpp.
   */
  Answer call(Op op, int a, int b);

  const ClientOptions& options() const { return opts_; }

 private:
  ClientOptions opts_;
  CLIENT* clnt_ = nullptr;
};

}  // namespace ipclab::lab16
