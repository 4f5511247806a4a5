// Lab 19: cutting a byte stream into bounded lines, a bounded output buffer, and the two
// validity checks of the chat protocol. Read the contracts in include/lab19/chat.hpp and
// the README's "Protocol" section.
#include <sys/socket.h>  // send, MSG_DONTWAIT, MSG_NOSIGNAL

#include "ipclab/error.hpp"  // ipclab::NotImplemented
#include "lab19/chat.hpp"

namespace ipclab::lab19 {

bool valid_utf8([[maybe_unused]] std::string_view s) {
  // TODO(lab19): walk the bytes. A lead byte C2..DF starts 2 bytes, E0..EF 3, F0..F4 4;
  // every following byte is 10xxxxxx. Reject truncated sequences, overlong forms (a
  // 3-byte code point below U+0800, a 4-byte one below U+10000), surrogates D800..DFFF
  // and anything above U+10FFFF.
  throw NotImplemented("TODO(lab19): implement valid_utf8() in src/framing.cpp");
}

bool valid_name([[maybe_unused]] std::string_view name) {
  // TODO(lab19): 1 to 32 characters, each one of A-Z a-z 0-9 _ -.
  throw NotImplemented("TODO(lab19): implement valid_name() in src/framing.cpp");
}

void LineReader::feed([[maybe_unused]] std::string_view data) {
  // TODO(lab19): for each piece of `data` up to a '\n':
  //  - unless discarding_, append it to partial_ — but if partial_ would pass max_line_,
  //    queue Line{"", true} at once, clear partial_ and start discarding_;
  //  - at the '\n': queue the finished line (unless discarding), clear, stop discarding.
  // Without a '\n' the bytes wait in partial_ for the next feed().
  throw NotImplemented("TODO(lab19): implement LineReader::feed() in src/framing.cpp");
}

std::optional<Line> LineReader::next() {
  // TODO(lab19): pop the oldest ready line, or nullopt.
  throw NotImplemented("TODO(lab19): implement LineReader::next() in src/framing.cpp");
}

std::size_t LineReader::pending() const {
  throw NotImplemented("TODO(lab19): implement LineReader::pending() in src/framing.cpp");
}

bool OutBuffer::push([[maybe_unused]] std::string_view data) {
  // TODO(lab19): refuse (return false, append nothing) if size() + data.size() > cap_.
  // Reclaim the already-written front of buf_ now and then, not on every call.
  throw NotImplemented("TODO(lab19): implement OutBuffer::push() in src/framing.cpp");
}

std::size_t OutBuffer::size() const {
  throw NotImplemented("TODO(lab19): implement OutBuffer::size() in src/framing.cpp");
}

int OutBuffer::flush([[maybe_unused]] int sock) {
  // TODO(lab19): send(2) with MSG_DONTWAIT | MSG_NOSIGNAL from buf_ + head_ until all is
  // written (return 0) or EAGAIN (return 0, keep the rest); retry EINTR; any other error:
  // return errno.
  throw NotImplemented("TODO(lab19): implement OutBuffer::flush() in src/framing.cpp");
}

}  // namespace ipclab::lab19
