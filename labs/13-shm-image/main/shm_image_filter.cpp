// shm_image_filter IN.png OUT.png --filter=blur|sharpen|edge|gray --workers=N [--radius=R]
// shm_image_filter --bench [--workers=N] [--runs=N] [--format=table|csv|json]
//
// Filter mode: loads IN.png, filters it with N worker processes over System V shared
// memory (filter_parallel), writes OUT.png and prints a transcript: each worker's band, wall
// and CPU time, the filter phase's time and MPix/s, and the speedup the workers achieved:
// their CPU time (what one worker alone would have needed, roughly) over the phase's wall
// time. `--bench` measures the real speedup against a 1-worker run.
//
// Bench mode: generates a --width x --height image (4000 x 3000) and times the filter phase
// of a radius-8 blur with 1 worker and with N, interleaved round by round (docs/benchmarking.md),
// after one untimed warm-up of each. ops_per_s is pixels per second; the ratio N/1 is the speedup.
// Every N-worker output is checked against the 1-worker output, byte for byte: a difference ends
// the benchmark with exit status 1.
#include <fcntl.h>   // open
#include <unistd.h>  // _exit

#include <string.h>   // sigabbrev_np
#include <algorithm>  // std::copy_n, std::min, std::sort
#include <chrono>     // std::chrono::milliseconds
#include <climits>    // INT64_MAX
#include <cstdint>    // std::uint64_t
#include <cstdio>     // stdout, std::fflush
#include <future>     // std::async, std::future
#include <string>     // std::string
#include <vector>     // std::vector

#include "ipclab/bench.hpp"   // Report, interleave, format, usable_cpus
#include "ipclab/clock.hpp"   // now_ns
#include "ipclab/fd.hpp"      // Fd
#include "ipclab/io.hpp"      // write_full
#include "ipclab/json.hpp"    // json_number, json_string
#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/signal.hpp"  // ShutdownSignals
#include "lab13/parallel.hpp"
#include "lab13/png.hpp"

namespace lab13 = ipclab::lab13;

