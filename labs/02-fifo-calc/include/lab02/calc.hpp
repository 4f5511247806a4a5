// Lab 02 — a calculator server on FIFOs (Stevens UNP2 4.6-4.11): one well-known FIFO that
// every client writes its request into, one reply FIFO per client. You write the
// arithmetic (src/calc.cpp), the wire format (src/protocol.cpp), the iterative server
// (src/server.cpp) and the client call (src/client.cpp); the programs calc_server and
// calc_client (main/) are given.
//
// The wire format (one line each way; README §Protocol):
//   request  "<client-id> <expression>\n"   one write(2) of at most kMaxRequest bytes
//   reply    "ok <value>\n" | "error <kind> <message>\n"   kind: malformed, division_by_zero,
//            overflow
// Paths: the server's FIFO is <rundir>/calc_server, a client's reply FIFO is
// <rundir>/calc_client_<client-id>, the server's lock file <rundir>/calc_server.lock.
#pragma once

#include <limits.h>  // PIPE_BUF

#include <chrono>       // std::chrono::milliseconds
#include <cstddef>      // std::size_t
#include <cstdint>      // std::int64_t, std::uint64_t
#include <functional>   // std::function
#include <optional>     // std::optional
#include <stdexcept>    // std::runtime_error
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "ipclab/fd.hpp"     // ipclab::Fd
#include "ipclab/names.hpp"  // ipclab::names::path

namespace ipclab::lab02 {

// ---- names (given) ----------------------------------------------------------------------

/// The largest request, newline included: a write of at most PIPE_BUF bytes to a pipe is
/// atomic, so requests from many clients never interleave (pipe(7)).
inline constexpr std::size_t kMaxRequest = PIPE_BUF;
/// The largest client id: [A-Za-z0-9_-], 1 to kMaxClientId characters.
inline constexpr std::size_t kMaxClientId = 40;

/// <rundir>/calc_server: the well-known FIFO the server reads requests from.
inline std::string server_fifo_path() { return names::path("calc_server"); }
/// The server's single-instance lock (ipclab::InstanceLock::acquire(kServerLockName)).
inline constexpr const char* kServerLockName = "calc_server";
/// <rundir>/calc_server.lock: the lock file of kServerLockName, held by the live server
/// (and removed by it when it stops cleanly).
inline std::string server_lock_path() { return names::path("calc_server.lock"); }
/// <rundir>/calc_client_<id>: the FIFO a client reads its reply from.
inline std::string client_fifo_path(std::string_view client_id) {
  return names::path("calc_client_" + std::string(client_id));
}
/// True if `id` is a valid client id (1 to kMaxClientId of [A-Za-z0-9_-]).
inline bool valid_client_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxClientId) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  return true;
}

// ---- arithmetic (src/calc.cpp) ----------------------------------------------------------

enum class Op : char { kAdd = '+', kSub = '-', kMul = '*', kDiv = '/', kMod = '%' };

/// One binary operation on two signed 64-bit integers: lhs op rhs.
struct Expr {
  std::int64_t lhs = 0;
  Op op = Op::kAdd;
  std::int64_t rhs = 0;
  bool operator==(const Expr&) const = default;
};

/// What the server answers.
enum class Status { kOk, kMalformed, kDivisionByZero, kOverflow };

struct Reply {
  Status status = Status::kOk;
  std::int64_t value = 0;  ///< the result, when status is kOk
  /// Empty when status is kOk. Otherwise one line (no '\n') saying what went wrong:
  /// kDivisionByZero: exactly "division by zero";
  /// kOverflow: begins with "overflow" (e.g. "overflow: 9223372036854775807 + 1 does not
  /// fit in 64 bits"); kMalformed: begins with "malformed expression".
  std::string message;
  bool operator==(const Reply&) const = default;
};

/**
 * @brief Parses one binary operation: NUMBER OP NUMBER.
 *
 * NUMBER is an optional sign (+ or -) directly followed by decimal digits and must fit in
 * std::int64_t (-9223372036854775808 is a valid number). OP is one of + - * / %. Blanks
 * (spaces and tabs) may surround each token, any number of them, or be absent: "5+3",
 * "  5 +\t3 ", "5 - -3" and "5--3" are valid. Nothing else is: no parentheses, no second
 * operator ("1 + 2 + 3"), no blanks inside a number ("- 3").
 *
 * @param text  the expression, e.g. "5 + 3"
 * @return      the parsed operation
 * @throws ipclab::UsageError whose message begins with "malformed expression" and says
 *         what is wrong (a number out of range is malformed too)
 *
 * TODO(lab02): implement in src/calc.cpp.
 */
