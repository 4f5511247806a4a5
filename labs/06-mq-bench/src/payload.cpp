// Lab 06: the payload every benchmark message carries. Contract: include/lab06/payload.hpp.
#include "lab06/payload.hpp"

#include <bit>        // std::rotl
#include <stdexcept>  // std::invalid_argument

namespace ipclab::lab06 {
namespace {

// Odd 64-bit constants with well-mixed bits (xxHash's primes): multiplying by an odd
// number is a bijection, so no input change is ever lost in a step.
constexpr std::uint64_t kP1 = 0x9E3779B185EBCA87ULL;
constexpr std::uint64_t kP2 = 0xC2B2AE3D27D4EB4FULL;
constexpr std::uint64_t kP3 = 0x165667B19E3779F9ULL;

std::uint64_t load(const std::byte* p) {
  std::uint64_t w = 0;
  std::memcpy(&w, p, sizeof w);  // compiles to one load; no alignment needed
  return w;
}

void store(std::byte* p, std::uint64_t w) { std::memcpy(p, &w, sizeof w); }

/// One step: a bijection of the state for a fixed word, and of the word for a fixed state.
/// The rotate brings high bits down, so the next multiply carries them up again.
std::uint64_t fold(std::uint64_t state, std::uint64_t word) {
  return std::rotl(state ^ word, 29) * kP1;
}

/// A final mix (murmur3's fmix64): every input bit affects every output bit.
std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

}  // namespace

std::uint64_t checksum64(std::span<const std::byte> data, std::uint64_t seed) {
  // Four independent lanes: the multiplies of neighbouring words overlap in the CPU.
  std::uint64_t lane[4] = {seed + kP1, seed + kP2, seed + kP3, seed - kP1};
  const std::byte* p = data.data();
  const std::size_t words = data.size() / 8;
  std::size_t i = 0;
  for (; i + 4 <= words; i += 4, p += 32) {
    lane[0] = fold(lane[0], load(p));
    lane[1] = fold(lane[1], load(p + 8));
    lane[2] = fold(lane[2], load(p + 16));
    lane[3] = fold(lane[3], load(p + 24));
  }
  for (; i < words; ++i, p += 8) lane[i % 4] = fold(lane[i % 4], load(p));
  if (const std::size_t tail = data.size() % 8; tail != 0) {
    std::uint64_t last = 0;
    std::memcpy(&last, p, tail);
    lane[0] = fold(lane[0], last);
  }
  std::uint64_t h = data.size() * kP3;
  for (std::uint64_t l : lane) h = fold(h, mix(l));
  return mix(h);
}

void fill_message(std::span<std::byte> msg, std::uint64_t seq) {
  if (msg.size() < kMinMessageSize)
    throw std::invalid_argument("fill_message: a message holds at least 16 bytes");
  std::byte* body = msg.data() + kHeaderSize;
  const std::size_t body_size = msg.size() - kHeaderSize;
  // Word i is base + i*kP1: base is a bijection of seq, so each word differs between any
  // two sequence numbers; a receiver left with part of an older message fails the checksum.
  const std::uint64_t base = mix(seq + kP2);
  const std::size_t words = body_size / 8;
  for (std::size_t i = 0; i < words; ++i) store(body + 8 * i, base + i * kP1);
  if (const std::size_t tail = body_size % 8; tail != 0) {
    const std::uint64_t w = base + words * kP1;
    std::memcpy(body + 8 * words, &w, tail);
  }
  store(msg.data(), seq);
  store(msg.data() + 8, checksum64({body, body_size}, seq));
}

Verdict verify_message(std::span<const std::byte> msg, std::uint64_t expected_seq) {
  if (msg.size() < kHeaderSize) return Verdict::kTooShort;
  const std::uint64_t seq = load(msg.data());
  if (seq != expected_seq) return Verdict::kWrongSequence;
  if (load(msg.data() + 8) != checksum64(msg.subspan(kHeaderSize), seq))
    return Verdict::kBadChecksum;
  return Verdict::kOk;
}

}  // namespace ipclab::lab06
