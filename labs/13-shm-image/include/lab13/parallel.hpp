// Lab 13: the master and its worker processes over System V IPC (you write src/parallel.cpp).
//
//   master                                         worker i (a forked child)
//   create IN segment (header + input pixels),
//     OUT segment (output pixels), a semaphore
//     set {READY, START, DONE}, keys from
//     names::sysv_key(kInKey / kOutKey / kSemKey)
//   copy the image into IN; attach both
//   fork N workers (they inherit the attachments) ->  READY += 1
//   wait READY >= N  (all started)                   wait START, take 1
//   t0 = now; START += N                       ->    test_hook_before_band(opts, i)
//                                                    filter_rows(IN, OUT, band_of(H, N, i))
//                                                    record times in IN's header, slot i
//   wait DONE >= N (while checking that no     <-    DONE += 1; _exit(0)
//     worker died, and for SIGINT/SIGTERM)
//   t1 = now; copy OUT out; reap the workers
//   remove both segments and the set (always: also on error, interruption, worker death)
//
// Semaphores are counters the kernel keeps: "wait X >= N" is one semop {X, -N}; a sleep
// with a time limit is semtimedop, so the master notices a dead worker or a signal within
// kPollPeriod.
#pragma once

#include <sys/types.h>  // pid_t

#include <chrono>       // std::chrono::milliseconds
#include <cstdint>      // std::int64_t, std::uint32_t
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "ipclab/error.hpp"   // ipclab::OperationFailed
#include "ipclab/signal.hpp"  // ipclab::ShutdownSignals
#include "lab13/filter.hpp"   // Image, FilterSpec, Band

namespace ipclab::lab13 {

/// The names behind the SysV keys: names::sysv_key(kInKey) etc.
inline constexpr std::string_view kInKey = "image.in";
inline constexpr std::string_view kOutKey = "image.out";
inline constexpr std::string_view kSemKey = "image.sem";

/// The most workers (the header has a slot each).
inline constexpr int kMaxWorkers = 64;
/// How long the master sleeps in one semtimedop before it checks its workers and signals.
inline constexpr std::chrono::milliseconds kPollPeriod{50};

/// The semaphores of the set, by index.
enum Sem : unsigned short {
  kReady = 0,  ///< each worker +1 once it has started
  kStart = 1,  ///< the master +N to start the filter phase; each worker takes 1
  kDone = 2,   ///< each worker +1 when its band is written
  kNumSems = 3,
};

/// One worker's record in the IN segment's header: written by that worker only, read by
/// the master after DONE (the semaphore orders the accesses).
struct WorkerSlot {
  std::int64_t start_ns = 0;  ///< now_ns() when it began filtering
  std::int64_t end_ns = 0;    ///< now_ns() when its band was written
  std::int64_t cpu_ns = 0;    ///< CPU time it spent on its band (CLOCK_PROCESS_CPUTIME_ID)
  std::int32_t pid = 0;
  std::int32_t finished = 0;  ///< 1 once its band is written (before DONE += 1)
};

/// The start of the IN segment; the input pixels follow at offset sizeof(ShmHeader).
struct ShmHeader {
  std::uint32_t magic = 0;  ///< kMagic once initialized
  std::int32_t width = 0;
  std::int32_t height = 0;
  std::int32_t workers = 0;
  FilterSpec spec;
  WorkerSlot slots[kMaxWorkers];  // NOLINT(*-avoid-c-arrays): a fixed layout in shared memory
};
inline constexpr std::uint32_t kMagic = 0x31334d47;  // "GM31"

/// Test hooks (given): each worker calls test_hook_before_band(opts, i) after it has taken
/// START and before it filters its band.
struct TestHooks {
  int kill_worker = -1;   ///< this worker SIGKILLs itself (-1: none)
  int stall_worker = -1;  ///< this worker sleeps stall before it filters (-1: none)
  std::chrono::milliseconds stall{0};
};

struct ParallelOptions {
  int workers = 1;  ///< 1..kMaxWorkers
  /// If set, the master checks it while it waits: on SIGINT/SIGTERM it kills the workers,
  /// removes everything and throws Interrupted.
  const ipclab::ShutdownSignals* signals = nullptr;
  /// The longest the master waits for its workers, from fork to the last DONE (0: no
  /// limit): past it, it kills them, removes everything and throws OperationFailed
  /// ("timed out ...").
  std::chrono::milliseconds timeout{0};
  TestHooks hooks;
};

struct WorkerReport {
  int index = 0;
  pid_t pid = 0;
  Band rows;
  double seconds = 0;      ///< end_ns - start_ns of its slot (wall time)
  double cpu_seconds = 0;  ///< cpu_ns of its slot
};

struct ParallelResult {
  Image output;
  std::vector<WorkerReport> workers;  ///< in worker order
  double filter_seconds = 0;          ///< t0 (START released) to t1 (DONE reached N)
  int in_shmid = -1;                  ///< the IN segment's shmid (removed by now)
};

/// A worker died or exited without finishing its band. what(): "worker 1 (pid 4242) was
/// killed by signal 9 (Killed)" or "worker 1 (pid 4242) exited with status 3 before
/// finishing its band".
class WorkerFailed : public OperationFailed {
 public:
  using OperationFailed::OperationFailed;
};

/// SIGINT or SIGTERM arrived while the master waited. what(): "interrupted by SIGINT".
class Interrupted : public OperationFailed {
 public:
  using OperationFailed::OperationFailed;
};

/**
 * @brief Filters `in` with opts.workers worker processes over System V shared memory (the
 *        protocol at the top of this file) and returns the output, each worker's band and
 *        time, and the time of the filter phase.
 *
 * Leftover objects with the same keys (a previous run that was SIGKILLed) are removed
 * first. When this function returns or throws, the segments and the semaphore set are
 * removed, and every worker has been reaped (none is left running or a zombie).
 *
 * Workers: a worker never returns into the caller's code; it leaves with _exit (0 when its
 * band is written, 3 on an error, after writing `error: worker i: ...` to fd 2). It dies
 * with its master (PR_SET_PDEATHSIG) and takes SIGINT/SIGTERM with their default action.
 *
 * @throws UsageError if workers is out of range or the image is empty
 * @throws WorkerFailed if a worker dies or exits before finishing (noticed within about
 *         kPollPeriod); the other workers are killed
 * @throws Interrupted on SIGINT/SIGTERM (opts.signals)
 * @throws OperationFailed ("timed out ...") when opts.timeout passes
 * @throws SysError if shmget, shmat, semget, semop or fork fail
 * TODO(lab13): implement in src/parallel.cpp.
 */
ParallelResult filter_parallel(const Image& in, const FilterSpec& spec,
                               const ParallelOptions& opts);

/// Given (given/test_hook.cpp): kills or stalls worker `index` as opts.hooks says; does
/// nothing otherwise. Every worker calls it after taking START, before filter_rows.
void test_hook_before_band(const ParallelOptions& opts, int index);

}  // namespace ipclab::lab13
