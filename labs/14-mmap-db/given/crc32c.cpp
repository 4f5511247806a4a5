// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), given: the SSE4.2 crc32
// instruction when the CPU has it (8 bytes a cycle or so), else slicing-by-8 tables
// (about a byte a cycle). A byte-at-a-time table loop would cost ~4x more, and a get
// verifies a CRC every time (docs/benchmarking.md: 1.56M gets/s with a slow CRC, 2.35M with
// slicing-by-8).
#include <array>    // std::array
#include <cstdint>  // std::uint32_t, std::uint64_t
#include <cstring>  // std::memcpy

#include "lab14/mmapdb.hpp"

namespace ipclab::lab14 {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;

using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t i = 0; i < 256; ++i)
    for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  return t;
}
constexpr Tables kTables = make_tables();

std::uint32_t crc_slicing8(const unsigned char* p, std::size_t len, std::uint32_t c) {
  while (len >= 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, 8);  // little-endian: the first byte is the low byte
    w ^= c;
    c = kTables[7][w & 0xff] ^ kTables[6][(w >> 8) & 0xff] ^ kTables[5][(w >> 16) & 0xff] ^
        kTables[4][(w >> 24) & 0xff] ^ kTables[3][(w >> 32) & 0xff] ^ kTables[2][(w >> 40) & 0xff] ^
        kTables[1][(w >> 48) & 0xff] ^ kTables[0][w >> 56];
    p += 8;
    len -= 8;
  }
  while (len-- > 0) c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xff];
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc_sse42(const unsigned char* p, std::size_t len,
                                                          std::uint32_t c) {
  std::uint64_t c64 = c;
  while (len >= 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, 8);
    c64 = __builtin_ia32_crc32di(c64, w);
    p += 8;
    len -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c64);
  while (len-- > 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
const bool kHaveSse42 = [] {
  __builtin_cpu_init();  // needed when called during static initialization
  return __builtin_cpu_supports("sse4.2") != 0;
}();
#endif

/// crc32c() calls by this thread (the test hook crc32c_calls()): one add to a thread-local
/// word, no lock, no system call.
constinit thread_local std::uint64_t calls = 0;

}  // namespace

std::uint64_t crc32c_calls() { return calls; }

std::uint32_t crc32c(const void* data, std::size_t len, std::uint32_t crc) {
  ++calls;
  const auto* p = static_cast<const unsigned char*>(data);
  const std::uint32_t c = ~crc;
#if defined(__x86_64__)
  if (kHaveSse42) return ~crc_sse42(p, len, c);
#endif
  return ~crc_slicing8(p, len, c);
}

}  // namespace ipclab::lab14
