// Lab 10: the connection pool. Read the contract in include/lab10/pool.hpp and the README
// ("The core question", "Thinking exercise") before you start.
#include <signal.h>  // kill

#include <cerrno>     // errno, ENOENT, EPERM
#include <new>        // placement new
#include <stdexcept>  // std::logic_error
#include <string>     // std::string

#include "ipclab/error.hpp"    // SysError, UsageError, NotImplemented
#include "ipclab/process.hpp"  // process_state
#include "lab10/pool.hpp"

namespace ipclab::lab10 {

Pool Pool::create([[maybe_unused]] unsigned max_connections) {
  // TODO(lab10): check 1 <= max_connections <= kMaxConnections (UsageError); create the
  // shm object shm_name() exclusively (PosixShm::create) sized sizeof(PoolHeader), map it,
  // construct the header in place (placement new PoolHeader{}), set max_connections, store
  // kPoolMagic last (release). Then create the semaphore sem_name() with value
  // max_connections (NamedSemaphore::create). On any failure unlink what you created.
  throw NotImplemented("TODO(lab10): implement Pool::create() in src/pool.cpp");
}

Pool Pool::open() {
  // TODO(lab10): open the semaphore first (NamedSemaphore::open), then the shm object;
  // check its size and its magic (acquire) and throw SysError (EINVAL) if it is no pool.
  throw NotImplemented("TODO(lab10): implement Pool::open() in src/pool.cpp");
}

bool Pool::remove() {
  // TODO(lab10): unlink the semaphore, then the shm object; true if either existed.
  throw NotImplemented("TODO(lab10): implement Pool::remove() in src/pool.cpp");
}

std::optional<unsigned> Pool::acquire([[maybe_unused]] pid_t owner,
                                      [[maybe_unused]] std::uint32_t worker_id,
                                      [[maybe_unused]] const Deadline& deadline) {
  // TODO(lab10): wait on the semaphore until the deadline (sem_.wait(deadline)); on
  // timeout return nullopt. Then find a free slot among the first max_connections and
  // claim it so that no other process can claim it at the same time (README §Pitfalls 2).
  // Call test_yield_point() after the wait, between looking at a slot and claiming it, and
  // between reading high_water and the CAS that raises it (README §Pitfalls 10).
  // Record worker_id and now_ns(), holders++, raise high_water, acquisitions++. No free
  // slot after the wait: post the unit back, then throw std::logic_error.
  throw NotImplemented("TODO(lab10): implement Pool::acquire() in src/pool.cpp");
}

void Pool::release([[maybe_unused]] unsigned slot, [[maybe_unused]] pid_t owner) {
  // TODO(lab10): check that owner holds slot (std::logic_error if not); holders--; free the
  // slot; sem_post. Think about the order (README §Pitfalls 4). Call test_yield_point()
  // between the steps.
  throw NotImplemented("TODO(lab10): implement Pool::release() in src/pool.cpp");
}

std::vector<Reclaimed> Pool::reclaim_dead() {
  // TODO(lab10): for every used slot of the first max_connections (no others) whose owner
  // is not process_alive(): free it so that only one reclaimer can (README §Pitfalls 6),
  // holders--, reclaimed++, and post the semaphore once for it (README §Pitfalls 5).
  // Return what you reclaimed.
  throw NotImplemented("TODO(lab10): implement Pool::reclaim_dead() in src/pool.cpp");
}

bool Pool::process_alive([[maybe_unused]] pid_t pid) {
  // TODO(lab10): kill(pid, 0): 0 or EPERM means the pid exists. A zombie is not alive:
  // process_state(pid) == 'Z' (README §Pitfalls 7).
  throw NotImplemented("TODO(lab10): implement Pool::process_alive() in src/pool.cpp");
}

}  // namespace ipclab::lab10
