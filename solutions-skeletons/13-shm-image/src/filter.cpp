// Lab 13: the filters, one band of rows at a time. Read the contract in
// include/lab13/filter.hpp (the formulas and THE RULE) and the README before you start.
#include "lab13/filter.hpp"
#include "ipclab/error.hpp"  // ipclab::UsageError, ipclab::NotImplemented

namespace ipclab::lab13 {

Band band_of([[maybe_unused]] int height, [[maybe_unused]] int workers,
             [[maybe_unused]] int index) {
  // TODO(lab13): check the arguments (UsageError), then begin = index * height / workers and
  // end = (index + 1) * height / workers (compute the products in 64 bits).
  throw NotImplemented("TODO(lab13): implement band_of() in src/filter.cpp");
}

int halo_rows([[maybe_unused]] const FilterSpec& spec) {
  // TODO(lab13): R for blur, 1 for sharpen and edge, 0 for gray.
  throw NotImplemented("TODO(lab13): implement halo_rows() in src/filter.cpp");
}

std::vector<float> gaussian_kernel([[maybe_unused]] int radius) {
  // TODO(lab13): check the radius (UsageError); g(d) = exp(-d*d / (2 sigma^2)) with
  // sigma = R / 2, for d = -R..R, in double; divide by their sum; round each to float.
  throw NotImplemented("TODO(lab13): implement gaussian_kernel() in src/filter.cpp");
}

void filter_rows([[maybe_unused]] const std::uint8_t* in, [[maybe_unused]] std::uint8_t* out,
                 [[maybe_unused]] int width, [[maybe_unused]] int height,
                 [[maybe_unused]] const FilterSpec& spec, [[maybe_unused]] Band band) {
  // TODO(lab13): check width and height >= 1 and 0 <= band.begin <= band.end <= height
  // (UsageError; a blur's radius too), then for each output row y in the band and
  // each pixel, apply the filter's formula from the header, reading neighbours through
  // clamp(x, 0, width-1) and clamp(y, 0, height-1) — the image's edges, never the band's.
  // Start with gray (no neighbours), then sharpen and edge (one row of halo), then blur:
  // a horizontal pass of rows band.begin-R .. band.end+R-1 (clamped) into a float buffer,
  // then a vertical pass, both summing k = 0..2R in that order.
  throw NotImplemented("TODO(lab13): implement filter_rows() in src/filter.cpp");
}

}  // namespace ipclab::lab13
