// Lab 20: the frame codec. Read the contracts in include/lab20/frame.hpp and the README
// (§Protocol, §Pitfalls 8) before you start.
#include "lab20/frame.hpp"
#include "ipclab/error.hpp"  // NotImplemented

namespace ipclab::lab20 {

std::string encode([[maybe_unused]] Type type, [[maybe_unused]] std::string_view channel,
                   [[maybe_unused]] std::string_view payload) {
  // TODO(lab20): refuse over-long channel or payload (ProtocolError); then the 8-byte
  // header (magic, type, channel length, payload length: std::memcpy the integers), the
  // channel, the payload. Every length exact: the payload may hold NUL bytes.
  throw NotImplemented("TODO(lab20): implement encode() in src/frame.cpp");
}

Frame decode_one([[maybe_unused]] std::string_view bytes) {
  // TODO(lab20): at least a header; check it; the message must be exactly one frame long.
  throw NotImplemented("TODO(lab20): implement decode_one() in src/frame.cpp");
}

std::optional<Frame> FrameDecoder::next() {
  // TODO(lab20): with 8 bytes buffered, check the header (magic, type, both lengths) at
  // once; when the whole frame is there, cut it out and move pos_ past it. Do not let
  // buf_ grow forever: drop what was consumed now and then.
  throw NotImplemented("TODO(lab20): implement FrameDecoder::next() in src/frame.cpp");
}

bool valid_channel([[maybe_unused]] std::string_view name, [[maybe_unused]] bool allow_pattern) {
  // TODO(lab20): 1..64 bytes of [A-Za-z0-9._-]; with allow_pattern, also `valid.*`.
  throw NotImplemented("TODO(lab20): implement valid_channel() in src/frame.cpp");
}

bool channel_matches([[maybe_unused]] std::string_view pattern,
                     [[maybe_unused]] std::string_view channel) {
  // TODO(lab20): equal, or `p.*` and the channel starts with `p.` and goes on after it.
  throw NotImplemented("TODO(lab20): implement channel_matches() in src/frame.cpp");
}

}  // namespace ipclab::lab20
