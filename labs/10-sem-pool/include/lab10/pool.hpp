// Lab 10 — a connection pool guarded by a POSIX named semaphore (Stevens UNP2 ch. 10).
//
// The pool is two named objects in this namespace (ipclab::names):
//   sem  /ipclab.<ns>.pool    a named semaphore counting the FREE connections (0..N)
//   shm  /ipclab.<ns>.pool    a PoolHeader: N slots, each with the pid that holds it
// A worker waits on the semaphore (sem_timedwait), then claims one free slot by writing
// its pid into it, holds the connection, clears the slot and posts the semaphore. The
// semaphore says *how many* slots are free; the table says *which* and *who* holds them.
// pool_manager creates both, reclaims the slots of workers that died holding one (and
// posts the semaphore once per reclaimed slot), and removes both names on shutdown.
//
// You write the Pool functions marked TODO(lab10) in src/pool.cpp. The layout below, the
// test hook and the programs (main/pool_manager.cpp, main/worker.cpp) are given.
#pragma once

#include <sched.h>      // sched_yield
#include <sys/types.h>  // pid_t
#include <time.h>       // nanosleep

#include <atomic>       // std::atomic: the table is shared lock-free between processes
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint32_t, std::uint64_t
#include <cstdlib>      // std::getenv
#include <optional>     // std::optional
#include <random>       // std::minstd_rand, for the test hook
#include <string>       // std::string
#include <type_traits>  // std::is_standard_layout_v
#include <utility>      // std::move
#include <vector>       // std::vector

#include "ipclab/clock.hpp"  // ipclab::Deadline, ipclab::now_ns
#include "ipclab/names.hpp"  // ipclab::names::posix
#include "ipclab/sem.hpp"    // ipclab::NamedSemaphore
#include "ipclab/shm.hpp"    // ipclab::PosixShm, ipclab::Mapping

namespace ipclab::lab10 {

/// The most connections a pool may have (the table has this many slots; only the first
/// max_connections are used).
inline constexpr unsigned kMaxConnections = 64;
/// Written last by create(), checked by open(): "POOL". A table without it is not (yet)
/// a pool.
inline constexpr std::uint32_t kPoolMagic = 0x504f4f4c;
/// One slot per cache line, so two workers claiming neighbouring slots do not share one.
inline constexpr std::size_t kCacheLine = 64;

// Process-shared atomics must be lock-free: a lock-based std::atomic keeps its lock in
// this process's memory, not in the shared mapping.
static_assert(std::atomic<pid_t>::is_always_lock_free, "pid_t atomics must be lock-free");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "u64 atomics must be lock-free");

/// One connection. owner == 0 means free; otherwise the pid of the worker holding it.
struct alignas(kCacheLine) Slot {
  std::atomic<pid_t> owner{0};
  std::atomic<std::uint32_t> worker_id{0};    ///< the worker's ID argument (for display)
  std::atomic<std::uint64_t> acquired_ns{0};  ///< ipclab::now_ns() when it was claimed
};
static_assert(sizeof(Slot) == kCacheLine, "one slot per cache line");

/// The shared-memory object's contents.
struct PoolHeader {
  std::atomic<std::uint32_t> magic{0};  ///< kPoolMagic once initialized
  std::uint32_t max_connections = 0;    ///< N, fixed at creation
  /// Workers holding a slot right now: +1 after claiming, -1 before the slot is freed
  /// (release or reclaim), always before the semaphore is posted.
  std::atomic<std::int32_t> holders{0};
  /// The largest value `holders` ever reached: the pool's high-water mark (must be <= N).
  std::atomic<std::int32_t> high_water{0};
  std::atomic<std::uint64_t> acquisitions{0};  ///< successful acquire() calls
  std::atomic<std::uint64_t> reclaimed{0};     ///< slots taken back from dead workers
  alignas(kCacheLine) Slot slots[kMaxConnections];
};
static_assert(std::is_standard_layout_v<PoolHeader>, "PoolHeader lives in shared memory");

/// The POSIX names of the pool's semaphore and shared-memory object. They may be equal:
/// named semaphores (/dev/shm/sem.NAME) and shm objects (/dev/shm/NAME) do not collide.
inline std::string sem_name() { return names::posix("pool"); }
inline std::string shm_name() { return names::posix("pool"); }

/// A slot taken back from a dead worker.
struct Reclaimed {
  unsigned slot = 0;
  pid_t pid = 0;
  std::uint32_t worker_id = 0;
};

/// A consistent-enough snapshot for printing.
struct Stats {
  unsigned max_connections = 0;
  int available = 0;  ///< sem_getvalue
  int holders = 0;
  int high_water = 0;
  std::uint64_t acquisitions = 0;
  std::uint64_t reclaimed = 0;
};

/**
 * @brief The test hook: call it at every race-prone point of your code (between reading
 * a slot and claiming it, between the semaphore and the table, between freeing a slot and
 * posting). It does nothing unless IPCLAB_TEST_YIELD=1 is set in the environment; then it
 * randomly yields the CPU, spins or sleeps a few microseconds, so that a race that shows
 * up once in a million runs shows up in every grader run. Given; do not change it.
 */
