// Lab 06: the payload every benchmark message carries. Read the contract in
// include/lab06/payload.hpp and the README's "Payload" section.
#include <stdexcept>  // std::invalid_argument

#include "ipclab/error.hpp"  // ipclab::NotImplemented
#include "lab06/payload.hpp"

namespace ipclab::lab06 {

std::uint64_t checksum64([[maybe_unused]] std::span<const std::byte> data,
                         [[maybe_unused]] std::uint64_t seed) {
  // TODO(lab06): fold every whole 8-byte word (memcpy it out: no alignment is promised)
  // into a state with a multiply and a rotate, in a few independent lanes; then the 0-7
  // trailing bytes zero-padded into one more word; then the length; then mix the lanes.
  // Start the lanes from the seed. A plain sum or xor of the words misses swapped words.
  throw NotImplemented("TODO(lab06): implement checksum64() in src/payload.cpp");
}

void fill_message([[maybe_unused]] std::span<std::byte> msg, [[maybe_unused]] std::uint64_t seq) {
  // TODO(lab06): throw std::invalid_argument below kMinMessageSize. Write the body (offset
  // 16 on): word i = f(seq) + i * K, with f a bijection and K odd, and the tail bytes from
  // the next word. Then the header: seq at offset 0, checksum64(body, seq) at offset 8.
  throw NotImplemented("TODO(lab06): implement fill_message() in src/payload.cpp");
}

Verdict verify_message([[maybe_unused]] std::span<const std::byte> msg,
                       [[maybe_unused]] std::uint64_t expected_seq) {
  // TODO(lab06): too short? wrong sequence number? checksum of the body (seeded with the
  // message's sequence number) different from the header's? In that order.
  throw NotImplemented("TODO(lab06): implement verify_message() in src/payload.cpp");
}

}  // namespace ipclab::lab06
