// Lab 13 hidden grader: degenerate shapes, halos larger than bands, random images against
// the formulas, filter_parallel in-process (reaping, descriptors, WorkerFailed), a worker
// killed from outside, SIGTERM, and leftovers of a SIGKILLed run.
#include <signal.h>   // SIGKILL, SIGTERM, SIGUSR1, sigaction
#include <string.h>   // sigabbrev_np
#include <sys/sem.h>  // semctl, GETVAL, sembuf

#include <algorithm>   // std::sort, std::find_if
#include <atomic>      // std::atomic_ref
#include <functional>  // std::function
#include <optional>    // std::optional
#include <random>      // std::mt19937_64
#include <regex>       // std::regex

#include "../public/common.hpp"
#include "ipclab/io.hpp"       // read_file
#include "ipclab/names.hpp"    // names::sysv_key
#include "ipclab/process.hpp"  // child_pids, process_state
#include "ipclab/sysv.hpp"     // SysvShm, SysvSemSet

using grader::expect_exit;
using ipclab::IpcObject;
using lab13_test::first_difference;
using lab13_test::Image;
using lab13_test::random_image;
using lab13_test::run_filter;
using lab13_test::write_png;
namespace lab = lab13_test::lab;

namespace {

/// Runs the program with each worker count and checks every output against the formula.
void expect_formula(const std::string& filter, const Image& img, int radius,
                    const std::vector<int>& counts) {
  const Image want = lab13_test::naive(filter, img, radius);
  const std::string in = write_png(fmt::format("h-{}x{}.png", img.width, img.height), img);
  for (const int n : counts) {
    const std::string out = grader::scratch() + fmt::format("/h-{}-{}.png", filter, n);
    auto r = run_filter(in, out, filter, n, radius);
    expect_exit(r, 0);
    if (r.exit_code() != 0) return;
    const std::string d = first_difference(want, lab::load_png(out));
    EXPECT_EQ(d, "") << filter << " radius " << radius << ", " << n << " workers, " << img.width
                     << "x" << img.height << " image";
    if (!d.empty()) return;
  }
}

bool gone(pid_t pid) {
  const char s = ipclab::process_state(pid);
  return s == 0 || s == 'Z';
}

}  // namespace

GRADED_TEST(Hidden, DegenerateShapesAndEmptyBands, 3,
            "README §Pitfalls 1 — clamp at the image, not the band; bands may be empty") {
  expect_formula("blur", random_image(1, 50, 31), 4, {1, 3, 8});  // one column
  expect_formula("blur", random_image(50, 1, 32), 4, {1, 8});     // one row: 7 empty bands
  expect_formula("edge", random_image(5, 3, 33), 1, {1, 2, 8});   // more workers than rows
  expect_formula("sharpen", random_image(2, 2, 34), 1, {1, 2, 8});
}

GRADED_TEST(Hidden, HaloLargerThanBand, 3,
            "README §Pitfalls 1 — a band of 2 rows with radius 10 reads 10 rows each side") {
  expect_formula("blur", random_image(19, 23, 35), 10, {1, 8});
  expect_formula("blur", random_image(7, 6, 36), 9, {1, 5});  // radius beyond the image
}

GRADED_TEST(Hidden, RandomImagesMatchTheFormulas, 3, "README §Filters") {
  grader::repeat(4, [](int, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const char* filters[] = {"blur", "sharpen", "edge", "gray"};
    const std::string filter = filters[rng() % 4];
    const int w = 1 + static_cast<int>(rng() % 40);
    const int h = 1 + static_cast<int>(rng() % 60);
    const int radius = 1 + static_cast<int>(rng() % 6);
    const int n = 2 + static_cast<int>(rng() % 7);
    expect_formula(filter, random_image(w, h, seed), radius, {n});
  });
}

