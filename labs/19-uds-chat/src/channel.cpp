// Lab 19 reference: a parent↔child byte channel over pipes, shm + semaphores, or a
// socketpair (see channel.hpp).
//
// The shm layout: per direction two slots and two process-shared semaphores. The sender
// waits for an empty slot, copies a piece in, records its length and posts "full"; the
// receiver waits for a full slot, copies out as much as it needs (remembering where it
// stopped inside the slot) and posts "empty" once the slot is drained. Two slots let the
// sender fill one while the receiver drains the other. sem_post/sem_wait order the slot's
// bytes: everything written before sem_post is visible after the matching sem_wait.
#include <semaphore.h>   // sem_t, sem_init, sem_post, sem_timedwait
#include <sys/socket.h>  // socketpair, send
#include <unistd.h>      // getpid, read, write

#include <algorithm>  // std::min
#include <atomic>     // std::atomic: a unique shm name per channel
#include <cerrno>     // errno
#include <chrono>     // std::chrono::duration
#include <cstring>    // std::memcpy

#include <fmt/core.h>  // fmt::format

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/error.hpp"  // check_unix, throw_errno, throw_error
#include "ipclab/fd.hpp"     // Fd, make_pipe
#include "ipclab/io.hpp"     // read_full
#include "ipclab/names.hpp"  // names::posix
#include "ipclab/shm.hpp"    // PosixShm, Mapping
#include "lab19/channel.hpp"

namespace ipclab::lab19 {
namespace {

struct ShmDirection {
  sem_t full;   // slots holding data for the receiver
  sem_t empty;  // slots the sender may fill
  std::uint32_t len[2];
  // own cache lines: the payload must not share a line with the semaphores
  alignas(64) std::byte slot[2][Channel::kShmSlot];
};
struct ShmLayout {
  ShmDirection dir[2];  // [0]: parent → child, [1]: child → parent
};

std::atomic<unsigned> g_channels{0};

}  // namespace

struct Channel::Impl {
  Mechanism mech = Mechanism::kPipe;
  Clock::duration timeout{};
  // Pipes: four ends; socketpair: one end each side (the *_out ends stay empty).
  Fd parent_in, parent_out, child_in, child_out;
  int in = -1, out = -1;
  // shm
  Mapping map;
  ShmDirection* tx = nullptr;
  ShmDirection* rx = nullptr;
  int tx_slot = 0, rx_slot = 0;
  std::size_t rx_off = 0;
  bool rx_have = false;

