// Lab 13: the filters, one band of rows at a time. Contract: include/lab13/filter.hpp.
//
// Why a band's output equals the whole image's: every output pixel reads the input
// through clamp(x, 0, W-1) and clamp(y, 0, H-1) — the IMAGE's edges, never the band's —
// and the blur computes each intermediate row h(., y) the same way whichever band asks for
// it, then sums the 2R+1 rows in the same order (k ascending). Floating-point addition is
// not associative, so "the same order" is the whole point: a band that summed its first
// rows in another order, or rounded its halo rows to bytes, would differ in the last bit
// and then in a byte here and there along the seams.
//
// Speed (the benchmark runs this): the blur keeps a ring of the 2R+1 most recent
// horizontally filtered rows (a few hundred KiB, so it stays in cache) instead of a whole
// intermediate image, and both passes are loops over a contiguous row of floats with the
// tap loop outside, which the compiler vectorizes without changing any pixel's sum order.
#include <algorithm>  // std::clamp, std::min
#include <cmath>      // std::exp
#include <cstddef>    // std::size_t

#include "ipclab/error.hpp"  // UsageError
#include "lab13/filter.hpp"

namespace ipclab::lab13 {

namespace {

inline int luma(const std::uint8_t* p) { return (77 * p[0] + 150 * p[1] + 29 * p[2] + 128) >> 8; }

void gray_rows(const std::uint8_t* in, std::uint8_t* out, int width, Band band) {
  const std::size_t first = std::size_t(band.begin) * width;
  const std::size_t last = std::size_t(band.end) * width;
  for (std::size_t i = first; i < last; ++i) {
    const auto y = static_cast<std::uint8_t>(luma(in + i * kChannels));
    out[i * kChannels] = out[i * kChannels + 1] = out[i * kChannels + 2] = y;
  }
}

void sharpen_rows(const std::uint8_t* in, std::uint8_t* out, int width, int height, Band band) {
  const std::size_t row = std::size_t(width) * kChannels;
  for (int y = band.begin; y < band.end; ++y) {
    const std::uint8_t* up = in + std::size_t(std::max(y - 1, 0)) * row;
    const std::uint8_t* mid = in + std::size_t(y) * row;
    const std::uint8_t* down = in + std::size_t(std::min(y + 1, height - 1)) * row;
    std::uint8_t* o = out + std::size_t(y) * row;
    for (int x = 0; x < width; ++x) {
      const int l = std::max(x - 1, 0) * kChannels;
      const int r = std::min(x + 1, width - 1) * kChannels;
      const int c = x * kChannels;
      for (int ch = 0; ch < kChannels; ++ch) {
        const int v = 5 * mid[c + ch] - mid[l + ch] - mid[r + ch] - up[c + ch] - down[c + ch];
        o[c + ch] = static_cast<std::uint8_t>(std::clamp(v, 0, 255));
      }
    }
  }
}

void edge_rows(const std::uint8_t* in, std::uint8_t* out, int width, int height, Band band) {
  const std::size_t row = std::size_t(width) * kChannels;
  auto y_at = [&](int x, int y) {
    x = std::clamp(x, 0, width - 1);
    y = std::clamp(y, 0, height - 1);
    return luma(in + std::size_t(y) * row + std::size_t(x) * kChannels);
  };
  for (int y = band.begin; y < band.end; ++y) {
    std::uint8_t* o = out + std::size_t(y) * row;
    for (int x = 0; x < width; ++x) {
      const int gx = y_at(x + 1, y - 1) + 2 * y_at(x + 1, y) + y_at(x + 1, y + 1) -
                     y_at(x - 1, y - 1) - 2 * y_at(x - 1, y) - y_at(x - 1, y + 1);
      const int gy = y_at(x - 1, y + 1) + 2 * y_at(x, y + 1) + y_at(x + 1, y + 1) -
                     y_at(x - 1, y - 1) - 2 * y_at(x, y - 1) - y_at(x + 1, y - 1);
      const auto v = static_cast<std::uint8_t>(std::min(255, std::abs(gx) + std::abs(gy)));
      std::uint8_t* q = o + std::size_t(x) * kChannels;
      q[0] = q[1] = q[2] = v;
    }
  }
}

/// out[i] = sum over k ascending of w[k] * src[k][i], for i < n: 16 outputs at a time in
/// registers, so each is stored once. (Summing into out[] tap by tap re-reads and re-writes
/// it per tap, and its stores then alias the loads 4 KiB apart, which stalls the loads.)
/// Per output the same products in the same order: the result does not change.
void weighted_sum(const std::vector<float>& w, const float* const* src, std::size_t n, float* out) {
  constexpr std::size_t kBlock = 16;
  const std::size_t taps = w.size();
  std::size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    float sum[kBlock] = {};
    for (std::size_t k = 0; k < taps; ++k) {
      const float wk = w[k];
      const float* s = src[k] + i;
      for (std::size_t j = 0; j < kBlock; ++j) sum[j] += wk * s[j];
    }
    for (std::size_t j = 0; j < kBlock; ++j) out[i + j] = sum[j];
  }
  for (; i < n; ++i) {
    float sum = 0.0F;
    for (std::size_t k = 0; k < taps; ++k) sum += w[k] * src[k][i];
    out[i] = sum;
  }
}

/// Pixels per vertical strip of the blur: a strip's ring of 2R+1 horizontally filtered rows
/// (17 x 512 x 3 floats = 104 KiB at radius 8) stays in the core's L2. Whole 4000-pixel rows
/// made it 816 KiB: it spilled into the L3 that the two cores share, and two workers then
/// slowed each other down.
constexpr int kStripPixels = 512;

/// The horizontal pass of pixels [x0, x0 + sw) of one row into `dst` (sw * 3 floats): pad
/// them with R pixels each side (edge pixels repeated at the image's borders), then
/// dst[i] = sum over k of w[k] * pad[i + 3k], k ascending — per pixel exactly the sum the
/// whole row would give.
void blur_strip(const std::uint8_t* src_row, int width, int x0, int sw, const std::vector<float>& w,
                float* pad, float* dst) {
  const int radius = static_cast<int>(w.size() / 2);
  const std::size_t n = std::size_t(sw) * kChannels;
  for (int x = x0 - radius; x < x0 + sw + radius; ++x) {
    const std::uint8_t* p = src_row + std::size_t(std::clamp(x, 0, width - 1)) * kChannels;
    float* q = pad + std::size_t(x - x0 + radius) * kChannels;
    q[0] = p[0];
    q[1] = p[1];
    q[2] = p[2];
  }
  const float* src[2 * kMaxRadius + 1];
  for (std::size_t k = 0; k < w.size(); ++k) src[k] = pad + k * kChannels;
  weighted_sum(w, src, n, dst);
}

void blur_rows(const std::uint8_t* in, std::uint8_t* out, int width, int height, int radius,
               Band band) {
  const std::vector<float> w = gaussian_kernel(radius);
  const std::size_t row = std::size_t(width) * kChannels;
  const int taps = 2 * radius + 1;
  const int strip = std::min(width, kStripPixels);
  std::vector<float> pad((std::size_t(strip) + 2 * std::size_t(radius)) * kChannels);
  std::vector<float> ring(std::size_t(taps) * std::size_t(strip) * kChannels);
  std::vector<float> acc(std::size_t(strip) * kChannels);
  for (int x0 = 0; x0 < width; x0 += strip) {
    const int sw = std::min(strip, width - x0);
    const std::size_t n = std::size_t(sw) * kChannels;
    // h of row yy (strip part) in slot yy mod taps
    auto slot = [&](int yy) { return ring.data() + std::size_t(((yy % taps) + taps) % taps) * n; };
    auto horizontal = [&](int yy) {  // h of virtual row yy = h of the nearest image row
      const int y = std::clamp(yy, 0, height - 1);
      blur_strip(in + std::size_t(y) * row, width, x0, sw, w, pad.data(), slot(yy));
    };
    for (int yy = band.begin - radius; yy < band.begin + radius; ++yy) horizontal(yy);
    for (int y = band.begin; y < band.end; ++y) {
      horizontal(y + radius);  // the ring now holds rows y-R .. y+R
      const float* src[2 * kMaxRadius + 1];
      for (int k = 0; k < taps; ++k) src[k] = slot(y - radius + k);
      weighted_sum(w, src, n, acc.data());
      std::uint8_t* o = out + std::size_t(y) * row + std::size_t(x0) * kChannels;
      // acc >= 0, so truncating acc + 0.5 rounds half up: the header's formula, exactly.
      for (std::size_t i = 0; i < n; ++i)
        // NOLINTNEXTLINE(bugprone-incorrect-roundings): see above; lround would not vectorize
        o[i] = static_cast<std::uint8_t>(std::min(255, static_cast<int>(acc[i] + 0.5F)));
    }
  }
}

}  // namespace