namespace {

struct Options {
  std::string in, out;
  std::string filter = "blur";
  int radius = 8;
  int workers = 2;
  int timeout_ms = 60'000;
  bool bench = false;
  int runs = 5;
  int width = 4000, height = 3000;
  std::string format = "table";
  lab13::TestHooks hooks;
  int stall_ms = 0;
  bool corrupt = false;  // bench test hook: flip a byte of every N-worker output
  bool compare = false;  // filter mode: also time one worker, for the speedup
};

double mpix(double pixels, double seconds) { return seconds > 0 ? pixels / seconds / 1e6 : 0; }

/// Runs `work` (decoding or encoding a PNG: seconds for a large image, in one libpng call
/// that cannot look at the signal flag) on a thread, and checks for SIGINT/SIGTERM every
/// kPollPeriod meanwhile. On a signal the program ends at once: no IPC object and no
/// output file exist in these phases, so there is nothing to clean up.
template <typename Work>
auto interruptible(const ipclab::ShutdownSignals& signals, Work&& work) {
  auto result = std::async(std::launch::async, std::forward<Work>(work));
  while (result.wait_for(lab13::kPollPeriod) != std::future_status::ready) {
    if (signals.requested()) {
      fmt::print(stderr, "error: interrupted by SIG{}\n", sigabbrev_np(signals.signal()));
      (void)std::fflush(stderr);
      ::_exit(ipclab::kExitFailed);
    }
  }
  return result.get();
}

/// The course guide's name of a filter: "Gaussian blur", ...
std::string guide_filter_name(lab13::Filter f) {
  return f == lab13::Filter::kBlur ? "Gaussian blur" : std::string(lab13::filter_name(f));
}

int filter_file(const Options& o, const ipclab::ShutdownSignals& signals) {
  if (o.in.empty() || o.out.empty())
    throw ipclab::UsageError("IN.png and OUT.png are required (or --bench)");
  const lab13::FilterSpec spec{lab13::parse_filter(o.filter), o.radius};
  const lab13::Image in = interruptible(signals, [&] { return lab13::load_png(o.in); });
  // The course guide's header: the image (8-bit RGB in memory), the workers, the filter.
  fmt::print("Image: {}x{} ({:.1f} MB)\nWorkers: {}\nFilter: {}\n", in.width, in.height,
             static_cast<double>(in.pixels.size()) / 1e6, o.workers,
             guide_filter_name(spec.filter));
  fmt::print("shm_image_filter: {} {}x{}, {}{}, {} worker{}\n", o.in, in.width, in.height,
             lab13::filter_name(spec.filter),
             spec.filter == lab13::Filter::kBlur ? fmt::format(" radius {}", spec.radius) : "",
             o.workers, o.workers == 1 ? "" : "s");
  (void)std::fflush(stdout);  // shown before the work starts (and never twice after fork)
  lab13::ParallelOptions popts;
  popts.workers = o.workers;
  popts.signals = &signals;
  popts.timeout = std::chrono::milliseconds(o.timeout_ms);
  popts.hooks = o.hooks;
  const lab13::ParallelResult r = lab13::filter_parallel(in, spec, popts);
  // --compare: the same filter with one worker process, timed the same way.
  double single_seconds = 0;
  if (o.compare) {
    popts.workers = 1;
    single_seconds = lab13::filter_parallel(in, spec, popts).filter_seconds;
  }
  // The guide's per-worker lines come from each worker's record, after the phase (numbered
  // from 1 as the guide does; the detailed lines below number them from 0).
  fmt::print("[Master] Loaded image into shared memory (shmid={})\n", r.in_shmid);
  for (const auto& w : r.workers)
    fmt::print("[Worker {}] Processing rows {}-{}\n", w.index + 1, w.rows.begin, w.rows.end - 1);
  for (const auto& w : r.workers)
    fmt::print("[Worker {}] Done ({:.0f}ms)\n", w.index + 1, w.seconds * 1e3);
  fmt::print("[Master] All workers complete, writing output\n");
  double cpu = 0;
  for (const auto& w : r.workers) {
    fmt::print("worker {} (pid {}): rows [{}, {}) ({} rows), {:.2f} ms (CPU {:.2f} ms)\n", w.index,
               w.pid, w.rows.begin, w.rows.end, w.rows.rows(), w.seconds * 1e3,
               w.cpu_seconds * 1e3);
    cpu += w.cpu_seconds;
  }
  const double pixels = double(in.width) * in.height;
  fmt::print(
      "filter phase: {:.2f} ms, {:.1f} MPix/s; speedup {:.2f}x (workers' CPU time / "
      "filter phase)\n",
      r.filter_seconds * 1e3, mpix(pixels, r.filter_seconds),
      r.filter_seconds > 0 ? cpu / r.filter_seconds : 0.0);
  const auto bytes = interruptible(signals, [&] { return lab13::encode_png(r.output); });
  const ipclab::Fd fd(
      ipclab::check_unix(::open(o.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644),
                         "open(\"{}\")", o.out));
  ipclab::write_full(fd.get(), bytes.data(), bytes.size());  // save_png, after the encoding
  fmt::print("wrote {}\n", o.out);
  // The guide's totals: the filter phase; the speedup against one worker with --compare,
  // else the workers' CPU time over the phase (what one worker alone would have needed).
  if (o.compare) {
    fmt::print("Total time: {:.0f}ms (vs {:.0f}ms single-threaded)\n", r.filter_seconds * 1e3,
               single_seconds * 1e3);
    fmt::print("Speedup: {:.2f}x with {} workers\n",
               r.filter_seconds > 0 ? single_seconds / r.filter_seconds : 0.0, o.workers);
  } else {
    fmt::print("Total time: {:.0f}ms\n", r.filter_seconds * 1e3);
    fmt::print(
        "Speedup: {:.2f}x with {} workers (workers' CPU time / filter phase; --compare "
        "measures one worker)\n",
        r.filter_seconds > 0 ? cpu / r.filter_seconds : 0.0, o.workers);
  }
  return ipclab::kExitOk;
}

/// A test image with detail everywhere (the blur's cost does not depend on it, but a flat
/// image would hide a wrong band): gradients plus xorshift noise, the same every run.
lab13::Image generate(int width, int height) {
  lab13::Image img(width, height);
  std::uint64_t s = 0x9e3779b97f4a7c15ULL;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      std::uint8_t* p = img.at(x, y);
      p[0] = static_cast<std::uint8_t>((x * 255 / width + (s & 63)) & 0xff);
      p[1] = static_cast<std::uint8_t>((y * 255 / height + ((s >> 8) & 63)) & 0xff);
      p[2] = static_cast<std::uint8_t>(((x ^ y) + ((s >> 16) & 127)) & 0xff);
    }
  return img;
}

