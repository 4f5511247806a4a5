// shm_ring_bench's contenders. Every contender gets the same buffer (--buffer-size: the
// ring's capacity, the pipe's F_SETPIPE_SZ, the socket's SO_SNDBUF/SO_RCVBUF, the queue's
// depth in messages) and the same verification. The ring builds each message in place
// and verifies it in place (that is what shared memory is for); the others build it in a
// buffer and copy it through the kernel (or, for boost, through its own shm queue).
#include "peers.hpp"

#include <fcntl.h>       // F_SETPIPE_SZ
#include <sys/socket.h>  // socketpair, setsockopt
#include <unistd.h>      // getpid

#include <atomic>   // std::atomic
#include <cstring>  // std::memcpy
#include <vector>   // std::vector

#include <fmt/core.h>
#include <boost/interprocess/ipc/message_queue.hpp>  // the peer: mutex + condvars in shm

#include "ipclab/error.hpp"  // check_unix, OperationFailed
#include "ipclab/fd.hpp"     // Fd, make_pipe
#include "ipclab/io.hpp"     // read_full, write_full
#include "ipclab/names.hpp"  // names::posix
#include "lab12/payload.hpp"
#include "lab12/shm_ring.hpp"

namespace ipclab::lab12::bench {
namespace {

std::atomic<int> link_counter{0};

/// A fresh name for this process's next link object.
std::string unique(std::string_view what) {
  return fmt::format("shm_ring_bench.{}.{}.{}", ::getpid(), link_counter.fetch_add(1), what);
}

std::string check_size(std::size_t got, std::size_t want) {
  return fmt::format("wrong size: {} bytes, expected {}", got, want);
}

/// The buffer-based contenders: build in a buffer, copy through the transport.
class BufferEndpoint : public Endpoint {
 public:
  explicit BufferEndpoint(std::size_t size) : out_(size), in_(size) {}
  void send(std::uint64_t seq, std::size_t size, bool bad) override {
    fill_message({out_.data(), size}, seq);
    if (bad) corrupt(out_.data(), size);
    put(out_.data(), size);
  }
  std::string recv(std::uint64_t seq, std::size_t size) override {
    const std::size_t got = get(in_.data(), size);
    if (got != size) return check_size(got, size);
    return std::string(check_message({in_.data(), size}, seq));
  }

 protected:
  virtual void put(const std::byte* p, std::size_t n) = 0;
  virtual std::size_t get(std::byte* p, std::size_t n) = 0;

 private:
  std::vector<std::byte> out_, in_;
};

// ---- pipe and socket: byte streams; a message is read whole with read_full ---------------

class StreamEndpoint : public BufferEndpoint {
 public:
  StreamEndpoint(std::size_t size, int in, int out) : BufferEndpoint(size), in_(in), out_(out) {}

 private:
  void put(const std::byte* p, std::size_t n) override { write_full(out_, p, n); }
  std::size_t get(std::byte* p, std::size_t n) override {
    const std::size_t got = read_full(in_, p, n);
    if (got == 0) throw OperationFailed("end of file: the other side is gone");
    return got;
  }
  int in_, out_;
};

class PipeLink : public Link {
 public:
  explicit PipeLink(const LinkParams& p) : size_(p.msg_size), ab_(make_pipe()), ba_(make_pipe()) {
    // The same buffer as the ring's, when the system allows it (pipe-max-size).
    for (int fd : {ab_.write.get(), ba_.write.get()})
      (void)::fcntl(fd, F_SETPIPE_SZ, static_cast<int>(p.buffer_size));
  }
  std::unique_ptr<Endpoint> open(int side) override {
    // Each child closes the ends it does not use, so a dead peer means end of file.
    if (side == 0) {
      ab_.read.reset();
      ba_.write.reset();
      return std::make_unique<StreamEndpoint>(size_, ba_.read.get(), ab_.write.get());
    }
    ab_.write.reset();
    ba_.read.reset();
    return std::make_unique<StreamEndpoint>(size_, ab_.read.get(), ba_.write.get());
  }

