// Given: the server side of ONC RPC over TCP, one thread per connection (RFC 5531 for the
// call and reply messages, §11 for the record marking on a stream). TI-RPC's own server
// (svc_run, svc_getreq_poll) is single-threaded: a node that, inside a client's PUT, waits
// for its peers could not answer a peer's STORE meanwhile, and two nodes coordinating at
// once would wait on each other until their timeouts. Here each connection has a thread
// that reads its calls one after another; the node's procedures run concurrently.
#include <netinet/in.h>   // sockaddr_in, htonl, INADDR_ANY
#include <netinet/tcp.h>  // TCP_NODELAY
#include <poll.h>         // poll
#include <sys/socket.h>   // socket, bind, listen, accept4, setsockopt
#include <unistd.h>       // read, write, close

#include <rpc/rpc.h>  // xdrrec_create, xdr_callmsg, xdr_replymsg, rpc_msg

#include <array>    // std::array
#include <cerrno>   // errno
#include <cstdio>   // stderr
#include <thread>   // std::thread
#include <utility>  // std::move

#include <fmt/core.h>  // fmt::print

#include "ipclab/error.hpp"  // throw_errno
#include "lab18/kv.hpp"

namespace ipclab::lab18 {
namespace {

int read_some(void* handle, void* buf, int len) {
  const int fd = *static_cast<int*>(handle);
  for (;;) {
    const ssize_t n = ::read(fd, buf, static_cast<std::size_t>(len));
    if (n > 0) return static_cast<int>(n);
    if (n < 0 && errno == EINTR) continue;
    return -1;  // end of stream or an error: xdrrec fails the call being decoded
  }
}

int write_all(void* handle, void* buf, int len) {
  const int fd = *static_cast<int*>(handle);
  const char* p = static_cast<const char*>(buf);
  int left = len;
  while (left > 0) {
    const ssize_t n = ::send(fd, p, static_cast<std::size_t>(left), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    left -= static_cast<int>(n);
  }
  return len;
}

template <typename T>
xdrproc_t proc_of(bool_t (*f)(XDR*, T*)) {
  return reinterpret_cast<xdrproc_t>(f);
}
xdrproc_t void_proc() {
  return reinterpret_cast<xdrproc_t>(reinterpret_cast<void (*)()>(xdr_void));
}

/// One accepted connection: its calls, one after another, until the client hangs up.
class CallStream {
 public:
  CallStream(int fd, Node& node) : fd_(fd), node_(node) {
    xdrrec_create(&xdrs_, 0, 0, &fd_, read_some, write_all);
  }
  ~CallStream() {
    XDR_DESTROY(&xdrs_);
    ::close(fd_);
  }
  CallStream(const CallStream&) = delete;
  CallStream& operator=(const CallStream&) = delete;

  void serve() {
    for (;;) {
      rpc_msg call{};
      std::array<char, std::size_t{2} * MAX_AUTH_BYTES> cred{};
      call.rm_call.cb_cred.oa_base = cred.data();
      call.rm_call.cb_verf.oa_base = cred.data() + MAX_AUTH_BYTES;
      xdrs_.x_op = XDR_DECODE;
      (void)xdrrec_skiprecord(&xdrs_);
      if (!xdr_callmsg(&xdrs_, &call) || call.rm_direction != CALL) return;
      if (!dispatch(call)) return;
    }
  }

 private:
  /// Decodes the arguments, runs the procedure, sends the reply. False: the stream broke.
  bool dispatch(const rpc_msg& call) {
    const rpc_msg& c = call;
    if (c.rm_call.cb_prog != KV_PROG) return reject(c, PROG_UNAVAIL);
    if (c.rm_call.cb_vers != KV_VERS) return reject(c, PROG_MISMATCH);
    try {
      switch (c.rm_call.cb_proc) {
        case NULLPROC:
          if (!decode(void_proc(), nullptr)) return reject(c, GARBAGE_ARGS);
          return reply(c, void_proc(), nullptr);
        case PUT: {
          kv_put_args a{};
          if (!decode(proc_of(xdr_kv_put_args), &a)) return reject(c, GARBAGE_ARGS);
          const std::string value(a.value.kv_value_val, a.value.kv_value_len);
          const std::string key(a.key);
          xdr_free(proc_of(xdr_kv_put_args), reinterpret_cast<char*>(&a));
          const PutReply r = node_.put(a.client_id, a.request_id, key, a.present != FALSE, value);
          kv_put_result res{r.status, r.acks, r.nodes, to_xdr(r.version)};
          return reply(c, proc_of(xdr_kv_put_result), &res);
        }
        case GET: {
          const std::string key = decode_key();
          const GetReply r = node_.get(key);
          kv_get_result res{r.status, r.acks, r.nodes, to_xdr(r.entry)};
          return reply(c, proc_of(xdr_kv_get_result), &res);
        }
        case LOCAL_GET: {
          const std::string key = decode_key();
          const Entry e = node_.local_get(key);
          kv_entry res = to_xdr(e);
          return reply(c, proc_of(xdr_kv_entry), &res);
        }
        case STORE: {
          kv_entry a{};
          if (!decode(proc_of(xdr_kv_entry), &a)) return reject(c, GARBAGE_ARGS);
          const Entry e = from_xdr(a);
          xdr_free(proc_of(xdr_kv_entry), reinterpret_cast<char*>(&a));
          const auto [stored, version] = node_.store(e);
          kv_store_result res{stored ? TRUE : FALSE, to_xdr(version)};
          return reply(c, proc_of(xdr_kv_store_result), &res);
        }
        case PULL: {
          if (!decode(void_proc(), nullptr)) return reject(c, GARBAGE_ARGS);
          const std::vector<Entry> all = node_.pull();
          std::vector<kv_entry> xs;
          xs.reserve(all.size());
          for (const Entry& e : all) xs.push_back(to_xdr(e));
          kv_entries res{static_cast<u_int>(xs.size()), xs.data()};
          return reply(c, proc_of(xdr_kv_entries), &res);
        }
        default:
          (void)decode(void_proc(), nullptr);
          return reject(c, PROC_UNAVAIL);
      }
    } catch (const BadArgs&) {
      return reject(c, GARBAGE_ARGS);
    } catch (const std::exception& e) {
      fmt::print(stderr, "kv_server: error: procedure {}: {}\n", c.rm_call.cb_proc, e.what());
      return reject(c, SYSTEM_ERR);
    }
  }

  struct BadArgs {};

  bool decode(xdrproc_t proc, void* where) {
    return proc(&xdrs_, where) != FALSE;  // NOLINT(cppcoreguidelines-pro-type-vararg)
  }

  std::string decode_key() {
    kv_key k = nullptr;
    if (!decode(proc_of(xdr_kv_key), static_cast<void*>(&k))) throw BadArgs{};
    std::string key(k);
    xdr_free(proc_of(xdr_kv_key), reinterpret_cast<char*>(&k));
    return key;
  }

  /// Sends the accepted reply to `call` with status `stat` (and, for SUCCESS, the result).
  bool send(const rpc_msg& call, accept_stat stat, xdrproc_t proc = nullptr,
            void* result = nullptr) {
    rpc_msg r{};
    r.rm_xid = call.rm_xid;
    r.rm_direction = REPLY;
    r.rm_reply.rp_stat = MSG_ACCEPTED;
    r.acpted_rply.ar_verf = _null_auth;
    r.acpted_rply.ar_stat = stat;
    if (stat == SUCCESS) {
      r.acpted_rply.ar_results.where = static_cast<char*>(result);
      r.acpted_rply.ar_results.proc = proc;
    } else if (stat == PROG_MISMATCH) {
      r.acpted_rply.ar_vers.low = KV_VERS;
      r.acpted_rply.ar_vers.high = KV_VERS;
    }
    xdrs_.x_op = XDR_ENCODE;
    return xdr_replymsg(&xdrs_, &r) != FALSE && xdrrec_endofrecord(&xdrs_, TRUE) != FALSE;
  }

  bool reply(const rpc_msg& call, xdrproc_t proc, void* result) {
    return send(call, SUCCESS, proc, result);
  }

  bool reject(const rpc_msg& call, accept_stat why) {
    return send(call, why) && why != GARBAGE_ARGS;  // after garbage the stream is out of step
  }

  int fd_;
  Node& node_;
  XDR xdrs_{};
};

}  // namespace

TcpServer::TcpServer(int port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw_errno("socket");
  const int one = 1;
  (void)::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<std::uint16_t>(port));
  sin.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
      ::listen(listen_fd_, SOMAXCONN) != 0) {
    const int e = errno;
    ::close(listen_fd_);
    errno = e;
    throw_errno("bind/listen on TCP port {}", port);
  }
}

TcpServer::~TcpServer() { ::close(listen_fd_); }

void TcpServer::run(Node& node, int stop_fd) {
  for (;;) {
    std::array<pollfd, 2> fds{{{listen_fd_, POLLIN, 0}, {stop_fd, POLLIN, 0}}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;  // the client gave up already, or out of descriptors for now
    const int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Detached: the process ends with _exit after a stop (kv_server's main), so a thread
    // blocked reading a quiet connection is never waited for.
    std::thread([fd, &node] {
      CallStream c(fd, node);
      c.serve();
    }).detach();
  }
}

}  // namespace ipclab::lab18
