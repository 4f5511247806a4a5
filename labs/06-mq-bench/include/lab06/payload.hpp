// Lab 06 — what every benchmark message carries, so that a transport that loses, repeats,
// reorders, truncates or corrupts a message is caught, not measured.
//
//   offset 0   u64 sequence number (this direction's count: 0, 1, 2, ...)
//   offset 8   u64 checksum64(body, seed = sequence number)
//   offset 16  body: msg_size - 16 bytes, a pattern that depends on the sequence number
//
// Words are stored in the machine's byte order (both ends run on one machine). The
// checksum works on 64-bit words, so it costs tens of nanoseconds per KiB: the same for
// every transport, small next to any of them.
#pragma once

#include <cstddef>      // std::size_t, std::byte
#include <cstdint>      // std::uint64_t
#include <cstring>      // std::memcpy
#include <span>         // std::span
#include <string_view>  // std::string_view

namespace ipclab::lab06 {

inline constexpr std::size_t kHeaderSize = 16;  // sequence number + checksum
/// The smallest message: the header alone (an empty body).
inline constexpr std::size_t kMinMessageSize = kHeaderSize;

/**
 * @brief A checksum of `data` on 64-bit words.
 *
 * Every whole 8-byte word is folded in (read with memcpy: the data need not be aligned),
 * then the 0-7 trailing bytes (zero-padded to one word), then the length. Different seeds
 * give different results for the same data. It must detect any change of one bit, and two
 * different words swapped (a plain sum or xor of the words misses that): fold each word
 * into a running state with a multiply and a rotate, in one or a few lanes.
 *
 * TODO(lab06): implement in src/payload.cpp.
 */
std::uint64_t checksum64(std::span<const std::byte> data, std::uint64_t seed);

/**
 * @brief Writes message number `seq`: header (seq, checksum) and a body pattern in which
 * every whole 8-byte word differs from the same word of any other sequence number; the 0-7
 * bytes after the last whole word are the first bytes of one more pattern word. It writes
 * `msg` and nothing outside it.
 *
 * @param msg  the whole message, at least kMinMessageSize bytes
 * @throws std::invalid_argument if msg is shorter than kMinMessageSize
 *
 * TODO(lab06): implement in src/payload.cpp.
 */
void fill_message(std::span<std::byte> msg, std::uint64_t seq);

enum class Verdict {
  kOk,
  kTooShort,       ///< fewer than kHeaderSize bytes
  kWrongSequence,  ///< a message lost, repeated or reordered (or the header corrupted)
  kBadChecksum,    ///< the body or the checksum field was changed
};

/**
 * @brief Checks a received message: the checks in the order of Verdict (too short, then
 * the sequence number, then the checksum over the body with the message's own sequence
 * number as seed).
 *
 * TODO(lab06): implement in src/payload.cpp.
 */
Verdict verify_message(std::span<const std::byte> msg, std::uint64_t expected_seq);

/// The sequence number in a message's header (for error messages; 0 if too short).
inline std::uint64_t message_sequence(std::span<const std::byte> msg) {
  std::uint64_t seq = 0;
  if (msg.size() >= sizeof seq) std::memcpy(&seq, msg.data(), sizeof seq);
  return seq;
}

constexpr std::string_view verdict_text(Verdict v) {
  switch (v) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kTooShort:
      return "message shorter than its 16-byte header";
    case Verdict::kWrongSequence:
      return "wrong sequence number (lost, repeated or reordered)";
    case Verdict::kBadChecksum:
      return "bad checksum (the payload was corrupted)";
  }
  return "?";
}

}  // namespace ipclab::lab06