  void wait(sem_t* sem) const {
    const timespec abs = Deadline(timeout).realtime_abs();
    while (::sem_timedwait(sem, &abs) < 0) {
      if (errno == EINTR) continue;
      if (errno == ETIMEDOUT)
        throw_error(ETIMEDOUT, "shm channel: the peer did not answer within {:.1f} s",
                    std::chrono::duration<double>(timeout).count());
      throw_errno("sem_timedwait");
    }
  }
};

Channel::Channel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Channel::Channel(Channel&&) noexcept = default;
Channel& Channel::operator=(Channel&&) noexcept = default;
Channel::~Channel() = default;

Mechanism Channel::mechanism() const { return impl_->mech; }

Channel Channel::make(Mechanism m, double timeout_s) {
  auto impl = std::make_unique<Impl>();
  impl->mech = m;
  impl->timeout =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  if (m == Mechanism::kPipe) {
    auto down = make_pipe(), up = make_pipe();
    impl->child_in = std::move(down.read), impl->parent_out = std::move(down.write);
    impl->parent_in = std::move(up.read), impl->child_out = std::move(up.write);
  } else if (m == Mechanism::kSock) {
    int sv[2];
    check_unix(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
    impl->parent_in.reset(sv[0]), impl->child_in.reset(sv[1]);
  } else {
    const std::string name = names::posix(fmt::format("ipc_demo.{}.{}", ::getpid(), g_channels++));
    PosixShm shm = PosixShm::create(name, sizeof(ShmLayout));
    // Unlinked as soon as it is mapped: fork hands the mapping to the child, and no name
    // is left to leak, whatever happens to either process later.
    struct Unlink {
      const std::string& n;
      ~Unlink() { (void)::shm_unlink(n.c_str()); }
    } unlink{name};
    impl->map = shm.map();
    auto* layout = impl->map.as<ShmLayout>();  // zero-filled by ftruncate
    for (auto& d : layout->dir) {
      check_unix(::sem_init(&d.full, /*pshared=*/1, 0), "sem_init");
      check_unix(::sem_init(&d.empty, /*pshared=*/1, 2), "sem_init");
    }
  }
  return Channel(std::move(impl));
}

void Channel::become_parent() {
  Impl& i = *impl_;
  i.child_in.reset(), i.child_out.reset();
  i.in = i.parent_in.get();
  i.out = i.parent_out ? i.parent_out.get() : i.in;
  if (i.mech == Mechanism::kShm) {
    i.tx = &i.map.as<ShmLayout>()->dir[0];
    i.rx = &i.map.as<ShmLayout>()->dir[1];
  }
}

void Channel::become_child() {
  Impl& i = *impl_;
  i.parent_in.reset(), i.parent_out.reset();
  i.in = i.child_in.get();
  i.out = i.child_out ? i.child_out.get() : i.in;
  if (i.mech == Mechanism::kShm) {
    i.tx = &i.map.as<ShmLayout>()->dir[1];
    i.rx = &i.map.as<ShmLayout>()->dir[0];
  }
}

void Channel::send(const void* data, std::size_t n) {
  Impl& i = *impl_;
  const auto* p = static_cast<const std::byte*>(data);
  if (i.mech == Mechanism::kShm) {
    while (n > 0) {
      i.wait(&i.tx->empty);
      const std::size_t piece = std::min(n, kShmSlot);
      std::memcpy(i.tx->slot[i.tx_slot], p, piece);
      i.tx->len[i.tx_slot] = static_cast<std::uint32_t>(piece);
      i.tx_slot ^= 1;
      check_unix(::sem_post(&i.tx->full), "sem_post");
      p += piece, n -= piece;
    }
    return;
  }
  while (n > 0) {
    // A socket is written with MSG_NOSIGNAL: a vanished peer is EPIPE, not SIGPIPE.
    const ssize_t w = retry_eintr([&] {
      return i.mech == Mechanism::kSock ? ::send(i.out, p, n, MSG_NOSIGNAL) : ::write(i.out, p, n);
    });
    if (w < 0) throw_errno("{} channel: write", mechanism_name(i.mech));
    p += w, n -= static_cast<std::size_t>(w);
  }
}

void Channel::recv(void* data, std::size_t n) {
  Impl& i = *impl_;
  auto* p = static_cast<std::byte*>(data);
  if (i.mech == Mechanism::kShm) {
    while (n > 0) {
      if (!i.rx_have) {
        i.wait(&i.rx->full);
        i.rx_have = true;
        i.rx_off = 0;
      }
      const std::size_t len = i.rx->len[i.rx_slot];
      const std::size_t piece = std::min(n, len - i.rx_off);
      std::memcpy(p, i.rx->slot[i.rx_slot] + i.rx_off, piece);
      i.rx_off += piece, p += piece, n -= piece;
      if (i.rx_off == len) {  // slot drained: hand it back
        i.rx_have = false;
        i.rx_slot ^= 1;
        check_unix(::sem_post(&i.rx->empty), "sem_post");
      }
    }
    return;
  }
  const std::size_t got = read_full(i.in, p, n);
  if (got < n)
    throw_error(EPIPE, "{} channel: the peer closed after {} of {} bytes", mechanism_name(i.mech),
                got, n);
}

}  // namespace ipclab::lab19
