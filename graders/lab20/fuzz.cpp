// Lab 20: a libFuzzer target over the frame codec (make fuzz LAB=20, with clang). Any bytes,
// fed to a FrameDecoder in pieces whose sizes the input chooses, and to decode_one, must end
// in frames within the limits or a ProtocolError, never a crash, a hang or a sanitizer
// report; every frame decoded must encode back to the bytes it came from.
//
// Seeds: the grader's malformed frames (public/frames.hpp) and a valid frame of every type,
// written into $IPCLAB_FUZZ_SEEDS (a directory the Makefile then passes as a corpus) before
// libFuzzer reads its corpora.
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint8_t
#include <cstdlib>      // std::getenv, std::abort
#include <fstream>      // std::ofstream
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "lab20/frame.hpp"
#include "public/frames.hpp"

namespace lab = ipclab::lab20;

namespace {

void check(bool ok) {
  if (!ok) std::abort();  // libFuzzer saves the input that got here
}

void check_frame(const lab::Frame& f, std::string_view wire) {
  check(f.channel.size() <= lab::kMaxChannel && f.payload.size() <= lab::kMaxPayload);
  check(lab::encode(f) == wire);
  (void)lab::valid_channel(f.channel, true);
  (void)lab::channel_matches(f.channel, "a.b");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  const char* dir = std::getenv("IPCLAB_FUZZ_SEEDS");
  if (dir == nullptr) return 0;
  std::vector<std::string> seeds = lab20_test::malformed_frames();
  for (std::uint8_t t = lab20_test::kConnect; t <= lab20_test::kStats; ++t)
    seeds.push_back(lab20_test::frame(t, "news.today", "hello"));
  for (std::size_t i = 0; i < seeds.size(); ++i)
    std::ofstream(std::string(dir) + "/seed" + std::to_string(i), std::ios::binary) << seeds[i];
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  // The first byte sets the size of the reads the decoder is fed (1..256 bytes).
  const std::size_t step = size == 0 ? 1 : std::size_t{data[0]} + 1;
  const std::string_view bytes = size == 0 ? all : all.substr(1);
  try {
    lab::FrameDecoder d;
    std::size_t at = 0, used = 0;
    while (at < bytes.size()) {
      d.feed(bytes.substr(at, step));
      at += step;
      while (auto f = d.next()) {
        const std::size_t len = lab::kHeaderSize + f->channel.size() + f->payload.size();
        check_frame(*f, bytes.substr(used, len));
        used += len;
      }
    }
    check(d.buffered() == bytes.size() - used);
  } catch (const lab::ProtocolError&) {
  }
  try {
    check_frame(lab::decode_one(bytes), bytes);
  } catch (const lab::ProtocolError&) {
  }
  return 0;
}
