// Lab 13: the filters, one band of rows at a time (you write src/filter.cpp).
//
// Every filter reads the whole input image and writes only the output rows of its band
// [begin, end). Rows and columns outside the image are the nearest edge pixel ("clamp to
// edge"): pixel (x, y) outside reads pixel (clamp(x, 0, W-1), clamp(y, 0, H-1)).
//
// THE RULE: an output pixel depends only on the input image and the filter, never on the
// band it is computed in. The output of N workers must equal that of 1 worker byte for byte.
// So a band reads the input rows above and below it that its filter needs (the "halo":
// halo_rows() rows each side), and the floating-point blur evaluates every output pixel with
// exactly the same sequence of operations, wherever the band starts.
//
//   gray     Y = (77 R + 150 G + 29 B + 128) >> 8, written to R, G and B (integer, exact)
//   sharpen  per channel: 5 c(x,y) - c(x-1,y) - c(x+1,y) - c(x,y-1) - c(x,y+1), clamped
//            to 0..255 (integer, exact)
//   edge     Sobel on the gray value Y above: gx = Y(x+1,y-1) + 2 Y(x+1,y) + Y(x+1,y+1)
//            - Y(x-1,y-1) - 2 Y(x-1,y) - Y(x-1,y+1), gy the same down the columns
//            (row y+1 minus row y-1); out = min(255, |gx| + |gy|) in R, G and B (integer)
//   blur     a separable Gaussian of radius R: weights w[k] (k = 0..2R, see
//            gaussian_kernel). First along each row, h(x,y) = sum over k of
//            w[k] * c(x+k-R, y) in float, k ascending from 0; then down the columns,
//            v(x,y) = sum over k of w[k] * h(x, y+k-R), in float, k ascending from 0, with h
//            of a row outside the image = h of the nearest edge row. Output byte:
//            min(255, int(v + 0.5f)). Compute-bound: it is what the benchmark times.
#pragma once

#include <cstdint>      // std::uint8_t
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "lab13/png.hpp"  // Image, kChannels

namespace ipclab::lab13 {

enum class Filter { kBlur, kSharpen, kEdge, kGray };

/// "blur", "sharpen", "edge", "gray" (given); UsageError for anything else.
Filter parse_filter(std::string_view name);
std::string_view filter_name(Filter filter);

/// The blur radius limits (--radius).
inline constexpr int kMinRadius = 1;
inline constexpr int kMaxRadius = 64;

struct FilterSpec {
  Filter filter = Filter::kBlur;
  int radius = 8;  ///< blur only: kMinRadius..kMaxRadius
};

/// A band of rows [begin, end) of the output.
struct Band {
  int begin = 0;
  int end = 0;
  int rows() const { return end - begin; }
  friend bool operator==(const Band&, const Band&) = default;
};

/**
 * @brief The rows worker `index` (0..workers-1) filters: the image split into `workers`
 *        contiguous bands, top to bottom, in worker order, covering 0..height exactly once,
 *        with sizes that differ by at most one: begin = index * height / workers and
 *        end = (index + 1) * height / workers (integer division). A band is empty when
 *        workers > height and index * height / workers repeats.
 * @throws UsageError unless 1 <= workers, 0 <= index < workers and height >= 0.
 * TODO(lab13): implement in src/filter.cpp.
 */
Band band_of(int height, int workers, int index);

/**
 * @brief How many input rows above and below a band the filter reads: R for blur, 1 for
 *        sharpen and edge, 0 for gray.
 * TODO(lab13): implement in src/filter.cpp.
 */
int halo_rows(const FilterSpec& spec);

/**
 * @brief The blur's 2R+1 weights: w[k] = g(k-R) / sum of g(j-R) over j = 0..2R, with
 *        g(d) = exp(-d^2 / (2 sigma^2)) and sigma = R / 2, computed in double and then
 *        rounded to float. Symmetric, all positive, summing to 1 (within float rounding).
 * TODO(lab13): implement in src/filter.cpp.
 */
std::vector<float> gaussian_kernel(int radius);

/**
 * @brief Filters output rows [band.begin, band.end) of an image of width x height RGB
 *        pixels: reads `in` (the whole input image, width * height * 3 bytes) and writes
 *        only those rows of `out` (the whole output image, same size). Any band gives the
 *        same bytes for its rows as the whole image does (THE RULE above).
 *
 * This is what one worker runs on the shared-memory segments; it allocates its own scratch
 * memory (a blur's row buffers) and touches no other part of `out`.
 * @throws UsageError if the band is not within 0..height or the radius is out of range.
 * TODO(lab13): implement in src/filter.cpp.
 */
void filter_rows(const std::uint8_t* in, std::uint8_t* out, int width, int height,
                 const FilterSpec& spec, Band band);

/// The whole image in this process (one band): the sequential reference (given, calls
/// filter_rows).
Image filter_image(const Image& in, const FilterSpec& spec);

}  // namespace ipclab::lab13
