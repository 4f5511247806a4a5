// Lab 07: the bounded buffer in shared memory, with a robust process-shared mutex.
// Read the contract in include/lab07/shared_buffer.hpp (what "consistent" means) first.
#include "lab07/shared_buffer.hpp"

#include <cerrno>  // EOWNERDEAD

#include "ipclab/error.hpp"  // check_posix, UsageError, OperationFailed

namespace ipclab::lab07 {

namespace {

/// Makes the ring consistent after its lock owner died; we hold the mutex (EOWNERDEAD).
void recover(SharedRing* r) {
  // A producer that died between "room checked" and count++ published nothing: the slot at
  // head + count is not part of the buffer, so there is nothing to undo (and nothing to
  // write: had it died just after count++, with the buffer now full, that slot would be
  // head's, the oldest item).
  r->in_progress = 0;
  if (r->head >= r->capacity) r->head %= r->capacity;
  if (r->count > r->capacity) r->count = r->capacity;
  ++r->recoveries;
  // The dead owner may have been about to signal: let every waiter re-check.
  pthread_cond_broadcast(&r->not_full);
  pthread_cond_broadcast(&r->not_empty);
  check_posix(pthread_mutex_consistent(&r->mutex), "pthread_mutex_consistent");
}

/// pthread_mutex_lock that repairs the ring on EOWNERDEAD. Returns with the lock held.
void lock(SharedRing* r) {
  const int rc = pthread_mutex_lock(&r->mutex);
  if (rc == EOWNERDEAD) return recover(r);
  check_posix(rc, "pthread_mutex_lock");
}

/// pthread_cond_wait reacquires the mutex, so it can report EOWNERDEAD too.
void wait(SharedRing* r, pthread_cond_t* cond) {
  const int rc = pthread_cond_wait(cond, &r->mutex);
  if (rc == EOWNERDEAD) return recover(r);
  check_posix(rc, "pthread_cond_wait");
}

/// Unlocks on scope exit (also when a check_posix throws with the lock held).
class Locked {
 public:
  explicit Locked(SharedRing* r) : r_(r) { lock(r_); }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;
  ~Locked() { pthread_mutex_unlock(&r_->mutex); }

 private:
  SharedRing* r_;
};

}  // namespace

SharedBoundedBuffer SharedBoundedBuffer::create(const std::string& name, std::size_t capacity) {
  if (capacity == 0) throw UsageError("shared buffer: capacity must be at least 1");
  auto shm = PosixShm::create(name, bytes_for(capacity));
  try {
    SharedBoundedBuffer buf(shm.map());  // ftruncate zero-filled it
    SharedRing* r = buf.ring_;
    pthread_mutexattr_t ma;
    check_posix(pthread_mutexattr_init(&ma), "pthread_mutexattr_init");
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    const int rc = pthread_mutex_init(&r->mutex, &ma);
    pthread_mutexattr_destroy(&ma);
    check_posix(rc, "pthread_mutex_init");
    pthread_condattr_t ca;
    check_posix(pthread_condattr_init(&ca), "pthread_condattr_init");
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    check_posix(pthread_cond_init(&r->not_full, &ca), "pthread_cond_init");
    check_posix(pthread_cond_init(&r->not_empty, &ca), "pthread_cond_init");
    pthread_condattr_destroy(&ca);
    r->capacity = capacity;
    r->magic = SharedRing::kMagic;
    return buf;
  } catch (...) {
    PosixShm::unlink(name);
    throw;
  }
}

SharedBoundedBuffer SharedBoundedBuffer::open(const std::string& name) {
  auto shm = PosixShm::open(name);
  if (shm.size() < bytes_for(1)) throw OperationFailed(name + ": not a bounded buffer (size)");
  SharedBoundedBuffer buf(shm.map());
  const SharedRing* r = buf.ring_;
  if (r->magic != SharedRing::kMagic || r->capacity == 0 || shm.size() < bytes_for(r->capacity))
    throw OperationFailed(name + ": not an initialised bounded buffer");
  return buf;
}

bool SharedBoundedBuffer::push(std::uint64_t item) {
  test_point(TestPoint::kBeforeLock);
  SharedRing* r = ring_;
  Locked guard(r);
  while (r->count == r->capacity && r->closed == 0) {
    wait(r, &r->not_full);
    test_point(TestPoint::kAfterWait);
  }
  if (r->closed != 0) return false;
  r->in_progress = 1;                  // a death from here to count++ is repaired
  test_point(TestPoint::kPushLocked);  // the crash test stops here
  r->slots[(r->head + r->count) % r->capacity] = item;
  ++r->count;
  r->in_progress = 0;
  pthread_cond_signal(&r->not_empty);
  test_point(TestPoint::kAfterSignal);
  return true;
}

std::optional<std::uint64_t> SharedBoundedBuffer::pop() {
  test_point(TestPoint::kBeforeLock);
  SharedRing* r = ring_;
  Locked guard(r);
  while (r->count == 0 && r->closed == 0) {
    wait(r, &r->not_empty);
    test_point(TestPoint::kAfterWait);
  }
  if (r->count == 0) return std::nullopt;  // closed and drained
  test_point(TestPoint::kPopLocked);
  const std::uint64_t item = r->slots[r->head];
  r->head = (r->head + 1) % r->capacity;
  --r->count;
  pthread_cond_signal(&r->not_full);
  test_point(TestPoint::kAfterSignal);
  return item;
}

void SharedBoundedBuffer::close() {
  test_point(TestPoint::kBeforeLock);
  Locked guard(ring_);
  ring_->closed = 1;
  pthread_cond_broadcast(&ring_->not_full);
  pthread_cond_broadcast(&ring_->not_empty);
}

std::size_t SharedBoundedBuffer::size() const {
  Locked guard(ring_);
  return ring_->count;
}

bool SharedBoundedBuffer::closed() const {
  Locked guard(ring_);
  return ring_->closed != 0;
}

std::uint64_t SharedBoundedBuffer::recoveries() const {
  Locked guard(ring_);
  return ring_->recoveries;
}

}  // namespace ipclab::lab07
