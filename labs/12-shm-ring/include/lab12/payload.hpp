// Lab 12, given: what every test and benchmark message carries, so that a ring that loses,
// repeats, reorders, truncates or corrupts a message is caught, not measured.
//
//   offset 0   u64 sequence number
//   offset 8   u64 checksum64(body, seed = sequence number)
//   offset 16  body: size - 16 bytes, a pattern that depends on the sequence number
//
// The checksum works on 64-bit words (tens of ns per KiB, docs/benchmarking.md): the same cost for
// every transport in the benchmark, small next to any of them. The message size may itself be a
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
/// murmur3's fmix64: every input bit reaches every output bit.
inline std::uint64_t mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  return h ^ (h >> 32);
}
/// Two 64-bit lanes in one 16-byte vector (GCC/Clang vector extension: SSE2 on x86-64,
/// NEON on arm64; element-wise + and [] as on an array).
using U64x2 = std::uint64_t __attribute__((vector_size(16)));
inline U64x2 load2(const std::byte* p) {
  U64x2 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store2(std::byte* p, U64x2 v) { std::memcpy(p, &v, sizeof v); }
/// The checksum's state: four lanes of (sum, running sum). Word i of the data goes to lane
/// i % 4; lanes 0-1 and 2-3 each live in one vector, so four words cost four vector adds.
struct Lanes {
  U64x2 s01, s23, a01{0, 0}, a23{0, 0};
  explicit Lanes(std::uint64_t seed) : s01{seed + kP1, seed + kP2}, s23{seed + kP3, seed - kP1} {}
  void add4(U64x2 w01, U64x2 w23) {
    s01 += w01;
    s23 += w23;
    a01 += s01;
    a23 += s23;
  }
  void add1(std::size_t lane, std::uint64_t w) {
    U64x2& s = lane < 2 ? s01 : s23;
    U64x2& a = lane < 2 ? a01 : a23;
    s[lane % 2] += w;
    a[lane % 2] += s[lane % 2];
  }
  /// Folds the lanes, the 0-7 trailing bytes and the length into one word. Each lane's
  /// pair becomes s*P1 ^ a (for a fixed s a bijection of a, and the other way round), the
  /// four are summed at different rotations (a change in any one lane changes the sum)
  /// and mixed. Short and parallel: a chain of per-lane mixes cost ~15 ns per message.
  std::uint64_t finish(std::uint64_t last, std::size_t size) const {
    const U64x2 p1{kP1, kP1};
    const U64x2 x01 = (s01 * p1) ^ a01;
    const U64x2 x23 = (s23 * p1) ^ a23;
    return mix(x01[0] + std::rotl(x01[1], 16) + std::rotl(x23[0], 32) + std::rotl(x23[1], 48) +
               size * kP3 + last * kP2);
  }
};
}  // namespace detail

/// A checksum of `data` on 64-bit words in four lanes of two running sums each (Fletcher's
/// scheme on words: `sum += w; acc += sum`), then the 0-7 trailing bytes and the length,
/// all mixed at the end. Adds only, two 16-byte vectors at a time (~25 ns per KiB here,
/// docs/benchmarking.md asks for tens of ns), and the seed (the sequence number) starts the sums.
/// The sum catches any one-bit change, the running sum catches swapped words (each word is weighted
/// by its position).
inline std::uint64_t checksum64(std::span<const std::byte> data, std::uint64_t seed) {
  using namespace detail;
  Lanes lanes(seed);
  const std::byte* p = data.data();
  const std::size_t words = data.size() / 8;
  std::size_t i = 0;
  for (; i + 4 <= words; i += 4, p += 32) lanes.add4(load2(p), load2(p + 16));
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
  U64x2 w01{base, base + kP1}, w23{base + 2 * kP1, base + 3 * kP1};
  const U64x2 step{4 * kP1, 4 * kP1};
  std::size_t i = 0;
  for (; i + 4 <= words; i += 4, p += 32) {
    store2(p, w01);
    store2(p + 16, w23);
    lanes.add4(w01, w23);
    w01 += step;
    w23 += step;
  }
  std::uint64_t w = w01[0];
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
