// Shared memory: lab 12's ring (futex sleep only when empty or full), lab 15's lock-free SPSC
// queue (spin, then yield), and System V segments + semaphore counters as lab 13 uses them.
// Each is one producer and one consumer a direction, so a link is two of them: A->B, B->A.
// The supervisor creates (and removes) every object; the forked sides use the handles they
// inherit, or attach by name.
#include <sys/sem.h>  // sembuf

#include <algorithm>  // std::max
#include <array>      // std::array
#include <bit>        // std::bit_ceil
#include <cstring>    // std::memcpy

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/error.hpp"  // OperationFailed
#include "ipclab/names.hpp"  // names::sysv_key, sysv_key_file
#include "ipclab/sysv.hpp"   // SysvShm, SysvSemSet
#include "lab12/shm_ring.hpp"
#include "lab15/spin.hpp"
#include "lab15/spsc_queue.hpp"
#include "transport.hpp"

namespace ipclab::suite {
namespace {

constexpr std::size_t kCacheLine = 64;
constexpr std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }
/// How long a side waits on a full or empty ring before it calls the link broken.
constexpr auto kWait = std::chrono::seconds(60);

// ---- lab 12: the shm ring -------------------------------------------------------------------

class RingEndpoint final : public Endpoint {
 public:
  RingEndpoint(lab12::ShmRing* out, lab12::ShmRing in) : out_(out), in_(std::move(in)) {}
  // First with a deadline already past (no clock read: the ring's own spin, as lab 12's
  // benchmark does), then with one in kWait.
  void send(std::span<const std::byte> msg) override {
    if (!out_->push(msg, now_) && !out_->push(msg, Deadline(kWait)))
      throw OperationFailed("ring full for 60 s");
  }
  void recv(std::span<std::byte> buf) override {
    std::span<const std::byte> msg;
    auto st = in_.peek(msg, now_);
    if (st == lab12::ShmRing::Status::kTimeout) st = in_.peek(msg, Deadline(kWait));
    if (st != lab12::ShmRing::Status::kMessage)
      throw OperationFailed(st == lab12::ShmRing::Status::kClosed ? "ring closed"
                                                                  : "ring empty for 60 s");
    if (msg.size() != buf.size())
      throw OperationFailed(
          fmt::format("a {}-byte message where {} were expected", msg.size(), buf.size()));
    std::memcpy(buf.data(), msg.data(), buf.size());
    in_.release();
  }

 private:
  lab12::ShmRing* out_;  // the producer handle the supervisor created (inherited)
  lab12::ShmRing in_;    // opened here as a consumer
  const Deadline now_{std::chrono::nanoseconds(0)};
};

class RingLink final : public Link {
 public:
  explicit RingLink(std::size_t capacity)
      : names_{object_name("ring-ab"), object_name("ring-ba")},
        ab_(lab12::ShmRing::create(names_[0], capacity)),
        ba_(create_or_remove(names_[1], capacity)) {}
  ~RingLink() override {
    lab12::ShmRing::remove(names_[0]);
    lab12::ShmRing::remove(names_[1]);
  }
  std::unique_ptr<Endpoint> open(Side side, int) override {
    const bool a = side == Side::kA;
    return std::make_unique<RingEndpoint>(a ? &ab_ : &ba_,
                                          lab12::ShmRing::open(names_[a ? 1 : 0], Deadline(kWait)));
  }

 private:
  lab12::ShmRing create_or_remove(const std::string& name, std::size_t capacity) {
    try {
      return lab12::ShmRing::create(name, capacity);
    } catch (...) {
      lab12::ShmRing::remove(names_[0]);
      throw;
    }
  }
  std::array<std::string, 2> names_;
  lab12::ShmRing ab_, ba_;
};

class RingAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "shm_ring"; }
  std::string_view description() const override {
    return "lab 12's POSIX shm ring: spin, then futex sleep only when empty or full";
  }
  Caps caps() const override {
    Caps c;
    c.max_size = lab12::kMaxCapacity / 2 - 8;
    c.limit_source = "lab 12's largest ring / 2";
    c.kernel_synchronized = false;
    c.trade_offs = {"the kernel: until shm_unlink or reboot", "/name (shm_open)",
                    "spins briefly, then futex sleep (woken only if a sleeper is registered)"};
    return c;
  }
  std::unique_ptr<Link> setup(const LinkParams& p) override {
    // 1 MiB as shm_ring_bench uses, more when four messages would not fit.
    return std::make_unique<RingLink>(
        std::max<std::size_t>(std::size_t{1} << 20, std::bit_ceil(4 * (p.msg_size + 8))));
  }
};

