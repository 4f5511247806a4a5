// Lab 20 reference: the hub (see hub.hpp).
//
// One thread, one poll loop. Every descriptor is non-blocking: the hub never waits for
// one client (README §Pitfalls 9). What a client is sent goes through its own bounded
// queue; a DATA frame that finds the queue full is dropped for that client alone and
// counted. Shared-memory clients are served from their rings: before it sleeps, the loop
// asks each client to wake it with a byte on the control socket (README §Pitfalls 1).
#include "lab20/hub.hpp"

#include <fcntl.h>       // open
#include <mqueue.h>      // mq_send, mq_receive
#include <poll.h>        // poll
#include <signal.h>      // kill, SIGTERM
#include <sys/socket.h>  // accept4, send
#include <sys/stat.h>    // mkfifo, fstat
#include <sys/uio.h>     // writev
#include <unistd.h>      // read, unlink, getpid

#include <algorithm>  // std::find, std::remove_if
#include <cerrno>     // errno
#include <charconv>   // std::from_chars
#include <cstdio>     // std::fflush
#include <deque>      // std::deque
#include <map>        // std::map
#include <memory>     // std::unique_ptr
#include <optional>   // std::optional

#include <fmt/core.h>  // fmt::format, fmt::print

#include "ipclab/error.hpp"          // SysError, check_unix
#include "ipclab/instance_lock.hpp"  // InstanceLock
#include "ipclab/mq.hpp"             // PosixMq
#include "ipclab/process.hpp"        // spawn, wait_for, kill_and_reap
#include "lab20/client.hpp"          // names, Backend
#include "lab20/frame.hpp"
#include "lab20/ring.hpp"
#include "lab20/unix.hpp"

namespace ipclab::lab20 {
namespace {

// Keep polling (without sleeping) this long after the last work. 0: on two vCPUs shared by
// three busy processes, spinning took the CPU from the side that had work (measured: p50
// 67 us with 50 us spins, 8 us without; README §Benchmark).
constexpr std::int64_t kSpinNs = 0;
constexpr int kLivenessMs = 250;         // FIFO and MQ clients: is the process still there?
constexpr std::size_t kRingBatch = 256;  // frames taken from one ring per round
constexpr std::size_t kReadSize = std::size_t{64} << 10;

struct ChannelStats {
  std::uint64_t published = 0, delivered = 0, dropped = 0;
};

struct Conn {
  int id = 0;
  Backend backend = Backend::kSocket;
  pid_t pid = 0;
  bool connected = false;
  bool closing = false;  // an ERROR is queued: hang up once it is written
  bool dead = false;
  Fd in, out;  // streams (out invalid: `in` does both); shm: `in` is the control socket
  std::optional<PosixMq> mq_in, mq_out;
  std::unique_ptr<ShmChannel> shm;
  bool shm_pushed = false;
  FrameDecoder dec;
  std::deque<std::string> queue;
  std::size_t queue_off = 0;  // bytes of queue.front() already written
  std::vector<std::string> subs;
  std::uint64_t received = 0, dropped = 0;
  pid_t child = 0;  // a child spawned with --spawn
  int out_fd() const { return out.valid() ? out.get() : in.get(); }
};

/// "BACKEND PID" of a CONNECT.
std::optional<std::pair<Backend, pid_t>> parse_connect(std::string_view p) {
  const auto sp = p.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  pid_t pid = 0;
  const auto num = p.substr(sp + 1);
  const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), pid);
  if (ec != std::errc{} || end != num.data() + num.size() || pid <= 0) return std::nullopt;
  try {
    return std::pair{parse_backend(p.substr(0, sp)), pid};
  } catch (const UsageError&) {
    return std::nullopt;
  }
}

class Hub {
 public:
  Hub(HubOptions& opts, int stop_fd) : opts_(opts), stop_fd_(stop_fd) {}
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;
  ~Hub() { shutdown(); }

