#include "ipclab/rpc.hpp"

#include <netinet/in.h>     // sockaddr_in, htons
#include <poll.h>           // poll
#include <rpc/rpcb_prot.h>  // RPCBPROG, RPCBPROC_DUMP, rpcblist, xdr_rpcblist_ptr
#include <sys/socket.h>     // socket, bind, listen
#include <sys/un.h>         // sockaddr_un
#include <unistd.h>         // unlink, close

#include <algorithm>  // std::max
#include <cerrno>     // errno
#include <cstdlib>    // std::free
#include <cstring>    // std::memcpy
#include <map>        // std::map
#include <utility>    // std::move

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // OperationFailed, UsageError, throw_errno

namespace ipclab::rpc {

timeval to_timeval(std::chrono::milliseconds ms) {
  ms = std::max(ms, std::chrono::milliseconds(1));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

namespace {

/// xdr_void as an xdrproc_t: it is declared without parameters, and a cast through
/// void (*)() is the one GCC accepts between function types.
xdrproc_t xdr_void_proc() {
  return reinterpret_cast<xdrproc_t>(reinterpret_cast<void (*)()>(xdr_void));
}

/// getnetconfigent with its free: nullptr when the netid is unknown.
struct NetConfig {
  explicit NetConfig(const std::string& netid) : nc(getnetconfigent(netid.c_str())) {}
  ~NetConfig() {
    if (nc != nullptr) freenetconfigent(nc);
  }
  NetConfig(const NetConfig&) = delete;
  NetConfig& operator=(const NetConfig&) = delete;
  netconfig* nc;
};

/// A client handle, destroyed on scope exit.
struct Client {
  explicit Client(CLIENT* c) : clnt(c) {}
  ~Client() {
    if (clnt != nullptr) clnt_destroy(clnt);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  CLIENT* clnt;
};

}  // namespace

std::string hex(std::uint32_t prog) { return fmt::format("0x{:08x}", prog); }

std::uint32_t parse_prog(std::string_view text) {
  const std::string s(text);
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &used, 0);  // base 0: 0x for hex
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || s[0] == '-' || v == 0 || v > 0xffffffffULL)
    throw UsageError(fmt::format("--prog {}: a program number from 1 to 0xffffffff", s));
  return static_cast<std::uint32_t>(v);
}

std::string describe(const Mapping& m) {
  return fmt::format("program {} version {} on {} {} (owner {})", hex(m.prog), m.vers, m.netid,
                     m.addr, m.owner);
}

std::optional<std::vector<Mapping>> mappings(std::chrono::milliseconds timeout) {
  // rpcbind's well-known address, asked directly: clnt_create would ask rpcbind where
  // rpcbind is, and rpcb_getmaps waits up to a minute for a hung one.
  NetConfig tcp("tcp");
  if (tcp.nc == nullptr) return std::nullopt;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(PMAPPORT);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  netbuf nb{sizeof sin, sizeof sin, &sin};
  Client c(clnt_tli_create(RPC_ANYFD, tcp.nc, &nb, RPCBPROG, RPCBVERS, 0, 0));
  if (c.clnt == nullptr) return std::nullopt;  // connection refused: not running
  rpcblist_ptr list = nullptr;
  const clnt_stat st = clnt_call(c.clnt, RPCBPROC_DUMP, xdr_void_proc(), nullptr,
                                 reinterpret_cast<xdrproc_t>(xdr_rpcblist_ptr),
                                 reinterpret_cast<char*>(&list), to_timeval(timeout));
  if (st != RPC_SUCCESS) return std::nullopt;
  std::vector<Mapping> out;
  for (const rpcblist* p = list; p != nullptr; p = p->rpcb_next) {
    const RPCB& r = p->rpcb_map;
    out.push_back({static_cast<std::uint32_t>(r.r_prog), static_cast<std::uint32_t>(r.r_vers),
                   r.r_netid != nullptr ? r.r_netid : "", r.r_addr != nullptr ? r.r_addr : "",
                   r.r_owner != nullptr ? r.r_owner : ""});
  }
  xdr_free(reinterpret_cast<xdrproc_t>(xdr_rpcblist_ptr), reinterpret_cast<char*>(&list));
  return out;
}

std::vector<Mapping> mappings_of(std::uint32_t prog) {
  std::vector<Mapping> out;
  for (auto& m : mappings().value_or(std::vector<Mapping>{}))
    if (m.prog == prog) out.push_back(std::move(m));
  return out;
}

bool rpcbind_running(std::chrono::milliseconds timeout) { return mappings(timeout).has_value(); }

bool unset(std::uint32_t prog, std::uint32_t vers) {
  return rpcb_unset(prog, vers, nullptr) != 0;  // nullptr: every transport
}

bool answers(const Mapping& m, std::chrono::milliseconds timeout) {
  NetConfig nc(m.netid);
  if (nc.nc == nullptr) return false;
  netbuf* addr = uaddr2taddr(nc.nc, m.addr.c_str());
  if (addr == nullptr) return false;
  // TCP connects here: refused at once when nobody listens on the port any more.
  Client c(clnt_tli_create(RPC_ANYFD, nc.nc, addr, m.prog, m.vers, 0, 0));
  std::free(addr->buf);  // NOLINT(cppcoreguidelines-no-malloc): TI-RPC allocates with malloc
  std::free(addr);       // NOLINT(cppcoreguidelines-no-malloc)
  if (c.clnt == nullptr) return false;
  timeval tv = to_timeval(timeout);
  clnt_control(c.clnt, CLSET_TIMEOUT, reinterpret_cast<char*>(&tv));
  timeval retry = to_timeval(timeout / 3 + std::chrono::milliseconds(1));
  if (m.netid.rfind("udp", 0) == 0)
    clnt_control(c.clnt, CLSET_RETRY_TIMEOUT, reinterpret_cast<char*>(&retry));
  const clnt_stat st =
      clnt_call(c.clnt, NULLPROC, xdr_void_proc(), nullptr, xdr_void_proc(), nullptr, tv);
  // Any RPC answer, even "no such version", means a server reads that address.
  return st == RPC_SUCCESS || st == RPC_PROGVERSMISMATCH || st == RPC_PROGUNAVAIL ||
         st == RPC_PROCUNAVAIL || st == RPC_AUTHERROR;
}

std::vector<Mapping> remove_stale(std::uint32_t prog, bool dry_run,
                                  std::chrono::milliseconds probe) {
  std::map<std::uint32_t, std::vector<Mapping>> by_version;
  for (auto& m : mappings_of(prog)) by_version[m.vers].push_back(std::move(m));
  std::vector<Mapping> stale;
  for (auto& [vers, ms] : by_version) {
    bool alive = false;
    for (const auto& m : ms) alive = alive || answers(m, probe);
    if (alive) continue;
    if (!dry_run) unset(prog, vers);
    for (auto& m : ms) stale.push_back(std::move(m));
  }
  return stale;
}

Server::Server(std::uint32_t prog, std::vector<Version> versions,
               const std::vector<std::string>& netids)
    : prog_(prog), versions_(std::move(versions)) {
  for (const auto& v : versions_) {
    for (const auto& m : mappings_of(prog_))
      if (m.vers == v.vers && answers(m, std::chrono::milliseconds(500)))
        throw OperationFailed(
            fmt::format("program {} version {} is already served by a live server ({} {})",
                        hex(prog_), v.vers, m.netid, m.addr));
    // What a server killed with -9 left behind (nothing answers it): replace it.
    svc_unreg(prog_, v.vers);
  }
  try {
    for (const auto& netid : netids) {
      NetConfig nc(netid);
      if (nc.nc == nullptr) throw UsageError(fmt::format("unknown transport \"{}\"", netid));
      SVCXPRT* xprt = svc_tli_create(RPC_ANYFD, nc.nc, nullptr, 0, 0);
      if (xprt == nullptr) throw_errno("svc_tli_create({})", netid);
      xprts_.emplace_back(netid, xprt);
      for (const auto& v : versions_)
        if (svc_reg(xprt, prog_, v.vers, v.dispatch, nc.nc) == 0)
          throw std::runtime_error(fmt::format(
              "cannot register program {} version {} on {} with rpcbind (is it running? as "
              "root: rpcbind -w)",
              hex(prog_), v.vers, netid));
    }
  } catch (...) {
    for (const auto& v : versions_) svc_unreg(prog_, v.vers);
    for (auto& [netid, xprt] : xprts_) svc_destroy(xprt);
    throw;
  }
}

Server::~Server() {
  for (const auto& v : versions_) svc_unreg(prog_, v.vers);  // rpcbind forgets us: rpcb_unset
  for (auto& [netid, xprt] : xprts_) svc_destroy(xprt);
  if (!local_path_.empty()) ::unlink(local_path_.c_str());
}

void Server::serve_local(const std::string& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sun.sun_path)
    throw UsageError(
        fmt::format("socket path \"{}\": 1 to {} bytes", path, sizeof sun.sun_path - 1));
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno("socket(AF_UNIX)");
  ::unlink(path.c_str());  // a socket file left by a killed server
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    throw_errno("bind/listen {}", path);
  }
  local_path_ = path;
  SVCXPRT* xprt = svc_vc_create(fd, 0, 0);  // takes the listening socket; svc_destroy closes it
  if (xprt == nullptr) {
    ::close(fd);
    throw OperationFailed(fmt::format("svc_vc_create({}) failed", path));
  }
  xprts_.emplace_back("local", xprt);
  for (const auto& v : versions_)
    if (svc_reg(xprt, prog_, v.vers, v.dispatch, nullptr) == 0)  // nullptr: not with rpcbind
      throw OperationFailed(fmt::format("svc_reg on {} failed", path));
}

int Server::port(std::string_view netid) const {
  for (const auto& [id, xprt] : xprts_)
    if (id == netid && xprt->xp_ltaddr.buf != nullptr && xprt->xp_ltaddr.len >= sizeof(sockaddr_in))
      return ntohs(static_cast<const sockaddr_in*>(xprt->xp_ltaddr.buf)->sin_port);
  return 0;
}

void Server::run(int stop_fd) {
  for (;;) {
    // svc_pollfd: every descriptor TI-RPC serves (listeners and connections); it changes
    // as connections come and go, so it is copied each round.
    std::vector<pollfd> fds(svc_pollfd, svc_pollfd + svc_max_pollfd);
    fds.push_back({stop_fd, POLLIN, 0});
    const int n = ::poll(fds.data(), fds.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;  // a signal: its self-pipe is readable next round
      throw_errno("poll");
    }
    if (stop_fd >= 0 && fds.back().revents != 0) return;
    svc_getreq_poll(fds.data(), n);
  }
}

}  // namespace ipclab::rpc
