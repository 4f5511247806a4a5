// Lab 13's given filter helpers (not student files): filter names and the sequential
// reference, which is one band covering the whole image.
#include "ipclab/error.hpp"  // UsageError
#include "lab13/filter.hpp"

namespace ipclab::lab13 {

Filter parse_filter(std::string_view name) {
  if (name == "blur") return Filter::kBlur;
  if (name == "sharpen") return Filter::kSharpen;
  if (name == "edge") return Filter::kEdge;
  if (name == "gray") return Filter::kGray;
  throw UsageError(fmt::format("unknown filter '{}' (blur, sharpen, edge or gray)", name));
}

std::string_view filter_name(Filter filter) {
  switch (filter) {
    case Filter::kBlur:
      return "blur";
    case Filter::kSharpen:
      return "sharpen";
    case Filter::kEdge:
      return "edge";
    case Filter::kGray:
      return "gray";
  }
  return "?";
}

Image filter_image(const Image& in, const FilterSpec& spec) {
  Image out(in.width, in.height);
  filter_rows(in.pixels.data(), out.pixels.data(), in.width, in.height, spec, Band{0, in.height});
  return out;
}

}  // namespace ipclab::lab13