Expr parse_expression(std::string_view text);

/**
 * @brief Computes lhs op rhs exactly, or says why it cannot.
 *
 * / and % truncate toward zero as in C++ (-7 / 2 == -3, -7 % 2 == -1). x / 0 and x % 0 are
 * kDivisionByZero. A result outside std::int64_t is kOverflow (INT64_MAX + 1,
 * INT64_MIN / -1, ...). INT64_MIN % -1 is 0. Never has undefined behaviour and never traps:
 * on x86 the division instruction raises SIGFPE for INT64_MIN / -1 and INT64_MIN % -1.
 *
 * @return  kOk with the value, or kDivisionByZero/kOverflow with its message (see Reply)
 *
 * TODO(lab02): implement in src/calc.cpp.
 */
Reply evaluate(const Expr& expr);

/**
 * @brief The server's answer to an expression text: parse_expression then evaluate.
 *
 * @return  evaluate's reply, or kMalformed with the UsageError's message. Never throws.
 *
 * TODO(lab02): implement in src/calc.cpp.
 */
Reply compute(std::string_view text);

// ---- the wire format (src/protocol.cpp) -------------------------------------------------

struct Request {
  std::string client_id;   ///< names the reply FIFO: client_fifo_path(client_id)
  std::string expression;  ///< sent as is: the server parses it
  bool operator==(const Request&) const = default;
};

/**
 * @brief The bytes of one request: "<client-id> <expression>\n".
 *
 * @throws ipclab::UsageError if the client id is not valid_client_id(), if the expression
 *         holds a '\n', or if the whole line (newline included) is longer than kMaxRequest
 *         (the message says how long it is and that the limit is PIPE_BUF)
 *
 * TODO(lab02): implement in src/protocol.cpp.
 */
std::string encode_request(const Request& request);

/**
 * @brief Decodes one request line (without its '\n'): the client id up to the first
 * space, the expression after it (possibly empty or malformed: that is the server's answer
 * to give, not a decoding error).
 *
 * @return  std::nullopt if there is no space or the id is not valid_client_id(): nobody
 *          can be answered
 *
 * TODO(lab02): implement in src/protocol.cpp.
 */
std::optional<Request> decode_request(std::string_view line);

/**
 * @brief The bytes of one reply: "ok <value>\n", or "error <kind> <message>\n" with kind
 * malformed, division_by_zero or overflow. A '\n' in the message is sent as a space.
 *
 * TODO(lab02): implement in src/protocol.cpp.
 */
std::string encode_reply(const Reply& reply);

/**
 * @brief Decodes one reply line (without its '\n'): the inverse of encode_reply.
 *
 * @throws ipclab::SysError with EPROTO if the line is not a reply
 *
 * TODO(lab02): implement in src/protocol.cpp.
 */
Reply decode_reply(std::string_view line);

// ---- the server (src/server.cpp) --------------------------------------------------------

struct ServerOptions {
  /// A descriptor that becomes readable when the server must stop (the read end of
  /// ipclab::ShutdownSignals' self-pipe, or a test's pipe). -1: never stop.
  int stop_fd = -1;
  /// Called once, with the FIFO's path, when clients can be served.
  std::function<void(const std::string& fifo_path)> on_ready;
  /// Called with one line (no '\n') per event worth logging. Per request, two lines in the
  /// course guide's words: `Received: EXPR from client ID`, then `Sending response: R to
  /// FIFO` (R the value, or `error: MESSAGE`; ` (dropped, client gone: WHY)` appended when
  /// the reply could not be delivered). A bad request: one line saying why it was dropped.
  /// May be empty.
  std::function<void(std::string_view line)> log;
};

struct ServerStats {
  std::uint64_t requests = 0;      ///< request lines read with a valid client id
  std::uint64_t replies = 0;       ///< replies delivered
  std::uint64_t clients_gone = 0;  ///< replies dropped: no reply FIFO, no reader, EPIPE, full
  std::uint64_t bad_requests = 0;  ///< lines nobody could be answered for (no/invalid id,
                                   ///< longer than kMaxRequest)
};

