// Shared by lab 13's public and hidden tests: test images written with the lab's given PNG
// code, running shm_image_filter on them, the filters written out naively from the
// header's formulas (the independent reference for the known-answer tests), and what IPC
// objects the test's namespace holds (the SysV segments and semaphore set, by id).
#pragma once

#include <pthread.h>   // pthread_atfork
#include <signal.h>    // raise, SIGSTOP
#include <sys/mman.h>  // mmap, munmap
#include <sys/stat.h>  // stat
#include <unistd.h>    // getpid

#include <algorithm>  // std::clamp, std::min, std::ranges::count
#include <atomic>     // std::atomic_ref
#include <cmath>      // std::exp
#include <cstdint>    // std::uint8_t, std::uint64_t
#include <fstream>    // std::ifstream
#include <iterator>   // std::istreambuf_iterator
#include <random>     // std::mt19937_64
#include <sstream>    // std::istringstream
#include <string>     // std::string
#include <vector>     // std::vector

#include "grader/grader.hpp"
#include "ipclab/error.hpp"      // throw_errno, OperationFailed
#include "ipclab/inventory.hpp"  // inventory, describe
#include "lab13/filter.hpp"
#include "lab13/parallel.hpp"
#include "lab13/png.hpp"

using namespace std::chrono_literals;

namespace lab13_test {

namespace lab = ipclab::lab13;
using lab::Image;

/// Random pixels, the same for the same seed.
inline Image random_image(int w, int h, std::uint64_t seed) {
  Image img(w, h);
  std::mt19937_64 rng(seed);
  for (auto& b : img.pixels) b = static_cast<std::uint8_t>(rng() & 0xff);
  return img;
}

/// Writes `img` as <scratch>/<name> with the lab's given PNG code; returns the path.
inline std::string write_png(const std::string& name, const Image& img) {
  const std::string path = grader::scratch() + "/" + name;
  lab::save_png(path, img);
  return path;
}

inline bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

/// shm_image_filter IN OUT --filter=F --workers=N [--radius=R] [extra...]
inline grader::RunResult run_filter(const std::string& in, const std::string& out,
                                    const std::string& filter, int workers, int radius = 3,
                                    const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {"shm_image_filter",
                                   in,
                                   out,
                                   "--filter=" + filter,
                                   "--workers=" + std::to_string(workers),
                                   "--radius=" + std::to_string(radius)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return grader::run(argv, {.timeout = 20'000ms});
}

/// The first differing pixel of two same-sized images, for messages; "" if equal.
inline std::string first_difference(const Image& want, const Image& got) {
  if (want.width != got.width || want.height != got.height)
    return fmt::format("size {}x{} instead of {}x{}", got.width, got.height, want.width,
                       want.height);
  for (int y = 0; y < want.height; ++y)
    for (int x = 0; x < want.width; ++x)
      for (int c = 0; c < lab::kChannels; ++c)
        if (want.at(x, y)[c] != got.at(x, y)[c])
          return fmt::format("first difference at pixel (x={}, y={}) channel {}: {} instead of {}",
                             x, y, c, got.at(x, y)[c], want.at(x, y)[c]);
  return "";
}

// ---- the filters, naively, from the formulas in include/lab13/filter.hpp ----------------

inline int px(const Image& img, int x, int y, int c) {
  return img.at(std::clamp(x, 0, img.width - 1), std::clamp(y, 0, img.height - 1))[c];
}
inline int luma_at(const Image& img, int x, int y) {
  return (77 * px(img, x, y, 0) + 150 * px(img, x, y, 1) + 29 * px(img, x, y, 2) + 128) >> 8;
}

inline Image naive_gray(const Image& in) {
  Image out(in.width, in.height);
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x)
      for (int c = 0; c < 3; ++c) out.at(x, y)[c] = static_cast<std::uint8_t>(luma_at(in, x, y));
  return out;
}

inline Image naive_sharpen(const Image& in) {
  Image out(in.width, in.height);
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x)
      for (int c = 0; c < 3; ++c) {
        const int v = 5 * px(in, x, y, c) - px(in, x - 1, y, c) - px(in, x + 1, y, c) -
                      px(in, x, y - 1, c) - px(in, x, y + 1, c);
        out.at(x, y)[c] = static_cast<std::uint8_t>(std::clamp(v, 0, 255));
      }
  return out;
}

inline Image naive_edge(const Image& in) {
  Image out(in.width, in.height);
  auto Y = [&](int x, int y) { return luma_at(in, x, y); };
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x) {
      const int gx = Y(x + 1, y - 1) + 2 * Y(x + 1, y) + Y(x + 1, y + 1) - Y(x - 1, y - 1) -
                     2 * Y(x - 1, y) - Y(x - 1, y + 1);
      const int gy = Y(x - 1, y + 1) + 2 * Y(x, y + 1) + Y(x + 1, y + 1) - Y(x - 1, y - 1) -
                     2 * Y(x, y - 1) - Y(x + 1, y - 1);
      const int v = std::min(255, std::abs(gx) + std::abs(gy));
      for (int c = 0; c < 3; ++c) out.at(x, y)[c] = static_cast<std::uint8_t>(v);
    }
  return out;
}

/// The blur weights exactly as the header defines them.
inline std::vector<float> naive_kernel(int radius) {
  const double sigma = radius / 2.0;
  std::vector<double> g;
  double sum = 0;
  for (int k = 0; k <= 2 * radius; ++k) {
    const double d = k - radius;
    g.push_back(std::exp(-d * d / (2 * sigma * sigma)));
    sum += g.back();
  }
  std::vector<float> w;
  for (const double v : g) w.push_back(static_cast<float>(v / sum));
  return w;
}

/// The blur exactly as the header defines it, one pixel at a time (no rings, no bands).
inline Image naive_blur(const Image& in, int radius) {
  const std::vector<float> w = naive_kernel(radius);
  const int taps = 2 * radius + 1;
  std::vector<float> h(in.pixels.size());  // the horizontal pass of every row
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x)
      for (int c = 0; c < 3; ++c) {
        float s = 0.0F;
        for (int k = 0; k < taps; ++k) s += w[std::size_t(k)] * float(px(in, x + k - radius, y, c));
        h[(std::size_t(y) * in.width + x) * 3 + c] = s;
      }
  Image out(in.width, in.height);
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x)
      for (int c = 0; c < 3; ++c) {
        float s = 0.0F;
        for (int k = 0; k < taps; ++k) {
          const int yy = std::clamp(y + k - radius, 0, in.height - 1);
          s += w[std::size_t(k)] * h[(std::size_t(yy) * in.width + x) * 3 + c];
        }
        out.at(x, y)[c] = static_cast<std::uint8_t>(std::min(255, static_cast<int>(s + 0.5F)));
      }
  return out;
}

