// Sockets: Unix stream (lab 19's listen_unix/connect_unix), Unix datagram, a SOCK_SEQPACKET
// socketpair, and TCP over loopback, the baseline most users would otherwise pick.
//
// Stream sockets (Unix, TCP): B listens (the supervisor creates the listening socket, so a
// producer may connect before B runs), every producer connects once, and B reads whole
// messages from whichever connection is ready: each connection is one producer's ordered
// stream. Datagram and seqpacket sockets keep each message a record, so producers may share
// one destination.
#include <netinet/in.h>   // sockaddr_in, IPPROTO_TCP
#include <netinet/tcp.h>  // TCP_NODELAY
#include <poll.h>         // poll
#include <sys/socket.h>   // socket, socketpair, send, recv, setsockopt
#include <sys/un.h>       // sockaddr_un
#include <unistd.h>       // unlink

#include <cerrno>    // errno
#include <cstring>   // std::memcpy
#include <optional>  // std::optional
#include <string>    // std::string

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/error.hpp"  // check_unix, OperationFailed
#include "ipclab/fd.hpp"     // Fd, set_nonblocking
#include "ipclab/io.hpp"     // read_full, write_full, read_file
#include "ipclab/names.hpp"  // names::path
#include "lab19/unix.hpp"    // listen_unix, connect_unix
#include "transport.hpp"

namespace ipclab::suite {
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);

/// The kernel's cap on a socket buffer a process may ask for: a datagram or seqpacket record
/// must fit in the sender's buffer, so the largest message is half of it (with headroom).
std::size_t record_limit() {
  const std::string text = read_file("/proc/sys/net/core/wmem_max");
  const std::size_t wmem = text.empty() ? 212992 : std::stoul(text);
  return wmem / 2;
}

void set_buffers(int fd) {
  const int want = static_cast<int>(record_limit() * 2);
  check_unix(::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want), "SO_SNDBUF");
  check_unix(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want), "SO_RCVBUF");
}

// ---- records: datagram and seqpacket sockets ----------------------------------------------

class RecordEndpoint final : public Endpoint {
 public:
  /// `to`: where send() goes (nullptr: the connected peer).
  explicit RecordEndpoint(int fd, const sockaddr_un* to = nullptr) : fd_(fd) {
    if (to != nullptr) to_ = *to;
  }
  void send(std::span<const std::byte> msg) override {
    const auto* to = to_ ? reinterpret_cast<const sockaddr*>(&*to_) : nullptr;
    const ssize_t n = retry_eintr(::sendto, fd_, msg.data(), msg.size(), 0, to,
                                  to != nullptr ? socklen_t{sizeof *to_} : socklen_t{0});
    if (n < 0) throw_errno("send(fd {})", fd_);
    if (static_cast<std::size_t>(n) != msg.size())
      throw OperationFailed(fmt::format("send: {} of {} bytes", n, msg.size()));
  }
  void recv(std::span<std::byte> buf) override {
    const ssize_t n = retry_eintr(::recv, fd_, buf.data(), buf.size(), MSG_TRUNC);
    if (n < 0) throw_errno("recv(fd {})", fd_);
    if (n == 0) throw OperationFailed("the other side closed the socket");
    if (static_cast<std::size_t>(n) != buf.size())
      throw OperationFailed(fmt::format("a {}-byte record where {} were expected", n, buf.size()));
  }

 private:
  int fd_;  // owned by the link (inherited across fork)
  std::optional<sockaddr_un> to_;
};

