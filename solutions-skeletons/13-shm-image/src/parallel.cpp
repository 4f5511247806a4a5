// Lab 13: the master and its workers over System V shared memory and one semaphore set.
// Read the protocol in include/lab13/parallel.hpp and the README before you start.
#include "lab13/parallel.hpp"
#include "ipclab/error.hpp"  // ipclab::UsageError, ipclab::SysError, ipclab::NotImplemented

namespace ipclab::lab13 {

ParallelResult filter_parallel([[maybe_unused]] const Image& in,
                               [[maybe_unused]] const FilterSpec& spec,
                               [[maybe_unused]] const ParallelOptions& opts) {
  // TODO(lab13): the master, step by step (the diagram in the header):
  //  1. check opts.workers (1..kMaxWorkers), the image (width and height >= 1, pixels
  //     width * height * 3 bytes) and a blur's radius (UsageError);
  //  2. keys from names::sysv_key(kInKey / kOutKey / kSemKey); remove leftovers with those
  //     keys; create the IN segment (ShmHeader + pixels), the OUT segment and a set of
  //     kNumSems semaphores, all set to 0 — and make sure one object (a guard with a
  //     destructor) kills and reaps the workers and removes all three on EVERY way out;
  //  3. attach, fill the header, copy the pixels in;
  //  4. fork opts.workers workers; each: SIGINT/SIGTERM to default, PR_SET_PDEATHSIG,
  //     READY += 1, take START, test_hook_before_band(opts, i), filter_rows on its band,
  //     record its slot, DONE += 1, _exit(0) (never return or throw into the caller);
  //  5. wait READY >= N, t0, START += N, wait DONE >= N, t1 — every wait a semtimedop of
  //     kPollPeriod in a loop that checks opts.signals (Interrupted), dead workers
  //     (WorkerFailed) and opts.timeout;
  //  6. copy the output out, fill the reports, waitpid every worker, return.
  //  7. speed (README §Speed, graded): before READY, worker i maps its rows of IN (band and
  //     halo, madvise MADV_POPULATE_READ) and of OUT (band, MADV_POPULATE_WRITE), and pins
  //     itself to the (i mod C)-th of the C CPUs sched_getaffinity gives it; once it has
  //     taken START, it sets that whole set back before its band.
  throw NotImplemented("TODO(lab13): implement filter_parallel() in src/parallel.cpp");
}

}  // namespace ipclab::lab13
