// Lab 20 — the hub's one frame codec, shared by every backend (socket, FIFO, message
// queue, shared-memory ring, pipe). You write src/frame.cpp.
//
// A frame on the wire (README §Protocol):
//
//   offset 0  u16 magic  0x4248 ("HB" read as bytes 'H' 'B')
//          2  u8  type   Type below
//          3  u8  channel length (0..kMaxChannel)
//          4  u32 payload length (0..kMaxPayload), host byte order (one host)
//          8  channel bytes, then payload bytes
//
// A stream transport (socket, FIFO, pipe) carries frames back to back: the decoder
// reassembles them from reads of any size. A message transport (POSIX MQ, the shm ring)
// carries one frame per message.
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint8_t, std::uint16_t, std::uint32_t
#include <optional>     // std::optional
#include <stdexcept>    // std::runtime_error
#include <string>       // std::string
#include <string_view>  // std::string_view

namespace ipclab::lab20 {

inline constexpr std::uint16_t kMagic = 0x4248;
inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::size_t kMaxChannel = 64;    ///< bytes of a channel name or pattern
inline constexpr std::size_t kMaxPayload = 4096;  ///< bytes of a message
inline constexpr std::size_t kMaxFrame = kHeaderSize + kMaxChannel + kMaxPayload;
inline constexpr std::size_t kMaxChannelsPerClient = 16;
inline constexpr std::size_t kMaxSubscribersPerChannel = 256;

enum class Type : std::uint8_t {
  kConnect = 1,      ///< client -> hub, first frame: payload "BACKEND PID"
  kSubscribe = 2,    ///< client -> hub: channel (or pattern `name.*`)
  kUnsubscribe = 3,  ///< client -> hub: channel
  kPublish = 4,      ///< client -> hub: channel + message
  kData = 5,         ///< hub -> subscriber: channel + message
  kAck = 6,          ///< hub -> client: the answer to a request (publish: subscriber count)
  kError = 7,        ///< hub -> client: the request failed; payload says why
  kStats = 8,        ///< client -> hub: the counters, answered by an ACK with text
};

/// The name of a type ("PUBLISH"), or "?" for a value that is none.
std::string_view type_name(Type type);

struct Frame {
  Type type = Type::kAck;
  std::string channel;
  std::string payload;  ///< any bytes, NUL included
};

/// A frame that breaks the protocol: bad magic, unknown type, a length over its limit, or
/// a message that is not exactly one frame. The hub answers ERROR and drops the client.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/**
 * @brief The bytes of one frame: the header, then channel, then payload.
 * @throws ProtocolError if channel or payload is longer than its limit
 *
 * TODO(lab20): implement in src/frame.cpp.
 */
std::string encode(Type type, std::string_view channel, std::string_view payload);
inline std::string encode(const Frame& f) { return encode(f.type, f.channel, f.payload); }

/**
 * @brief Decodes a message that must hold exactly one frame (MQ message, ring record).
 * @throws ProtocolError if it is short, long, or its header is invalid
 *
 * TODO(lab20): implement in src/frame.cpp.
 */
Frame decode_one(std::string_view bytes);

/// Reassembles frames from a byte stream, whatever the sizes of the reads.
class FrameDecoder {
 public:
  /// Appends bytes read from the stream.
  void feed(std::string_view bytes) { buf_.append(bytes); }
  /**
   * @brief The next whole frame, or nullopt while it has not all arrived yet. Validates the
   * header as soon as its 8 bytes are there (a bad header is not waited upon).
   * @throws ProtocolError on an invalid header
   *
   * TODO(lab20): implement in src/frame.cpp.
   */
  std::optional<Frame> next();
  /// Bytes of an unfinished frame (0 between frames).
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  std::size_t pos_ = 0;  // where the next frame starts in buf_
};

/**
 * @brief True if `name` is a valid channel name: 1..kMaxChannel bytes of [A-Za-z0-9._-];
 * with allow_pattern, also `prefix.*` where prefix is a valid name (a family of channels).
 *
 * TODO(lab20): implement in src/frame.cpp.
 */
bool valid_channel(std::string_view name, bool allow_pattern = false);

/**
 * @brief True if a subscription `pattern` covers `channel`: equal, or pattern `p.*` (p a
 * name of one byte or more: `.*` is no family) and channel begins with `p.` and has more
 * after it (`weather.*` covers `weather.today`, not `weather` nor `weatherman`).
 *
 * TODO(lab20): implement in src/frame.cpp.
 */
bool channel_matches(std::string_view pattern, std::string_view channel);

}  // namespace ipclab::lab20
