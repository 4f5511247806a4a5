// Lab 13: the master and its workers over System V shared memory and one semaphore set.
// Contract and protocol: include/lab13/parallel.hpp.
//
// Ownership: the master creates the two segments and the set, and one guard object removes
// them on every way out (return, exception, interruption, dead worker) after killing and
// reaping the workers that are still there. The segments are marked IPC_RMID as soon as
// every worker has them attached, so even a SIGKILLed master leaks no segment. Workers inherit the
// attachments across fork and never return into the caller: they end in _exit.
//
// Waiting: the master never blocks without a limit. It sleeps in semtimedop for
// kPollPeriod, and between sleeps checks SIGINT/SIGTERM and whether a worker has exited
// without finishing (a worker that died can never post DONE: waiting for DONE >= N alone
// would hang forever).
//
// Speed (the benchmark times START released .. DONE reached N): each worker maps its rows
// of both segments before READY, waits for START pinned to a CPU of its own, and yields
// after DONE, so that neither page faults nor the scheduler's hand-offs land in the phase
// (map_rows, pin_for_start; the README's §Benchmark has the numbers).
#include <sched.h>      // sched_getaffinity, sched_setaffinity, sched_yield, CPU_*
#include <signal.h>     // signal, SIGINT, SIGTERM, SIGKILL
#include <string.h>     // sigabbrev_np
#include <sys/mman.h>   // madvise, MADV_POPULATE_READ, MADV_POPULATE_WRITE
#include <sys/prctl.h>  // prctl, PR_SET_PDEATHSIG
#include <sys/sem.h>    // semtimedop, struct sembuf
#include <time.h>       // clock_gettime, CLOCK_PROCESS_CPUTIME_ID
#include <unistd.h>     // fork, _exit, getpid, getppid, write

#include <algorithm>  // std::min
#include <cerrno>     // errno, EAGAIN, EINTR
#include <cstring>    // std::memcpy
#include <new>        // placement new
#include <optional>   // std::optional
#include <string>     // std::string

#include "ipclab/clock.hpp"    // now_ns, Deadline
#include "ipclab/error.hpp"    // UsageError, SysError, throw_errno
#include "ipclab/names.hpp"    // names::sysv_key
#include "ipclab/process.hpp"  // try_wait, wait_for, kill_and_reap, WaitStatus
#include "ipclab/sysv.hpp"     // SysvShm, SysvSemSet
#include "lab13/parallel.hpp"

namespace ipclab::lab13 {

namespace {

struct Worker {
  pid_t pid = -1;
  std::optional<WaitStatus> status;  // set once reaped
};

/// Everything the master owns; the destructor undoes it in the safe order: workers first
/// (so none is left attached or blocked), then the segments, then the set.
struct Resources {
  std::optional<SysvShm> in_seg, out_seg;
  std::optional<SysvSemSet> sems;
  std::vector<Worker> workers;

  Resources() = default;
  Resources(const Resources&) = delete;
  Resources& operator=(const Resources&) = delete;
  ~Resources() {
    for (auto& w : workers)
      if (!w.status) w.status = kill_and_reap(w.pid);
    // A destructor must not throw; tools/ipc-clean reports anything left.
    try {
      if (in_seg) in_seg->remove();
      if (out_seg) out_seg->remove();
      if (sems) sems->remove();
    } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): see above
    }
  }
};

/// Removes objects a previous run left under our keys (it was SIGKILLed before its cleanup).
void remove_stale(key_t in_key, key_t out_key, key_t sem_key) {
  if (auto s = SysvShm::open(in_key)) s->remove();
  if (auto s = SysvShm::open(out_key)) s->remove();
  if (auto s = SysvSemSet::open(sem_key)) s->remove();
}

void sem_add(SysvSemSet& sems, Sem which, int delta) {
  const sembuf op{which, static_cast<short>(delta), 0};
  sems.op({&op, 1});
}

/// This process's CPU time in ns (a worker is single-threaded: its own CPU time).
std::int64_t cpu_now_ns() {
  timespec ts{};
  (void)::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

/// write(2) straight to fd 2: a worker leaves with _exit, so nothing buffered would appear.
void worker_say(const std::string& line) { (void)!::write(2, line.data(), line.size()); }

/// Pins this process to the (index mod count)-th CPU it may run on, and returns the set it
/// had. Why: START wakes every worker at once, and the scheduler tends to queue the second
/// wakee behind the first on the one idle CPU (the master still holds the other); the
/// balancer then moves it at its next tick, 2-4 ms later — 5% of a 2-worker phase. Pinned,
/// each wakes on its own CPU's queue. A failure only loses that: it is ignored. (Our own
/// pid, not 0: a 0 mistyped as 1 would read or pin init's CPU set, as root.)
cpu_set_t pin_for_start(int index) {
  cpu_set_t all;
  CPU_ZERO(&all);
  if (::sched_getaffinity(::getpid(), sizeof all, &all) != 0) return all;
  int k = index % std::max(1, CPU_COUNT(&all));
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &all) && k-- == 0) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      (void)::sched_setaffinity(::getpid(), sizeof one, &one);
      break;
    }
  return all;
}

