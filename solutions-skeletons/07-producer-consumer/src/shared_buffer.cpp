// Lab 07: the bounded buffer in shared memory, with a robust process-shared mutex.
// Read the contract in include/lab07/shared_buffer.hpp (what "consistent" means) first.
#include "lab07/shared_buffer.hpp"

#include <cerrno>  // EOWNERDEAD

#include "ipclab/error.hpp"  // check_posix, UsageError, OperationFailed, NotImplemented

namespace ipclab::lab07 {

SharedBoundedBuffer SharedBoundedBuffer::create([[maybe_unused]] const std::string& name,
                                                [[maybe_unused]] std::size_t capacity) {
  // TODO(lab07): PosixShm::create(name, bytes_for(capacity)), map it, then initialise the
  // mutex (pthread_mutexattr_setpshared PTHREAD_PROCESS_SHARED + pthread_mutexattr_setrobust
  // PTHREAD_MUTEX_ROBUST) and both condvars (pthread_condattr_setpshared); set capacity,
  // and magic last. On failure unlink the name again.
  throw NotImplemented("TODO(lab07): implement SharedBoundedBuffer::create()");
}

SharedBoundedBuffer SharedBoundedBuffer::open([[maybe_unused]] const std::string& name) {
  // TODO(lab07): PosixShm::open, check the size and the magic, map it.
  throw NotImplemented("TODO(lab07): implement SharedBoundedBuffer::open()");
}

bool SharedBoundedBuffer::push([[maybe_unused]] std::uint64_t item) {
  // TODO(lab07): as BoundedBuffer::push, with pthread_mutex_lock/pthread_cond_wait. Both
  // can return EOWNERDEAD: then repair the ring (see the header) and call
  // pthread_mutex_consistent before going on. Set in_progress before test_point(kPushLocked)
  // and clear it after count++.
  throw NotImplemented("TODO(lab07): implement SharedBoundedBuffer::push()");
}

std::optional<std::uint64_t> SharedBoundedBuffer::pop() {
  // TODO(lab07): as BoundedBuffer::pop, repairing on EOWNERDEAD.
  throw NotImplemented("TODO(lab07): implement SharedBoundedBuffer::pop()");
}

void SharedBoundedBuffer::close() {
  // TODO(lab07): set closed under the lock, broadcast both condition variables.
  throw NotImplemented("TODO(lab07): implement SharedBoundedBuffer::close()");
}

std::size_t SharedBoundedBuffer::size() const {
  // TODO(lab07): count, under the lock.
  throw NotImplemented("TODO(lab07): implement SharedBoundedBuffer::size()");
}

bool SharedBoundedBuffer::closed() const {
  // TODO(lab07): closed, under the lock.
  throw NotImplemented("TODO(lab07): implement SharedBoundedBuffer::closed()");
}

std::uint64_t SharedBoundedBuffer::recoveries() const {
  // TODO(lab07): recoveries, under the lock.
  throw NotImplemented("TODO(lab07): implement SharedBoundedBuffer::recoveries()");
}

}  // namespace ipclab::lab07
