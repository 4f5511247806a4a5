// Lab 13 public grader: the filters against their formulas, N workers against 1, the
// master's waiting, and cleanup of every segment and semaphore on every way out.
#include <fcntl.h>   // open, O_RDONLY
#include <sched.h>   // sched_getaffinity, CPU_*
#include <signal.h>  // SIGINT, SIGKILL, SIGCONT
#include <unistd.h>  // pread, sysconf

#include <cstring>     // std::strerror
#include <functional>  // std::function
#include <optional>    // std::optional
#include <regex>       // std::regex

#include "common.hpp"
#include "ipclab/error.hpp"    // UsageError
#include "ipclab/fd.hpp"       // Fd
#include "ipclab/names.hpp"    // names::sysv_key
#include "ipclab/process.hpp"  // child_pids, process_state
#include "ipclab/sysv.hpp"     // SysvSemSet

GRADER_LAB("lab13", "System V shared-memory parallel image filter");

using grader::expect_exit;
using grader::run;
using ipclab::IpcObject;
using lab13_test::first_difference;
using lab13_test::Image;
using lab13_test::random_image;
using lab13_test::run_filter;
using lab13_test::write_png;
using lab13_test::lab::Band;
using lab13_test::lab::band_of;
using lab13_test::lab::FilterSpec;
using lab13_test::lab::load_png;
namespace lab = lab13_test::lab;

namespace {

Image tiny(std::initializer_list<std::array<int, 3>> pixels, int w, int h) {
  Image img(w, h);
  std::size_t i = 0;
  for (const auto& p : pixels) {
    for (int c = 0; c < 3; ++c)
      img.pixels[i * 3 + std::size_t(c)] = static_cast<std::uint8_t>(p[std::size_t(c)]);
    ++i;
  }
  return img;
}

/// The program's output for every worker count 1..8 equals its 1-worker output (and the
/// 1-worker output equals the formula's).
void expect_identical_for_all_worker_counts(const std::string& filter, int w, int h, int radius,
                                            std::uint64_t seed) {
  const Image img = random_image(w, h, seed);
  const std::string in = write_png(fmt::format("in-{}-{}x{}.png", filter, w, h), img);
  Image reference;
  for (int n = 1; n <= 8; ++n) {
    const std::string out = grader::scratch() + fmt::format("/out-{}-{}.png", filter, n);
    auto r = run_filter(in, out, filter, n, radius);
    expect_exit(r, 0);
    if (r.exit_code() != 0) return;
    const Image got = load_png(out);
    if (n == 1) {
      reference = got;
      const std::string d = first_difference(lab13_test::naive(filter, img, radius), got);
      EXPECT_EQ(d, "") << filter << " with 1 worker on a random " << w << "x" << h
                       << " image differs from the header's formula (radius " << radius << ")";
      continue;
    }
    const std::string d = first_difference(reference, got);
    EXPECT_EQ(d, "") << filter << " (radius " << radius << ") on a " << w << "x" << h
                     << " image: the output of " << n
                     << " workers differs from that of 1 worker.\n    Bands of " << n
                     << " workers begin at rows"
                     << fmt::format(" {}",
                                    [&] {
                                      std::string s;
                                      for (int i = 0; i < n; ++i)
                                        s += fmt::format(" {}", band_of(h, n, i).begin);
                                      return s;
                                    }())
                     << ": a difference on or next to one of them is a seam (a halo too short, "
                        "or clamping at the band instead of the image).";
    if (!d.empty()) return;
  }
}

}  // namespace

// ---- the filters, one band ------------------------------------------------------------------

GRADED_TEST(Filter, BandsCoverTheImageExactly, 2, "README §Pitfalls 1 — bands and halos") {
  for (int h = 0; h <= 40; ++h)
    for (int n = 1; n <= 9; ++n) {
      int next = 0;
      for (int i = 0; i < n; ++i) {
        const Band b = band_of(h, n, i);
        ASSERT_EQ(b.begin, next) << "band " << i << " of " << n << " for height " << h
                                 << " does not start where band " << i - 1 << " ended";
        ASSERT_EQ(b, (Band{int(i * h / n), int((i + 1) * h / n)}))
            << "band " << i << " of " << n << " for height " << h;
        next = b.end;
      }
      ASSERT_EQ(next, h) << n << " bands do not end at height " << h;
    }
  EXPECT_EQ(lab::halo_rows({lab::Filter::kBlur, 7}), 7) << "halo_rows(blur radius 7)";
  EXPECT_EQ(lab::halo_rows({lab::Filter::kSharpen, 7}), 1) << "halo_rows(sharpen)";
  EXPECT_EQ(lab::halo_rows({lab::Filter::kEdge, 7}), 1) << "halo_rows(edge)";
  EXPECT_EQ(lab::halo_rows({lab::Filter::kGray, 7}), 0) << "halo_rows(gray)";
  EXPECT_THROW(band_of(10, 0, 0), ipclab::UsageError);
  EXPECT_THROW(band_of(10, 3, 3), ipclab::UsageError);
}

