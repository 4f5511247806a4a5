// Lab 08: a reader-writer lock from one mutex and two condition variables. Read the
// contract in include/lab08/rwlock.hpp and the README ("Policies", "Pitfalls") first.
//
// The shape of every lock call: take mutex_; while the policy says you may not enter,
// count yourself as waiting and wait on your condition variable (in a *while* loop);
// then update the counts. Every unlock (and every waiter that gives up) asks: who may
// enter now? and notifies them — all readers, or one writer.
// Call test_yield_point() where marked: the grader uses it to make races show up.
#include "lab08/rwlock.hpp"
#include "ipclab/error.hpp"  // ipclab::NotImplemented

namespace ipclab::lab08 {

void RwLock::lock_read() {
  // TODO(lab08): wait (while loop on readers_cv_) until this reader may enter under
  // policy_, counting it in waiting_readers_ while it waits; call test_yield_point() just
  // before ++active_readers_. Fair: see the read_phase_ comment in the header.
  throw NotImplemented("TODO(lab08): implement RwLock::lock_read() in src/rwlock.cpp");
}

void RwLock::unlock_read() {
  // TODO(lab08): --active_readers_ under the mutex (test_yield_point() first); the last
  // reader out wakes one waiting writer.
  throw NotImplemented("TODO(lab08): implement RwLock::unlock_read() in src/rwlock.cpp");
}

void RwLock::lock_write() {
  // TODO(lab08): wait (while loop on writers_cv_) until no writer and no reader is inside,
  // counting this writer in waiting_writers_ while it waits; then writer_active_ = true.
  throw NotImplemented("TODO(lab08): implement RwLock::lock_write() in src/rwlock.cpp");
}

void RwLock::unlock_write() {
  // TODO(lab08): writer_active_ = false, test_yield_point(), then wake whom the policy
  // prefers: one writer, or ALL readers (fair: admit the waiting readers as a batch).
  throw NotImplemented("TODO(lab08): implement RwLock::unlock_write() in src/rwlock.cpp");
}

bool RwLock::try_lock_read() {
  // TODO(lab08): enter if lock_read() would not block; never wait.
  throw NotImplemented("TODO(lab08): implement RwLock::try_lock_read() in src/rwlock.cpp");
}

bool RwLock::try_lock_write() {
  // TODO(lab08): enter if the lock is free; never wait.
  throw NotImplemented("TODO(lab08): implement RwLock::try_lock_write() in src/rwlock.cpp");
}

bool RwLock::try_lock_read_for([[maybe_unused]] std::chrono::nanoseconds timeout) {
  // TODO(lab08): lock_read() with readers_cv_.wait_until(lk, deadline) on a steady_clock
  // deadline; at the deadline undo what waiting changed and return false.
  throw NotImplemented("TODO(lab08): implement RwLock::try_lock_read_for() in src/rwlock.cpp");
}

bool RwLock::try_lock_write_for([[maybe_unused]] std::chrono::nanoseconds timeout) {
  // TODO(lab08): lock_write() with a deadline. Giving up: --waiting_writers_, then wake the
  // readers that waited only because this writer waited (README §Pitfalls 6).
  throw NotImplemented("TODO(lab08): implement RwLock::try_lock_write_for() in src/rwlock.cpp");
}

}  // namespace ipclab::lab08
