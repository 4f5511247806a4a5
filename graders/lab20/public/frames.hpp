// Lab 20's frames by the test's own hand (README §Protocol), so that a test of the hub does
// not lean on the student's codec, and the grader's corpus of malformed frames. No test
// framework here: the fuzz target (../fuzz.cpp, make fuzz LAB=20) is seeded with it too.
#pragma once

#include <cstdint>  // std::uint8_t, std::uint16_t, std::uint32_t
#include <cstring>  // std::memcpy
#include <string>   // std::string
#include <vector>   // std::vector

namespace lab20_test {

enum : std::uint8_t {
  kConnect = 1,
  kSubscribe,
  kUnsubscribe,
  kPublish,
  kData,
  kAck,
  kError,
  kStats
};

inline std::string frame(std::uint8_t type, const std::string& channel, const std::string& payload,
                         std::uint16_t magic = 0x4248) {
  std::string out(8, '\0');
  const auto len = static_cast<std::uint32_t>(payload.size());
  std::memcpy(out.data(), &magic, 2);
  out[2] = static_cast<char>(type);
  out[3] = static_cast<char>(channel.size());
  std::memcpy(out.data() + 4, &len, 4);
  return out + channel + payload;
}

/// The grader's malformed frames: bad magic, unknown types, lengths over their limits, cut
/// headers, and requests a client may not send or not yet.
inline std::vector<std::string> malformed_frames() {
  const std::string ok = frame(kConnect, "", "socket 1");
  return {
      frame(kConnect, "", "socket 1", 0xdead),
      frame(0, "", ""),
      frame(9, "", ""),
      frame(255, "chan", "x"),
      std::string("\x48\x42\x04\xff\x00\x00\x00\x00", 8),
      std::string("\x48\x42\x04\x01\xff\xff\xff\xff", 8) + "a",
      std::string("\x48\x42\x04\x01\x01\x10\x00\x00", 8) + "a",
      frame(kPublish, "x", "before connect"),
      frame(kConnect, "", "garbage"),
      frame(kConnect, "", ""),
      ok + ok,
      ok + frame(kData, "x", "clients may not send DATA"),
      ok + frame(kAck, "", "nor ACK"),
      ok + frame(kError, "", "nor ERROR"),
      ok + frame(kSubscribe, std::string(64, 'c'), "") + frame(kUnsubscribe, "nope", ""),
      ok + std::string(100000, '\0'),
      std::string(3, 'H'),
  };
}

}  // namespace lab20_test
