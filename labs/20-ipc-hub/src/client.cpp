// Lab 20 reference: the client side of the five backends, and HubClient (see client.hpp).
//
// Every transport notices a dead hub: a stream reads end of file (socket, FIFO, pipe, the
// shm control socket); a message queue has no end of file, so its client looks at the
// hub's pid whenever a wait has lasted a slice (README §Pitfalls 4).
#include "lab20/client.hpp"

#include <poll.h>        // poll
#include <signal.h>      // kill
#include <sys/socket.h>  // send, recv
#include <sys/stat.h>    // mkfifo
#include <unistd.h>      // read, getpid, unlink

#include <algorithm>  // std::min
#include <cerrno>     // errno
#include <charconv>   // std::from_chars
#include <utility>    // std::move

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"          // SysError, OperationFailed
#include "ipclab/instance_lock.hpp"  // InstanceLock::held_by_live_owner
#include "ipclab/io.hpp"             // write_full, read_full
#include "ipclab/mq.hpp"             // PosixMq
#include "ipclab/names.hpp"          // names::path, names::posix
#include "lab20/ring.hpp"            // ShmChannel
#include "lab20/unix.hpp"            // connect_unix, recv_fd

namespace ipclab::lab20 {
namespace {

constexpr auto kSlice = std::chrono::milliseconds(200);  // MQ waits look at the hub this often

bool hub_alive(pid_t pid) { return pid <= 0 || ::kill(pid, 0) == 0 || errno != ESRCH; }

/// Waits until `fd` is readable (or hung up) or the deadline; false at the deadline.
bool wait_readable(int fd, const Deadline& deadline) {
  pollfd p{fd, POLLIN, 0};
  const int n = retry_eintr([&] { return ::poll(&p, 1, deadline.poll_ms()); });
  if (n < 0) throw_errno("poll");
  return n > 0;
}

/// The hub's endpoint `what` exists but nobody answers: if no live hub holds the instance
/// lock, these are a dead hub's leftovers, and waiting for an answer is pointless.
void require_live_hub(const std::string& what) {
  if (!InstanceLock::held_by_live_owner(kHubLockName))
    throw SysError(ECONNREFUSED, fmt::format("no hub is running ({} is left over from a dead one; "
                                             "tools/ipc-clean removes it)",
                                             what));
}

std::string connect_payload(Backend b) { return fmt::format("{} {}", backend_name(b), ::getpid()); }

/// The FIFOs a client makes for itself; the hub unlinks them once it opened them, and
/// the client does if the hub never did.
struct FifoNames {
  std::string up = client_fifo_path(::getpid(), true);
  std::string down = client_fifo_path(::getpid(), false);
  FifoNames() {
    for (const auto* p : {&up, &down}) {
      ::unlink(p->c_str());  // a stale one of an earlier process with our pid
      check_unix(::mkfifo(p->c_str(), 0600), "mkfifo(\"{}\")", *p);
    }
  }
  FifoNames(const FifoNames&) = delete;
  FifoNames& operator=(const FifoNames&) = delete;
  ~FifoNames() {
    ::unlink(up.c_str());
    ::unlink(down.c_str());
  }
};

/// Socket, FIFO pair, pipe pair: frames back to back on a byte stream.
class StreamTransport : public Transport {
 public:
  StreamTransport(Fd in, Fd out, std::unique_ptr<FifoNames> names = nullptr)
      : in_(std::move(in)), out_(std::move(out)), names_(std::move(names)) {}
  void send(std::string_view frame) override {
    const int fd = out_.valid() ? out_.get() : in_.get();
    try {
      write_full(fd, frame);
    } catch (const SysError& e) {
      if (e.err() == EPIPE || e.err() == ECONNRESET) hub_gone("it closed the connection");
      throw;
    }
  }
  std::optional<Frame> receive(const Deadline& deadline) override {
    for (;;) {
      if (auto f = dec_.next()) return f;
      if (!wait_readable(in_.get(), deadline)) return std::nullopt;
      char buf[64 * 1024];
      const ssize_t n = retry_eintr([&] { return ::read(in_.get(), buf, sizeof buf); });
      if (n < 0 && errno == ECONNRESET) hub_gone("it reset the connection");
      if (n < 0) throw_errno("read from the hub");
      if (n == 0) hub_gone("it closed the connection");
      dec_.feed({buf, static_cast<std::size_t>(n)});
    }
  }