inline Image naive(const std::string& filter, const Image& in, int radius) {
  if (filter == "gray") return naive_gray(in);
  if (filter == "sharpen") return naive_sharpen(in);
  if (filter == "edge") return naive_edge(in);
  return naive_blur(in, radius);
}

// ---- IPC objects ---------------------------------------------------------------------------

/// The IPC objects this test's namespace holds right now ("sysv-shm key 0x... id N").
inline std::vector<ipclab::IpcObject> objects() {
  return ipclab::inventory(grader::ns(), grader::rundir());
}
inline std::string describe_objects(const std::vector<ipclab::IpcObject>& objs) {
  std::string s;
  for (const auto& o : objs) s += "\n      " + ipclab::describe(o);
  return s.empty() ? " (none)" : s;
}
inline int count_kind(const std::vector<ipclab::IpcObject>& objs, ipclab::IpcObject::Kind kind) {
  return static_cast<int>(
      std::ranges::count_if(objs, [&](const auto& o) { return o.kind == kind; }));
}

/// /proc/PID/maps ("" if the process is gone). A SysV segment attached there is named
/// /SYSV<key, 8 hex digits>, "(deleted)" once marked IPC_RMID; its inode is the shmid.
inline std::string read_maps(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/maps", pid));
  return {std::istreambuf_iterator<char>(in), {}};
}
/// The shmids of the SysV segments a maps text shows attached.
inline std::vector<int> attached_shmids(const std::string& maps) {
  std::vector<int> ids;
  std::istringstream lines(maps);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("/SYSV") == std::string::npos) continue;
    std::istringstream f(line);
    std::string range, perms, offset, dev;
    long inode = -1;
    if (f >> range >> perms >> offset >> dev >> inode && std::ranges::count(ids, inode) == 0)
      ids.push_back(static_cast<int>(inode));
  }
  return ids;
}

