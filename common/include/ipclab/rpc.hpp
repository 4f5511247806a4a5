// Sun RPC plumbing shared by the RPC labs (16-18), the graders' leak guard and
// tools/ipc-clean: what rpcbind holds, removing registrations, asking a server whether it
// is alive, and serving a program until a descriptor becomes readable. Needs libtirpc
// (link ipclab_rpc_dep, not ipclab_dep).
//
// A registration is an IPC object like the others: graders give each test its own program
// number (names::rpc_program(), in the transient range), servers remove their
// registrations on SIGINT/SIGTERM, and a registration whose server is gone is a leftover.
#pragma once

#include <rpc/rpc.h>  // svc_req, SVCXPRT

#include <chrono>       // std::chrono::milliseconds
#include <cstdint>      // std::uint32_t
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

namespace ipclab::rpc {

/// One entry of rpcbind's table (what `rpcinfo` prints).
struct Mapping {
  std::uint32_t prog = 0;
  std::uint32_t vers = 0;
  std::string netid;  ///< "tcp", "udp", "tcp6", "local", ...
  std::string addr;   ///< universal address, e.g. "0.0.0.0.3.45" (port 3 * 256 + 45)
  std::string owner;  ///< the registering uid as rpcbind recorded it, e.g. "1000"
};

/// "0x31230000": how the kit prints program numbers (rpcinfo -p prints them in decimal).
std::string hex(std::uint32_t prog);
/// A --prog value: hex (0x31230000) or decimal (824377344), 1 to 0xffffffff; UsageError
/// (exit 2) otherwise.
std::uint32_t parse_prog(std::string_view text);
/// A timeout as the timeval TI-RPC's calls take (clnt_call, CLSET_TIMEOUT, CLSET_RETRY_TIMEOUT),
/// at least 1 ms: a zero timeval would mean "do not wait for the answer at all".
timeval to_timeval(std::chrono::milliseconds ms);
/// "program 0x40001234 version 1 on tcp 0.0.0.0.3.45 (owner 1000)".
std::string describe(const Mapping& m);

/// rpcbind's table on this host (RPCBPROC_DUMP over TCP to localhost), or nullopt when
/// rpcbind does not answer within `timeout` (not running, or hung).
std::optional<std::vector<Mapping>> mappings(
    std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));
/// The entries of one program, every version and transport (empty if rpcbind is down).
std::vector<Mapping> mappings_of(std::uint32_t prog);
/// True if rpcbind answers on this host within `timeout`.
bool rpcbind_running(std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));

/// Removes prog/vers from rpcbind on every transport (rpcb_unset). False when rpcbind
/// refused (another user's registration) or is not running.
bool unset(std::uint32_t prog, std::uint32_t vers);

/// True if a server answers the null procedure (procedure 0) at m's address within
/// `timeout`: the registration is alive, not left behind by a killed server.
bool answers(const Mapping& m, std::chrono::milliseconds timeout);

/// Removes every registration of `prog` whose server does not answer (at most `probe` per
/// transport to decide) and returns them; a live one is kept. What tools/ipc-clean does
/// for each of our program numbers.
std::vector<Mapping> remove_stale(std::uint32_t prog, bool dry_run,
                                  std::chrono::milliseconds probe = std::chrono::milliseconds(300));

/// An rpcgen dispatch function (calc_prog_1 and the like) or a wrapper around one.
using Dispatch = void (*)(svc_req*, SVCXPRT*);

struct Version {
  std::uint32_t vers = 0;
  Dispatch dispatch = nullptr;
};

/// A program served on some transports. The constructor creates one transport per netid
/// ("tcp", "udp": IPv4, any free port), refuses to take over a live server (the null
/// procedure answers: OperationFailed), replaces a stale registration left by a killed
/// server, and registers every version on every transport with rpcbind. The destructor
/// removes the registrations (svc_unreg) and the transports. One per process: TI-RPC's
/// server state (the callout table, svc_pollfd) is global.
class Server {
 public:
  Server(std::uint32_t prog, std::vector<Version> versions, const std::vector<std::string>& netids);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The port a transport was bound to (0 if not served).
  int port(std::string_view netid) const;

  /// Also serves every version on an AF_UNIX stream socket at `path` (replacing a socket
  /// file left there), not registered with rpcbind: clients connect by path. Each accepted
  /// connection is its own transport, whose xp_fd answers SO_PEERCRED. The destructor
  /// removes the socket file.
  void serve_local(const std::string& path);

  /// Serves requests, one at a time, until `stop_fd` is readable (-1: forever). Returns
  /// normally then; the registrations stay until the destructor.
  void run(int stop_fd);

 private:
  std::uint32_t prog_;
  std::vector<Version> versions_;
  std::vector<std::pair<std::string, SVCXPRT*>> xprts_;
  std::string local_path_;
};

}  // namespace ipclab::rpc