 private:
  std::size_t size_;
  Pipe ab_, ba_;
};

class SocketLink : public Link {
 public:
  explicit SocketLink(const LinkParams& p) : size_(p.msg_size) {
    int sv[2] = {-1, -1};
    check_unix(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
    fd_[0].reset(sv[0]);
    fd_[1].reset(sv[1]);
    const int buf = static_cast<int>(p.buffer_size);
    for (auto& fd : fd_) {  // best effort: the kernel caps these at wmem_max/rmem_max
      (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
      (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    }
  }
  std::unique_ptr<Endpoint> open(int side) override {
    fd_[1 - side].reset();
    return std::make_unique<StreamEndpoint>(size_, fd_[side].get(), fd_[side].get());
  }

 private:
  std::size_t size_;
  Fd fd_[2];
};

// ---- boost::interprocess::message_queue ------------------------------------------------

namespace bip = boost::interprocess;

class MqEndpoint : public BufferEndpoint {
 public:
  MqEndpoint(std::size_t size, const std::string& in, const std::string& out)
      : BufferEndpoint(size), in_(bip::open_only, in.c_str()), out_(bip::open_only, out.c_str()) {}

 private:
  void put(const std::byte* p, std::size_t n) override { out_.send(p, n, 0); }
  std::size_t get(std::byte* p, std::size_t n) override {
    bip::message_queue::size_type got = 0;
    unsigned prio = 0;
    in_.receive(p, n, got, prio);
    return got;
  }
  bip::message_queue in_, out_;
};

class BoostMqLink : public Link {
 public:
  explicit BoostMqLink(const LinkParams& p)
      : size_(p.msg_size),
        // boost adds the leading '/' itself: give it our POSIX name without it
        ab_(names::posix(unique("bmq-ab")).substr(1)),
        ba_(names::posix(unique("bmq-ba")).substr(1)) {
    const std::size_t depth = std::max<std::size_t>(1, p.buffer_size / p.msg_size);
    bip::message_queue::remove(ab_.c_str());
    bip::message_queue::remove(ba_.c_str());
    // The queues are named objects: they outlive these handles until remove().
    const bip::message_queue make_ab(bip::create_only, ab_.c_str(), depth, size_);
    try {
      const bip::message_queue make_ba(bip::create_only, ba_.c_str(), depth, size_);
    } catch (...) {
      bip::message_queue::remove(ab_.c_str());
      throw;
    }
  }
  ~BoostMqLink() override {
    bip::message_queue::remove(ab_.c_str());
    bip::message_queue::remove(ba_.c_str());
  }
  BoostMqLink(const BoostMqLink&) = delete;
  BoostMqLink& operator=(const BoostMqLink&) = delete;
  std::unique_ptr<Endpoint> open(int side) override {
    return side == 0 ? std::make_unique<MqEndpoint>(size_, ba_, ab_)
                     : std::make_unique<MqEndpoint>(size_, ab_, ba_);
  }

 private:
  std::size_t size_;
  std::string ab_, ba_;
};

// ---- the ring: built and verified in place ----------------------------------------------

class RingEndpoint : public Endpoint {
 public:
  RingEndpoint(ShmRing& in, ShmRing& out, double stall_s)
      : in_(in),
        out_(out),
        stall_(std::chrono::milliseconds(static_cast<long long>(stall_s * 1000))) {}
  void send(std::uint64_t seq, std::size_t size, bool bad) override {
    // First try with an expired deadline (no clock read on the fast path); if the ring is
    // full, wait with the real stall deadline.
    auto slot = out_.reserve(size, now_);
    if (!slot) slot = out_.reserve(size, Deadline(stall_));
    if (!slot)
      throw OperationFailed(fmt::format("ring full for {} s (the consumer is stuck)", secs()));
    fill_message(*slot, seq);
    if (bad) corrupt(slot->data(), size);
    out_.commit();
  }
  std::string recv(std::uint64_t seq, std::size_t size) override {
    std::span<const std::byte> msg;
    auto st = in_.peek(msg, now_);
    if (st == ShmRing::Status::kTimeout) st = in_.peek(msg, Deadline(stall_));
    if (st == ShmRing::Status::kTimeout)
      throw OperationFailed(fmt::format("ring empty for {} s (the producer is stuck)", secs()));
    if (st == ShmRing::Status::kClosed) throw OperationFailed("ring closed early");
    std::string why =
        msg.size() != size ? check_size(msg.size(), size) : std::string(check_message(msg, seq));
    in_.release();
    return why;
  }

 private:
  double secs() const { return std::chrono::duration<double>(stall_).count(); }
  ShmRing& in_;
  ShmRing& out_;
  Clock::duration stall_;
  const Deadline now_{Clock::duration::zero()};
};

class RingLink : public Link {
 public:
  explicit RingLink(const LinkParams& p)
      : ab_name_(unique("ring-ab")), ba_name_(unique("ring-ba")), stall_s_(p.stall_s) {
    ab_.emplace(ShmRing::create(ab_name_, p.buffer_size));
    try {
      ba_.emplace(ShmRing::create(ba_name_, p.buffer_size));
    } catch (...) {
      ShmRing::remove(ab_name_);
      throw;
    }
  }
  ~RingLink() override {
    ShmRing::remove(ab_name_);
    ShmRing::remove(ba_name_);
  }
  RingLink(const RingLink&) = delete;
  RingLink& operator=(const RingLink&) = delete;
  // The mappings are inherited across fork: the children use the parent's objects.
  std::unique_ptr<Endpoint> open(int side) override {
    return side == 0 ? std::make_unique<RingEndpoint>(*ba_, *ab_, stall_s_)
                     : std::make_unique<RingEndpoint>(*ab_, *ba_, stall_s_);
  }

 private:
  std::string ab_name_, ba_name_;
  double stall_s_;
  std::optional<ShmRing> ab_, ba_;
};

}  // namespace

void corrupt(std::byte* msg, std::size_t size) { msg[size - 1] ^= std::byte{0x10}; }

std::unique_ptr<Link> make_pipe_link(const LinkParams& p) { return std::make_unique<PipeLink>(p); }
std::unique_ptr<Link> make_socket_link(const LinkParams& p) {
  return std::make_unique<SocketLink>(p);
}
std::unique_ptr<Link> make_boost_mq_link(const LinkParams& p) {
  return std::make_unique<BoostMqLink>(p);
}
std::unique_ptr<Link> make_ring_link(const LinkParams& p) { return std::make_unique<RingLink>(p); }

}  // namespace ipclab::lab12::bench
