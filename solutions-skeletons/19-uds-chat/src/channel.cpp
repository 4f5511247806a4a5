// Lab 19: a parent<->child byte channel over pipes, shm + semaphores, or a socketpair.
// Read the contract in include/lab19/channel.hpp before you start.
#include <semaphore.h>   // sem_t, sem_init, sem_post, sem_timedwait
#include <sys/socket.h>  // socketpair

#include "ipclab/error.hpp"  // check_unix, throw_error, NotImplemented
#include "ipclab/fd.hpp"     // Fd, make_pipe
#include "ipclab/names.hpp"  // names::posix
#include "ipclab/shm.hpp"    // PosixShm, Mapping
#include "lab19/channel.hpp"

namespace ipclab::lab19 {

struct Channel::Impl {
  // TODO(lab19): the state you need: the mechanism, the descriptors of both sides (which
  // become_parent/become_child keep or close), and for shm the mapping and where each
  // side is in its slots.
  Mechanism mech = Mechanism::kPipe;
};

Channel::Channel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Channel::Channel(Channel&&) noexcept = default;
Channel& Channel::operator=(Channel&&) noexcept = default;
Channel::~Channel() = default;

Mechanism Channel::mechanism() const { return impl_->mech; }

Channel Channel::make([[maybe_unused]] Mechanism m, [[maybe_unused]] double timeout_s) {
  // TODO(lab19): two pipes, or one socketpair, or a shm object (create, map, unlink at
  // once) with two directions of {full, empty semaphores (pshared), two slots}: a sender
  // fills both slots before it waits ("empty" starts at 2).
  throw NotImplemented("TODO(lab19): implement Channel::make() in src/channel.cpp");
}

void Channel::become_parent() {
  // TODO(lab19): close the child's ends; remember which ends (or shm direction) are ours.
  throw NotImplemented("TODO(lab19): implement Channel::become_parent() in src/channel.cpp");
}

void Channel::become_child() {
  throw NotImplemented("TODO(lab19): implement Channel::become_child() in src/channel.cpp");
}

void Channel::send([[maybe_unused]] const void* data, [[maybe_unused]] std::size_t n) {
  // TODO(lab19): pipe/socket: write everything (MSG_NOSIGNAL on a socket; a write cut
  // short by a stop signal returns a short count: send the rest). shm: for each
  // piece of at most kShmSlot bytes: wait "empty" (with the deadline), copy into the next
  // slot, record its length, post "full".
  throw NotImplemented("TODO(lab19): implement Channel::send() in src/channel.cpp");
}

void Channel::recv([[maybe_unused]] void* data, [[maybe_unused]] std::size_t n) {
  // TODO(lab19): pipe/socket: read exactly n bytes (EOF first: SysError(EPIPE)). shm:
  // wait "full", copy out what you need, remember the offset inside the slot, post
  // "empty" once the slot is drained.
  throw NotImplemented("TODO(lab19): implement Channel::recv() in src/channel.cpp");
}

}  // namespace ipclab::lab19
