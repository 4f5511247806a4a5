// Lab 17 — Sun RPC with authentication (Stevens UNP2 ch. 16, "Authentication"; RFC 5531
// §8 and appendix A for AUTH_SYS): the calculator of lab 16 behind a policy that reads each
// call's credential, a local transport (an AF_UNIX socket) where the kernel vouches for the
// caller, and a stateful procedure made safe to retry by a duplicate-request cache.
//
// You write the server's side (src/server.cpp): who the caller is (the credential in the
// call's header, and SO_PEERCRED on a local connection), what the policy says about it,
// the duplicate-request cache, and the four procedures rpcgen's dispatcher calls; and the
// client's side (src/client.cpp): a client handle over TCP, UDP or the local socket, with
// the credential you choose (AUTH_SYS with a uid and gid, or AUTH_NONE), and the calls.
// The programs calc_server_auth and calc_client_auth (main/), calc_auth.x and rpcgen's
// output are given.
#pragma once

#include <sys/types.h>  // uid_t, gid_t

#include <chrono>       // std::chrono::milliseconds
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint32_t, std::uint64_t, std::int64_t
#include <deque>        // std::deque
#include <map>          // std::map
#include <optional>     // std::optional
#include <set>          // std::set
#include <stdexcept>    // std::runtime_error
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::pair

#include "ipclab/names.hpp"  // names::path

#include "calc_auth.h"  // rpcgen's output (build directory): operands, accum_*, the stubs

namespace ipclab::lab17 {

// ---- procedures (given) -------------------------------------------------------------------

enum class Op { kAdd, kSubtract, kMultiply, kAccumulate };

/// "add", "subtract", "multiply", "accumulate": the client's words and --public's.
constexpr std::string_view op_name(Op op) {
  switch (op) {
    case Op::kAdd:
      return "add";
    case Op::kSubtract:
      return "subtract";
    case Op::kMultiply:
      return "multiply";
    default:
      return "accumulate";
  }
}
/// The operation named `name` (as op_name prints it), or nullopt.
constexpr std::optional<Op> parse_op(std::string_view name) {
  for (Op op : {Op::kAdd, Op::kSubtract, Op::kMultiply, Op::kAccumulate})
    if (op_name(op) == name) return op;
  return std::nullopt;
}
/// The RPC procedure number (ADD = 1 ... ACCUMULATE = 4 in calc_auth.x).
constexpr std::uint32_t procedure(Op op) { return static_cast<std::uint32_t>(op) + 1; }

/// The local transport's socket: a name without '/' lives in the run directory
/// (ipclab::names::path), anything else is used as given.
inline std::string local_socket_path(const std::string& name) {
  return name.find('/') == std::string::npos ? names::path(name) : name;
}

// ---- the server: who calls, and may they (src/server.cpp) ---------------------------------

/// What the server knows about one call's caller.
struct Caller {
  std::uint32_t flavor = AUTH_NONE;  ///< rq_cred.oa_flavor: AUTH_NONE, AUTH_SYS, ...
  /// AUTH_SYS only: what the client claims (authunix_parms: aup_uid, aup_gid, aup_machname).
  uid_t uid = 0;
  gid_t gid = 0;
  std::string machine;
  /// Local transport only: the kernel's word on the process at the other end of the
  /// connection (SO_PEERCRED), taken when it connected. nullopt over TCP and UDP.
  std::optional<uid_t> peer_uid;
  std::optional<gid_t> peer_gid;
};

/**
 * @brief Who is calling: reads the request's credential (rq->rq_cred.oa_flavor; for
 * AUTH_SYS the decoded authunix_parms TI-RPC left in rq->rq_clntcred) and, when the
 * request came over an AF_UNIX connection, the peer's credentials (getsockopt SO_PEERCRED
 * on the transport's descriptor, rq->rq_xprt->xp_fd).
 *
 * TODO(lab17): implement in src/server.cpp.
 */
Caller identify(const svc_req* rq);

/// The server's policy.
struct Policy {
  std::set<uid_t> allowed_uids;          ///< AUTH_SYS callers allowed (default: the server's uid)
  std::set<std::uint32_t> public_procs;  ///< procedures AUTH_NONE may call (--public)
};

/**
 * @brief The verdict on one call of procedure `proc` (1-4; NULLPROC never comes here):
 *   - AUTH_NONE: AUTH_OK if proc is public, else AUTH_TOOWEAK ("use a stronger flavor");
 *   - AUTH_SYS: AUTH_BADCRED if the claimed uid is not allowed, or if the call came over
 *     the local transport and the claimed uid is not the peer's uid (a forged claim);
 *     else AUTH_OK;
 *   - any other flavor: AUTH_REJECTEDCRED.
 *
 * TODO(lab17): implement in src/server.cpp.
 */
auth_stat decide(const Policy& policy, const Caller& caller, std::uint32_t proc);

// ---- the server: a stateful procedure made safe to retry (src/server.cpp) -----------------

/**
 * @brief The duplicate-request cache: the replies to the last `capacity` ACCUMULATE
 * requests, by (client id, request id). Oldest out first. A client's request ids increase,
 * so when (c, r) is evicted, every id of c up to r is "expired": a retry of one of them can
 * no longer be recognised, and must be refused rather than executed a second time.
 */
class DuplicateCache {
 public:
  enum class Found { kNew, kReplay, kExpired };
  struct Lookup {
    Found found = Found::kNew;
    accum_result reply{};  ///< kReplay: the reply sent the first time
  };