GRADED_TEST(Hidden, WideImagesMatchTheFormulas, 2,
            "README §Filters — a row split into column strips must give the whole row's sums") {
  // Wider than the 512-pixel strips a cache-friendly blur works in, and not a multiple of
  // them: the strip borders (and their R-pixel overlaps) are where such a blur goes wrong.
  expect_formula("blur", random_image(1100, 24, 38), 8, {1, 3});
  expect_formula("blur", random_image(515, 9, 39), 2, {2});
  expect_formula("sharpen", random_image(1030, 7, 40), 1, {2});
}

GRADED_TEST(Hidden, InProcessRunReapsEveryWorkerAndRemovesEverything, 3,
            "README §Pitfalls 5 — waitpid every worker; IPC_RMID; no descriptors left") {
  const Image img = random_image(33, 41, 37);
  const auto fds_before = grader::extra_fds();
  lab::ParallelOptions opts;
  opts.workers = 5;
  const lab::ParallelResult r = lab::filter_parallel(img, {lab::Filter::kBlur, 3}, opts);
  EXPECT_EQ(first_difference(lab13_test::naive_blur(img, 3), r.output), "")
      << "filter_parallel, 5 workers";
  ASSERT_EQ(r.workers.size(), 5U) << "one WorkerReport per worker";
  std::vector<pid_t> pids;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(r.workers[std::size_t(i)].index, i);
    EXPECT_EQ(r.workers[std::size_t(i)].rows, lab::band_of(41, 5, i)) << "worker " << i;
    EXPECT_GT(r.workers[std::size_t(i)].pid, 0) << "worker " << i;
    EXPECT_GE(r.workers[std::size_t(i)].seconds, 0.0) << "worker " << i;
    pids.push_back(r.workers[std::size_t(i)].pid);
  }
  std::sort(pids.begin(), pids.end());
  EXPECT_EQ(std::unique(pids.begin(), pids.end()), pids.end()) << "workers must be 5 processes";
  EXPECT_GT(r.filter_seconds, 0.0);
  EXPECT_TRUE(grader::zombie_children().empty()) << "filter_parallel returned with zombies";
  for (const auto& w : r.workers)
    EXPECT_EQ(ipclab::process_state(w.pid), 0) << "worker pid " << w.pid << " still exists";
  EXPECT_EQ(grader::extra_fds(), fds_before) << "filter_parallel leaked descriptors";
  EXPECT_TRUE(lab13_test::objects().empty()) << lab13_test::describe_objects(lab13_test::objects());
}