/// Maps `bytes` from `p` into this process's page table now (advice: MADV_POPULATE_READ or
/// _WRITE, Linux 5.14). A failure (an older kernel: EINVAL) only loses the time: ignored.
void populate(const std::uint8_t* p, std::size_t bytes, int advice) {
  if (bytes == 0) return;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t into_page = reinterpret_cast<std::uintptr_t>(p) % page;
  // madvise wants a page-aligned start and never writes through the pointer it is given.
  (void)::madvise(const_cast<std::uint8_t*>(p - into_page), bytes + into_page, advice);
}

/// Maps the rows worker `index` reads (its band and halo of IN) and writes (its band of OUT)
/// before it posts READY. A forked process takes a page fault on its first touch of every
/// 4 KiB page of a shared segment, even one the master has filled: 9,000 for the 36 MB
/// output of a 4000x3000 image, 20 ms of a 1-worker phase. Mapping is start-up, like the
/// master's first touch of OUT, and done here it is outside the timed phase.
void map_rows(const ShmHeader& header, const std::uint8_t* in, const std::uint8_t* out, int index) {
  const Band band = band_of(header.height, header.workers, index);
  if (band.rows() == 0) return;
  const int halo = halo_rows(header.spec);
  const int first = std::max(0, band.begin - halo);
  const int last = std::min(header.height, band.end + halo);
  const std::size_t row = std::size_t(header.width) * kChannels;
  populate(in + std::size_t(first) * row, std::size_t(last - first) * row, MADV_POPULATE_READ);
  populate(out + std::size_t(band.begin) * row, std::size_t(band.rows()) * row,
           MADV_POPULATE_WRITE);
}

/// Worker `index`: never returns.
[[noreturn]] void worker_main(int index, pid_t master, const ParallelOptions& opts,
                              ShmHeader* header, const std::uint8_t* in, std::uint8_t* out,
                              SysvSemSet sems) {
  (void)::signal(SIGINT, SIG_DFL);  // the master's handlers are not ours
  (void)::signal(SIGTERM, SIG_DFL);
  (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);  // master gone: nobody would ever read our band
  if (::getppid() != master) ::_exit(3);     // it died before prctl took effect
  try {
    WorkerSlot& slot = header->slots[index];
    slot.pid = static_cast<std::int32_t>(::getpid());
    map_rows(*header, in, out, index);
    const cpu_set_t cpus = pin_for_start(index);
    sem_add(sems, kReady, +1);
    sem_add(sems, kStart, -1);  // blocks until the master starts the filter phase
    // Awake on our own CPU: free again, so that a busy neighbour cannot hold us on its CPU.
    if (CPU_COUNT(&cpus) > 0) (void)::sched_setaffinity(::getpid(), sizeof cpus, &cpus);
    test_hook_before_band(opts, index);
    const std::int64_t cpu0 = cpu_now_ns();
    slot.start_ns = now_ns();
    filter_rows(in, out, header->width, header->height, header->spec,
                band_of(header->height, header->workers, index));
    slot.end_ns = now_ns();
    slot.cpu_ns = cpu_now_ns() - cpu0;
    slot.finished = 1;
    sem_add(sems, kDone, +1);  // the master reads our band and slot only after this
    // The master, woken by DONE, may be queued on this CPU: let it run (and end the phase)
    // now rather than after our exit has unmapped the segments, which takes milliseconds.
    (void)::sched_yield();
  } catch (const std::exception& e) {
    worker_say(fmt::format("error: worker {}: {}\n", index, e.what()));
    ::_exit(3);
  }
  ::_exit(0);
}

/// Throws WorkerFailed if a worker has exited without finishing its band (reaping it).
void check_workers(std::vector<Worker>& workers, const ShmHeader* header) {
  for (std::size_t i = 0; i < workers.size(); ++i) {
    Worker& w = workers[i];
    if (w.status) continue;
    w.status = try_wait(w.pid);
    if (!w.status) continue;
    if (w.status->signaled())
      throw WorkerFailed(fmt::format("worker {} (pid {}) was {}", i, w.pid, w.status->describe()));
    if (w.status->exit_code() != 0 || header->slots[i].finished == 0)
      throw WorkerFailed(fmt::format("worker {} (pid {}) {} before finishing its band", i, w.pid,
                                     w.status->describe()));
  }
}

/// Throws Interrupted once SIGINT or SIGTERM has arrived.
void check_interrupted(const ParallelOptions& opts) {
  if (opts.signals != nullptr && opts.signals->requested())
    throw Interrupted(fmt::format("interrupted by SIG{}", sigabbrev_np(opts.signals->signal())));
}

/// memcpy (or, with src null, memset 0) in strips of 8 MiB, checking for a signal between
/// strips: a large image takes seconds to copy, and SIGTERM must not wait for it.
void copy_in_strips(std::uint8_t* dst, const std::uint8_t* src, std::size_t bytes,
                    const ParallelOptions& opts) {
  constexpr std::size_t kStrip = std::size_t{8} << 20;
  for (std::size_t off = 0; off < bytes; off += kStrip) {
    check_interrupted(opts);
    const std::size_t n = std::min(kStrip, bytes - off);
    if (src != nullptr)
      std::memcpy(dst + off, src + off, n);
    else
      std::memset(dst + off, 0, n);
  }
}