  void start() {
    lock_.emplace(InstanceLock::acquire(kHubLockName));
    // We hold the lock: whatever a dead hub left under our names is stale; replace it.
    listen_ = listen_unix(hub_socket_path());
    ::unlink(hub_fifo_path().c_str());
    check_unix(::mkfifo(hub_fifo_path().c_str(), 0600), "mkfifo(\"{}\")", hub_fifo_path());
    // O_RDWR: the open never blocks, and the FIFO never reads end of file between clients.
    fifo_ = Fd(check_unix(::open(hub_fifo_path().c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC),
                          "open(\"{}\")", hub_fifo_path()));
    try {
      PosixMq::unlink(hub_mq_name());
      mq_.emplace(PosixMq::create(hub_mq_name(), kMqUpDepth, static_cast<long>(kMaxFrame),
                                  O_RDONLY | O_NONBLOCK));
    } catch (const SysError& e) {
      if (e.err() != ENOSYS) throw;
      mq_error_ = e.what();  // no /dev/mqueue support: the hub serves the other four
    }
    if (opts_.banner) {
      fmt::print(
          "IPC Hub started\nBackends available: pipe, fifo, socket{}, shm\n"
          "Listening for connections...\n",
          mq_ ? ", mqueue" : "");
      (void)std::fflush(stdout);
    }
    if (!mq_error_.empty()) fmt::print(stderr, "myipchub: mqueue backend off: {}\n", mq_error_);
    for (const auto& cmd : opts_.spawn) spawn_child(cmd);
    for (auto& [from, to] : opts_.pipe_clients) add_pipe(std::move(from), std::move(to), 0);
    opts_.pipe_clients.clear();
  }

  void run() {
    std::int64_t last_work = now_ns();
    std::int64_t last_sweep = now_ns();
    std::vector<pollfd> pfds;
    std::vector<std::pair<Conn*, bool>> who;  // per pollfd past the fixed ones: conn, output?
    for (;;) {
      bool work = false;
      for (auto& c : conns_) work |= serve_ring(*c);
      for (auto& c : conns_) flush(*c);
      wake_ring_readers();
      reap();
      if (work) last_work = now_ns();

      pfds.clear();
      who.clear();
      pfds.push_back({stop_fd_, POLLIN, 0});
      pfds.push_back({listen_.get(), POLLIN, 0});
      pfds.push_back({fifo_.get(), POLLIN, 0});
      pfds.push_back({mq_ ? mq_->native() : -1, POLLIN, 0});
      bool timed = false;
      for (auto& c : conns_) {
        const int in = c->mq_in ? c->mq_in->native() : c->in.get();
        pfds.push_back({in, POLLIN, 0});
        who.emplace_back(c.get(), false);
        if (!c->queue.empty() && !c->shm) {
          pfds.push_back({c->mq_out ? c->mq_out->native() : c->out_fd(), POLLOUT, 0});
          who.emplace_back(c.get(), true);
        }
        timed |= c->backend == Backend::kFifo || c->backend == Backend::kMqueue;
      }
      int timeout = timed ? kLivenessMs : -1;
      if (now_ns() - last_work < kSpinNs) {
        timeout = 0;
      } else {
        for (auto& c : conns_) {
          if (!c->shm) continue;
          c->shm->up().wait_for_data();
          if (!c->shm->up().empty()) timeout = 0;
        }
      }
      const int n = ::poll(pfds.data(), pfds.size(), timeout);
      if (n < 0 && errno != EINTR) throw_errno("poll");
      if (n <= 0) {
        sweep(last_sweep);  // also in busy rounds: a ring that never wakes us must not starve it
        continue;
      }
      if (pfds[0].revents != 0) return;  // SIGINT or SIGTERM
      if (pfds[1].revents != 0) accept_clients();
      if (pfds[2].revents != 0) read_fifo_requests();
      if (pfds[3].revents != 0) read_mq_requests();
      for (std::size_t i = 0; i < who.size(); ++i) {
        const short ev = pfds[i + 4].revents;
        if (ev == 0) continue;
        Conn& c = *who[i].first;
        if (!who[i].second) read_input(c, ev);
      }
      last_work = now_ns();
      sweep(last_sweep);
    }
  }

 private:
  // ---- connections ------------------------------------------------------------------

  Conn& add(Backend b, pid_t pid) {
    auto c = std::make_unique<Conn>();
    c->id = ++next_id_;
    c->backend = b;
    c->pid = pid;
    conns_.push_back(std::move(c));
    return *conns_.back();
  }

  std::size_t connected_count() const {
    std::size_t n = 0;
    for (const auto& c : conns_) n += c->connected && !c->dead ? 1 : 0;
    return n;
  }