GRADED_TEST(Filter, GrayKnownAnswer, 2, "README §Filters — Y = (77 R + 150 G + 29 B + 128) >> 8") {
  // Computed by hand: red (77*255+128)>>8 = 77, green 149, blue 29, white 255, black 0,
  // (10, 20, 30): (770 + 3000 + 870 + 128) >> 8 = 18.
  const Image in =
      tiny({{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}, {0, 0, 0}, {10, 20, 30}}, 3, 2);
  const Image want =
      tiny({{77, 77, 77}, {149, 149, 149}, {29, 29, 29}, {255, 255, 255}, {0, 0, 0}, {18, 18, 18}},
           3, 2);
  EXPECT_EQ(first_difference(want, lab::filter_image(in, {lab::Filter::kGray, 1})), "")
      << "filter_image(gray) on a 3x2 image";
  const std::string out = grader::scratch() + "/gray.png";
  auto r = run_filter(write_png("gray-in.png", in), out, "gray", 2);
  expect_exit(r, 0);
  if (r.exit_code() == 0) {
    EXPECT_EQ(first_difference(want, load_png(out)), "")
        << "shm_image_filter --filter=gray --workers=2";
  }
}

GRADED_TEST(Filter, BlurKnownAnswer3x3, 3,
            "README §Pitfalls 3 — the blur's formula: sigma = R/2, float sums in tap order") {
  // Radius 1, sigma 0.5: weights e^-2 : 1 : e^-2, normalized. Worked out independently in
  // double for a 3x3 image with one bright pixel; the answer must be within 1 of it.
  const Image in = tiny({{0, 0, 0},
                         {0, 0, 0},
                         {0, 0, 0},
                         {0, 0, 0},
                         {200, 100, 50},
                         {0, 0, 0},
                         {0, 0, 0},
                         {0, 0, 0},
                         {0, 0, 0}},
                        3, 3);
  const double e2 = std::exp(-2.0);
  const double w[3] = {e2 / (1 + 2 * e2), 1 / (1 + 2 * e2), e2 / (1 + 2 * e2)};
  const Image got = lab::filter_image(in, {lab::Filter::kBlur, 1});
  const int channel[3] = {200, 100, 50};
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) {
        const double want = w[x] * w[y] * channel[c];
        EXPECT_NEAR(got.at(x, y)[c], want, 1.0)
            << "blur radius 1 of a 3x3 image with (200, 100, 50) in the centre, pixel (" << x
            << ", " << y << ") channel " << c;
      }
  // Exactly: the same sums in float, in the order the header gives (k ascending).
  EXPECT_EQ(first_difference(lab13_test::naive_blur(in, 1), got), "")
      << "blur radius 1 of the 3x3 image, against the header's float formula";
  const std::vector<float> k = lab::gaussian_kernel(3);
  EXPECT_EQ(k, lab13_test::naive_kernel(3)) << "gaussian_kernel(3)";
  // A flat image stays flat: white too (its sums may come out a hair above 255).
  for (const int v : {173, 255, 0}) {
    Image flat(5, 4);
    for (auto& b : flat.pixels) b = static_cast<std::uint8_t>(v);
    EXPECT_EQ(first_difference(flat, lab::filter_image(flat, {lab::Filter::kBlur, 2})), "")
        << "blur of a flat image (every channel " << v << ") must not change it";
  }
}