  /// A capacity of 0 is taken as 1: the reply just sent is always remembered.
  explicit DuplicateCache(std::size_t capacity);

  /// kReplay with the cached reply, kExpired if the id is at or below the client's highest
  /// evicted id, else kNew. Changes nothing.
  ///
  /// TODO(lab17): implement in src/server.cpp.
  Lookup find(std::uint64_t client_id, std::uint64_t request_id) const;

  /// Remembers the reply to a request just executed; evicts the oldest entry when full
  /// (and remembers the evicted id as its client's highest evicted id).
  ///
  /// TODO(lab17): implement in src/server.cpp.
  void insert(std::uint64_t client_id, std::uint64_t request_id, const accum_result& reply);

  std::size_t size() const { return order_.size(); }
  std::size_t capacity() const { return capacity_; }

 private:
  using Key = std::pair<std::uint64_t, std::uint64_t>;  // (client id, request id)
  std::size_t capacity_;
  std::map<Key, accum_result> replies_;
  std::deque<Key> order_;                           // insertion order, oldest first
  std::map<std::uint64_t, std::uint64_t> expired_;  // client id -> highest evicted id
};

/// What the server remembers between calls. One per process (the server is iterative).
struct ServerState {
  Policy policy;
  std::int64_t total = 0;
  DuplicateCache cache{1024};
  /// How the last ACCUMULATE was answered, for the server's log line.
  DuplicateCache::Found last_accumulate = DuplicateCache::Found::kNew;
};
/// The process's state, which the *_svc procedures use; main/calc_server_auth.cpp sets
/// its policy and cache size before serving.
inline ServerState& server_state() {
  static ServerState state;
  return state;
}

/**
 * @brief ACCUMULATE: a retry (in the cache) gets the cached reply and the total does not
 * move; an expired id gets {ACCUM_EXPIRED} and the total does not move; a new request adds
 * args.amount to state.total, and its reply {ACCUM_OK, total} is cached.
 *
 * TODO(lab17): implement in src/server.cpp.
 */
accum_result accumulate(ServerState& state, const accum_args& args);

// The *_svc procedures rpcgen's dispatcher (calc_auth_svc.c, generated with -M) calls,
// declared in calc_auth.h: add_1_svc, subtract_1_svc, multiply_1_svc (lab 16's version 1:
// the int wrapped to 32 bits) and accumulate_1_svc (accumulate(server_state(), *args)).
// Each returns TRUE. The policy was applied before they are called (the given dispatcher
// wrapper in main/ calls identify and decide, and answers a refusal with svcerr_auth).
// TODO(lab17): implement them in src/server.cpp.

// ---- the client (src/client.cpp) ----------------------------------------------------------

enum class Transport { kTcp, kUdp, kLocal };

struct ClientOptions {
  std::string host = "localhost";
  std::uint32_t prog = CALC_AUTH_PROG;
  Transport transport = Transport::kTcp;
  std::string local_path;  ///< kLocal: the server's socket (local_socket_path applied)
  bool auth_none = false;  ///< AUTH_NONE instead of AUTH_SYS
  uid_t uid = 0;           ///< AUTH_SYS: the uid and gid claimed (the caller chooses them)
  gid_t gid = 0;
  /// Making the client handle and each call must each finish within this.
  std::chrono::milliseconds timeout{2000};
};

/// The server refused the credential (RPC_AUTHERROR). what() is clnt_sperrno's text,
/// "RPC: Authentication error"; why() the server's reason (AUTH_TOOWEAK, AUTH_BADCRED, ...).
/// calc_client_auth prints "AUTH failed: <what()>", exit 1.
class AuthError : public std::runtime_error {
 public:
  AuthError(auth_stat why, const std::string& what) : std::runtime_error(what), why_(why) {}
  auth_stat why() const { return why_; }

