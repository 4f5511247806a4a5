// Lab 20 reference: the frame codec (see frame.hpp).
//
// The decoder validates a header before it waits for the body: a length over the limit is
// refused at once, so a hostile or broken client can make the hub buffer at most one
// maximum frame (README §Pitfalls 8).
#include "lab20/frame.hpp"

#include <cstring>  // std::memcpy

#include <fmt/core.h>  // fmt::format

namespace ipclab::lab20 {
namespace {

struct Header {
  Type type;
  std::size_t channel_len;
  std::size_t payload_len;
};

bool known_type(std::uint8_t t) {
  return t >= static_cast<std::uint8_t>(Type::kConnect) &&
         t <= static_cast<std::uint8_t>(Type::kStats);
}

/// Reads and checks the 8-byte header at `p`.
Header parse_header(const char* p) {
  std::uint16_t magic = 0;
  std::uint32_t payload = 0;
  std::memcpy(&magic, p, sizeof magic);
  std::memcpy(&payload, p + 4, sizeof payload);
  const auto type = static_cast<std::uint8_t>(p[2]);
  const auto channel = static_cast<std::uint8_t>(p[3]);
  if (magic != kMagic) throw ProtocolError(fmt::format("bad magic 0x{:04x}", magic));
  if (!known_type(type)) throw ProtocolError(fmt::format("unknown frame type {}", type));
  if (channel > kMaxChannel)
    throw ProtocolError(fmt::format("channel length {} over {}", channel, kMaxChannel));
  if (payload > kMaxPayload)
    throw ProtocolError(fmt::format("payload length {} over {}", payload, kMaxPayload));
  return {static_cast<Type>(type), channel, payload};
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

std::string encode(Type type, std::string_view channel, std::string_view payload) {
  if (channel.size() > kMaxChannel)
    throw ProtocolError(fmt::format("channel of {} bytes (max {})", channel.size(), kMaxChannel));
  if (payload.size() > kMaxPayload)
    throw ProtocolError(fmt::format("message of {} bytes (max {})", payload.size(), kMaxPayload));
  std::string out(kHeaderSize + channel.size() + payload.size(), '\0');
  const std::uint16_t magic = kMagic;
  const auto len = static_cast<std::uint32_t>(payload.size());
  std::memcpy(out.data(), &magic, sizeof magic);
  out[2] = static_cast<char>(type);
  out[3] = static_cast<char>(channel.size());
  std::memcpy(out.data() + 4, &len, sizeof len);
  if (!channel.empty()) std::memcpy(out.data() + kHeaderSize, channel.data(), channel.size());
  if (!payload.empty())
    std::memcpy(out.data() + kHeaderSize + channel.size(), payload.data(), payload.size());
  return out;
}

Frame decode_one(std::string_view bytes) {
  if (bytes.size() < kHeaderSize)
    throw ProtocolError(
        fmt::format("a message of {} bytes is shorter than a header", bytes.size()));
  const Header h = parse_header(bytes.data());
  const std::size_t total = kHeaderSize + h.channel_len + h.payload_len;
  if (bytes.size() != total)
    throw ProtocolError(
        fmt::format("a message of {} bytes holds a frame of {} bytes", bytes.size(), total));
  return Frame{h.type, std::string(bytes.substr(kHeaderSize, h.channel_len)),
               std::string(bytes.substr(kHeaderSize + h.channel_len, h.payload_len))};
}

std::optional<Frame> FrameDecoder::next() {
  if (buf_.size() - pos_ < kHeaderSize) return std::nullopt;
  const Header h = parse_header(buf_.data() + pos_);
  const std::size_t total = kHeaderSize + h.channel_len + h.payload_len;
  if (buf_.size() - pos_ < total) return std::nullopt;
  const std::string_view all(buf_);
  Frame f{h.type, std::string(all.substr(pos_ + kHeaderSize, h.channel_len)),
          std::string(all.substr(pos_ + kHeaderSize + h.channel_len, h.payload_len))};
  pos_ += total;
  // Compact once the consumed prefix is large: amortized O(1) per byte.
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > std::size_t{64} << 10) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return f;
}

bool valid_channel(std::string_view name, bool allow_pattern) {
  if (name.empty() || name.size() > kMaxChannel) return false;
  if (allow_pattern && name.size() > 2 && name.ends_with(".*")) name.remove_suffix(2);
  for (const char c : name)
    if (!name_char(c)) return false;
  return true;
}

bool channel_matches(std::string_view pattern, std::string_view channel) {
  if (pattern.size() > 2 && pattern.ends_with(".*")) {
    pattern.remove_suffix(1);  // keep the dot: "weather."
    return channel.size() > pattern.size() && channel.starts_with(pattern);
  }
  return pattern == channel;
}

}  // namespace ipclab::lab20