GRADED_TEST(Filter, SharpenAndEdgeKnownAnswers, 2, "README §Filters — clamp to edge") {
  // Hand-computed: a 3x3 image of 50 with 100 in the centre (gray values are 50 and 100 too).
  // Sharpen: centre 5*100 - 4*50 = 300 -> 255; a corner's outside neighbours are itself
  // (clamped) and its inside ones 50: 250 - 200 = 50; the pixel above the centre:
  // 250 - 50 - 50 - 50 (itself, above) - 100 = 0.
  Image in(3, 3);
  for (auto& b : in.pixels) b = 50;
  for (int c = 0; c < 3; ++c) in.at(1, 1)[c] = 100;
  const Image s = lab::filter_image(in, {lab::Filter::kSharpen, 1});
  EXPECT_EQ(s.at(1, 1)[0], 255) << "sharpen, centre pixel";
  EXPECT_EQ(s.at(0, 0)[1], 50) << "sharpen, corner pixel (its outside neighbours are itself)";
  EXPECT_EQ(s.at(1, 0)[2], 0) << "sharpen, the pixel above the centre";
  const Image e = lab::filter_image(in, {lab::Filter::kEdge, 1});
  EXPECT_EQ(e.at(1, 1)[0], 0) << "edge, centre of a symmetric bump: gx = gy = 0";
  // Left-middle pixel (0,1): gx = Y(1,0) + 2 Y(1,1) + Y(1,2) - (Y(0,0) + 2 Y(0,1) + Y(0,2))
  // = 50 + 200 + 50 - 200 = 100; gy = 0.
  EXPECT_EQ(e.at(0, 1)[1], 100) << "edge, left-middle pixel";
  const Image img = random_image(9, 7, 77);
  EXPECT_EQ(first_difference(lab13_test::naive_sharpen(img),
                             lab::filter_image(img, {lab::Filter::kSharpen, 1})),
            "")
      << "sharpen of a random 9x7 image";
  EXPECT_EQ(first_difference(lab13_test::naive_edge(img),
                             lab::filter_image(img, {lab::Filter::kEdge, 1})),
            "")
      << "edge of a random 9x7 image";
}

// ---- N workers against 1 ---------------------------------------------------------------------

GRADED_TEST(Parallel, BlurIdenticalForOneToEightWorkers, 6,
            "README §Pitfalls 1 — a band reads R rows above and below it, clamped at the image") {
  expect_identical_for_all_worker_counts("blur", 37, 61, 3, 13);  // 61: prime height
}

GRADED_TEST(Parallel, OtherFiltersIdenticalForOneToEightWorkers, 4,
            "README §Pitfalls 1 — sharpen and edge read one row above and below the band") {
  expect_identical_for_all_worker_counts("sharpen", 23, 53, 1, 5);
  expect_identical_for_all_worker_counts("edge", 23, 53, 1, 6);
  expect_identical_for_all_worker_counts("gray", 23, 53, 1, 7);
}

GRADED_TEST(Parallel, MasterWaitsForEveryWorker, 5,
            "README §Pitfalls 2 — wait until DONE reaches N, not 1 or N-1") {
  // Worker 2 of 4 sleeps before it filters its band: a master that stops waiting before
  // all N DONE posts writes that band unfilled.
  const Image img = random_image(31, 45, 21);
  const std::string in = write_png("in.png", img);
  const std::string out = grader::scratch() + "/out.png";
  const auto stall = grader::scaled(700ms).count();
  auto r = run_filter(in, out, "blur", 4, 2,
                      {"--test-stall-worker=2", fmt::format("--test-stall-ms={}", stall)});
  expect_exit(r, 0);
  if (r.exit_code() != 0) return;
  EXPECT_EQ(first_difference(lab13_test::naive_blur(img, 2), load_png(out)), "")
      << "4 workers, worker 2 (rows " << band_of(45, 4, 2).begin << ".." << band_of(45, 4, 2).end
      << ") slowed down by " << stall << " ms: its band is wrong, so the master read the output "
      << "before worker 2 had posted DONE";
}

GRADED_TEST(Parallel, TranscriptNamesEveryWorker, 2, "README §The program") {
  const std::string in = write_png("in.png", random_image(20, 29, 3));
  auto r = run_filter(in, grader::scratch() + "/out.png", "edge", 3);
  expect_exit(r, 0);
  const std::regex line(
      R"(worker (\d) \(pid \d+\): rows \[(\d+), (\d+)\) \((\d+) rows\), [0-9.]+ ms)");
  int seen = 0;
  for (std::sregex_iterator it(r.out.begin(), r.out.end(), line), end; it != end; ++it) {
    const int i = std::stoi((*it)[1]);
    EXPECT_EQ(i, seen) << "workers listed out of order:\n" << r.out;
    EXPECT_EQ(std::stoi((*it)[2]), band_of(29, 3, i).begin) << r.out;
    EXPECT_EQ(std::stoi((*it)[3]), band_of(29, 3, i).end) << r.out;
    ++seen;
  }
  EXPECT_EQ(seen, 3) << "expected one `worker i (pid P): rows [a, b) (n rows), t ms` line per "
                        "worker in:\n"
                     << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex(R"(filter phase: [0-9.]+ ms, [0-9.]+ MPix/s; speedup [0-9.]+x)")))
      << r.out;
}