/// Where `pid` has the SysV segment with key `key` attached, from its /proc/PID/maps: the
/// start of the mapping and the shmid ({0, -1} if it has none). The kernel names the
/// mapping /SYSV<the key, 8 hex digits> from creation on, IPC_RMID or not.
struct Attachment {
  std::uintptr_t start = 0;
  int shmid = -1;
};
inline Attachment attachment(pid_t pid, key_t key) {
  const std::string name = fmt::format("/SYSV{:08x}", static_cast<std::uint32_t>(key));
  std::istringstream lines(read_maps(pid));
  for (std::string line; std::getline(lines, line);) {
    if (line.find(name) == std::string::npos) continue;
    std::istringstream f(line);
    std::string range, perms, offset, dev;
    long inode = -1;
    if (f >> range >> perms >> offset >> dev >> inode)
      return {std::stoull(range.substr(0, range.find('-')), nullptr, 16), static_cast<int>(inode)};
  }
  return {};
}

/// Records the processes an in-process master forks, in fork order (worker i is the i-th),
/// in a page the test shares with them (pthread_atfork), and can stop one of them (SIGSTOP)
/// as it is forked, before it runs any of the worker's code. Made in the test before the
/// grader::Child that runs filter_parallel; install() is called in that Child's body.
class ForkRecorder {
 public:
  ForkRecorder() {
    void* p = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) ipclab::throw_errno("mmap({} bytes)", kBytes);
    pids_ = static_cast<pid_t*>(p);
  }
  ForkRecorder(const ForkRecorder&) = delete;
  ForkRecorder& operator=(const ForkRecorder&) = delete;
  ~ForkRecorder() {
    (void)::munmap(pids_, kBytes);
    pids_ = nullptr;
  }
  /// In the master: records every fork from now on; the fork numbered `hold` (from 0)
  /// stops itself.
  static void install(int hold = -1) {
    hold_ = hold;
    if (::pthread_atfork(
            nullptr, [] { ++forks_; }, &in_child) != 0)
      throw ipclab::OperationFailed("pthread_atfork failed");
  }
  /// The pid of the i-th process the master forked (0 until it has).
  pid_t pid(int i) const { return std::atomic_ref<pid_t>(pids_[i]).load(); }

 private:
  static constexpr std::size_t kBytes = sizeof(pid_t) * lab::kMaxWorkers;
  static void in_child() {
    if (forks_ >= lab::kMaxWorkers) return;
    std::atomic_ref<pid_t>(pids_[forks_]).store(::getpid());
    if (forks_ == hold_) (void)::raise(SIGSTOP);
  }
  static inline pid_t* pids_ = nullptr;
  static inline int forks_ = 0;  // in the master
  static inline int hold_ = -1;
};

/// EXPECT that none of `ids` (SysV objects seen earlier) is listed by `ipcs` any more, and
/// that the namespace holds nothing.
inline void expect_all_removed(const std::vector<ipclab::IpcObject>& seen,
                               const std::string& when) {
  const auto shm = grader::ipcs_ids('m');
  const auto sem = grader::ipcs_ids('s');
  for (const auto& o : seen) {
    const auto& ids = o.kind == ipclab::IpcObject::Kind::kSysvSem ? sem : shm;
    EXPECT_EQ(std::ranges::count(ids, o.id), 0)
        << "`ipcs` still lists " << ipclab::describe(o) << " " << when
        << ": the master must IPC_RMID every segment and the semaphore set on every way out";
  }
  const auto left = objects();
  EXPECT_TRUE(left.empty()) << "IPC objects left in the namespace " << when << ":"
                            << describe_objects(left);
}

}  // namespace lab13_test