 private:
  Fd in_, out_;  // out_ invalid: the socket's one descriptor does both
  FrameDecoder dec_;
  std::unique_ptr<FifoNames> names_;  // FIFO: removed at the latest when the client goes
};

std::unique_ptr<Transport> open_fifo(const Deadline& deadline) {
  auto names = std::make_unique<FifoNames>();
  // Neither open may block (README §Pitfalls 2): the down FIFO is opened for reading
  // without waiting for a writer; the up FIFO read-write (Linux opens that at once), so the
  // hub finds a writer there and sees end of file when this process goes.
  Fd down(check_unix(::open(names->down.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC), "open(\"{}\")",
                     names->down));
  Fd up(check_unix(::open(names->up.c_str(), O_RDWR | O_CLOEXEC), "open(\"{}\")", names->up));
  // The request FIFO: ENXIO means it exists but no hub reads it (a dead hub's leftover).
  Fd req;
  for (;;) {
    const int fd = ::open(hub_fifo_path().c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
      req.reset(fd);
      break;
    }
    if ((errno != ENXIO && errno != ENOENT) || deadline.expired())
      throw_errno("open(\"{}\") (is myipchub running?)", hub_fifo_path());
    if (errno == ENXIO) require_live_hub(hub_fifo_path());
    ::usleep(10'000);
  }
  set_nonblocking(down.get(), false);
  write_full(req.get(), encode(Type::kConnect, "", connect_payload(Backend::kFifo)));
  return std::make_unique<StreamTransport>(std::move(down), std::move(up), std::move(names));
}

/// POSIX message queues: one frame per message, priority 0 (FIFO order).
class MqTransport : public Transport {
 public:
  MqTransport(PosixMq up, PosixMq down) : up_(std::move(up)), down_(std::move(down)) {}
  MqTransport(const MqTransport&) = delete;
  MqTransport& operator=(const MqTransport&) = delete;
  /// The hub removes the names once it opened the queues; these are for a hub that never did.
  ~MqTransport() override {
    PosixMq::unlink(up_.name());
    PosixMq::unlink(down_.name());
  }
  void send(std::string_view frame) override {
    while (!up_.send(frame, 0, Deadline(kSlice)))
      if (!hub_alive(hub_pid_)) hub_gone("its process is gone");
  }
  std::optional<Frame> receive(const Deadline& deadline) override {
    for (;;) {
      const Deadline slice(std::min<Clock::duration>(kSlice, deadline.remaining()));
      if (auto m = down_.receive(slice)) return decode_one(m->data);
      if (!hub_alive(hub_pid_)) hub_gone("its process is gone");
      if (deadline.expired()) return std::nullopt;
    }
  }

 private:
  PosixMq up_, down_;
};

std::unique_ptr<Transport> open_mqueue(const Deadline& deadline) {
  const std::string up_name = client_mq_name(::getpid(), true);
  const std::string down_name = client_mq_name(::getpid(), false);
  PosixMq::unlink(up_name);  // a stale one of an earlier process with our pid
  PosixMq::unlink(down_name);
  std::optional<PosixMq> req;
  for (;;) {
    try {
      req.emplace(PosixMq::open(hub_mq_name(), O_WRONLY));
      break;
    } catch (const SysError& e) {
      if (e.err() == ENOSYS)
        throw SysError(ENOSYS,
                       "mq_open: POSIX message queues are not available here "
                       "(is /dev/mqueue mounted? README §Pitfalls 6)");
      if (e.err() != ENOENT || deadline.expired())
        throw SysError(e.err(), fmt::format("{} (is myipchub running?)", e.what()));
      ::usleep(10'000);
    }
  }
  require_live_hub(hub_mq_name());
  PosixMq up = PosixMq::create(up_name, kMqUpDepth, static_cast<long>(kMaxFrame), O_WRONLY);
  std::optional<PosixMq> down;
  try {
    down.emplace(PosixMq::create(down_name, kMqDownDepth, static_cast<long>(kMaxFrame), O_RDONLY));
  } catch (...) {
    PosixMq::unlink(up_name);
    throw;
  }
  auto t = std::make_unique<MqTransport>(std::move(up), std::move(*down));
  if (!req->send(encode(Type::kConnect, "", connect_payload(Backend::kMqueue)), 0, deadline))
    throw SysError(ETIMEDOUT,
                   fmt::format("{} stayed full: the hub does not read it", hub_mq_name()));
  return t;
}

/// Shared-memory rings, and the control socket that carries wake-up bytes and end of file.
class ShmTransport : public Transport {
 public:
  ShmTransport(Fd ctl, ShmChannel ch) : ctl_(std::move(ctl)), ch_(std::move(ch)) {}
  void send(std::string_view frame) override {
    Ring& up = ch_.up();
    while (!up.try_push(frame)) {
      up.wait_for_room();
      if (up.try_push(frame)) break;
      drain_control(Deadline(kSlice));
    }
    if (up.take_consumer_waiter()) wake();
  }
  std::optional<Frame> receive(const Deadline& deadline) override {
    Ring& down = ch_.down();
    for (;;) {
      if (pop(down)) return decode_one(msg_);
      if (deadline.expired()) return std::nullopt;  // a poll, not a wait
      // No spinning here: on a busy machine it takes the CPU the hub needs (README
      // §Benchmark). Register, re-check, sleep until the hub's wake-up byte.
      down.wait_for_data();
      if (pop(down)) return decode_one(msg_);
      if (!drain_control(deadline)) return std::nullopt;
    }
  }

 private:
  bool pop(Ring& down) {
    if (!down.try_pop(msg_)) return false;
    if (down.take_producer_waiter()) wake();
    return true;
  }
  void wake() {
    const char b = 'w';
    if (::send(ctl_.get(), &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
      hub_gone("its control socket is closed");
  }
  /// Waits for wake-up bytes on the control socket; false at the deadline.
  bool drain_control(const Deadline& deadline) {
    if (!wait_readable(ctl_.get(), deadline)) return false;
    char buf[256];
    const ssize_t n = ::recv(ctl_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
      hub_gone("it closed the control socket");
    return true;
  }
  Fd ctl_;
  ShmChannel ch_;
  std::string msg_;
};

/// The shm handshake: CONNECT on the control socket, the ACK comes with the ring object's
/// descriptor (SCM_RIGHTS).
/// connect_unix to the hub's socket, failing at once when it is a dead hub's leftover.
Fd connect_hub_socket(const Deadline& deadline) {
  if (::access(hub_socket_path().c_str(), F_OK) == 0) require_live_hub(hub_socket_path());
  return connect_unix(hub_socket_path(), deadline);
}

std::unique_ptr<Transport> open_shm(const Deadline& deadline, pid_t& hub_pid) {
  Fd ctl = connect_hub_socket(deadline);
  write_full(ctl.get(), encode(Type::kConnect, "", connect_payload(Backend::kShm)));
  if (!wait_readable(ctl.get(), deadline))
    throw SysError(ETIMEDOUT, "no answer from the hub to CONNECT");
  std::string head;
  Fd ring_fd;
  try {
    ring_fd = recv_fd(ctl.get(), head, kHeaderSize);
  } catch (const SysError& e) {
    if (e.err() != EPROTO) hub_gone("it closed the connection");
    // No descriptor: the hub refused (an ERROR frame); read it whole and report it.
    FrameDecoder dec;
    dec.feed(head);
    while (true) {
      if (auto f = dec.next()) throw OperationFailed(fmt::format("hub: {}", f->payload));
      char buf[512];
      const ssize_t n = ::read(ctl.get(), buf, sizeof buf);
      if (n <= 0) hub_gone("it closed the connection");
      dec.feed({buf, static_cast<std::size_t>(n)});
    }
  }
  if (head.size() < kHeaderSize) {
    const std::size_t had = head.size();
    head.resize(kHeaderSize);
    if (read_full(ctl.get(), head.data() + had, kHeaderSize - had) != kHeaderSize - had)
      hub_gone("it closed the connection");
  }
  FrameDecoder dec;
  dec.feed(head);
  std::optional<Frame> ack;
  while (!(ack = dec.next())) {
    char buf[512];
    const ssize_t n = ::read(ctl.get(), buf, std::min(sizeof buf, kMaxFrame - dec.buffered()));
    if (n <= 0) hub_gone("it closed the connection");
    dec.feed({buf, static_cast<std::size_t>(n)});
  }
  if (ack->type != Type::kAck) throw OperationFailed(fmt::format("hub: {}", ack->payload));
  if (ack->payload.starts_with("hub ")) hub_pid = std::stoi(ack->payload.substr(4));
  return std::make_unique<ShmTransport>(std::move(ctl), ShmChannel::attach(std::move(ring_fd)));
}

}  // namespace

HubClient::HubClient(std::unique_ptr<Transport> t, Backend b) : t_(std::move(t)), backend_(b) {}
HubClient::HubClient(HubClient&&) noexcept = default;
HubClient& HubClient::operator=(HubClient&&) noexcept = default;
HubClient::~HubClient() = default;

HubClient HubClient::connect(Backend backend, const Deadline& deadline) {
  switch (backend) {
    case Backend::kSocket: {
      HubClient c(std::make_unique<StreamTransport>(connect_hub_socket(deadline), Fd()), backend);
      c.t_->send(encode(Type::kConnect, "", connect_payload(backend)));
      c.handshake(deadline);
      return c;
    }
    case Backend::kFifo: {
      HubClient c(open_fifo(deadline), backend);
      c.handshake(deadline);
      return c;
    }
    case Backend::kMqueue: {
      HubClient c(open_mqueue(deadline), backend);
      c.handshake(deadline);
      return c;
    }
    case Backend::kShm: {
      pid_t pid = 0;
      HubClient c(open_shm(deadline, pid), backend);
      c.hub_pid_ = pid;
      c.t_->set_hub_pid(pid);
      return c;
    }
    case Backend::kPipe:
      break;
  }
  throw UsageError(
      "--backend pipe: only a child the hub spawns speaks on pipes "
      "(myipchub --spawn \"myipcsub --backend pipe ...\")");
}

HubClient HubClient::over_fds(Fd in, Fd out, const Deadline& deadline) {
  HubClient c(std::make_unique<StreamTransport>(std::move(in), std::move(out)), Backend::kPipe);
  c.t_->send(encode(Type::kConnect, "", connect_payload(Backend::kPipe)));
  c.handshake(deadline);
  return c;
}

void HubClient::handshake(const Deadline& deadline) {
  const std::string reply = await_reply(deadline);
  if (reply.starts_with("hub ")) {
    const char* p = reply.data() + 4;
    std::from_chars(p, reply.data() + reply.size(), hub_pid_);
    t_->set_hub_pid(hub_pid_);
  }
}

std::string HubClient::await_reply(const Deadline& deadline) {
  for (;;) {
    auto f = t_->receive(deadline);
    if (!f) throw SysError(ETIMEDOUT, "no answer from the hub (is myipchub running?)");
    switch (f->type) {
      case Type::kData:
        inbox_.push_back(std::move(*f));
        break;
      case Type::kAck:
      case Type::kError:
        if (async_pending_ > 0) {  // the answer to an earlier publish_async
          --async_pending_;
          if (f->type == Type::kError) throw OperationFailed(fmt::format("hub: {}", f->payload));
          ++async_acked_;
          break;
        }
        if (f->type == Type::kError) throw OperationFailed(fmt::format("hub: {}", f->payload));
        return std::move(f->payload);
      default:
        throw ProtocolError(fmt::format("the hub sent a {} frame", type_name(f->type)));
    }
  }
}

void HubClient::subscribe(std::string_view channel, const Deadline& deadline) {
  t_->send(encode(Type::kSubscribe, channel, ""));
  await_reply(deadline);
}

void HubClient::unsubscribe(std::string_view channel, const Deadline& deadline) {
  t_->send(encode(Type::kUnsubscribe, channel, ""));
  await_reply(deadline);
}

std::size_t HubClient::publish(std::string_view channel, std::string_view payload,
                               const Deadline& deadline) {
  t_->send(encode(Type::kPublish, channel, payload));
  const std::string reply = await_reply(deadline);
  std::size_t n = 0;
  std::from_chars(reply.data(), reply.data() + reply.size(), n);
  return n;
}

void HubClient::publish_async(std::string_view channel, std::string_view payload) {
  t_->send(encode(Type::kPublish, channel, payload));
  ++async_pending_;
}

std::optional<Frame> HubClient::next(const Deadline& deadline) {
  for (;;) {
    if (!inbox_.empty()) {
      Frame f = std::move(inbox_.front());
      inbox_.pop_front();
      return f;
    }
    auto f = t_->receive(deadline);
    if (!f) return std::nullopt;
    if (f->type == Type::kData) return f;
    if (f->type == Type::kError) throw OperationFailed(fmt::format("hub: {}", f->payload));
    if (f->type == Type::kAck && async_pending_ > 0) {
      --async_pending_;
      ++async_acked_;
    }
  }
}

std::string HubClient::stats(const Deadline& deadline) {
  t_->send(encode(Type::kStats, "", ""));
  return await_reply(deadline);
}

}  // namespace ipclab::lab20