/// Waits until semaphore `which` reaches n and takes n from it, checking between
/// kPollPeriod sleeps for signals and dead workers.
void wait_for_count(Resources& res, Sem which, int n, const ParallelOptions& opts,
                    const ShmHeader* header, const Deadline& deadline) {
  sembuf op{which, static_cast<short>(-n), 0};
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(kPollPeriod).count();
  for (;;) {
    timespec period{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    if (::semtimedop(res.sems->id(), &op, 1, &period) == 0) return;
    if (errno != EAGAIN && errno != EINTR) throw_errno("semtimedop(id {})", res.sems->id());
    check_interrupted(opts);
    check_workers(res.workers, header);
    if (deadline.expired())
      throw OperationFailed(
          fmt::format("timed out after {} ms waiting for the workers", opts.timeout.count()));
  }
}

}  // namespace

ParallelResult filter_parallel(const Image& in, const FilterSpec& spec,
                               const ParallelOptions& opts) {
  if (opts.workers < 1 || opts.workers > kMaxWorkers)
    throw UsageError(fmt::format("--workers={} out of range 1..{}", opts.workers, kMaxWorkers));
  if (in.width < 1 || in.height < 1 || in.pixels.size() != in.size_bytes() ||
      in.size_bytes() != std::size_t(in.width) * in.height * kChannels)
    throw UsageError(fmt::format("bad input image {}x{}", in.width, in.height));
  if (spec.filter == Filter::kBlur) (void)gaussian_kernel(spec.radius);  // checks the radius
  const int n = opts.workers;
  const std::size_t bytes = in.size_bytes();

  const key_t in_key = names::sysv_key(kInKey);
  const key_t out_key = names::sysv_key(kOutKey);
  const key_t sem_key = names::sysv_key(kSemKey);
  remove_stale(in_key, out_key, sem_key);

  Resources res;
  res.in_seg = SysvShm::create(in_key, sizeof(ShmHeader) + bytes);
  res.out_seg = SysvShm::create(out_key, bytes);
  res.sems = SysvSemSet::create(sem_key, kNumSems);
  for (int s = 0; s < kNumSems; ++s) res.sems->set(s, 0);  // semget does not promise 0

  auto* base = static_cast<std::uint8_t*>(res.in_seg->attach());
  auto* header = new (base) ShmHeader{};
  header->width = in.width;
  header->height = in.height;
  header->workers = n;
  header->spec = spec;
  header->magic = kMagic;
  std::uint8_t* in_pixels = base + sizeof(ShmHeader);
  copy_in_strips(in_pixels, in.pixels.data(), bytes, opts);
  auto* out_pixels = static_cast<std::uint8_t*>(res.out_seg->attach());
  // Touch every page of OUT now: the kernel allocates (and zeroes) a segment's pages on first
  // touch, under locks the workers would otherwise contend for inside the timed phase.
  copy_in_strips(out_pixels, nullptr, bytes, opts);

  const Deadline deadline = opts.timeout.count() > 0 ? Deadline(opts.timeout) : Deadline::never();
  const pid_t master = ::getpid();
  for (int i = 0; i < n; ++i) {
    const pid_t pid = check_unix(::fork(), "fork");
    if (pid == 0) worker_main(i, master, opts, header, in_pixels, out_pixels, *res.sems);
    res.workers.push_back(Worker{pid, std::nullopt});
  }
  // Every worker has the segments attached (fork copied the attachments): mark them for
  // removal now. The kernel frees them when the last process detaches, so from here on no
  // kill, not even kill -9 of the master, can leak them. (The semaphore set cannot go yet:
  // IPC_RMID removes a set at once. A kill -9 leaves it; the next run's remove_stale or
  // tools/ipc-clean removes it.)
  res.in_seg->remove();
  res.out_seg->remove();

  wait_for_count(res, kReady, n, opts, header,
                 deadline);  // every worker is up: time the filter only
  const std::int64_t t0 = now_ns();
  sem_add(*res.sems, kStart, n);
  wait_for_count(res, kDone, n, opts, header, deadline);
  const std::int64_t t1 = now_ns();

  ParallelResult result;
  result.output = Image(in.width, in.height);
  copy_in_strips(result.output.pixels.data(), out_pixels, bytes, opts);
  result.filter_seconds = static_cast<double>(t1 - t0) / 1e9;
  result.in_shmid = res.in_seg->id();
  for (int i = 0; i < n; ++i) {
    const WorkerSlot& s = header->slots[i];
    result.workers.push_back(WorkerReport{
        i, res.workers[std::size_t(i)].pid, band_of(in.height, n, i),
        static_cast<double>(s.end_ns - s.start_ns) / 1e9, static_cast<double>(s.cpu_ns) / 1e9});
  }
  for (auto& w : res.workers)  // each has posted DONE and is on its way out
    if (!w.status) w.status = wait_for(w.pid);
  return result;  // res removes the segments and the set
}

}  // namespace ipclab::lab13