// ---- lab 15: the SPSC queue, of 64-byte cells ----------------------------------------------

/// One slot: a cache line of message bytes. A message takes ceil(size / 64) cells, pushed
/// and popped in batches (push_n/pop_n: one index store per batch).
struct Cell {
  std::byte bytes[kCacheLine];  // NOLINT(*-avoid-c-arrays): a slot's bytes
};
using CellQueue = lab15::SharedSpscQueue<Cell>;
constexpr std::size_t kSpscCells = 16384;  // 1 MiB of slots, as the ring

class SpscEndpoint final : public Endpoint {
 public:
  SpscEndpoint(lab15::SpscQueue<Cell>& out, lab15::SpscQueue<Cell>& in) : out_(out), in_(in) {}
  void send(std::span<const std::byte> msg) override {
    const std::size_t whole = msg.size() / kCacheLine;
    // The cells are plain bytes (alignment 1): the message's whole cells go as they are.
    const auto* cells = reinterpret_cast<const Cell*>(msg.data());
    for (std::size_t done = 0; done < whole;) {
      const std::size_t n = out_.push_n(cells + done, whole - done);
      if (n == 0) {
        backoff_.wait();
        continue;
      }
      backoff_.reset();
      done += n;
    }
    if (const std::size_t rest = msg.size() % kCacheLine; rest != 0) {
      Cell last{};
      std::memcpy(last.bytes, msg.data() + whole * kCacheLine, rest);
      while (!out_.try_push(last)) backoff_.wait();
      backoff_.reset();
    }
  }
  void recv(std::span<std::byte> buf) override {
    const std::size_t whole = buf.size() / kCacheLine;
    auto* cells = reinterpret_cast<Cell*>(buf.data());
    for (std::size_t done = 0; done < whole;) {
      const std::size_t n = in_.pop_n(cells + done, whole - done);
      if (n == 0) {
        backoff_.wait();
        continue;
      }
      backoff_.reset();
      done += n;
    }
    if (const std::size_t rest = buf.size() % kCacheLine; rest != 0) {
      Cell last{};
      while (!in_.try_pop(last)) backoff_.wait();
      backoff_.reset();
      std::memcpy(buf.data() + whole * kCacheLine, last.bytes, rest);
    }
  }

 private:
  lab15::SpscQueue<Cell>& out_;
  lab15::SpscQueue<Cell>& in_;
  lab15::Backoff backoff_;
};

class SpscLink final : public Link {
 public:
  SpscLink()
      : ab_(CellQueue::create(object_name("spsc-ab"), kSpscCells)),
        ba_(CellQueue::create(object_name("spsc-ba"), kSpscCells)) {}
  std::unique_ptr<Endpoint> open(Side side, int) override {
    const bool a = side == Side::kA;
    return std::make_unique<SpscEndpoint>(a ? ab_.queue() : ba_.queue(),
                                          a ? ba_.queue() : ab_.queue());
  }

 private:
  CellQueue ab_, ba_;  // their destructors remove the names
};

class SpscAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "spsc"; }
  std::string_view description() const override {
    return "lab 15's lock-free SPSC queue in POSIX shm, 64-byte cells, batch push/pop";
  }
  Caps caps() const override {
    Caps c;
    c.max_size = kSpscCells * kCacheLine;
    c.limit_source = "the queue's 1 MiB of cells";
    c.kernel_synchronized = false;
    c.trade_offs = {"the kernel: until shm_unlink or reboot", "/name (shm_open)",
                    "never blocks: spins, then sched_yield (burns a core while waiting)"};
    return c;
  }
  std::unique_ptr<Link> setup(const LinkParams&) override { return std::make_unique<SpscLink>(); }
};

// ---- System V shared memory + a SysV semaphore set (lab 13's objects) -----------------------