  void accept_clients() {
    for (;;) {
      const int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) return;  // EAGAIN, or a client that went away while queued
      Fd sock(fd);
      if (conns_.size() >= opts_.max_clients + 64) continue;  // a flood: hang up at once
      pid_t pid = 0;
      try {
        pid = peer_credentials(sock.get()).pid;  // the kernel's word, not the client's
      } catch (const SysError&) {
        continue;
      }
      Conn& c = add(Backend::kSocket, pid);
      c.in = std::move(sock);
    }
  }

  void add_pipe(Fd from, Fd to, pid_t child) {
    set_nonblocking(from.get());
    set_nonblocking(to.get());
    Conn& c = add(Backend::kPipe, child);
    c.in = std::move(from);
    c.out = std::move(to);
    c.child = child;
  }

  void spawn_child(const std::string& cmd) {
    Pipe to = make_pipe();
    Pipe from = make_pipe();
    SpawnOptions so;
    so.stdin_fd = to.read.get();
    so.stdout_fd = from.write.get();
    so.parent_death_signal = SIGTERM;
    const pid_t pid = spawn({"/bin/sh", "-c", cmd}, so);
    add_pipe(std::move(from.read), std::move(to.write), pid);
  }

  void read_fifo_requests() {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fifo_.get(), buf, sizeof buf);
      if (n <= 0) break;
      fifo_dec_.feed({buf, static_cast<std::size_t>(n)});
    }
    try {
      while (auto f = fifo_dec_.next()) {
        const auto who = f->type == Type::kConnect ? parse_connect(f->payload) : std::nullopt;
        if (who && who->first == Backend::kFifo) open_fifo_client(who->second);
      }
    } catch (const ProtocolError&) {
      fifo_dec_ = FrameDecoder();  // garbage on the request FIFO: start over
    }
  }

  void open_fifo_client(pid_t pid) {
    const std::string up = client_fifo_path(pid, true), down = client_fifo_path(pid, false);
    Fd in(::open(up.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    Fd out(::open(down.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));  // ENXIO: client gone
    ::unlink(up.c_str());
    ::unlink(down.c_str());
    struct stat a {
    }, b{};
    if (!in || !out || ::fstat(in.get(), &a) < 0 || ::fstat(out.get(), &b) < 0 ||
        !S_ISFIFO(a.st_mode) || !S_ISFIFO(b.st_mode) || a.st_uid != ::geteuid() ||
        b.st_uid != ::geteuid())
      return;  // not a client's FIFO pair: both ours (README §Pitfalls 5)
    Conn& c = add(Backend::kFifo, pid);
    c.in = std::move(in);
    c.out = std::move(out);
    ++c.received;  // its CONNECT, which came on the request FIFO
    accept_connect(c);
  }

  void read_mq_requests() {
    std::string buf(kMaxFrame, '\0');
    for (;;) {
      const ssize_t n = ::mq_receive(mq_->native(), buf.data(), buf.size(), nullptr);
      if (n < 0) return;
      try {
        const Frame f = decode_one({buf.data(), static_cast<std::size_t>(n)});
        const auto who = f.type == Type::kConnect ? parse_connect(f.payload) : std::nullopt;
        if (who && who->first == Backend::kMqueue) open_mq_client(who->second);
      } catch (const ProtocolError&) {
      }
    }
  }

  void open_mq_client(pid_t pid) {
    const std::string up = client_mq_name(pid, true), down = client_mq_name(pid, false);
    try {
      PosixMq in = PosixMq::open(up, O_RDONLY | O_NONBLOCK);
      PosixMq out = PosixMq::open(down, O_WRONLY | O_NONBLOCK);
      PosixMq::unlink(up);
      PosixMq::unlink(down);
      if (in.attr().mq_msgsize > static_cast<long>(kMaxFrame)) return;
      Conn& c = add(Backend::kMqueue, pid);
      c.mq_in.emplace(std::move(in));
      c.mq_out.emplace(std::move(out));
      ++c.received;  // its CONNECT, which came on the hub's queue
      accept_connect(c);
    } catch (const SysError&) {
      PosixMq::unlink(up);
      PosixMq::unlink(down);
    }
  }

  /// A CONNECT the hub takes: ACK with our pid, or ERROR when the hub is full.
  void accept_connect(Conn& c) {
    if (connected_count() >= opts_.max_clients) {
      refuse(c, fmt::format("too many clients (max {})", opts_.max_clients));
      return;
    }
    c.connected = true;
    reply(c, Type::kAck, fmt::format("hub {}", ::getpid()));
  }

  // ---- input ----------------------------------------------------------------------

  void read_input(Conn& c, short ev) {
    if (c.mq_in) {
      std::string buf(kMaxFrame, '\0');
      for (int i = 0; i < 64 && !c.dead; ++i) {
        const ssize_t n = ::mq_receive(c.mq_in->native(), buf.data(), buf.size(), nullptr);
        if (n < 0) break;
        handle_message(c, {buf.data(), static_cast<std::size_t>(n)});
      }
      return;
    }
    char buf[kReadSize];
    const ssize_t n = ::read(c.in.get(), buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      c.dead = true;  // an unfinished frame dies with its connection (§Pitfalls 10)
      return;
    }
    if (n < 0) {
      if ((ev & (POLLHUP | POLLERR)) != 0) c.dead = true;
      return;
    }
    if (c.shm) return;  // wake-up bytes: the ring is served every round
    c.dec.feed({buf, static_cast<std::size_t>(n)});
    try {
      while (!c.dead && !c.closing && !c.shm) {
        auto f = c.dec.next();
        if (!f) break;
        handle(c, *f);
      }
      if (c.shm) c.dec = FrameDecoder();  // after an shm CONNECT only wake-up bytes follow
    } catch (const ProtocolError& e) {
      refuse(c, e.what());
    }
  }

  void handle_message(Conn& c, std::string_view msg) {
    try {
      handle(c, decode_one(msg));
    } catch (const ProtocolError& e) {
      refuse(c, e.what());
    }
  }

  /// Takes what a shm client's up ring holds; true if there was anything.
  bool serve_ring(Conn& c) {
    if (!c.shm || c.dead) return false;
    Ring& up = c.shm->up();
    std::size_t n = 0;
    try {
      while (n < kRingBatch && !c.dead && !c.closing && up.try_pop(ring_msg_)) {
        ++n;
        handle_message(c, ring_msg_);
      }
    } catch (const ProtocolError& e) {
      refuse(c, e.what());
    }
    if (n > 0 && up.take_producer_waiter()) wake(c);
    return n > 0;
  }

  void handle(Conn& c, const Frame& f) {
    ++c.received;
    if (!c.connected) {
      if (f.type != Type::kConnect) return refuse(c, "the first frame must be CONNECT");
      const auto who = parse_connect(f.payload);
      if (!who || (who->first != Backend::kSocket && who->first != Backend::kShm &&
                   who->first != c.backend))
        return refuse(c, "bad CONNECT");
      if (c.backend == Backend::kSocket && who->first == Backend::kShm) return connect_shm(c);
      return accept_connect(c);
    }
    switch (f.type) {
      case Type::kSubscribe:
        return subscribe(c, f.channel);
      case Type::kUnsubscribe: {
        const auto it = std::find(c.subs.begin(), c.subs.end(), f.channel);
        if (it == c.subs.end()) return reply(c, Type::kError, "not subscribed to " + f.channel);
        c.subs.erase(it);
        return reply(c, Type::kAck, "unsubscribed");
      }
      case Type::kPublish:
        return publish(c, f.channel, f.payload);
      case Type::kStats:
        return reply(c, Type::kAck, stats());
      default:
        return refuse(c, fmt::format("a client may not send {}", type_name(f.type)));
    }
  }

  void connect_shm(Conn& c) {
    if (connected_count() >= opts_.max_clients)
      return refuse(c, fmt::format("too many clients (max {})", opts_.max_clients));
    const std::string name = client_shm_name(c.id);
    PosixShm::unlink(name);
    auto ch = std::make_unique<ShmChannel>(ShmChannel::create(name));
    try {
      set_nonblocking(c.in.get(), false);  // the ACK with the descriptor goes whole
      send_fd(c.in.get(), ch->fd(), encode(Type::kAck, "", fmt::format("hub {}", ::getpid())));
      set_nonblocking(c.in.get(), true);
    } catch (const SysError&) {
      c.dead = true;
    }
    PosixShm::unlink(name);  // both sides have it open: the name has done its job
    c.shm = std::move(ch);
    c.backend = Backend::kShm;
    c.connected = true;
  }

  void subscribe(Conn& c, const std::string& channel) {
    if (!valid_channel(channel, true))
      return reply(c, Type::kError, fmt::format("bad channel name '{}'", channel));
    if (std::find(c.subs.begin(), c.subs.end(), channel) != c.subs.end())
      return reply(c, Type::kAck, "subscribed");
    if (c.subs.size() >= kMaxChannelsPerClient)
      return reply(c, Type::kError,
                   fmt::format("too many channels (max {} per client)", kMaxChannelsPerClient));
    std::size_t subscribers = 0;
    for (const auto& o : conns_)
      subscribers += std::find(o->subs.begin(), o->subs.end(), channel) != o->subs.end() ? 1 : 0;
    if (subscribers >= kMaxSubscribersPerChannel)
      return reply(c, Type::kError,
                   fmt::format("channel {} is full (max {} subscribers)", channel,
                               kMaxSubscribersPerChannel));
    c.subs.push_back(channel);
    reply(c, Type::kAck, "subscribed");
  }

  void publish(Conn& c, const std::string& channel, const std::string& payload) {
    if (!valid_channel(channel, false))
      return reply(c, Type::kError, fmt::format("bad channel name '{}'", channel));
    ChannelStats& st = channels_[channel];
    ++st.published;
    const std::string data = encode(Type::kData, channel, payload);
    std::size_t n = 0;
    for (auto& o : conns_) {
      if (!o->connected || o->dead || o->closing) continue;
      const bool wants = std::any_of(o->subs.begin(), o->subs.end(), [&](const std::string& p) {
        return channel_matches(p, channel);
      });
      if (!wants) continue;
      ++n;
      if (enqueue(*o, data, true)) {
        ++st.delivered;
      } else {
        ++st.dropped;
      }
    }
    reply(c, Type::kAck, std::to_string(n));
  }

  void reply(Conn& c, Type t, std::string_view text) { enqueue(c, encode(t, "", text), false); }

  /// ERROR, then hang up once it is written.
  void refuse(Conn& c, std::string_view why) {
    if (c.dead || c.closing) return;
    std::string text(why.substr(0, kMaxPayload));
    enqueue(c, encode(Type::kError, "", text), false);
    c.closing = true;
  }

  // ---- output ---------------------------------------------------------------------

  /// Queues `frame` for `c`. A DATA frame (droppable) that finds the queue at its limit is
  /// dropped and counted; the hub never waits for a client.
  bool enqueue(Conn& c, const std::string& frame, bool droppable) {
    if (c.dead) return false;
    if (droppable && c.queue.size() >= opts_.queue_limit) {
      ++c.dropped;
      return false;
    }
    if (c.queue.size() >= 4 * opts_.queue_limit + 16) {  // not even reading its answers
      c.dead = true;
      return false;
    }
    if (c.shm && c.queue.empty() && c.shm->down().try_push(frame)) {
      c.shm_pushed = true;
      return true;
    }
    c.queue.push_back(frame);
    return true;
  }

  void flush(Conn& c) {
    if (c.dead) return;
    if (c.shm) {
      Ring& down = c.shm->down();
      while (!c.queue.empty()) {
        if (!down.try_push(c.queue.front())) {
          down.wait_for_room();  // the client wakes us when it has taken something
          if (!down.try_push(c.queue.front())) break;
        }
        c.queue.pop_front();
        c.shm_pushed = true;
      }
    } else if (c.mq_out) {
      while (!c.queue.empty()) {
        const std::string& f = c.queue.front();
        if (::mq_send(c.mq_out->native(), f.data(), f.size(), 0) < 0) {
          if (errno != EAGAIN) c.dead = true;
          break;
        }
        c.queue.pop_front();
      }
    } else {
      while (!c.queue.empty()) {
        iovec iov[64];
        int k = 0;
        for (auto it = c.queue.begin(); it != c.queue.end() && k < 64; ++it, ++k) {
          const std::size_t off = k == 0 ? c.queue_off : 0;
          iov[k] = {const_cast<char*>(it->data() + off), it->size() - off};
        }
        const ssize_t n = ::writev(c.out_fd(), iov, k);
        if (n < 0) {
          if (errno != EAGAIN && errno != EINTR) c.dead = true;
          break;
        }
        auto left = static_cast<std::size_t>(n);
        while (left > 0) {
          const std::size_t rest = c.queue.front().size() - c.queue_off;
          if (left < rest) {
            c.queue_off += left;
            break;
          }
          left -= rest;
          c.queue.pop_front();
          c.queue_off = 0;
        }
      }
    }
    if (c.closing && c.queue.empty()) c.dead = true;
  }

  void wake(Conn& c) {
    const char b = 'w';
    (void)::send(c.in.get(), &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);  // full: a wake is pending
  }

  void wake_ring_readers() {
    for (auto& c : conns_) {
      if (!c->shm || !c->shm_pushed) continue;
      c->shm_pushed = false;
      if (c->shm->down().take_consumer_waiter()) wake(*c);
    }
  }

  // ---- housekeeping ---------------------------------------------------------------

  /// FIFO and MQ clients have no end of file the hub can poll for: look at their pids.
  void sweep(std::int64_t& last) {
    if (now_ns() - last < std::int64_t{kLivenessMs} * 1'000'000) return;
    last = now_ns();
    for (auto& c : conns_)
      if ((c->backend == Backend::kFifo || c->backend == Backend::kMqueue) &&
          ::kill(c->pid, 0) < 0 && errno == ESRCH)
        c->dead = true;
  }

  void reap() {
    for (auto& c : conns_)
      if (c->dead && c->child > 0) end_child(c->child, 1'000ms);
    std::erase_if(conns_, [](const std::unique_ptr<Conn>& c) { return c->dead; });
  }

  static void end_child(pid_t pid, std::chrono::milliseconds grace) {
    if (wait_for(pid, Deadline(grace))) return;
    ::kill(pid, SIGTERM);
    if (wait_for(pid, Deadline(grace))) return;
    kill_and_reap(pid);
  }

  std::string stats() const {
    std::string out = fmt::format("hub pid {}: {} clients\n", ::getpid(), connected_count());
    for (const auto& c : conns_) {
      if (!c->connected) continue;
      std::string subs;
      for (const auto& s : c->subs) subs += (subs.empty() ? "" : ",") + s;
      out += fmt::format("client {} {} pid={} channels={} received={} dropped={} queued={}\n",
                         c->id, backend_name(c->backend), c->pid, subs.empty() ? "-" : subs,
                         c->received, c->dropped, c->queue.size());
    }
    for (const auto& entry : channels_) {
      const std::string& name = entry.first;
      const ChannelStats& st = entry.second;
      std::size_t subscribers = 0;
      for (const auto& c : conns_)
        subscribers += std::any_of(c->subs.begin(), c->subs.end(),
                                   [&](const std::string& p) { return channel_matches(p, name); })
                           ? 1
                           : 0;
      out += fmt::format("channel {} subscribers={} published={} delivered={} dropped={}\n", name,
                         subscribers, st.published, st.delivered, st.dropped);
    }
    if (out.size() > kMaxPayload) out.resize(kMaxPayload);
    return out;
  }

  void shutdown() noexcept {
    std::vector<pid_t> children;
    for (auto& c : conns_)
      if (c->child > 0) children.push_back(c->child);
    conns_.clear();  // closes every connection: clients read end of file
    for (const pid_t pid : children) {
      try {
        end_child(pid, 2'000ms);
      } catch (...) {
      }
    }
    if (listen_) ::unlink(hub_socket_path().c_str());
    if (fifo_) ::unlink(hub_fifo_path().c_str());
    if (mq_) PosixMq::unlink(hub_mq_name());
    lock_.reset();
  }

  HubOptions& opts_;
  int stop_fd_;
  std::optional<InstanceLock> lock_;
  Fd listen_, fifo_;
  std::optional<PosixMq> mq_;
  std::string mq_error_;
  FrameDecoder fifo_dec_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::map<std::string, ChannelStats> channels_;
  int next_id_ = 0;
  std::string ring_msg_;
};

}  // namespace

void run_hub(HubOptions& opts, int stop_fd) {
  Hub hub(opts, stop_fd);
  hub.start();
  hub.run();
}

}  // namespace ipclab::lab20
