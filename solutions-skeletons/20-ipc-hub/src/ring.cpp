// Lab 20: the shm backend's rings. Read include/lab20/ring.hpp and the README (§Backends,
// §Pitfalls 1, 5 and 7) before you start; lab 12's ring is the model.
#include "lab20/ring.hpp"
#include "ipclab/error.hpp"  // NotImplemented
#include "lab20/frame.hpp"   // ProtocolError

namespace ipclab::lab20 {

bool Ring::try_push([[maybe_unused]] std::string_view msg) {
  // TODO(lab20): record = 8-byte header + bytes padded to 8; if it would cross the end of
  // the area, write a pad header and start at 0; room = capacity - (head - tail), with
  // tail cached; write the bytes, then publish head with release.
  throw NotImplemented("TODO(lab20): implement Ring::try_push() in src/ring.cpp");
}

bool Ring::try_pop([[maybe_unused]] std::string& out) {
  // TODO(lab20): head with acquire (cached); skip a pad record; check the length before
  // you copy; then publish tail with release.
  throw NotImplemented("TODO(lab20): implement Ring::try_pop() in src/ring.cpp");
}

bool Ring::empty() const {
  throw NotImplemented("TODO(lab20): implement Ring::empty() in src/ring.cpp");
}

void Ring::wait_for_data() {
  // TODO(lab20): set the flag with an RMW that acquires (exchange); the take_*_waiter()
  // functions take it with an RMW that releases (README §Pitfalls 1).
  throw NotImplemented("TODO(lab20): implement Ring::wait_for_data() in src/ring.cpp");
}

void Ring::wait_for_room() {
  throw NotImplemented("TODO(lab20): implement Ring::wait_for_room() in src/ring.cpp");
}

bool Ring::take_consumer_waiter() {
  throw NotImplemented("TODO(lab20): implement Ring::take_consumer_waiter() in src/ring.cpp");
}

bool Ring::take_producer_waiter() {
  throw NotImplemented("TODO(lab20): implement Ring::take_producer_waiter() in src/ring.cpp");
}

ShmChannel ShmChannel::create([[maybe_unused]] const std::string& name) {
  // TODO(lab20): PosixShm::create (mode 0600), map it, write the header (kShmMagic at 0,
  // the capacity at 8), set up up_ and down_ on the two data areas; keep a descriptor to
  // pass on, at 3 or above (fcntl F_DUPFD_CLOEXEC).
  throw NotImplemented("TODO(lab20): implement ShmChannel::create() in src/ring.cpp");
}

ShmChannel ShmChannel::attach([[maybe_unused]] Fd fd) {
  // TODO(lab20): fstat the size, map, check the header; never trust what you did not check.
  throw NotImplemented("TODO(lab20): implement ShmChannel::attach() in src/ring.cpp");
}

}  // namespace ipclab::lab20