constexpr std::size_t kSysvSlots = 16;
/// The set's semaphores: free and filled slots of each direction.
enum SysvSem : unsigned short { kFreeAB, kFullAB, kFreeBA, kFullBA, kSysvSems };

class SysvEndpoint final : public Endpoint {
 public:
  SysvEndpoint(SysvSemSet sems, std::byte* out, std::byte* in, unsigned short out_sem,
               unsigned short in_sem, std::size_t stride)
      : sems_(sems), out_(out), in_(in), out_sem_(out_sem), in_sem_(in_sem), stride_(stride) {}
  void send(std::span<const std::byte> msg) override {
    op(out_sem_, -1);  // a free slot
    std::memcpy(out_ + (sent_++ % kSysvSlots) * stride_, msg.data(), msg.size());
    op(static_cast<unsigned short>(out_sem_ + 1), 1);  // one more filled
  }
  void recv(std::span<std::byte> buf) override {
    op(static_cast<unsigned short>(in_sem_ + 1), -1);  // a filled slot
    std::memcpy(buf.data(), in_ + (got_++ % kSysvSlots) * stride_, buf.size());
    op(in_sem_, 1);  // one more free
  }

 private:
  void op(unsigned short sem, short delta) {
    const sembuf b{sem, delta, 0};
    sems_.op(std::span(&b, 1));
  }
  SysvSemSet sems_;
  std::byte* out_;
  std::byte* in_;
  unsigned short out_sem_, in_sem_;  // the "free" semaphore of each direction
  std::size_t stride_;
  std::uint64_t sent_ = 0, got_ = 0;
};

class SysvLink final : public Link {
 public:
  explicit SysvLink(std::size_t msg_size)
      : name_(object_name("sysv")),
        stride_(round_up(msg_size, kCacheLine)),
        shm_(SysvShm::create(names::sysv_key(name_ + ".shm"), 2 * kSysvSlots * stride_)),
        sems_(make_sems()) {
    base_ = static_cast<std::byte*>(shm_.attach());  // inherited by the forked sides
  }
  ~SysvLink() override {
    shm_.detach();
    shm_.remove();
    sems_.remove();
    for (const char* what : {".shm", ".sem"}) ::unlink(names::sysv_key_file(name_ + what).c_str());
  }
  std::unique_ptr<Endpoint> open(Side side, int) override {
    std::byte* ab = base_;
    std::byte* ba = base_ + kSysvSlots * stride_;
    return side == Side::kA
               ? std::make_unique<SysvEndpoint>(sems_, ab, ba, kFreeAB, kFreeBA, stride_)
               : std::make_unique<SysvEndpoint>(sems_, ba, ab, kFreeBA, kFreeAB, stride_);
  }

 private:
  SysvSemSet make_sems() {
    try {
      SysvSemSet s = SysvSemSet::create(names::sysv_key(name_ + ".sem"), kSysvSems);
      s.set(kFreeAB, kSysvSlots);
      s.set(kFreeBA, kSysvSlots);
      return s;
    } catch (...) {
      shm_.remove();
      throw;
    }
  }
  std::string name_;
  std::size_t stride_;
  SysvShm shm_;
  SysvSemSet sems_;
  std::byte* base_ = nullptr;
};

class SysvAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "sysv_shm"; }
  std::string_view description() const override {
    return "a System V segment of slot rings + a SysV semaphore set (lab 13's objects)";
  }
  Caps caps() const override {
    Caps c;
    c.max_size = std::size_t{1} << 20;
    c.limit_source = "this suite's cap: 2 x 16 slots of 1 MiB";
    c.kernel_synchronized = false;
    c.trade_offs = {"the kernel: until IPC_RMID or reboot", "a key (ftok of a path)",
                    "semop blocks per message"};
    return c;
  }
  std::unique_ptr<Link> setup(const LinkParams& p) override {
    return std::make_unique<SysvLink>(p.msg_size);
  }
};

}  // namespace

std::unique_ptr<Adapter> make_ring_adapter() { return std::make_unique<RingAdapter>(); }
std::unique_ptr<Adapter> make_spsc_adapter() { return std::make_unique<SpscAdapter>(); }
std::unique_ptr<Adapter> make_sysv_shm_adapter() { return std::make_unique<SysvAdapter>(); }

}  // namespace ipclab::suite