Caps record_caps(bool multi) {
  Caps c;
  c.trade_offs = {"the process: gone with its last descriptor", "",
                  "send/recv block; O_NONBLOCK + poll"};
  c.max_size = record_limit();
  c.limit_source = "/proc/sys/net/core/wmem_max / 2 (a record fits the send buffer)";
  c.multi_producer = multi;
  return c;
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw UsageError(fmt::format("socket path too long: {}", path));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

Fd bound_dgram(const std::string& path) {
  Fd fd(check_unix(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket(AF_UNIX, DGRAM)"));
  set_buffers(fd.get());
  const sockaddr_un addr = unix_address(path);
  check_unix(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), "bind({})",
             path);
  return fd;
}

void connect_dgram(int fd, const std::string& path) {
  const sockaddr_un addr = unix_address(path);
  check_unix(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), "connect({})",
             path);
}

/// Unix datagram: B's socket and producer 0's are bound in the run directory (producer 0
/// gets the echoes); other producers send from unbound sockets.
class DgramLink final : public Link {
 public:
  DgramLink()
      : b_path_(names::path(object_name("dgram-b"))), a_path_(names::path(object_name("dgram-a"))) {
    b_ = bound_dgram(b_path_);
    try {
      a_ = bound_dgram(a_path_);
    } catch (...) {
      ::unlink(b_path_.c_str());
      throw;
    }
  }
  ~DgramLink() override {
    ::unlink(b_path_.c_str());
    ::unlink(a_path_.c_str());
  }
  std::unique_ptr<Endpoint> open(Side side, int index) override {
    if (side == Side::kB) {  // unconnected: it receives from every producer
      const sockaddr_un echo_to = unix_address(a_path_);  // its echoes go to producer 0
      return std::make_unique<RecordEndpoint>(b_.get(), &echo_to);
    }
    if (index > 0) {
      a_.reset(check_unix(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket"));
      set_buffers(a_.get());
    }
    connect_dgram(a_.get(), b_path_);
    return std::make_unique<RecordEndpoint>(a_.get());
  }

 private:
  std::string b_path_, a_path_;
  Fd b_, a_;
};

class DgramAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "unix_dgram"; }
  std::string_view description() const override {
    return "Unix datagram sockets bound in the run directory";
  }
  Caps caps() const override {
    Caps c = record_caps(true);
    c.trade_offs.naming = "a path (bind)";
    c.trade_offs.persistence += "; the path stays until unlinked";
    return c;
  }
  std::unique_ptr<Link> setup(const LinkParams&) override { return std::make_unique<DgramLink>(); }
};

/// socketpair(AF_UNIX, SOCK_SEQPACKET): nameless, inherited across fork, records kept.
class PairLink final : public Link {
 public:
  PairLink() {
    int sv[2];  // NOLINT(*-avoid-c-arrays): socketpair's interface
    check_unix(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "socketpair");
    a_.reset(sv[0]);
    b_.reset(sv[1]);
    set_buffers(a_.get());
    set_buffers(b_.get());
  }
  std::unique_ptr<Endpoint> open(Side side, int) override {
    (side == Side::kA ? b_ : a_).reset();  // this process holds one end only
    return std::make_unique<RecordEndpoint>(side == Side::kA ? a_.get() : b_.get());
  }

 private:
  Fd a_, b_;
};

class PairAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "socketpair"; }
  std::string_view description() const override {
    return "socketpair(AF_UNIX, SOCK_SEQPACKET), inherited across fork";
  }
  Caps caps() const override {
    Caps c = record_caps(true);
    c.trade_offs.naming = "none: inherited across fork (or passed with SCM_RIGHTS)";
    return c;
  }
  std::unique_ptr<Link> setup(const LinkParams&) override { return std::make_unique<PairLink>(); }
};

// ---- streams: Unix stream and TCP -----------------------------------------------------------

class StreamEndpoint final : public Endpoint {
 public:
  explicit StreamEndpoint(std::vector<Fd> conns) : conns_(std::move(conns)) {
    for (const Fd& c : conns_) polls_.push_back({c.get(), POLLIN, 0});
  }
  void send(std::span<const std::byte> msg) override {
    write_full(conns_.front().get(), msg.data(), msg.size());
  }
  void recv(std::span<std::byte> buf) override {
    if (conns_.size() == 1) {
      if (read_full(conns_.front().get(), buf.data(), buf.size()) != buf.size())
        throw OperationFailed("the other side closed its connection");
      return;
    }
    for (;;) {
      const std::size_t i = next_ready();
      const std::size_t n = read_full(polls_[i].fd, buf.data(), buf.size());
      if (n == buf.size()) return;
      if (n != 0) throw OperationFailed("a producer closed its connection inside a message");
      polls_[i].fd = -1;  // that producer is done: poll() skips a negative descriptor
      if (++closed_ == polls_.size()) throw OperationFailed("every producer closed its connection");
    }
  }

 private:
  /// The index of the next connection with data (or end of file), taking them in turn so
  /// that none starves.
  std::size_t next_ready() {
    for (;;) {
      for (std::size_t k = 0; k < polls_.size(); ++k) {
        const std::size_t i = (turn_ + k) % polls_.size();
        if (polls_[i].revents != 0) {
          polls_[i].revents = 0;
          turn_ = i + 1;
          return i;
        }
      }
      if (retry_eintr(::poll, polls_.data(), polls_.size(), -1) < 0) throw_errno("poll");
    }
  }
  std::vector<Fd> conns_;
  std::vector<pollfd> polls_;
  std::size_t turn_ = 0;
  std::size_t closed_ = 0;
};