 private:
  auth_stat why_;
};

/// No answer: rpcbind down, the program not registered, the socket not there, the server
/// dead or hung. what() names the program, host or path and TI-RPC's text. Exit 3.
class NetworkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A client handle with its credential; calls reuse both.
class AuthCalculator {
 public:
  /**
   * @brief Makes the client handle within opts.timeout — TCP or UDP through rpcbind
   * (clnt_create_timed), or a connection to the AF_UNIX socket opts.local_path
   * (clnt_vc_create on a socket you connect; close-on-exec, and closed again when the
   * connection fails) — sets the call timeout (CLSET_TIMEOUT; over UDP also
   * CLSET_RETRY_TIMEOUT, the retransmission interval: a fifth of opts.timeout, at least
   * 20 ms), and replaces the handle's credential (cl_auth, AUTH_NONE by default) with
   * authunix_create(machine name, opts.uid, opts.gid, ...) or authnone_create().
   *
   * @throws NetworkError (a local path that does not fit in sun_path, with its NUL:
   *         "socket path too long: PATH")
   *
   * TODO(lab17): implement in src/client.cpp.
   */
  explicit AuthCalculator(const ClientOptions& opts);
  /// Destroys the credential (auth_destroy) and the handle (its socket too).
  ~AuthCalculator();
  AuthCalculator(const AuthCalculator&) = delete;
  AuthCalculator& operator=(const AuthCalculator&) = delete;

  /**
   * @brief ADD, SUBTRACT or MULTIPLY (op != kAccumulate).
   * @throws AuthError on RPC_AUTHERROR (clnt_geterr's re_why is the reason), NetworkError on
   *         any other failure.
   * TODO(lab17): implement in src/client.cpp.
   */
  int call(Op op, int a, int b);

  /**
   * @brief ACCUMULATE with this client id and request id (a retry sends the same ids).
   * @return the reply (ACCUM_EXPIRED is an answer)
   * @throws AuthError, NetworkError as call()
   * TODO(lab17): implement in src/client.cpp.
   */
  accum_result accumulate(std::uint64_t client_id, std::uint64_t request_id, int amount);

  const ClientOptions& options() const { return opts_; }

 private:
  ClientOptions opts_;
  CLIENT* clnt_ = nullptr;
};

}  // namespace ipclab::lab17
