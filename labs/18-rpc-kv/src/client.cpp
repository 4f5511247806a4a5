// The client side: a TI-RPC client handle on a TCP connection to host:port (no rpcbind:
// the port is known), and one function per procedure around rpcgen's stubs.
#include <fcntl.h>        // fcntl, O_NONBLOCK
#include <netdb.h>        // getaddrinfo
#include <netinet/in.h>   // sockaddr_in
#include <netinet/tcp.h>  // TCP_NODELAY
#include <poll.h>         // poll
#include <sys/socket.h>   // socket, connect
#include <unistd.h>       // close

#include <rpc/rpc.h>  // clnt_vc_create, clnt_control, clnt_sperrno

#include <algorithm>  // std::max
#include <cerrno>     // errno
#include <cstring>    // std::strerror

#include <fmt/core.h>  // fmt::format

#include "ipclab/rpc.hpp"  // rpc::to_timeval
#include "lab18/kv.hpp"

namespace ipclab::lab18 {
namespace {

/// A TCP socket connected to addr within `timeout`, or throws NetworkError.
int connect_to(const Address& addr, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(addr.port);
  if (const int rc = ::getaddrinfo(addr.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    throw NetworkError(fmt::format("cannot reach {}: {}", addr.str(), ::gai_strerror(rc)));
  sockaddr_in sin{};
  std::memcpy(&sin, res->ai_addr, sizeof sin);
  ::freeaddrinfo(res);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw NetworkError(fmt::format("socket: {}", std::generic_category().message(errno)));
  int err = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
      socklen_t len = sizeof err;
      if (n <= 0)
        err = ETIMEDOUT;
      else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    }
  }
  if (err != 0) {
    ::close(fd);
    throw NetworkError(
        fmt::format("cannot reach {}: {}", addr.str(), std::generic_category().message(err)));
  }
  (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

xdrproc_t void_proc() {
  return reinterpret_cast<xdrproc_t>(reinterpret_cast<void (*)()>(xdr_void));
}

template <typename T>
void free_result(bool_t (*f)(XDR*, T*), T* r) {
  xdr_free(reinterpret_cast<xdrproc_t>(f), reinterpret_cast<char*>(r));
}

}  // namespace

Connection::Connection(const Address& addr, std::chrono::milliseconds timeout) : addr_(addr) {
  const int fd = connect_to(addr_, timeout);
  sockaddr_in sin{};
  socklen_t len = sizeof sin;
  (void)::getpeername(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  netbuf nb{sizeof sin, sizeof sin, &sin};
  clnt_ = clnt_vc_create(fd, &nb, KV_PROG, KV_VERS, 0, 0);
  if (clnt_ == nullptr) {
    ::close(fd);
    throw NetworkError(
        fmt::format("cannot reach {}: {}", addr_.str(), clnt_spcreateerror("clnt_vc_create")));
  }
  clnt_control(clnt_, CLSET_FD_CLOSE, nullptr);  // clnt_destroy closes the socket
  timeval tv = rpc::to_timeval(timeout);
  clnt_control(clnt_, CLSET_TIMEOUT, reinterpret_cast<char*>(&tv));
}

Connection::~Connection() {
  if (clnt_ != nullptr) clnt_destroy(clnt_);
}

namespace {
[[noreturn]] void fail(const Address& addr, clnt_stat st) {
  throw NetworkError(fmt::format("{} did not answer: {}", addr.str(), clnt_sperrno(st)));
}
}  // namespace

PutReply Connection::put(std::uint64_t client_id, std::uint64_t request_id, const std::string& key,
                         bool present, const std::string& value) {
  Entry e{key, {}, present, value};
  const kv_entry x = to_xdr(e);
  kv_put_args args{client_id, request_id, x.key, x.present, x.value};
  kv_put_result r{};
  if (const clnt_stat st = put_1(&args, &r, clnt_); st != RPC_SUCCESS) fail(addr_, st);
  return PutReply{r.status, r.acks, r.nodes, from_xdr(r.ver)};
}

GetReply Connection::get(const std::string& key) {
  std::string k = key;
  kv_key xk = k.data();
  kv_get_result r{};
  if (const clnt_stat st = get_1(&xk, &r, clnt_); st != RPC_SUCCESS) fail(addr_, st);
  GetReply out{r.status, r.acks, r.nodes, from_xdr(r.entry)};
  free_result(xdr_kv_get_result, &r);
  return out;
}

Entry Connection::local_get(const std::string& key) {
  std::string k = key;
  kv_key xk = k.data();
  kv_entry r{};
  if (const clnt_stat st = local_get_1(&xk, &r, clnt_); st != RPC_SUCCESS) fail(addr_, st);
  Entry out = from_xdr(r);
  free_result(xdr_kv_entry, &r);
  return out;
}

std::pair<bool, Version> Connection::store(const Entry& e) {
  kv_entry x = to_xdr(e);
  kv_store_result r{};
  if (const clnt_stat st = store_1(&x, &r, clnt_); st != RPC_SUCCESS) fail(addr_, st);
  return {r.stored != FALSE, from_xdr(r.ver)};
}

std::vector<Entry> Connection::pull() {
  kv_entries r{};
  if (const clnt_stat st = pull_1(nullptr, &r, clnt_); st != RPC_SUCCESS) fail(addr_, st);
  std::vector<Entry> out;
  out.reserve(r.kv_entries_len);
  for (u_int i = 0; i < r.kv_entries_len; ++i) out.push_back(from_xdr(r.kv_entries_val[i]));
  free_result(xdr_kv_entries, &r);
  return out;
}

bool Connection::ping() {
  timeval tv{};
  clnt_control(clnt_, CLGET_TIMEOUT, reinterpret_cast<char*>(&tv));
  return clnt_call(clnt_, NULLPROC, void_proc(), nullptr, void_proc(), nullptr, tv) == RPC_SUCCESS;
}

}  // namespace ipclab::lab18