/// Thrown by run_server when another server is alive in this run directory. Exit 1.
class AlreadyRunning : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/**
 * @brief Opens client `client_id`'s reply FIFO for writing, without ever blocking.
 *
 * @return  the descriptor (close-on-exec), or an invalid Fd if the client is gone: its FIFO
 *          does not exist (ENOENT) or nobody has it open for reading (ENXIO). (The reference
 *          also refuses anything that is not a FIFO: O_NOFOLLOW, then fstat.)
 * @throws ipclab::SysError for any other failure
 *
 * TODO(lab02): implement in src/server.cpp.
 */
Fd open_reply_fifo(std::string_view client_id);

/**
 * @brief Writes encode_reply(reply) to `fd` in one write(2), without ever blocking.
 *
 * @return  true if the reply was written whole; false if the client is gone (EPIPE) or its
 *          FIFO is full (EAGAIN). Never throws for those; a write to a vanished reader
 *          must not kill the process either (SIGPIPE).
 * @throws ipclab::SysError for any other failure
 *
 * TODO(lab02): implement in src/server.cpp.
 */
bool send_reply(int fd, const Reply& reply);

/**
 * @brief The iterative server: serves requests on server_fifo_path() until opts.stop_fd is
 * readable, then removes the FIFO and returns.
 *
 * Startup never blocks and never takes over a live server: if another server holds the
 * single-instance lock (ipclab::InstanceLock::acquire(kServerLockName), the lock file
 * server_lock_path()) it throws AlreadyRunning (touching nothing). Otherwise it keeps that
 * lock until it returns, replaces a FIFO left at the path by a killed server,
 * opens its FIFO so that it never reads end-of-file (clients come and go), ignores SIGPIPE
 * in this process, then calls opts.on_ready.
 *
 * Each request line gets one reply, compute(expression), written to the client's reply
 * FIFO with open_reply_fifo + send_reply; a client that is gone costs nothing but a log
 * line. Bad lines (no valid id, longer than kMaxRequest) are dropped and logged. Nothing a
 * client does (or fails to do) can block, stop or crash the server.
 *
 * On return (stop requested, or an exception) the FIFO is removed, and the lock released
 * (its file removed), in that order.
 *
 * @throws AlreadyRunning, ipclab::SysError (e.g. the path exists and is not a FIFO)
 *
 * TODO(lab02): implement in src/server.cpp.
 */
ServerStats run_server(const ServerOptions& opts);

// ---- the client (src/client.cpp) --------------------------------------------------------

struct CallOptions {
  /// The whole call must finish within this: waiting for the server, sending, the reply.
  std::chrono::milliseconds timeout{2000};
  /// Names the reply FIFO; must be unique among live clients. Empty: this process's pid.
  std::string client_id;
  /// A descriptor that becomes readable when the call must be abandoned (the read end of
  /// ipclab::ShutdownSignals' self-pipe: SIGINT). -1: none.
  int cancel_fd = -1;
};

/// The server did not take the request within the timeout (no FIFO, or nobody reading
/// it). what() is "server not running". Exit 3.
class ServerNotRunning : public std::runtime_error {
 public:
  ServerNotRunning() : std::runtime_error("server not running") {}
};

/// The request was delivered but no reply came within the timeout. Exit 3.
class NoReply : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// opts.cancel_fd became readable. The program then dies of the signal it got.
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/**
 * @brief Sends one expression to the server and returns its reply.
 *
 * Makes the reply FIFO client_fifo_path(id) (replacing a stale one), opens it for reading
 * *before* sending the request, waits for the server's FIFO to have a reader (a client
 * started before the server waits for it, up to the timeout), sends the request in one
 * write(2), and reads one reply line. Never blocks past the deadline, and removes its reply
 * FIFO before it returns or throws, whatever happens. Ignores SIGPIPE in this process (a
 * server that dies between the client's open and write must be EPIPE, not the client's
 * death with its FIFO left behind). Safe to call from several threads with distinct ids.
 *
 * @return  the server's reply (a malformed expression is a kMalformed reply, not an error)
 * @throws ipclab::UsageError from encode_request (too long, bad id), before touching any
 *         FIFO; ServerNotRunning; NoReply; Interrupted; ipclab::SysError (EPROTO: a bad
 *         reply; or a failed system call)
 *
 * TODO(lab02): implement in src/client.cpp.
 */
Reply call(std::string_view expression, const CallOptions& opts = {});

}  // namespace ipclab::lab02