void no_delay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on AF_UNIX
}

/// B accepts one connection per producer; A connects with `connect`.
class StreamLink : public Link {
 public:
  StreamLink(Fd listener, int producers) : listener_(std::move(listener)), producers_(producers) {}
  std::unique_ptr<Endpoint> open(Side side, int) override {
    std::vector<Fd> conns;
    if (side == Side::kA) {
      listener_.reset();
      conns.push_back(connect());
    } else {
      const Deadline deadline(kConnectTimeout);
      set_nonblocking(listener_.get(), true);
      while (static_cast<int>(conns.size()) < producers_) {
        pollfd p{listener_.get(), POLLIN, 0};
        if (retry_eintr(::poll, &p, 1, deadline.poll_ms()) == 0)
          throw OperationFailed(
              fmt::format("{} of {} producers connected in time", conns.size(), producers_));
        const int c = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        conns.emplace_back(check_unix(c, "accept"));
      }
      listener_.reset();
    }
    for (const Fd& c : conns) no_delay(c.get());
    return std::make_unique<StreamEndpoint>(std::move(conns));
  }

 protected:
  virtual Fd connect() = 0;
  Fd listener_;
  int producers_;
};

class UnixStreamLink final : public StreamLink {
 public:
  UnixStreamLink(std::string path, int producers)
      : StreamLink(lab19::listen_unix(path, producers + 8), producers), path_(std::move(path)) {}
  ~UnixStreamLink() override { ::unlink(path_.c_str()); }

 private:
  Fd connect() override { return lab19::connect_unix(path_, Deadline(kConnectTimeout)); }
  std::string path_;
};

class UnixStreamAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "unix_stream"; }
  std::string_view description() const override {
    return "Unix stream socket, one connection per producer (lab 19's listen/connect)";
  }
  Caps caps() const override {
    Caps c;
    c.multi_producer = true;
    c.boundaries = false;
    c.trade_offs = {"connections: the processes; the path stays until unlinked",
                    "a path (bind), peer credentials (SO_PEERCRED)",
                    "read/write block; O_NONBLOCK + poll"};
    return c;
  }
  std::unique_ptr<Link> setup(const LinkParams& p) override {
    return std::make_unique<UnixStreamLink>(names::path(object_name("uds")), p.producers);
  }
};

class TcpLink final : public StreamLink {
 public:
  TcpLink(Fd listener, sockaddr_in addr, int producers)
      : StreamLink(std::move(listener), producers), addr_(addr) {}

 private:
  Fd connect() override {
    Fd fd(check_unix(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket(AF_INET)"));
    check_unix(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_),
               "connect(127.0.0.1:{})", ntohs(addr_.sin_port));
    return fd;
  }
  sockaddr_in addr_;
};

class TcpAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "tcp"; }
  std::string_view description() const override {
    return "TCP over 127.0.0.1, TCP_NODELAY: the baseline a user would otherwise pick";
  }
  Caps caps() const override {
    Caps c;
    c.multi_producer = true;
    c.boundaries = false;
    c.cross_host = true;
    c.trade_offs = {"the processes", "host:port", "read/write block; O_NONBLOCK + poll"};
    return c;
  }
  std::unique_ptr<Link> setup(const LinkParams& p) override {
    Fd fd(check_unix(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket(AF_INET)"));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;  // an ephemeral port: nothing to name, nothing left behind
    check_unix(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr),
               "bind(127.0.0.1:0)");
    check_unix(::listen(fd.get(), p.producers + 8), "listen");
    socklen_t len = sizeof addr;
    check_unix(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len), "getsockname");
    return std::make_unique<TcpLink>(std::move(fd), addr, p.producers);
  }
};

}  // namespace

std::unique_ptr<Adapter> make_unix_stream_adapter() {
  return std::make_unique<UnixStreamAdapter>();
}
std::unique_ptr<Adapter> make_unix_dgram_adapter() { return std::make_unique<DgramAdapter>(); }
std::unique_ptr<Adapter> make_socketpair_adapter() { return std::make_unique<PairAdapter>(); }
std::unique_ptr<Adapter> make_tcp_adapter() { return std::make_unique<TcpAdapter>(); }

}  // namespace ipclab::suite