// ---- cleanup ----------------------------------------------------------------------------------

GRADED_TEST(Cleanup, SegmentsAndSemaphoreNamedAndRemoved, 3,
            "README §Pitfalls 4 — keys from names::sysv_key; IPC_RMID every object") {
  // While worker 0 stalls, the namespace must hold the semaphore set, and each worker the
  // two segments, made with keys from names::sysv_key (a worker's /proc/PID/maps names an
  // attached segment /SYSV<key>); after the run, ipcs must list none of them.
  const std::string in = write_png("in.png", random_image(16, 20, 4));
  grader::Process p({"shm_image_filter", in, grader::scratch() + "/out.png", "--filter=gray",
                     "--workers=2", "--test-stall-worker=0",
                     fmt::format("--test-stall-ms={}", grader::scaled(1500ms).count())});
  std::vector<IpcObject> seen;
  std::vector<pid_t> kids;
  const bool up = grader::wait_until(
      [&] {
        seen = lab13_test::objects();
        kids = ipclab::child_pids(p.pid());
        return kids.size() >= 2 && lab13_test::count_kind(seen, IpcObject::Kind::kSysvSem) >= 1;
      },
      5'000ms);
  EXPECT_TRUE(up) << "while the workers run, the test's namespace should hold 1 semaphore set "
                     "with its key from names::sysv_key(\"image.sem\"); it holds:"
                  << lab13_test::describe_objects(seen);
  if (up) {
    const std::string maps = lab13_test::read_maps(kids.front());
    for (const auto name : {lab::kInKey, lab::kOutKey})
      EXPECT_NE(maps.find(fmt::format("/SYSV{:08x}",
                                      static_cast<unsigned>(ipclab::names::sysv_key(name)))),
                std::string::npos)
          << "worker " << kids.front() << " has no segment attached with key "
          << "names::sysv_key(\"" << name << "\"); its maps:\n"
          << maps;
  }
  auto r = p.finish(10'000ms);
  expect_exit(r, 0);
  lab13_test::expect_all_removed(seen, "after a successful run");
}

GRADED_TEST(Cleanup, SegmentsRemovedOnceWorkersAttached, 3,
            "README §Pitfalls 5 — IPC_RMID the segments as soon as every worker has them") {
  // Marked IPC_RMID once every worker is forked, the segments survive only as long as an
  // attachment does: a kill -9 of the master (its workers die with it) leaks none.
  const std::string in = write_png("in.png", random_image(16, 20, 9));
  grader::Process p({"shm_image_filter", in, grader::scratch() + "/out.png", "--filter=blur",
                     "--workers=3", "--test-stall-worker=1", "--test-stall-ms=60000"});
  std::vector<pid_t> kids;
  ASSERT_TRUE(grader::wait_until(
      [&] {
        kids = ipclab::child_pids(p.pid());
        return kids.size() >= 3 || p.exited();
      },
      5'000ms))
      << "the master did not start 3 workers; stderr: " << p.err();
  // Every worker is forked: no segment may be left under the namespace's keys.
  std::vector<IpcObject> seen;
  EXPECT_TRUE(grader::wait_until(
      [&] {
        seen = lab13_test::objects();
        return lab13_test::count_kind(seen, IpcObject::Kind::kSysvShm) == 0;
      },
      5'000ms))
      << "with every worker forked, the segments should be marked IPC_RMID (the key "
         "gone); the namespace holds:"
      << lab13_test::describe_objects(seen);
  // Worker 1 stalls before its band: it still has both segments attached.
  std::string maps;
  for (const pid_t k : kids)
    if (const std::string m = lab13_test::read_maps(k); m.find("/SYSV") != std::string::npos)
      maps = m;
  const unsigned in_key = static_cast<unsigned>(ipclab::names::sysv_key(lab::kInKey));
  EXPECT_NE(maps.find(fmt::format("/SYSV{:08x} (deleted)", in_key)), std::string::npos)
      << "the stalled worker should still have the input segment attached, marked for "
      << "removal; its maps:\n"
      << maps;
  const auto segments = lab13_test::attached_shmids(maps);
  EXPECT_EQ(segments.size(), 2u) << "a worker should have the 2 segments attached:\n" << maps;
  ASSERT_EQ(::kill(p.pid(), SIGKILL), 0);
  ASSERT_TRUE(p.wait(5'000ms));
  for (const pid_t k : kids)  // PR_SET_PDEATHSIG: the workers die with the master
    EXPECT_TRUE(grader::wait_until(
        [&] {
          const char s = ipclab::process_state(k);
          return s == 0 || s == 'Z';
        },
        5'000ms))
        << "worker pid " << k << " still runs after the master was killed";
  for (pid_t z : grader::zombie_children()) (void)ipclab::try_wait(z);
  EXPECT_TRUE(grader::wait_until(
      [&] {
        const auto now = grader::ipcs_ids('m');
        return std::ranges::none_of(segments,
                                    [&](int id) { return std::ranges::count(now, id) > 0; });
      },
      5'000ms))
      << "a segment outlived the master and its workers (kill -9 leaked it)";
  // What a kill -9 can still leave is the semaphore set (IPC_RMID would remove it at once,
  // under the workers' feet): the next run removes it, as it would any leftover.
  auto next = run_filter(in, grader::scratch() + "/out2.png", "gray", 2);
  expect_exit(next, 0);
}

GRADED_TEST(Cleanup, SigintKillsWorkersAndRemovesEverything, 4,
            "README §Pitfalls 5 — on SIGINT: kill and reap the workers, then IPC_RMID") {
  const std::string in = write_png("in.png", random_image(16, 20, 5));
  grader::Process p({"shm_image_filter", in, grader::scratch() + "/out.png", "--filter=blur",
                     "--workers=3", "--test-stall-worker=1", "--test-stall-ms=60000"});
  std::vector<IpcObject> seen;
  std::vector<pid_t> kids;
  const bool up = grader::wait_until(
      [&] {
        seen = lab13_test::objects();
        kids = ipclab::child_pids(p.pid());
        return lab13_test::count_kind(seen, IpcObject::Kind::kSysvSem) >= 1 && kids.size() >= 3;
      },
      5'000ms);
  ASSERT_TRUE(up) << "the master did not start 3 workers and a semaphore set; objects:"
                  << lab13_test::describe_objects(seen) << "\n    workers: " << kids.size()
                  << "\n    stderr: " << p.err();
  p.signal(SIGINT);
  const auto st = p.wait(5'000ms);
  ASSERT_TRUE(st.has_value()) << "the master did not exit within 5 s of SIGINT (a worker "
                                 "stalls for 60 s: the master must not wait for it)";
  EXPECT_TRUE(st->exited() && st->exit_code() == 1)
      << "after SIGINT: " << st->describe()
      << " (expected exit status 1, `error: interrupted by SIGINT`)";
  EXPECT_NE(p.err().find("error: interrupted"), std::string::npos) << "stderr: " << p.err();
  for (const pid_t k : kids)
    EXPECT_TRUE(grader::wait_until(
        [&] {
          const char s = ipclab::process_state(k);
          return s == 0 || s == 'Z';
        },
        2'000ms))
        << "worker pid " << k << " still runs after the master exited";
  lab13_test::expect_all_removed(seen, "after SIGINT");
}

GRADED_TEST(Cleanup, SigtermDuringALargeLoadEndsAtOnce, 2) {
  // 100 Mpixels: decoding takes a second or more, in one libpng call. SIGTERM, sent as soon
  // as the handler is in place, must end the program there and then, not after the load
  // (when the transcript's first line is printed) and the copy into shared memory.
  const std::string in = write_png("big.png", Image(10'000, 10'000));
  grader::Process p({"shm_image_filter", in, grader::scratch() + "/out.png", "--filter=gray"});
  ASSERT_TRUE(grader::wait_until(
      [&] {
        std::ifstream status(fmt::format("/proc/{}/status", p.pid()));
        for (std::string line; std::getline(status, line);)
          if (line.starts_with("SigCgt:"))
            return (std::stoull(line.substr(7), nullptr, 16) & (1ull << (SIGTERM - 1))) != 0;
        return !p.running();
      },
      5'000ms))
      << "shm_image_filter never caught SIGTERM";
  p.signal(SIGTERM);
  auto r = p.finish(20'000ms);
  expect_exit(r, 1);
  EXPECT_NE(r.err.find("error: interrupted by SIGTERM"), std::string::npos) << r.describe();
  EXPECT_EQ(r.out.find("shm_image_filter:"), std::string::npos)
      << "the program went on loading the image after SIGTERM\n"
      << r.describe();
  EXPECT_FALSE(lab13_test::file_exists(grader::scratch() + "/out.png"));
}

// ---- workers that die ------------------------------------------------------------------------

GRADED_TEST(Workers, DeadWorkerIsReportedNotWaitedFor, 4,
            "README §Pitfalls 6 — a dead worker never posts DONE: check your workers while "
            "you wait") {
  const std::string in = write_png("in.png", random_image(16, 30, 6));
  const std::string out = grader::scratch() + "/out.png";
  grader::Process p(
      {"shm_image_filter", in, out, "--filter=blur", "--workers=3", "--test-kill-worker=1"});
  std::vector<IpcObject> seen;
  (void)grader::wait_until(
      [&] {
        seen = lab13_test::objects();
        return seen.size() >= 3 || p.exited();
      },
      5'000ms);
  auto r = p.finish(10'000ms);
  ASSERT_FALSE(r.timed_out) << "worker 1 was SIGKILLed: the master hung waiting for it\n"
                            << r.describe();
  expect_exit(r, 1);
  EXPECT_TRUE(std::regex_search(r.err, std::regex(R"(error: worker 1 .*signal 9)")))
      << "stderr should name the dead worker and its signal, e.g. `error: worker 1 (pid 123) "
         "was killed by signal 9 (Killed)`:\n"
      << r.err;
  EXPECT_FALSE(lab13_test::file_exists(out)) << "an output file was written although a worker died";
  lab13_test::expect_all_removed(seen, "after a worker died");
}

// ---- bad input --------------------------------------------------------------------------------

GRADED_TEST(Errors, MissingOrCorruptPngIsACleanError, 2, "README §The program — exit codes") {
  const std::string out = grader::scratch() + "/out.png";
  auto missing = run_filter(grader::scratch() + "/nosuch.png", out, "blur", 2);
  expect_exit(missing, 3);
  EXPECT_NE(missing.err.find("error: "), std::string::npos) << missing.describe();
  EXPECT_NE(missing.err.find("nosuch.png"), std::string::npos) << missing.describe();

  const auto bytes = lab::encode_png(random_image(20, 20, 8));
  auto write_bytes = [&](const std::string& name, std::string data) {
    const std::string path = grader::scratch() + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    (void)std::fwrite(data.data(), 1, data.size(), f);
    (void)std::fclose(f);
    return path;
  };
  std::string whole(bytes.begin(), bytes.end());
  std::string flipped = whole;
  flipped[whole.size() / 2] = static_cast<char>(flipped[whole.size() / 2] ^ 0x5a);  // bad CRC
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty.png", ""},
      {"text.png", "this is not a PNG file\n"},
      {"truncated.png", whole.substr(0, whole.size() / 2)},
      {"header-only.png", whole.substr(0, 33)},
      {"flipped.png", flipped},
  };
  for (const auto& [name, data] : bad) {
    auto r = run_filter(write_bytes(name, data), out, "blur", 2);
    EXPECT_FALSE(r.status.signaled()) << name << ": crashed\n" << r.describe();
    expect_exit(r, 2);
    EXPECT_NE(r.err.find("error: "), std::string::npos) << name << "\n" << r.describe();
    EXPECT_NE(r.err.find(name), std::string::npos) << "the message should name the file\n"
                                                   << r.describe();
    EXPECT_FALSE(lab13_test::file_exists(out)) << name << ": an output file was written";
  }
  EXPECT_TRUE(lab13_test::objects().empty()) << lab13_test::describe_objects(lab13_test::objects());
}

GRADED_TEST(Errors, BadArgumentsAreExit2, 1) {
  const std::string in = write_png("in.png", random_image(8, 8, 9));
  const std::string out = grader::scratch() + "/out.png";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {in, out, "--workers=0"},
           {in, out, "--workers=65"},
           {in, out, "--filter=emboss"},
           {in, out, "--filter=blur", "--radius=0"},
           {in},
       }) {
    std::vector<std::string> argv = {"shm_image_filter"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    expect_exit(r, 2);
    EXPECT_NE(r.err.find("error: "), std::string::npos) << r.describe();
  }
}

// ---- speed: what a worker does before READY and after START ----------------------------

namespace {

/// The CPUs a process (0: this thread) may run on, ascending; empty if it is gone.
std::vector<int> cpus_of(pid_t pid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(pid, sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  return cpus;
}

std::string cpu_list(const std::vector<int>& cpus) {
  std::string s;
  for (const int c : cpus) s += (s.empty() ? "" : ",") + std::to_string(c);
  return "{" + s + "}";
}

/// "" if every page holding bytes [from, to) of a segment that `pid` has attached at
/// `start` is in its page table (/proc/PID/pagemap: bit 63, present), else how many are not.
std::string pages_not_mapped(pid_t pid, std::uintptr_t start, std::size_t from, std::size_t to) {
  if (from >= to) return "";
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t first = (start + from) / page;
  const std::uintptr_t last = (start + to - 1) / page;
  const ipclab::Fd fd(::open(fmt::format("/proc/{}/pagemap", pid).c_str(), O_RDONLY | O_CLOEXEC));
  std::vector<std::uint64_t> entries(last - first + 1);
  const auto bytes = static_cast<ssize_t>(entries.size() * sizeof(std::uint64_t));
  if (!fd || ::pread(fd.get(), entries.data(), std::size_t(bytes),
                     static_cast<off_t>(first * sizeof(std::uint64_t))) != bytes)
    return fmt::format("/proc/{}/pagemap is unreadable ({})", pid, std::strerror(errno));
  std::size_t missing = 0;
  std::uintptr_t first_missing = 0;
  for (std::size_t i = 0; i < entries.size(); ++i)
    if ((entries[i] >> 63) == 0 && missing++ == 0) first_missing = (first + i) * page - start;
  if (missing == 0) return "";
  return fmt::format("{} of its {} pages are not in the worker's page table (the first at byte {})",
                     missing, entries.size(), first_missing);
}

/// Runs filter_parallel in a grader::Child (the master) with `workers` workers, the last of
/// them stopped as it is forked: the others start, post READY and wait for START, and
/// `while_waiting` gets their pids (worker i is the i-th fork) once READY is workers - 1.
/// Then the last one goes on. With `after_start`, worker 0 stalls after START: it gets
/// worker 0's pid, then worker 0 is SIGKILLed (and the master must throw WorkerFailed).
void with_last_worker_held(const Image& img, lab::FilterSpec spec, int workers,
                           const std::function<void(const std::vector<pid_t>&)>& while_waiting,
                           const std::function<void(pid_t)>& after_start = nullptr) {
  const lab13_test::ForkRecorder forks;
  grader::Child master(
      [&] {
        lab13_test::ForkRecorder::install(workers - 1);
        lab::ParallelOptions opts;
        opts.workers = workers;
        if (after_start) {
          opts.hooks.stall_worker = 0;
          opts.hooks.stall = 60'000ms;
          EXPECT_THROW((void)lab::filter_parallel(img, spec, opts), lab::WorkerFailed)
              << "worker 0 was SIGKILLed while it stalled";
          return;
        }
        const Image want =
            lab13_test::naive(std::string(lab::filter_name(spec.filter)), img, spec.radius);
        EXPECT_EQ(first_difference(want, lab::filter_parallel(img, spec, opts).output), "");
      },
      "the master (filter_parallel)");
  const pid_t last = [&] {
    pid_t pid = 0;
    (void)grader::wait_until([&] { return (pid = forks.pid(workers - 1)) != 0; }, 5'000ms);
    return pid;
  }();
  std::optional<ipclab::SysvSemSet> set;
  int ready = -1;
  const bool held =
      last != 0 && grader::wait_until(
                       [&] {
                         if (!set)
                           set = ipclab::SysvSemSet::open(ipclab::names::sysv_key(lab::kSemKey));
                         ready = set ? set->get(lab::kReady) : -1;
                         return ready == workers - 1 && ipclab::process_state(last) == 'T';
                       },
                       5'000ms);
  EXPECT_TRUE(held) << "with the last of " << workers << " workers stopped as it was forked, "
                    << "READY did not reach " << workers - 1 << " (it is " << ready
                    << "): each of the others posts READY once it has started";
  if (held) {
    std::vector<pid_t> pids;
    for (int i = 0; i + 1 < workers; ++i) pids.push_back(forks.pid(i));
    while_waiting(pids);
  }
  if (last != 0) (void)::kill(last, SIGCONT);
  if (after_start && held) {
    after_start(forks.pid(0));
    (void)::kill(forks.pid(0), SIGKILL);
  }
  const auto end = master.finish(20'000ms);
  EXPECT_TRUE(end.passed()) << end.describe();
}

}  // namespace

GRADED_TEST(Speed, WorkersMapTheirRowsBeforeReady, 2,
            "README §Speed — before READY, map the rows you read and write "
            "(MADV_POPULATE_READ / MADV_POPULATE_WRITE)") {
  // Rows of 72,000 bytes (17.6 pages): a row left out is pages missing, whatever the kernel
  // maps around a fault. 7 rows, 4 workers: bands [0,1) [1,3) [3,5) [5,7), halo 1.
  const Image img = random_image(24'000, 7, 51);
  const lab::FilterSpec spec{lab::Filter::kSharpen, 1};
  const int workers = 4;
  const std::size_t row = std::size_t(img.width) * lab::kChannels;
  with_last_worker_held(img, spec, workers, [&](const std::vector<pid_t>& pids) {
    for (int i = 0; i < int(pids.size()); ++i) {
      const pid_t pid = pids[std::size_t(i)];
      const lab::Band band = band_of(img.height, workers, i);
      const int first = std::max(0, band.begin - lab::halo_rows(spec));
      const int last = std::min(img.height, band.end + lab::halo_rows(spec));
      const auto in = lab13_test::attachment(pid, ipclab::names::sysv_key(lab::kInKey));
      const auto out = lab13_test::attachment(pid, ipclab::names::sysv_key(lab::kOutKey));
      ASSERT_NE(in.start, 0U) << "worker " << i << " has no IN segment attached";
      ASSERT_NE(out.start, 0U) << "worker " << i << " has no OUT segment attached";
      const std::size_t header = sizeof(lab::ShmHeader);
      EXPECT_EQ(pages_not_mapped(pid, in.start, header + std::size_t(first) * row,
                                 header + std::size_t(last) * row),
                "")
          << "worker " << i << " waiting for START: IN rows [" << first << ", " << last
          << ") (its band " << band.begin << ".." << band.end << " and the halo)";
      EXPECT_EQ(pages_not_mapped(pid, out.start, std::size_t(band.begin) * row,
                                 std::size_t(band.end) * row),
                "")
          << "worker " << i << " waiting for START: OUT rows [" << band.begin << ", " << band.end
          << ") (its band)";
    }
  });
}

GRADED_TEST(Speed, WorkersWaitForStartPinnedToTheirOwnCpu, 2,
            "README §Speed — before READY, worker i pins itself to the (i mod C)-th of its C "
            "CPUs; after START it takes the whole set back") {
  const std::vector<int> all = cpus_of(0);
  ASSERT_FALSE(all.empty());
  // Two more workers than CPUs (at most 8): one is held, and the others wrap around the set.
  const int workers = std::min(int(all.size()) + 2, 8);
  const Image img = random_image(64, 40, 52);
  with_last_worker_held(
      img, {lab::Filter::kGray, 1}, workers,
      [&](const std::vector<pid_t>& pids) {
        for (std::size_t i = 0; i < pids.size(); ++i)
          EXPECT_EQ(cpu_list(cpus_of(pids[i])), cpu_list({all[i % all.size()]}))
              << "the CPU set of worker " << i << " waiting for START (the master's is "
              << cpu_list(all) << ")";
      },
      [&](pid_t worker0) {
        std::vector<int> now;
        EXPECT_TRUE(grader::wait_until([&] { return (now = cpus_of(worker0)) == all; }, 5'000ms))
            << "worker 0, past START (stalled before its band), may run on " << cpu_list(now)
            << ", not on all of the master's CPUs " << cpu_list(all);
      });
}

// ---- the benchmark ------------------------------------------------------------------------------

GRADED_TEST(Bench, TinyBenchmarkRunsAndReportsJson, 2, "README §Benchmark") {
  auto r = run({"shm_image_filter", "--bench", "--width=64", "--height=37", "--workers=3",
                "--runs=2", "--format=json"},
               {.timeout = 20'000ms});
  expect_exit(r, 0);
  for (const char* needle :
       {"\"benchmark\": \"shm_image_filter\"", "\"name\": \"workers=1\"", "\"name\": \"workers=3\"",
        "\"ops_per_s\": ", "\"workers=3/workers=1\": "})
    EXPECT_NE(r.out.find(needle), std::string::npos) << "missing " << needle << " in:\n" << r.out;
  EXPECT_TRUE(lab13_test::objects().empty()) << lab13_test::describe_objects(lab13_test::objects());
}

GRADED_TEST(Bench, CorruptOutputStopsTheBenchmark, 1, "README §Benchmark") {
  // The benchmark's own check: an N-worker output that differs from the 1-worker output
  // (here damaged on purpose by --test-corrupt) must stop it loudly.
  auto r = run({"shm_image_filter", "--bench", "--width=40", "--height=23", "--workers=2",
                "--runs=1", "--test-corrupt"},
               {.timeout = 20'000ms});
  expect_exit(r, 1);
  EXPECT_NE(r.err.find("differs from workers=1"), std::string::npos) << r.describe();
  EXPECT_TRUE(lab13_test::objects().empty()) << lab13_test::describe_objects(lab13_test::objects());
}
