// Lab 10: the connection pool. The semaphore counts free slots; the table says which slot
// is whose. Invariants (when no acquire/release is in flight):
//   sem value + holders == N,   holders == number of slots with owner != 0.
// Order of operations, and why:
//   acquire: sem_timedwait -> CAS a free slot 0 -> pid -> holders++  (the semaphore
//            guarantees a free slot exists; the CAS guarantees it is ours alone)
//   release: holders-- -> owner = 0 (CAS from our pid) -> sem_post   (the slot is free
//            before anyone can be let in to look for it)
//   reclaim: CAS owner dead_pid -> 0 (exactly one reclaimer wins) -> holders-- -> sem_post
// Two windows no design with a POSIX semaphore can close: a worker killed after sem_wait
// returned and before its CAS, or after freeing its slot and before sem_post, takes one
// unit with it and no slot names it (System V's SEM_UNDO would give it back).
#include <signal.h>  // kill

#include <cerrno>     // errno, ENOENT, EPERM
#include <new>        // placement new
#include <stdexcept>  // std::logic_error
#include <string>     // std::string

#include "ipclab/error.hpp"    // SysError, UsageError
#include "ipclab/process.hpp"  // process_state
#include "lab10/pool.hpp"

namespace ipclab::lab10 {

namespace {

/// Raises `hw` to at least `value` (a CAS loop: a plain load+store could lower it, and a
/// CAS tried once loses the raise when another raiser got in between the look and the CAS).
void raise_high_water(std::atomic<std::int32_t>& hw, std::int32_t value) {
  std::int32_t seen = hw.load(std::memory_order_relaxed);
  test_yield_point();  // another raiser may store its smaller value here
  while (seen < value && !hw.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

}  // namespace

Pool Pool::create(unsigned max_connections) {
  if (max_connections == 0 || max_connections > kMaxConnections)
    throw UsageError(
        fmt::format("max connections must be 1..{}, not {}", kMaxConnections, max_connections));
  const std::string shm = shm_name();
  PosixShm obj = PosixShm::create(shm, sizeof(PoolHeader));
  try {
    Mapping map = obj.map();
    // The object is zero-filled by ftruncate; construct the atomics properly anyway.
    auto* h = new (map.data()) PoolHeader{};
    h->max_connections = max_connections;
    h->magic.store(kPoolMagic, std::memory_order_release);  // pairs with the acquire in open()
    // Last: the semaphore. Once a worker can open it, the table is ready.
    NamedSemaphore sem = NamedSemaphore::create(sem_name(), max_connections);
    return Pool(std::move(sem), std::move(map));
  } catch (...) {
    PosixShm::unlink(shm);
    throw;
  }
}

Pool Pool::open() {
  NamedSemaphore sem = NamedSemaphore::open(sem_name());
  PosixShm obj = PosixShm::open(shm_name());
  if (obj.size() < sizeof(PoolHeader))
    throw_error(EINVAL, "shm \"{}\": {} bytes, a pool needs {}", obj.name(), obj.size(),
                sizeof(PoolHeader));
  Mapping map = obj.map();
  const auto* h = map.as<PoolHeader>();
  if (h->magic.load(std::memory_order_acquire) != kPoolMagic)  // pairs with create()
    throw_error(EINVAL, "shm \"{}\" is not an initialized pool", obj.name());
  return Pool(std::move(sem), std::move(map));
}

bool Pool::remove() {
  const bool had_sem = NamedSemaphore::unlink(sem_name());
  const bool had_shm = PosixShm::unlink(shm_name());
  return had_sem || had_shm;
}

std::optional<unsigned> Pool::acquire(pid_t owner, std::uint32_t worker_id,
                                      const Deadline& deadline) {
  if (!sem_.wait(deadline)) return std::nullopt;  // timed out: we took nothing
  test_yield_point();
  PoolHeader& h = header();
  for (unsigned i = 0; i < h.max_connections; ++i) {
    Slot& s = h.slots[i];
    if (s.owner.load(std::memory_order_relaxed) != 0) continue;
    test_yield_point();
    pid_t expected = 0;
    // acq_rel: acquire pairs with the release in release()/reclaim_dead() that freed it.
    if (!s.owner.compare_exchange_strong(expected, owner, std::memory_order_acq_rel)) continue;
    s.worker_id.store(worker_id, std::memory_order_relaxed);
    s.acquired_ns.store(static_cast<std::uint64_t>(now_ns()), std::memory_order_relaxed);
    const std::int32_t now = h.holders.fetch_add(1, std::memory_order_acq_rel) + 1;
    raise_high_water(h.high_water, now);
    h.acquisitions.fetch_add(1, std::memory_order_relaxed);
    return i;
  }
  // The semaphore let us in, so a slot must have been free: the two disagree.
  sem_.post();
  throw std::logic_error("semaphore granted a connection but no slot is free");
}

void Pool::release(unsigned slot, pid_t owner) {
  PoolHeader& h = header();
  if (slot >= h.max_connections) throw std::logic_error(fmt::format("no slot {}", slot));
  Slot& s = h.slots[slot];
  if (owner == 0 || s.owner.load(std::memory_order_relaxed) != owner)  // 0: nobody
    throw std::logic_error(fmt::format("slot {} is not held by pid {}", slot, owner));
  h.holders.fetch_sub(1, std::memory_order_acq_rel);
  test_yield_point();
  pid_t expected = owner;
  // release: the next claimer (acquire CAS) sees our writes to the slot.
  if (!s.owner.compare_exchange_strong(expected, 0, std::memory_order_acq_rel))
    throw std::logic_error(fmt::format("slot {} was taken from pid {}", slot, owner));
  test_yield_point();
  sem_.post();
}

std::vector<Reclaimed> Pool::reclaim_dead() {
  std::vector<Reclaimed> out;
  PoolHeader& h = header();
  for (unsigned i = 0; i < h.max_connections; ++i) {
    Slot& s = h.slots[i];
    pid_t pid = s.owner.load(std::memory_order_acquire);
    if (pid == 0 || process_alive(pid)) continue;
    const std::uint32_t id = s.worker_id.load(std::memory_order_relaxed);
    test_yield_point();
    // Only the reclaimer whose CAS succeeds frees the slot and posts: exactly once.
    if (!s.owner.compare_exchange_strong(pid, 0, std::memory_order_acq_rel)) continue;
    h.holders.fetch_sub(1, std::memory_order_acq_rel);
    h.reclaimed.fetch_add(1, std::memory_order_relaxed);
    test_yield_point();
    sem_.post();  // repair the count: the dead worker will never post
    out.push_back({i, pid, id});
  }
  return out;
}

bool Pool::process_alive(pid_t pid) {
  if (pid <= 0) return false;
  // kill(pid, 0) sends nothing; ESRCH: no such process, EPERM: exists but not ours.
  if (::kill(pid, 0) < 0 && errno != EPERM) return false;
  const char state = process_state(pid);  // 0: it vanished meanwhile
  return state != 0 && state != 'Z' && state != 'X';
}

}  // namespace ipclab::lab10
