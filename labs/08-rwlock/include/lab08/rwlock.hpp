// Lab 08 — a reader-writer lock built from one mutex and two condition variables (Stevens,
// UNP2 8.4), with three policies: reader preference, writer preference and phase-fair
// (Brandenburg & Anderson). You write the RwLock member functions in src/rwlock.cpp; the
// state below, the guards, the policy names and the test hook are given.
#pragma once

#include <chrono>              // std::chrono::nanoseconds, steady_clock
#include <condition_variable>  // std::condition_variable
#include <cstdint>             // std::uint64_t
#include <mutex>               // std::mutex
#include <optional>            // std::optional
#include <string_view>         // std::string_view

namespace ipclab::lab08 {

/// Who goes first when both readers and writers wait.
enum class Policy {
  reader,  ///< readers enter whenever no writer is inside: writers may starve
  writer,  ///< a waiting writer blocks new readers: readers may starve
  fair,    ///< phase-fair: read and write phases alternate; readers that arrive while a
           ///< writer waits or holds enter together right after that writer
};

/// "reader" | "writer" | "fair" -> Policy; nullopt for anything else.
std::optional<Policy> parse_policy(std::string_view name);
const char* policy_name(Policy p);

/**
 * @brief Test hook: the reference calls it at the race-prone points of every operation
 * (marked `test_yield_point()` in the skeleton). It does nothing unless enabled; the grader
 * enables it to make threads switch at exactly those points (sched_yield or a short random
 * spin), so a race that shows once in a million runs shows in every run. Given
 * (given/test_hook.cpp): call it, don't write it.
 */
void test_yield_point();
/// Enables or disables test_yield_point() for the whole process. The environment variable
/// IPCLAB_YIELD=1 enables it at start-up (for test_myrwlock).
void set_test_yield(bool on);

/**
 * A reader-writer lock: any number of readers, or one writer, never both.
 *
 * Invariants (hold whenever mutex_ is free):
 *   - writer_active_ implies active_readers_ == 0;
 *   - waiting_readers_ / waiting_writers_ count the threads blocked in a lock call (or, in
 *     fair mode, readers waiting for the next read phase);
 *   - no thread waits while the state lets it in (every change that could let a waiter in
 *     notifies it — a lock that "forgets" a waiter hangs).
 * All state is read and written with mutex_ held. Never busy-wait: block on a condition
 * variable, and re-check the condition in a loop after every wake-up.
 */
class RwLock {
 public:
  explicit RwLock(Policy policy = Policy::writer) : policy_(policy) {}
  ~RwLock() = default;
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;

  Policy policy() const { return policy_; }

  /**
   * @brief Blocks until this thread may read (shared access), then takes it.
   * Who waits: reader policy — only while a writer is inside; writer policy — also while a
   * writer waits; fair — while a writer is inside or waits, and then until that writer has
   * released (the reader joins the read phase that follows it).
   * TODO(lab08): implement in src/rwlock.cpp.
   */
  void lock_read();
  /// @brief Releases shared access; the last reader out lets a waiting writer in.
  /// TODO(lab08)
  void unlock_read();
  /**
   * @brief Blocks until this thread holds the lock alone (no reader, no other writer).
   * TODO(lab08): implement in src/rwlock.cpp.
   */
  void lock_write();
  /// @brief Releases exclusive access and lets the waiters the policy prefers in: a
  /// waiting writer, or *every* waiting reader (readers share).
  /// TODO(lab08)
  void unlock_write();

  /// @brief Takes shared access if lock_read() would not block right now; never blocks.
  /// @return true if the lock was taken. TODO(lab08)
  bool try_lock_read();
  /// @brief Takes exclusive access if the lock is free right now; never blocks.
  /// @return true if the lock was taken. TODO(lab08)
  bool try_lock_write();
  /**
   * @brief lock_read() that gives up after `timeout`.
   * @return true if the lock was taken; false at the deadline (not before). A reader that
   * gives up leaves no trace: the counts are as if it never came.
   * TODO(lab08)
   */
  bool try_lock_read_for(std::chrono::nanoseconds timeout);
  /**
   * @brief lock_write() that gives up after `timeout`.
   * @return true if the lock was taken; false at the deadline (not before). A writer that
   * gives up must not leave the lock blocking others: it no longer counts as waiting, and
   * readers that were held back only because it waited are woken (README §Pitfalls 6).
   * TODO(lab08)
   */
  bool try_lock_write_for(std::chrono::nanoseconds timeout);

 private:
  // Stevens' pthread_rwlock_t (UNP2 figure 8.4) with separate reader/writer counts, plus
  // the read-phase counter of the fair policy. Use them as documented; you may add helpers.
  Policy policy_;
  std::mutex mutex_;                    // guards every field below
  std::condition_variable readers_cv_;  // readers wait here
  std::condition_variable writers_cv_;  // writers wait here
  int active_readers_ = 0;              // readers holding the lock
  bool writer_active_ = false;          // a writer holds the lock
  int waiting_readers_ = 0;             // readers blocked in lock_read / try_lock_read_for
  int waiting_writers_ = 0;             // writers blocked in lock_write / try_lock_write_for
  // Fair policy: a writer that releases while readers wait admits all of them at once
  // (active_readers_ += waiting_readers_) and increments read_phase_; a waiting reader
  // that sees read_phase_ change is already inside. Later writers wait for that batch.
  std::uint64_t read_phase_ = 0;
};

/// Shared access for a scope (std::shared_lock-like, without unlock/release).
class ReadGuard {
 public:
  explicit ReadGuard(RwLock& lock) : lock_(lock) { lock_.lock_read(); }
  ~ReadGuard() { lock_.unlock_read(); }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;

 private:
  RwLock& lock_;
};

/// Exclusive access for a scope.
class WriteGuard {
 public:
  explicit WriteGuard(RwLock& lock) : lock_(lock) { lock_.lock_write(); }
  ~WriteGuard() { lock_.unlock_write(); }
  WriteGuard(const WriteGuard&) = delete;
  WriteGuard& operator=(const WriteGuard&) = delete;

 private:
  RwLock& lock_;
};

}  // namespace ipclab::lab08
