// Lab 13's images and their PNG files (given, not a student file: given/png_io.cpp).
//
// An Image is 8-bit RGB, rows top to bottom, 3 bytes a pixel, no padding between rows:
// the byte of channel c of pixel (x, y) is pixels[(y * width + x) * 3 + c]. PNG files of any
// colour type are converted to it on load (gray expanded, palettes looked up, alpha
// composited onto black by libpng's simplified API); output files are 8-bit RGB PNGs.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint8_t
#include <string>   // std::string
#include <vector>   // std::vector

namespace ipclab::lab13 {

/// Bytes a pixel: R, G, B.
inline constexpr int kChannels = 3;
/// The largest image load_png accepts (width * height): 2^27 pixels, 384 MiB of RGB. A
/// corrupt header that claims more is rejected before anything is allocated.
inline constexpr std::size_t kMaxPixels = std::size_t{1} << 27;

struct Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  ///< width * height * kChannels bytes

  Image() = default;
  /// A black image of this size.
  Image(int w, int h)
      : width(w), height(h), pixels(static_cast<std::size_t>(w) * h * kChannels, 0) {}
  std::size_t size_bytes() const { return pixels.size(); }
  std::size_t row_bytes() const { return static_cast<std::size_t>(width) * kChannels; }
  std::uint8_t* at(int x, int y) { return pixels.data() + (std::size_t(y) * width + x) * 3; }
  const std::uint8_t* at(int x, int y) const {
    return pixels.data() + (std::size_t(y) * width + x) * 3;
  }
  friend bool operator==(const Image&, const Image&) = default;
};

/**
 * @brief Reads a PNG file into an RGB image.
 * @throws ipclab::SysError (exit 3) if the file cannot be read (`open("x.png"): No such
 *         file or directory`);
 * @throws ipclab::UsageError (exit 2) if it is not a valid PNG, is truncated or corrupt
 *         (`x.png: not a PNG image (...)`), or is larger than kMaxPixels.
 */
Image load_png(const std::string& path);

/// Writes `image` as an 8-bit RGB PNG (replacing the file). Throws ipclab::SysError.
void save_png(const std::string& path, const Image& image);

/// The PNG encoding of `image`, in memory (what save_png writes).
std::vector<std::uint8_t> encode_png(const Image& image);

}  // namespace ipclab::lab13
