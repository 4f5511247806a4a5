// Lab 12, given: what every test and benchmark message carries, so that a ring that loses,
// repeats, reorders, truncates or corrupts a message is caught, not measured.
//
//   offset 0   u64 sequence number
//   offset 8   u64 checksum64(body, seed = sequence number)
//   offset 16  body: size - 16 bytes, a pattern that depends on the sequence number
//
// The checksum works on 64-bit words (tens of ns per KiB, PERF.md): the same cost for every
// transport in the benchmark, small next to any of them. The message size may itself be a
// function of the sequence number (message_size), so a receiver also checks the length.
#pragma once

#include <bit>          // std::rotl
#include <cstddef>      // std::byte, std::size_t
#include <cstdint>      // std::uint64_t
#include <cstring>      // std::memcpy
#include <span>         // std::span
#include <string_view>  // std::string_view

namespace ipclab::lab12 {

inline constexpr std::size_t kPayloadHeader = 16;  // sequence number + checksum

namespace detail {
// xxHash's primes: odd, so a multiply is a bijection and no input change is lost.
inline constexpr std::uint64_t kP1 = 0x9E3779B185EBCA87ULL;
inline constexpr std::uint64_t kP2 = 0xC2B2AE3D27D4EB4FULL;
inline constexpr std::uint64_t kP3 = 0x165667B19E3779F9ULL;
inline std::uint64_t load(const std::byte* p) {
  std::uint64_t w = 0;
  std::memcpy(&w, p, sizeof w);  // one load; no alignment needed
  return w;
}
inline void store(std::byte* p, std::uint64_t w) { std::memcpy(p, &w, sizeof w); }
inline std::uint64_t fold(std::uint64_t s, std::uint64_t w) { return std::rotl(s ^ w, 29) * kP1; }
/// murmur3's fmix64: every input bit reaches every output bit.
inline std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  return h ^ (h >> 32);
}
/// The checksum's state: four lanes of (sum, running sum), in scalars so that they live
/// in registers.
struct Lanes {
  std::uint64_t s0, s1, s2, s3, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  explicit Lanes(std::uint64_t seed)
      : s0(seed + kP1), s1(seed + kP2), s2(seed + kP3), s3(seed - kP1) {}
  void add4(std::uint64_t w0, std::uint64_t w1, std::uint64_t w2, std::uint64_t w3) {
    s0 += w0;
    s1 += w1;
    s2 += w2;
    s3 += w3;
    a0 += s0;
    a1 += s1;
    a2 += s2;
    a3 += s3;
  }
  void add1(std::size_t lane, std::uint64_t w) {
    std::uint64_t& s = lane == 0 ? s0 : lane == 1 ? s1 : lane == 2 ? s2 : s3;
    std::uint64_t& a = lane == 0 ? a0 : lane == 1 ? a1 : lane == 2 ? a2 : a3;
    s += w;
    a += s;
  }
  std::uint64_t finish(std::uint64_t last, std::size_t size) const {
    std::uint64_t h = fold(size * kP3, last);
    for (std::uint64_t v : {s0, a0, s1, a1, s2, a2, s3, a3}) h = fold(h, mix(v));
    return mix(h);
  }
};
}  // namespace detail

/// A checksum of `data` on 64-bit words in four lanes of two running sums each (Fletcher's
/// scheme on words: `sum += w; acc += sum`), then the 0-7 trailing bytes and the length,
/// all mixed at the end. Adds only, so it runs at load speed and vectorizes: the sum catches
/// any one-bit change, the running sum catches swapped words (each word is weighted by its
/// position).
inline std::uint64_t checksum64(std::span<const std::byte> data, std::uint64_t seed) {
  using namespace detail;
  Lanes lanes(seed);
  const std::byte* p = data.data();
  const std::size_t words = data.size() / 8;
  std::size_t i = 0;
  for (; i + 4 <= words; i += 4, p += 32)
    lanes.add4(load(p), load(p + 8), load(p + 16), load(p + 24));
  for (; i < words; ++i, p += 8) lanes.add1(i % 4, load(p));
  std::uint64_t last = 0;
  if (const std::size_t tail = data.size() % 8; tail != 0) std::memcpy(&last, p, tail);
  return lanes.finish(last, data.size());
}

/// Writes message `seq` into `msg` (at least kPayloadHeader bytes; shorter is left alone).
/// One pass: each body word is folded into the checksum while it is still in a register,
/// so the sender does not read the body back (the same value as checksum64 of the body).
inline void fill_message(std::span<std::byte> msg, std::uint64_t seq) {
  using namespace detail;
  if (msg.size() < kPayloadHeader) return;
  std::byte* p = msg.data() + kPayloadHeader;
  const std::size_t body_size = msg.size() - kPayloadHeader;
  const std::uint64_t base = mix(seq + kP2);  // word i = base + i*kP1: differs for every seq
  const std::size_t words = body_size / 8;
  Lanes lanes(seq);
  std::uint64_t w = base;
  std::size_t i = 0;
  for (; i + 4 <= words; i += 4, p += 32) {
    const std::uint64_t w0 = w, w1 = w + kP1, w2 = w + 2 * kP1, w3 = w + 3 * kP1;
    w += 4 * kP1;
    store(p, w0);
    store(p + 8, w1);
    store(p + 16, w2);
    store(p + 24, w3);
    lanes.add4(w0, w1, w2, w3);
  }
  for (; i < words; ++i, p += 8, w += kP1) {
    store(p, w);
    lanes.add1(i % 4, w);
  }
  std::uint64_t last = 0;
  if (const std::size_t tail = body_size % 8; tail != 0) {
    std::memcpy(p, &w, tail);
    std::memcpy(&last, &w, tail);
  }
  store(msg.data(), seq);
  store(msg.data() + 8, lanes.finish(last, body_size));
}

/// The sequence number in a message's header (0 if it is too short to hold one).
inline std::uint64_t message_sequence(std::span<const std::byte> msg) {
  return msg.size() >= 8 ? detail::load(msg.data()) : 0;
}

/// Checks a received message: "" if it is message `expected_seq` and intact, else why not.
inline std::string_view check_message(std::span<const std::byte> msg, std::uint64_t expected_seq) {
  if (msg.size() < kPayloadHeader) return "shorter than its 16-byte header";
  if (detail::load(msg.data()) != expected_seq)
    return "wrong sequence number (lost, repeated or reordered)";
  if (detail::load(msg.data() + 8) != checksum64(msg.subspan(kPayloadHeader), expected_seq))
    return "bad checksum (the payload was corrupted)";
  return {};
}

/// The size of message `seq` in a random-size stream: uniform in [min_size, max_size],
/// a pure function of (seed, seq), so the receiver knows the length to expect.
inline std::size_t message_size(std::uint64_t seed, std::uint64_t seq, std::size_t min_size,
                                std::size_t max_size) {
  if (max_size <= min_size) return min_size;
  const std::uint64_t r = detail::mix(seed * detail::kP3 + seq + 1);
  return min_size + static_cast<std::size_t>(r % (max_size - min_size + 1));
}

}  // namespace ipclab::lab12