/// The bound the benchmark is measured against: what the blur costs when only computing
/// counts. This process alone blurs a tile of the image (at most 512 pixels wide, as wide as
/// the reference's strips, and 2 x 128 rows) that stays in its core's cache: no shared
/// memory, no page fault, no other process. It times rows [0, B) and [0, 2B) of the tile,
/// the fastest of a few tries each; the difference is the cost of B rows in steady state
/// (the halo rows both computations add cancel out). Pixels per second of one core; 0 for
/// an image too small to tell.
double compute_only_rate(const lab13::Image& img, const lab13::FilterSpec& spec) {
  const int rows = std::min(128, img.height / 2);
  if (rows < 1) return 0;
  const int width = std::min(512, img.width);
  lab13::Image tile(width, 2 * rows);
  for (int y = 0; y < tile.height; ++y)
    std::copy_n(img.at(0, y), std::size_t(width) * lab13::kChannels, tile.at(0, y));
  std::vector<std::uint8_t> out(tile.size_bytes());
  auto fastest = [&](int band_rows) {
    std::int64_t best = INT64_MAX;
    for (int t = 0; t < 5; ++t) {
      const std::int64_t t0 = ipclab::now_ns();
      lab13::filter_rows(tile.pixels.data(), out.data(), tile.width, tile.height, spec,
                         lab13::Band{0, band_rows});
      best = std::min(best, ipclab::now_ns() - t0);
    }
    return best;
  };
  const std::int64_t ns = fastest(2 * rows) - fastest(rows);
  return ns > 0 ? double(width) * rows / (double(ns) / 1e9) : 0;
}