GRADED_TEST(Hidden, InProcessDeadWorkerThrowsWorkerFailed, 2,
            "README §Pitfalls 6 — a dead worker is reported, not waited for") {
  lab::ParallelOptions opts;
  opts.workers = 3;
  opts.hooks.kill_worker = 0;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW((void)lab::filter_parallel(random_image(10, 12, 38), {lab::Filter::kGray, 1}, opts),
               lab::WorkerFailed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, grader::scaled(5'000ms));
  EXPECT_TRUE(grader::zombie_children().empty()) << "workers not reaped after WorkerFailed";
  EXPECT_TRUE(lab13_test::objects().empty()) << lab13_test::describe_objects(lab13_test::objects());
}

namespace {

/// Runs a blur with 3 workers, worker 1 stalled; once the others are gone, calls
/// `while_stalled` with the namespace's objects, then sends `sig` to the stalled worker: the
/// master must end with exit 1 naming the signal, and remove everything.
void signal_stalled_worker(
    int sig, const std::function<void(const std::vector<IpcObject>&)>& while_stalled = nullptr) {
  const std::string in = write_png("in.png", random_image(16, 24, 39));
  const std::string out = grader::scratch() + "/out.png";
  grader::Process p({"shm_image_filter", in, out, "--filter=blur", "--workers=3",
                     "--test-stall-worker=1", "--test-stall-ms=60000"});
  std::vector<pid_t> kids;
  std::vector<IpcObject> seen;
  ASSERT_TRUE(grader::wait_until(
      [&] {
        kids = ipclab::child_pids(p.pid());
        seen = lab13_test::objects();
        return kids.size() >= 3 && !seen.empty();
      },
      5'000ms))
      << "3 workers did not start: " << p.err();
  // Worker 1 stalls; the others finish and exit. Kill the one still running.
  pid_t victim = -1;
  ASSERT_TRUE(grader::wait_until(
      [&] {
        kids = ipclab::child_pids(p.pid());
        int running = 0;
        for (const pid_t k : kids)
          if (!gone(k)) {
            ++running;
            victim = k;
          }
        return running == 1;
      },
      5'000ms))
      << "expected only the stalled worker to be left";
  if (while_stalled) while_stalled(seen);
  (void)::kill(victim, sig);
  auto r = p.finish(5'000ms);
  ASSERT_FALSE(r.timed_out) << "a worker was sent " << sigabbrev_np(sig)
                            << ": the master hung (does the worker take the master's handler?)";
  expect_exit(r, 1);
  EXPECT_TRUE(
      std::regex_search(r.err, std::regex(fmt::format(R"(error: worker \d+ .*signal {})", sig))))
      << sigabbrev_np(sig) << ": " << r.err;
  EXPECT_FALSE(lab13_test::file_exists(out));
  lab13_test::expect_all_removed(seen,
                                 fmt::format("after a worker was sent SIG{}", sigabbrev_np(sig)));
}

}  // namespace

GRADED_TEST(Hidden, WorkerKilledFromOutsideIsReported, 3,
            "README §Pitfalls 6 — check your workers while you wait") {
  signal_stalled_worker(SIGKILL);
}

/// Whether `pid` is blocked in (clock_)nanosleep: the stall of the test hook, not yet over.
bool sleeping(pid_t pid) {
  const std::string call = ipclab::read_file(fmt::format("/proc/{}/syscall", pid));
  return call.rfind("230 ", 0) == 0 || call.rfind("35 ", 0) == 0;  // x86-64 numbers
}

GRADED_TEST(Hidden, SemaphoreSetRemovedFromOutsideEndsTheRunCleanly, 2,
            "README §The program — a worker whose semop fails says so on stderr and exits "
            "non-zero; the master reports it") {
  // `ipcrm -s` of the run's set while worker 1 sleeps in its stall and the master is
  // stopped: the worker wakes, its DONE += 1 fails (EINVAL), it must say so on stderr
  // (stdout is the transcript's) and exit non-zero. Then the master is continued: it must
  // end (a dead worker, exit 1, or its own semop's error, exit 3) and remove its segments.
  // The stall must still be on when the set goes: checked, and the run tried again (at
  // most 3 times) if the machine was too slow for that.
  for (int attempt = 1; attempt <= 3; ++attempt) {
    const std::string in = write_png("rm.png", random_image(16, 24, 41));
    const std::string out = grader::scratch() + "/rm-out.png";
    grader::Process p({"shm_image_filter", in, out, "--filter=blur", "--workers=3",
                       "--test-stall-worker=1", "--test-stall-ms=3000"});
    pid_t victim = -1;
    std::vector<IpcObject> seen;
    ASSERT_TRUE(grader::wait_until(
        [&] {
          seen = lab13_test::objects();
          const auto kids = ipclab::child_pids(p.pid());
          int running = 0;
          for (const pid_t k : kids)
            if (!gone(k)) {
              ++running;
              victim = k;
            }
          return kids.size() >= 3 && running == 1 && !seen.empty();
        },
        5'000ms))
        << "expected 3 workers, only the stalled one left running: " << p.err();
    (void)::kill(p.pid(), SIGSTOP);
    const auto set = std::find_if(seen.begin(), seen.end(), [](const IpcObject& o) {
      return o.kind == IpcObject::Kind::kSysvSem;
    });
    ASSERT_NE(set, seen.end()) << "no semaphore set in the namespace";
    ASSERT_EQ(::semctl(set->id, 0, IPC_RMID), 0) << "IPC_RMID of the run's set";
    const bool stalled = sleeping(victim);
    if (stalled) {  // the master stays stopped: it cannot kill the worker before it wakes
      EXPECT_TRUE(grader::wait_until([&] { return gone(victim); }, 10'000ms))
          << "worker 1 woke from its 3 s stall into a removed set and did not exit";
    }
    (void)::kill(p.pid(), SIGCONT);
    auto r = p.finish(10'000ms);
    ASSERT_FALSE(r.timed_out) << "the set was removed: the master hung";
    if (!stalled) {  // too slow a machine: the stall was over before the set went
      ASSERT_LT(attempt, 3) << "the stalled worker was never caught in its stall";
      continue;
    }
    EXPECT_TRUE(r.exit_code() == 1 || r.exit_code() == 3) << r.describe();
    EXPECT_TRUE(std::regex_search(r.err, std::regex(R"(error: worker 1\b.*semop)")))
        << "worker 1's failing semop must be named on stderr: " << r.err;
    EXPECT_EQ(r.out.find("semop"), std::string::npos)
        << "a worker's error belongs on stderr, not in the transcript on stdout: " << r.out;
    EXPECT_FALSE(lab13_test::file_exists(out));
    lab13_test::expect_all_removed(seen, "after the semaphore set was removed from outside");
    return;
  }
}

GRADED_TEST(Hidden, SemaphoresCountAsTheProtocolSays, 2,
            "README §The API you implement — wait READY >= N is one semop {READY, -N}; each "
            "worker takes 1 from START") {
  // Worker 1 stalls after it took START; workers 0 and 2 have finished and exited. By the
  // protocol the set then holds READY 0 (the master took N), START 0 (each worker took 1)
  // and DONE 2.
  signal_stalled_worker(SIGKILL, [](const std::vector<IpcObject>& seen) {
    const auto set = std::find_if(seen.begin(), seen.end(), [](const IpcObject& o) {
      return o.kind == IpcObject::Kind::kSysvSem;
    });
    ASSERT_NE(set, seen.end()) << "no semaphore set in the namespace";
    const char* names[] = {"READY", "START", "DONE"};
    const int want[] = {0, 0, 2};
    for (int k = 0; k < 3; ++k)
      EXPECT_EQ(::semctl(set->id, k, GETVAL), want[k])
          << names[k] << " while worker 1 stalls and workers 0 and 2 are done";
  });
}

GRADED_TEST(Hidden, WorkerTakesSigtermAndSigintWithTheDefaultAction, 2,
            "README §The API you implement — a worker resets SIGINT and SIGTERM to SIG_DFL") {
  signal_stalled_worker(SIGTERM);
  signal_stalled_worker(SIGINT);
}

GRADED_TEST(Hidden, SigtermRemovesEverything, 2, "README §Pitfalls 5") {
  const std::string in = write_png("in.png", random_image(16, 20, 40));
  grader::Process p({"shm_image_filter", in, grader::scratch() + "/out.png", "--filter=sharpen",
                     "--workers=2", "--test-stall-worker=0", "--test-stall-ms=60000"});
  std::vector<IpcObject> seen;
  ASSERT_TRUE(grader::wait_until(
      [&] {
        seen = lab13_test::objects();
        return !seen.empty() && ipclab::child_pids(p.pid()).size() >= 2;
      },
      5'000ms));
  const auto kids = ipclab::child_pids(p.pid());
  p.signal(SIGTERM);
  const auto st = p.wait(5'000ms);
  ASSERT_TRUE(st.has_value()) << "no exit within 5 s of SIGTERM";
  EXPECT_TRUE(st->exited() && st->exit_code() == 1) << st->describe();
  for (const pid_t k : kids)
    EXPECT_TRUE(grader::wait_until([&] { return gone(k); }, 2'000ms))
        << "worker " << k << " survived its master";
  lab13_test::expect_all_removed(seen, "after SIGTERM");
}

GRADED_TEST(Hidden, LeftoversOfAKilledRunAreReplaced, 1,
            "README §Pitfalls 4 — IPC_EXCL fails on a leftover: remove it first") {
  // A previous run SIGKILLed before its cleanup left a segment and a set with our keys.
  auto stale_shm = ipclab::SysvShm::create(ipclab::names::sysv_key(lab::kInKey), 64);
  auto stale_sem = ipclab::SysvSemSet::create(ipclab::names::sysv_key(lab::kSemKey), 1);
  const Image img = random_image(12, 9, 41);
  const std::string out = grader::scratch() + "/out.png";
  auto r = run_filter(write_png("in.png", img), out, "gray", 2);
  expect_exit(r, 0);
  if (r.exit_code() == 0) {
    EXPECT_EQ(first_difference(lab13_test::naive_gray(img), lab::load_png(out)), "");
  }
  EXPECT_TRUE(lab13_test::objects().empty()) << lab13_test::describe_objects(lab13_test::objects());
  (void)stale_shm.remove();  // if the program did not
  (void)stale_sem.remove();
}

GRADED_TEST(Hidden, BadArgumentsThrowUsageError, 2,
            "README §The API you implement — UsageError for bad arguments, each checked alone") {
  using ipclab::UsageError;
  // band_of: 1 <= workers, 0 <= index < workers, height >= 0.
  EXPECT_THROW((void)lab::band_of(10, 0, 0), UsageError) << "band_of(10, 0, 0)";
  EXPECT_THROW((void)lab::band_of(10, 3, -1), UsageError) << "band_of(10, 3, -1)";
  EXPECT_THROW((void)lab::band_of(10, 3, 3), UsageError) << "band_of(10, 3, 3)";
  EXPECT_THROW((void)lab::band_of(-1, 3, 0), UsageError) << "band_of(-1, 3, 0)";
  EXPECT_NO_THROW((void)lab::band_of(0, 1, 0)) << "band_of(0, 1, 0): an empty image, one band";
  // filter_rows: width and height >= 1, 0 <= begin <= end <= height, radius 1..64.
  const Image img = random_image(4, 3, 41);
  Image out(4, 3);
  const lab::FilterSpec gray{lab::Filter::kGray, 1};
  const struct {
    const char* what;
    int width, height;
    lab::FilterSpec spec;
    lab::Band band;
  } bad[] = {
      {"width 0", 0, 3, gray, {0, 1}},
      {"height 0", 4, 0, gray, {0, 0}},
      {"band [-1, 2)", 4, 3, gray, {-1, 2}},
      {"band [0, 4) of 3 rows", 4, 3, gray, {0, 4}},
      {"band [2, 1)", 4, 3, gray, {2, 1}},
      {"blur radius 0", 4, 3, {lab::Filter::kBlur, 0}, {0, 3}},
      {"blur radius 65", 4, 3, {lab::Filter::kBlur, 65}, {0, 3}},
  };
  for (const auto& b : bad)
    EXPECT_THROW(
        lab::filter_rows(img.pixels.data(), out.pixels.data(), b.width, b.height, b.spec, b.band),
        UsageError)
        << "filter_rows with " << b.what;
  EXPECT_NO_THROW(lab::filter_rows(img.pixels.data(), out.pixels.data(), 4, 3,
                                   {lab::Filter::kBlur, lab::kMaxRadius}, {0, 3}))
      << "filter_rows with blur radius 64";
  EXPECT_NO_THROW(lab::filter_rows(img.pixels.data(), out.pixels.data(), 4, 3, gray, {3, 3}))
      << "filter_rows of an empty band at the bottom";
  // filter_parallel: workers 1..64, an image of at least one pixel with all its bytes.
  lab::ParallelOptions opts;
  opts.workers = 2;
  Image no_cols(0, 3), no_rows(4, 0), short_pixels = img;
  short_pixels.pixels.pop_back();
  for (const auto& [what, in] : {std::pair<const char*, const Image&>{"width 0", no_cols},
                                 {"height 0", no_rows},
                                 {"pixels one byte short", short_pixels}})
    EXPECT_THROW((void)lab::filter_parallel(in, gray, opts), UsageError)
        << "filter_parallel of an image with " << what;
  EXPECT_THROW((void)lab::filter_parallel(img, {lab::Filter::kBlur, 0}, opts), UsageError)
      << "filter_parallel with blur radius 0";
  for (const int workers : {0, lab::kMaxWorkers + 1}) {
    opts.workers = workers;
    EXPECT_THROW((void)lab::filter_parallel(img, gray, opts), UsageError)
        << "filter_parallel with " << workers << " workers";
  }
  opts.workers = lab::kMaxWorkers;  // the most there may be (most bands of 3 rows are empty)
  EXPECT_NO_THROW((void)lab::filter_parallel(img, gray, opts)) << "64 workers";
  opts.workers = 2;
  EXPECT_NO_THROW((void)lab::filter_parallel(img, {lab::Filter::kGray, 0}, opts))
      << "a radius is the blur's only: gray with radius 0";
  EXPECT_TRUE(grader::zombie_children().empty());
  EXPECT_TRUE(lab13_test::objects().empty()) << lab13_test::describe_objects(lab13_test::objects());
}

GRADED_TEST(Hidden, InProcessTimeoutKillsTheWorkersAndThrows, 2,
            "README §The API you implement — past opts.timeout: kill, remove, OperationFailed") {
  lab::ParallelOptions opts;
  opts.workers = 2;
  opts.hooks.stall_worker = 1;
  opts.hooks.stall = 30'000ms;
  opts.timeout = 1ms;  // the shortest there is: a run with a stalled worker cannot make it
  const auto start = std::chrono::steady_clock::now();
  try {
    (void)lab::filter_parallel(random_image(10, 12, 42), {lab::Filter::kGray, 1}, opts);
    ADD_FAILURE() << "filter_parallel with a 1 ms timeout and a stalled worker returned";
  } catch (const lab::WorkerFailed& e) {
    ADD_FAILURE() << "expected OperationFailed (timed out), got WorkerFailed: " << e.what();
  } catch (const ipclab::OperationFailed& e) {
    EXPECT_EQ(std::string(e.what()).rfind("timed out", 0), 0u) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, grader::scaled(5'000ms))
      << "the master did not give up soon after its timeout";
  EXPECT_TRUE(ipclab::child_pids(::getpid()).empty()) << "workers left after the timeout";
  EXPECT_TRUE(lab13_test::objects().empty()) << lab13_test::describe_objects(lab13_test::objects());
}

GRADED_TEST(Hidden, InProcessTimeoutZeroIsNoLimit, 1,
            "README §The API you implement — opts.timeout 0 (the default) means no limit") {
  // Worker 1 takes 4 poll periods: a master that read 0 as "already expired" gives up at
  // its first check instead of waiting.
  lab::ParallelOptions opts;
  opts.workers = 2;
  opts.hooks.stall_worker = 1;
  opts.hooks.stall = 4 * lab::kPollPeriod;
  const Image img = random_image(10, 12, 43);
  try {
    const lab::ParallelResult r = lab::filter_parallel(img, {lab::Filter::kGray, 1}, opts);
    EXPECT_EQ(first_difference(lab13_test::naive("gray", img, 1), r.output), "");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "filter_parallel with opts.timeout 0 and a worker " << opts.hooks.stall.count()
                  << " ms slow threw: " << e.what();
  }
  EXPECT_TRUE(grader::zombie_children().empty());
  EXPECT_TRUE(lab13_test::objects().empty()) << lab13_test::describe_objects(lab13_test::objects());
}

GRADED_TEST(Hidden, EachWaitInvolvesItsOwnSemaphoreOnly, 2,
            "README §The API you implement — \"wait X >= N\" is one semop {X, -N}, and no other "
            "semaphore is in it") {
  // One more on READY, from outside, once every worker is forked: READY then ends at 1
  // instead of 0, which the protocol never looks at again. A master whose wait for DONE
  // also involved READY (say, a semtimedop told of 2 operations, which reads a second one
  // from the stack: {READY, 0}, "until READY is 0") would wait for its timeout.
  const Image img = random_image(16, 24, 43);
  const std::string out = grader::scratch() + "/out.png";
  grader::Process p({"shm_image_filter", write_png("in.png", img), out, "--filter=blur",
                     "--radius=2", "--workers=3", "--test-stall-worker=1", "--test-stall-ms=1500",
                     fmt::format("--timeout={}", grader::scaled(10'000ms).count())});
  std::optional<ipclab::SysvSemSet> set;
  ASSERT_TRUE(grader::wait_until(
      [&] {
        if (ipclab::child_pids(p.pid()).size() < 3) return false;
        set = ipclab::SysvSemSet::open(ipclab::names::sysv_key(lab::kSemKey));
        return set.has_value();
      },
      5'000ms))
      << "3 workers and the semaphore set did not appear: " << p.err();
  try {
    const sembuf one_more{lab::kReady, +1, 0};
    set->op({&one_more, 1});
  } catch (const ipclab::SysError&) {  // NOLINT(bugprone-empty-catch)
    // The set is gone: the run is over (worker 1's stall has passed). Nothing to test.
  }
  auto r = p.finish(20'000ms);
  expect_exit(r, 0);
  if (r.exit_code() == 0) {
    EXPECT_EQ(first_difference(lab13_test::naive_blur(img, 2), lab::load_png(out)), "");
  }
  EXPECT_TRUE(lab13_test::objects().empty()) << lab13_test::describe_objects(lab13_test::objects());
}

GRADED_TEST(Hidden, InProcessWorkerExitingNonZeroIsAFailureEvenWhenFinished, 2,
            "README §Pitfalls 6 — only a worker that exited 0 after marking its slot finished "
            "is not a failure") {
  // Worker 1 stalls; the test marks its slot finished and makes it exit with status 3
  // (through the SIGUSR1 handler it inherited from the master): a worker that failed after
  // its band. The master must report it, not wait for a DONE that may never come.
  const lab13_test::ForkRecorder forks;
  grader::Child master(
      [] {
        struct sigaction sa {};
        sa.sa_handler = [](int) { ::_exit(3); };
        ASSERT_EQ(::sigaction(SIGUSR1, &sa, nullptr), 0);
        lab13_test::ForkRecorder::install();
        lab::ParallelOptions opts;
        opts.workers = 3;
        opts.hooks.stall_worker = 1;
        opts.hooks.stall = 60'000ms;
        opts.timeout = grader::scaled(10'000ms);  // a master that waits for DONE gives up
        try {
          (void)lab::filter_parallel(random_image(10, 12, 44), {lab::Filter::kGray, 1}, opts);
          ADD_FAILURE() << "filter_parallel returned although worker 1 exited with status 3";
        } catch (const lab::WorkerFailed&) {  // NOLINT(bugprone-empty-catch): the right end
        } catch (const ipclab::OperationFailed& e) {
          ADD_FAILURE() << "worker 1 exited with status 3 after its slot said finished: "
                           "expected WorkerFailed, got: "
                        << e.what();
        }
      },
      "the master (filter_parallel)");
  pid_t worker1 = 0;
  ipclab::lab13::ShmHeader* header = nullptr;
  std::optional<ipclab::SysvShm> in;
  ASSERT_TRUE(grader::wait_until(
      [&] {
        worker1 = forks.pid(1);
        if (worker1 == 0) return false;
        const auto a = lab13_test::attachment(worker1, ipclab::names::sysv_key(lab::kInKey));
        if (a.shmid < 0) return false;
        in.emplace(a.shmid);
        header = static_cast<ipclab::lab13::ShmHeader*>(in->attach());
        return true;
      },
      5'000ms))
      << "worker 1 did not start with the IN segment attached";
  std::atomic_ref<std::int32_t>(header->slots[1].finished).store(1);
  in->detach();
  (void)::kill(worker1, SIGUSR1);
  const auto end = master.finish(30'000ms);
  EXPECT_TRUE(end.passed()) << end.describe();
  EXPECT_TRUE(lab13_test::objects().empty()) << lab13_test::describe_objects(lab13_test::objects());
}