inline void test_yield_point() {
  static const bool enabled = [] {
    const char* v = std::getenv("IPCLAB_TEST_YIELD");
    return v != nullptr && v[0] == '1';
  }();
  if (!enabled) return;
  thread_local std::minstd_rand rng{std::random_device{}()};
  switch (rng() % 4) {
    case 0:
      return;
    case 1:
      ::sched_yield();
      return;
    case 2: {  // a short spin: the other core gets to run in the window
      const std::int64_t until = now_ns() + 2'000 + static_cast<std::int64_t>(rng() % 20'000);
      while (now_ns() < until) {
      }
      return;
    }
    default: {  // a short sleep: every runnable process gets to run in the window
      const timespec ts{0, 20'000 + static_cast<long>(rng() % 200'000)};
      ::nanosleep(&ts, nullptr);
      return;
    }
  }
}

/// A pool opened (or created) by this process. Closing it (the destructor) unmaps and
/// closes; it never removes the names: remove() does.
class Pool {
 public:
  /**
   * @brief Creates the pool with `max_connections` free slots.
   *
   * Creates the shm object exclusively, sizes it to sizeof(PoolHeader), maps it,
   * initializes the header (all slots free, counters 0, max_connections) and stores
   * kPoolMagic last; only then creates the semaphore exclusively with the value
   * max_connections. (A worker opens the semaphore first, so once it exists the table is
   * ready.) If a step fails, what was already created is removed before throwing.
   *
   * @throws ipclab::UsageError if max_connections is 0 or above kMaxConnections
   * @throws ipclab::SysError if an object already exists (EEXIST) or a call fails
   *
   * TODO(lab10): implement in src/pool.cpp.
   */
  static Pool create(unsigned max_connections);

  /**
   * @brief Opens an existing pool: the semaphore first, then the table.
   * @throws ipclab::SysError (ENOENT) if there is no pool; also if the table is too small
   *         or its magic is wrong (not a pool).
   *
   * TODO(lab10): implement in src/pool.cpp.
   */
  static Pool open();

  /**
   * @brief Removes the pool's names (semaphore first, then shm); processes that still
   * have it open keep working on the unlinked objects.
   * @return true if anything existed
   *
   * TODO(lab10): implement in src/pool.cpp.
   */
  static bool remove();

  /**
   * @brief Acquires one connection for process `owner`.
   *
   * Waits on the semaphore until `deadline` (sem_timedwait: blocks, no polling). On
   * timeout returns nullopt and leaves the semaphore as it was. Otherwise claims a free
   * slot atomically (two workers must never get the same slot), records owner,
   * worker_id and the time, increments holders, raises high_water to holders if higher,
   * counts the acquisition, and returns the slot index (< max_connections).
   *
   * @throws ipclab::SysError if a call fails; std::logic_error if the semaphore let us in
   *         but no slot is free (the table and the semaphore disagree): the unit the wait
   *         took is posted back first
   *
   * TODO(lab10): implement in src/pool.cpp.
   */
  std::optional<unsigned> acquire(pid_t owner, std::uint32_t worker_id, const Deadline& deadline);

  /**
   * @brief Releases slot `slot` held by `owner`: decrements holders, frees the slot, then
   * posts the semaphore.
   * @throws std::logic_error if `slot` is not one of the pool's (slot >= max_connections:
   *         the table's other slots are not the pool's, whatever they hold) or `owner` does
   *         not hold it; nothing is changed then
   *
   * TODO(lab10): implement in src/pool.cpp.
   */
  void release(unsigned slot, pid_t owner);

  /**
   * @brief One reclamation pass (pool_manager calls it every 100 ms): every used slot of
   * the first max_connections (the rest are not the pool's) whose owner process is gone
   * (process_alive() is false) is freed, exactly once even if two reclaimers run, holders
   * is decremented, reclaimed counted, and the semaphore posted once for that slot.
   * @return the slots reclaimed in this pass
   *
   * TODO(lab10): implement in src/pool.cpp.
   */
  std::vector<Reclaimed> reclaim_dead();

  /**
   * @brief True if process `pid` exists and has not terminated. kill(pid, 0) says whether
   * the pid exists (EPERM: it exists but is not ours). A zombie (terminated, not yet
   * reaped by its parent) is not alive: it will never release its slot.
   *
   * TODO(lab10): implement in src/pool.cpp.
   */
  static bool process_alive(pid_t pid);

  // ---- given ------------------------------------------------------------------------
  PoolHeader& header() const { return *map_.as<PoolHeader>(); }
  unsigned max_connections() const { return header().max_connections; }
  /// The semaphore's value: free connections (sem_getvalue).
  int available() const { return sem_.value(); }
  Stats stats() const {
    const PoolHeader& h = header();
    return Stats{h.max_connections,
                 available(),
                 h.holders.load(std::memory_order_relaxed),
                 h.high_water.load(std::memory_order_relaxed),
                 h.acquisitions.load(std::memory_order_relaxed),
                 h.reclaimed.load(std::memory_order_relaxed)};
  }

 private:
  Pool(NamedSemaphore sem, Mapping map) : sem_(std::move(sem)), map_(std::move(map)) {}
  NamedSemaphore sem_;
  Mapping map_;
};

}  // namespace ipclab::lab10