int bench(const Options& o, const ipclab::ShutdownSignals& signals) {
  const auto fmt_kind = ipclab::bench::parse_format(o.format);
  const lab13::FilterSpec spec{lab13::Filter::kBlur, o.radius};
  const lab13::Image img = generate(o.width, o.height);
  const double pixels = double(o.width) * o.height;

  std::vector<int> counts{1};
  if (o.workers != 1) counts.push_back(o.workers);
  ipclab::bench::Report report{"shm_image_filter"};
  report.param("width", ipclab::json_number(o.width));
  report.param("height", ipclab::json_number(o.height));
  report.param("filter", ipclab::json_string("blur"));
  report.param("radius", ipclab::json_number(o.radius));
  report.param("workers", ipclab::json_number(o.workers));
  report.param("runs", ipclab::json_number(o.runs));
  report.ops_label = "pix/s";
  report.note(fmt::format(
      "shm_image_filter --bench: Gaussian blur radius {} of a {}x{} image ({:.1f} MPix), the "
      "filter phase timed (workers started, START released .. DONE reached N)",
      o.radius, o.width, o.height, pixels / 1e6));
  report.note(fmt::format(
      "{} round(s) after one warm-up each, contenders interleaved; every {}-worker output "
      "checked byte for byte against the 1-worker output",
      o.runs, o.workers));
  for (const int c : counts) report.add(fmt::format("workers={}", c));

  lab13::ParallelOptions popts;
  popts.signals = &signals;
  popts.timeout = std::chrono::milliseconds(o.timeout_ms);
  popts.hooks = o.hooks;
  std::vector<std::uint8_t> reference;  // the 1-worker output
  auto one = [&](std::size_t i) {
    popts.workers = counts[i];
    lab13::ParallelResult r = lab13::filter_parallel(img, spec, popts);
    if (i == 0 && reference.empty()) reference = r.output.pixels;
    if (o.corrupt && i > 0) r.output.pixels[r.output.pixels.size() / 2] ^= 0x10U;
    if (!reference.empty() && r.output.pixels != reference) {
      std::size_t at = 0;
      while (at < reference.size() && reference[at] == r.output.pixels[at]) ++at;
      const auto px = at / lab13::kChannels;
      throw ipclab::OperationFailed(fmt::format(
          "workers={} output differs from workers=1 at pixel ({}, {}): {} instead of {}", counts[i],
          px % std::size_t(o.width), px / std::size_t(o.width), r.output.pixels[at],
          reference[at]));
    }
    return r;
  };
  for (std::size_t i = 0; i < counts.size(); ++i) (void)one(i);  // warm-up (and reference)
  // Contender counts.size() is the compute-only bound, measured in the same rounds.
  std::vector<double> bound;
  ipclab::bench::interleave(o.runs, counts.size() + 1, [&](int, std::size_t i) {
    if (i == counts.size()) {
      bound.push_back(compute_only_rate(img, spec));
      return;
    }
    const auto r = one(i);
    report.results[i].record(pixels / r.filter_seconds);
  });
  if (counts.size() == 2) report.ratio(report.results[1].name, report.results[0].name);
  std::string mp = "MPix/s (median):";
  for (const auto& res : report.results)
    mp += fmt::format(" {} {:.1f}", res.name, ipclab::bench::summarize(res).ops_per_s / 1e6);
  report.note(mp);
  std::sort(bound.begin(), bound.end());
  const double core = bound[bound.size() / 2];
  if (core > 0) {
    const auto cpus = static_cast<int>(ipclab::bench::usable_cpus().size());
    report.note(fmt::format(
        "bound, compute only (median of rounds): one core blurs a {}-pixel-wide tile in its cache "
        "at {:.1f} MPix/s; N workers on {} usable CPU(s) reach at most min(N, {}) times that",
        std::min(512, o.width), core / 1e6, cpus, cpus));
    std::string reached = "reached (median / bound):";
    for (std::size_t i = 0; i < counts.size(); ++i) {
      const double limit = core * std::min(counts[i], std::max(1, cpus));
      reached += fmt::format(
          "{} {} {:.0f}% of {:.1f} MPix/s", i == 0 ? "" : ",", report.results[i].name,
          100 * ipclab::bench::summarize(report.results[i]).ops_per_s / limit, limit / 1e6);
    }
    report.note(reached);
  }
  fmt::print("{}", ipclab::bench::format(report, fmt_kind));
  return ipclab::kExitOk;
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "shm_image_filter: filter a PNG with N worker processes over System V shared memory.\n"
      "  shm_image_filter IN.png OUT.png --filter=blur|sharpen|edge|gray --workers=N "
      "[--radius=R]\n"
      "  shm_image_filter --bench [--workers=N] [--runs=N] [--format=table|csv|json]\n"
      "The output is the same, byte for byte, for any number of workers. Exit status: 0 ok,\n"
      "1 a worker failed / interrupted / timed out, 2 bad arguments or a bad PNG, 3 a system\n"
      "error (a missing file included)."};
  Options o;
  app.add_option("in", o.in, "input PNG");
  app.add_option("out", o.out, "output PNG (8-bit RGB)");
  app.add_option("--filter", o.filter, "blur, sharpen, edge or gray")
      ->capture_default_str()
      ->check(CLI::IsMember({"blur", "sharpen", "edge", "gray"}));
  app.add_option("--radius", o.radius, "blur radius R (sigma = R/2)")
      ->capture_default_str()
      ->transform(ipclab::cli::count(lab13::kMinRadius, lab13::kMaxRadius));
  app.add_option("--workers", o.workers, "worker processes")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, lab13::kMaxWorkers));
  app.add_option("--timeout", o.timeout_ms,
                 "ms the master waits for its workers before it gives up (exit 1)")
      ->capture_default_str()
      ->transform(ipclab::cli::milliseconds(1ms, 1h));
  app.add_flag("--compare", o.compare,
               "filter mode: also run the filter with one worker and report the real speedup");
  app.add_flag("--bench", o.bench,
               "benchmark: 1 worker against --workers, blur of a generated image");
  app.add_option("--runs", o.runs, "bench: timed rounds")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, 1000));
  app.add_option("--width", o.width, "bench: image width")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, 20'000));
  app.add_option("--height", o.height, "bench: image height")
      ->capture_default_str()
      ->transform(ipclab::cli::count(1, 20'000));
  app.add_option("--format", o.format, "bench: table, csv or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "csv", "json"}));
  app.add_option("--test-kill-worker", o.hooks.kill_worker,
                 "test hook: this worker SIGKILLs itself when it starts")
      ->transform(ipclab::cli::integer(-1, lab13::kMaxWorkers));
  app.add_option("--test-stall-worker", o.hooks.stall_worker,
                 "test hook: this worker sleeps --test-stall-ms before it filters")
      ->transform(ipclab::cli::integer(-1, lab13::kMaxWorkers));
  app.add_option("--test-stall-ms", o.stall_ms, "test hook: see --test-stall-worker")
      ->transform(ipclab::cli::milliseconds(0ms, 1h));
  app.add_flag("--test-corrupt", o.corrupt,
               "test hook (bench): damage each N-worker output, which the check must report");

  return ipclab::run_main(app, argc, argv, [&] {
    o.hooks.stall = std::chrono::milliseconds(o.stall_ms);
    ipclab::ShutdownSignals signals;  // before any IPC object exists: a signal never leaks one
    return o.bench ? bench(o, signals) : filter_file(o, signals);
  });
}
