// Lab 13's PNG input and output (given, not a student file), with libpng's simplified API
// (png_image_*): it converts any PNG to 8-bit RGB and reports errors through the png_image
// struct instead of longjmp-ing through our frames. The file itself is read and written
// with ipclab's io helpers, so a missing file is a SysError (exit 3) naming the call, and a
// bad one a UsageError (exit 2) naming the file.
#include <fcntl.h>  // open

#include <png.h>  // png_image, png_image_begin_read_from_memory, ...

#include <string>  // std::string

#include "ipclab/error.hpp"  // UsageError, SysError, check_unix
#include "ipclab/fd.hpp"     // Fd
#include "ipclab/io.hpp"     // read_all, write_full
#include "lab13/png.hpp"

namespace ipclab::lab13 {

namespace {

/// Frees libpng's read state whatever happens (png_image_free is a no-op when finished).
struct PngImage {
  png_image img{};
  PngImage() {
    img.version = PNG_IMAGE_VERSION;
    img.opaque = nullptr;
  }
  ~PngImage() { png_image_free(&img); }
  PngImage(const PngImage&) = delete;
  PngImage& operator=(const PngImage&) = delete;
};

std::string libpng_message(const png_image& img) {
  std::string m(static_cast<const char*>(img.message));
  return m.empty() ? "unknown error" : m;
}

}  // namespace

Image load_png(const std::string& path) {
  // Not ipclab::read_file: it returns "" for a missing file. open(2) names the error.
  Fd fd(check_unix(::open(path.c_str(), O_RDONLY | O_CLOEXEC), "open(\"{}\")", path));
  const std::string bytes = read_all(fd.get());
  PngImage png;
  if (png_image_begin_read_from_memory(&png.img, bytes.data(), bytes.size()) == 0)
    throw UsageError(fmt::format("{}: not a PNG image ({})", path, libpng_message(png.img)));
  const std::size_t pixels = std::size_t{png.img.width} * png.img.height;
  if (png.img.width == 0 || png.img.height == 0 || pixels > kMaxPixels)
    throw UsageError(fmt::format("{}: image of {}x{} pixels is empty or too large (limit {})", path,
                                 png.img.width, png.img.height, kMaxPixels));
  png.img.format = PNG_FORMAT_RGB;  // gray expanded, palette looked up, alpha onto black
  Image out(static_cast<int>(png.img.width), static_cast<int>(png.img.height));
  if (png_image_finish_read(&png.img, nullptr, out.pixels.data(),
                            static_cast<png_int_32>(out.row_bytes()), nullptr) == 0)
    throw UsageError(fmt::format("{}: corrupt PNG image ({})", path, libpng_message(png.img)));
  return out;
}

std::vector<std::uint8_t> encode_png(const Image& image) {
  if (image.width <= 0 || image.height <= 0 || image.pixels.size() != image.size_bytes() ||
      image.size_bytes() != std::size_t(image.width) * image.height * kChannels)
    throw UsageError(fmt::format("encode_png: bad image {}x{} with {} bytes", image.width,
                                 image.height, image.pixels.size()));
  PngImage png;
  png.img.width = static_cast<png_uint_32>(image.width);
  png.img.height = static_cast<png_uint_32>(image.height);
  png.img.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  // First call: how many bytes the encoding takes; second call: encode.
  if (png_image_write_to_memory(&png.img, nullptr, &size, 0, image.pixels.data(),
                                static_cast<png_int_32>(image.row_bytes()), nullptr) == 0)
    throw SysError(ENOMEM, fmt::format("png_image_write_to_memory: {}", libpng_message(png.img)));
  std::vector<std::uint8_t> out(size);
  if (png_image_write_to_memory(&png.img, out.data(), &size, 0, image.pixels.data(),
                                static_cast<png_int_32>(image.row_bytes()), nullptr) == 0)
    throw SysError(ENOMEM, fmt::format("png_image_write_to_memory: {}", libpng_message(png.img)));
  out.resize(size);
  return out;
}

void save_png(const std::string& path, const Image& image) {
  const std::vector<std::uint8_t> bytes = encode_png(image);
  Fd fd(check_unix(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644),
                   "open(\"{}\")", path));
  write_full(fd.get(), bytes.data(), bytes.size());
  fd.close();
}

}  // namespace ipclab::lab13
