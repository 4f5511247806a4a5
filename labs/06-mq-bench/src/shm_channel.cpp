// Lab 06: shared memory + semaphores, after Stevens UNP2 10.6 (producer-consumer with
// nempty/nstored). Contract: include/lab06/channel.hpp.
//
// Layout of the shared-memory object: two rings of kShmSlots slots, A->B then B->A; a slot
// is msg_size bytes rounded up to a cache line (64), so two slots never share one. Per
// ring, two named semaphores: "empty" (slots free, starts at kShmSlots) and "full"
// (messages stored, starts at 0). One producer and one consumer per ring, so each keeps
// its own slot index in private memory: nothing but the semaphores is shared state. A
// sem_post by one process and the sem_wait that it ends in the other order the slot's
// bytes (POSIX's memory synchronization): no further barrier is needed.
#include <array>    // std::array
#include <cstring>  // std::memcpy

#include "ipclab/error.hpp"  // OperationFailed
#include "ipclab/names.hpp"  // names::posix
#include "ipclab/sem.hpp"    // NamedSemaphore
#include "ipclab/shm.hpp"    // PosixShm, Mapping
#include "lab06/channel.hpp"

namespace ipclab::lab06 {
namespace {

constexpr std::size_t kCacheLine = 64;

std::size_t slot_stride(std::size_t msg_size) {
  return (msg_size + kCacheLine - 1) / kCacheLine * kCacheLine;
}

/// The names of one run's objects.
struct ShmNames {
  std::string shm;
  std::array<std::string, 2> empty;  // [0]: ring A->B, [1]: ring B->A
  std::array<std::string, 2> full;
};

/// One direction of the channel as one process sees it.
struct Ring {
  std::byte* slots;
  NamedSemaphore empty;
  NamedSemaphore full;
  std::size_t next = 0;  // private: the next slot this process writes (or reads)
};

class ShmSemChannel final : public Channel {
 public:
  ShmSemChannel(Mapping map, Ring out, Ring in, std::size_t msg_size)
      : map_(std::move(map)),
        out_(std::move(out)),
        in_(std::move(in)),
        size_(msg_size),
        stride_(slot_stride(msg_size)) {}

  void send(std::span<const std::byte> msg) override {
    out_.empty.wait();  // a free slot (blocks while the ring is full)
    std::memcpy(out_.slots + (out_.next % kShmSlots) * stride_, msg.data(), size_);
    ++out_.next;
    out_.full.post();  // publishes the slot: pairs with in_.full.wait() on the other side
  }

  void recv(std::span<std::byte> buf) override {
    in_.full.wait();  // a stored message (blocks while the ring is empty)
    std::memcpy(buf.data(), in_.slots + (in_.next % kShmSlots) * stride_, size_);
    ++in_.next;
    in_.empty.post();  // the slot may be reused only after we copied it out
  }

 private:
  Mapping map_;  // owns the memory the rings point into
  Ring out_, in_;
  std::size_t size_, stride_;
};

class ShmSemTransport final : public Transport {
 public:
  explicit ShmSemTransport(std::size_t msg_size) : msg_size_(msg_size) {
    names_.shm = names::posix(object_name("shm"));
    const std::array<const char*, 2> dir = {"ab", "ba"};
    for (std::size_t d = 0; d < 2; ++d) {
      names_.empty[d] = names::posix(object_name(fmt::format("sem-{}-empty", dir[d])));
      names_.full[d] = names::posix(object_name(fmt::format("sem-{}-full", dir[d])));
    }
    try {
      PosixShm::create(names_.shm, 2 * kShmSlots * slot_stride(msg_size));
      created_.shm = names_.shm;
      for (std::size_t d = 0; d < 2; ++d) {
        NamedSemaphore::create(names_.empty[d], static_cast<unsigned>(kShmSlots));
        created_.empty[d] = names_.empty[d];
        NamedSemaphore::create(names_.full[d], 0);
        created_.full[d] = names_.full[d];
      }
    } catch (...) {
      remove();  // the constructor fails: no destructor will remove what exists
      throw;
    }
  }
  ~ShmSemTransport() override { remove(); }

  std::unique_ptr<Channel> open(Side side) override {
    Mapping map = PosixShm::open(names_.shm).map();
    const std::size_t ring_bytes = kShmSlots * slot_stride(msg_size_);
    if (map.size() != 2 * ring_bytes)
      throw OperationFailed(fmt::format("shm_sem: \"{}\" has {} bytes, expected {}", names_.shm,
                                        map.size(), 2 * ring_bytes));
    auto ring = [&](std::size_t d) {
      return Ring{map.as<std::byte>() + d * ring_bytes, NamedSemaphore::open(names_.empty[d]),
                  NamedSemaphore::open(names_.full[d])};
    };
    const std::size_t out = side == Side::kA ? 0 : 1;
    Ring r_out = ring(out), r_in = ring(1 - out);
    return std::make_unique<ShmSemChannel>(std::move(map), std::move(r_out), std::move(r_in),
                                           msg_size_);
  }

 private:
  /// Unlinks what was created; never throws (the names go, the memory goes with the last
  /// mapping).
  void remove() noexcept {
    if (!created_.shm.empty()) ::shm_unlink(created_.shm.c_str());
    for (std::size_t d = 0; d < 2; ++d) {
      if (!created_.empty[d].empty()) ::sem_unlink(created_.empty[d].c_str());
      if (!created_.full[d].empty()) ::sem_unlink(created_.full[d].c_str());
    }
    created_ = {};
  }
  std::size_t msg_size_;
  ShmNames names_;
  ShmNames created_;  // the subset that exists, for remove()
};

}  // namespace

std::unique_ptr<Transport> make_shm_sem_transport(std::size_t msg_size) {
  return std::make_unique<ShmSemTransport>(msg_size);
}

}  // namespace ipclab::lab06
