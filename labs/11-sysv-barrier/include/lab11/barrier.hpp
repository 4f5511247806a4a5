// Lab 11: a reusable barrier for processes, built from ONE System V semaphore set.
//
// The set has four semaphores (kNumSems). Rounds alternate direction, each in two phases:
//
//   round parity   phase 1 (arrive)                 phase 2 (depart)
//   even           ARRIVE += 1; wait ARRIVE >= n     DEPART += 1; wait DEPART >= n
//   odd            ARRIVE -= 1; wait ARRIVE == 0     DEPART -= 1; wait DEPART == 0
//
// "wait ARRIVE >= n" is one semop with two operations, {ARRIVE, -n} then {ARRIVE, +n}: the
// kernel applies both or neither, so the call blocks until ARRIVE >= n and leaves it as it
// was. "wait == 0" is sem_op 0. Membership: join() does {ALIVE, +1, SEM_UNDO} together with
// {JOINED, +1}; when a participant exits — killed or not — the kernel undoes its +1 on
// ALIVE, so ALIVE < JOINED means someone has gone. Waiters sleep in semtimedop for
// kPollPeriod at a time and check that after each period: a dead participant is noticed
// within one period (plus scheduling), and wait() throws BarrierBroken.
#pragma once

#include <sys/types.h>  // key_t

#include <chrono>       // std::chrono::milliseconds
#include <string_view>  // std::string_view

#include "ipclab/error.hpp"  // ipclab::OperationFailed
#include "ipclab/sysv.hpp"   // ipclab::SysvSemSet

namespace ipclab::lab11 {

/// The name behind the default key: names::sysv_key(kKeyName).
inline constexpr std::string_view kKeyName = "barrier";

/// How long a waiter sleeps in semtimedop before it checks that every participant is alive.
/// A dead participant is reported within this period (plus scheduling delays). 50 ms: 20
/// wake-ups a second cost a blocked waiter nothing measurable, and a human never waits.
inline constexpr std::chrono::milliseconds kPollPeriod{50};

/// The semaphores of the set, by index.
enum Sem : unsigned short {
  kArrive = 0,  ///< phase-1 count: 0 -> n in even rounds, n -> 0 in odd rounds
  kDepart = 1,  ///< phase-2 count, the same way
  kAlive = 2,   ///< participants alive: +1 with SEM_UNDO at join, undone when one exits
  kJoined = 3,  ///< participants that ever joined: +1 at join, never undone
  kNumSems = 4,
};

/// The largest n: a semaphore's value is at most SEMVMX (32767), and semop's sem_op is a
/// short.
inline constexpr int kMaxParticipants = 32767;

/// wait() found a participant gone: the round can never complete. what() starts with
/// "barrier broken".
class BarrierBroken : public OperationFailed {
 public:
  using OperationFailed::OperationFailed;
};

/// A barrier for `n` processes over one System V semaphore set.
///
/// Usage: the coordinator calls create(); each participant (a child forked after create(),
/// or a process that called open()) calls join() once, then wait() once a round; the
/// coordinator calls remove() when everybody is done. Participants must not join twice.
class SysvBarrier {
 public:
  /**
   * @brief Creates the semaphore set for a barrier of `n` participants.
   * @param key  a System V key (names::sysv_key(kKeyName) by default in barrier_test).
   * @param n    participants, 1..kMaxParticipants (UsageError otherwise).
   * @returns the barrier; all four semaphores are 0 (set explicitly: semget does not
   *          promise it — Stevens UNP2 11.2).
   * Throws SysError if the set exists already (EEXIST) or semget fails.
   * TODO(lab11): create the set with kNumSems semaphores and initialize them.
   */
  static SysvBarrier create(key_t key, int n);

  /**
   * @brief Opens the set of an existing barrier of `n` participants (a process that did not
   *        fork from the creator). Throws OperationFailed if there is no set with this key.
   * TODO(lab11): find the set by key.
   */
  static SysvBarrier open(key_t key, int n);

  /// The semaphore set's id (for semctl / ipcs).
  int id() const { return set_.id(); }
  /// n.
  int size() const { return n_; }

  /**
   * @brief Registers the calling process as a participant: ALIVE += 1 with SEM_UNDO and
   *        JOINED += 1, in ONE semop (so nobody ever sees one without the other).
   * TODO(lab11): the join semop.
   */
  void join();

  /**
   * @brief Waits until all n participants have called wait() for this round, then returns.
   *        Reusable: call it again for the next round. A fast process must never finish
   *        round k+1 before every process has finished round k (two phases, see above).
   * @throws BarrierBroken ("barrier broken ...") when a participant has died (ALIVE <
   *         JOINED after a semtimedop period ran out and the wait still cannot complete) or
   *         the set was removed (EIDRM / EINVAL, from semtimedop or from the semctl that
   *         reads ALIVE and JOINED).
   * @throws SysError for any other failure of those calls (with its errno).
   * Call test_yield_point() between your semops: the grader uses it to provoke races.
   * TODO(lab11): the two phases of the round; semtimedop with kPollPeriod and the check.
   */
  void wait();

  /**
   * @brief Removes the set (IPC_RMID). Returns false if it was already gone. Waiters
   *        blocked in it are woken with EIDRM (their wait() throws BarrierBroken).
   */
  bool remove();

  /// Rounds this process has completed (its generation).
  unsigned long rounds() const { return generation_; }

 private:
  SysvBarrier(SysvSemSet set, int n) : set_(set), n_(n) {}

  SysvSemSet set_;
  int n_;
  // TODO(lab11): this is the state a participant keeps for itself; add more if you need it.
  unsigned long generation_ = 0;  // rounds completed; its parity is the round's direction
};

/// The test hook, given (labs/11-sysv-barrier/given/test_hook.cpp): does nothing unless
/// IPCLAB_BARRIER_JITTER=1 is in the environment; then it yields the CPU, spins or sleeps
/// a few hundred microseconds at random, so races between two semops show up. Call it at
/// every point where another process could overtake this one.
void test_yield_point();

}  // namespace ipclab::lab11
