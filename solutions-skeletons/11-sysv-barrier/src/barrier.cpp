// Lab 11: your SysvBarrier. Read the contract in include/lab11/barrier.hpp and the README
// (the two-phase design, and why only ALIVE carries SEM_UNDO) before you start.
#include "lab11/barrier.hpp"
#include "ipclab/error.hpp"  // ipclab::UsageError, ipclab::SysError, ipclab::NotImplemented

namespace ipclab::lab11 {

SysvBarrier SysvBarrier::create([[maybe_unused]] key_t key, [[maybe_unused]] int n) {
  // TODO(lab11): check n (1..kMaxParticipants, UsageError); semget a NEW set of kNumSems
  // semaphores (SysvSemSet::create); set all of them to 0 (semctl SETALL); on failure
  // remove the set before throwing.
  throw NotImplemented("TODO(lab11): implement SysvBarrier::create() in src/barrier.cpp");
}

SysvBarrier SysvBarrier::open([[maybe_unused]] key_t key, [[maybe_unused]] int n) {
  // TODO(lab11): check n; find the set (SysvSemSet::open); OperationFailed if none.
  throw NotImplemented("TODO(lab11): implement SysvBarrier::open() in src/barrier.cpp");
}

void SysvBarrier::join() {
  // TODO(lab11): ONE semop: {kAlive, +1, SEM_UNDO} and {kJoined, +1, 0}.
  throw NotImplemented("TODO(lab11): implement SysvBarrier::join() in src/barrier.cpp");
}

void SysvBarrier::wait() {
  // TODO(lab11): one round = two phases (ARRIVE, then DEPART). In each phase: your step
  // (+1 in even rounds, -1 in odd ones), test_yield_point(), then wait until the count
  // is n (even: {sem,-n},{sem,+n} in ONE semop) or 0 (odd: sem_op 0), in semtimedop
  // periods of kPollPeriod; after a period runs out, check ALIVE < JOINED (semctl
  // GETALL), retry once with IPC_NOWAIT, and throw BarrierBroken if it still cannot
  // complete. EIDRM/EINVAL (from semtimedop or semctl): BarrierBroken too; any other
  // errno: SysError. Count the round (generation_).
  throw NotImplemented("TODO(lab11): implement SysvBarrier::wait() in src/barrier.cpp");
}

bool SysvBarrier::remove() {
  // TODO(lab11): IPC_RMID (SysvSemSet::remove).
  throw NotImplemented("TODO(lab11): implement SysvBarrier::remove() in src/barrier.cpp");
}

}  // namespace ipclab::lab11
