// Lab 11: the reference SysvBarrier. The design is in include/lab11/barrier.hpp and the
// README; the invariants that matter:
//  - A round is two phases. Phase 2 exists so that nobody changes ARRIVE for the next
//    round while a slow process has not yet got through phase 1 of this one: when anyone
//    passes phase 2, everybody has passed phase 1 (they all did DEPART ± 1 after it).
//  - Rounds alternate direction (count up to n, then back down to 0), so no one ever has
//    to reset a count: a reset is a write that races with a slow reader.
//  - Only ALIVE carries SEM_UNDO. Undoing a dead process's ARRIVE/DEPART steps would
//    move those counts as if it had taken its next step, and could let one more round
//    through with n-1 processes; the membership count is what must not wedge.
//  - A legitimate exit (after the last round) also lowers ALIVE. That never reports a
//    false "broken": a wait that timed out is retried once with IPC_NOWAIT after ALIVE <
//    JOINED is seen, and a process exits only after the final round's phase 2 is
//    complete for all, so the retry of a waiter in that round succeeds.
#include "lab11/barrier.hpp"

#include <sys/ipc.h>  // IPC_NOWAIT, IPC_RMID
#include <sys/sem.h>  // semtimedop, semctl, SEM_UNDO

#include <array>  // std::array
#include <cerrno>

#include "ipclab/error.hpp"  // throw_errno, throw_error, UsageError

namespace ipclab::lab11 {

namespace {

union Semun {  // semctl's fourth argument: the caller defines it (semctl(2))
  int val;
  semid_ds* buf;
  unsigned short* array;
};

void check_n(int n) {
  if (n < 1 || n > kMaxParticipants)
    throw UsageError(fmt::format("barrier size {} out of range 1..{}", n, kMaxParticipants));
}

}  // namespace

SysvBarrier SysvBarrier::create(key_t key, int n) {
  check_n(n);
  auto set = SysvSemSet::create(key, kNumSems);
  std::array<unsigned short, kNumSems> zero{};
  Semun arg{};
  arg.array = zero.data();
  if (::semctl(set.id(), 0, SETALL, arg) < 0) {
    const int err = errno;
    set.remove();
    throw_error(err, "semctl(id {}, SETALL)", set.id());
  }
  return {set, n};
}

SysvBarrier SysvBarrier::open(key_t key, int n) {
  check_n(n);
  auto set = SysvSemSet::open(key);
  if (!set) throw OperationFailed(fmt::format("no barrier with key 0x{:x}", unsigned(key)));
  return {*set, n};
}

void SysvBarrier::join() {
  const std::array<sembuf, 2> ops{{{kAlive, 1, SEM_UNDO}, {kJoined, 1, 0}}};
  set_.op(ops);
}

namespace {

/// True if a participant that joined is gone: ALIVE < JOINED, read in one snapshot.
bool someone_died(int id) {
  std::array<unsigned short, kNumSems> v{};
  Semun arg{};
  arg.array = v.data();
  if (::semctl(id, 0, GETALL, arg) < 0) {
    if (errno == EIDRM || errno == EINVAL) throw BarrierBroken("barrier broken: set removed");
    throw_errno("semctl(id {}, GETALL)", id);
  }
  return v[kAlive] < v[kJoined];
}

/// semtimedop that waits at most kPollPeriod; true if the operations were done.
bool try_op(int id, sembuf* ops, std::size_t nops, bool nowait) {
  if (nowait)
    for (std::size_t i = 0; i < nops; ++i) ops[i].sem_flg |= IPC_NOWAIT;
  timespec period{0, std::chrono::nanoseconds(kPollPeriod).count()};
  if (::semtimedop(id, ops, nops, nowait ? nullptr : &period) == 0) return true;
  switch (errno) {
    case EAGAIN:
    case EINTR:
      return false;
    case EIDRM:
    case EINVAL:
      throw BarrierBroken("barrier broken: the semaphore set was removed");
    default:
      throw_errno("semtimedop(id {}, {} ops)", id, nops);
  }
}

/// Blocks until the wait operations `ops` can be done, or a participant is gone.
void await(int id, sembuf* ops, std::size_t nops) {
  for (;;) {
    if (try_op(id, ops, nops, false)) return;
    if (!someone_died(id)) continue;
    // Someone exited. If it finished the last round, our condition holds for good.
    std::array<sembuf, 2> copy{};
    for (std::size_t i = 0; i < nops; ++i) copy[i] = ops[i];
    if (try_op(id, copy.data(), nops, true)) return;
    throw BarrierBroken("barrier broken: a participant died");
  }
}

}  // namespace

void SysvBarrier::wait() {
  const bool up = generation_ % 2 == 0;
  const auto n = static_cast<short>(n_);
  const auto step = static_cast<short>(up ? 1 : -1);
  for (const unsigned short sem : {kArrive, kDepart}) {
    const std::array<sembuf, 1> mine{{{sem, step, 0}}};
    set_.op(mine);  // never blocks: up, or down from a value >= 1 (everyone else is here)
    test_yield_point();
    std::array<sembuf, 2> until{};
    std::size_t nops = 1;
    if (up) {  // blocks until sem >= n, leaves it as it was
      until = {{{sem, static_cast<short>(-n), 0}, {sem, n, 0}}};
      nops = 2;
    } else {  // blocks until sem == 0
      until[0] = {sem, 0, 0};
    }
    await(set_.id(), until.data(), nops);
    test_yield_point();
  }
  ++generation_;
}

bool SysvBarrier::remove() { return set_.remove(); }

}  // namespace ipclab::lab11