Band band_of(int height, int workers, int index) {
  if (workers < 1 || index < 0 || index >= workers || height < 0)
    throw UsageError(fmt::format("band_of: worker {} of {} for {} rows", index, workers, height));
  const auto h = static_cast<long long>(height);
  return Band{static_cast<int>(index * h / workers), static_cast<int>((index + 1) * h / workers)};
}

int halo_rows(const FilterSpec& spec) {
  switch (spec.filter) {
    case Filter::kBlur:
      return spec.radius;
    case Filter::kSharpen:
    case Filter::kEdge:
      return 1;
    case Filter::kGray:
      return 0;
  }
  return 0;
}

std::vector<float> gaussian_kernel(int radius) {
  if (radius < kMinRadius || radius > kMaxRadius)
    throw UsageError(
        fmt::format("blur radius {} out of range {}..{}", radius, kMinRadius, kMaxRadius));
  const double sigma = radius / 2.0;
  std::vector<double> g(2 * std::size_t(radius) + 1);
  double sum = 0;
  for (int k = 0; k <= 2 * radius; ++k) {
    const double d = k - radius;
    g[std::size_t(k)] = std::exp(-d * d / (2 * sigma * sigma));
    sum += g[std::size_t(k)];
  }
  std::vector<float> w(g.size());
  for (std::size_t k = 0; k < g.size(); ++k) w[k] = static_cast<float>(g[k] / sum);
  return w;
}

void filter_rows(const std::uint8_t* in, std::uint8_t* out, int width, int height,
                 const FilterSpec& spec, Band band) {
  if (width < 1 || height < 1 || band.begin < 0 || band.end > height || band.begin > band.end)
    throw UsageError(fmt::format("filter_rows: band [{}, {}) of a {}x{} image", band.begin,
                                 band.end, width, height));
  if (band.rows() == 0) return;
  switch (spec.filter) {
    case Filter::kGray:
      gray_rows(in, out, width, band);
      return;
    case Filter::kSharpen:
      sharpen_rows(in, out, width, height, band);
      return;
    case Filter::kEdge:
      edge_rows(in, out, width, height, band);
      return;
    case Filter::kBlur:
      blur_rows(in, out, width, height, spec.radius, band);
      return;
  }
}

}  // namespace ipclab::lab13
