// Lab 02: the wire format, one line per message. Read the contract in
// include/lab02/calc.hpp (encode_request, decode_request, encode_reply, decode_reply) and
// the README's "Protocol" section.
#include "ipclab/error.hpp"  // ipclab::UsageError, ipclab::SysError, ipclab::NotImplemented
#include "lab02/calc.hpp"

namespace ipclab::lab02 {

std::string encode_request([[maybe_unused]] const Request& request) {
  // TODO(lab02): "<client-id> <expression>\n". Throw ipclab::UsageError for an invalid id
  // (valid_client_id), a '\n' in the expression, or a line longer than kMaxRequest.
  throw NotImplemented("TODO(lab02): implement encode_request() in src/protocol.cpp");
}

std::optional<Request> decode_request([[maybe_unused]] std::string_view line) {
  // TODO(lab02): the id is everything before the first space, the expression everything
  // after it. No space or an invalid id: std::nullopt.
  throw NotImplemented("TODO(lab02): implement decode_request() in src/protocol.cpp");
}

std::string encode_reply([[maybe_unused]] const Reply& reply) {
  // TODO(lab02): "ok <value>\n" or "error <kind> <message>\n" (kind: malformed,
  // division_by_zero, overflow); a '\n' inside the message becomes a space.
  throw NotImplemented("TODO(lab02): implement encode_reply() in src/protocol.cpp");
}

Reply decode_reply([[maybe_unused]] std::string_view line) {
  // TODO(lab02): the inverse of encode_reply. Anything else: throw
  // ipclab::SysError(EPROTO, ...) (ipclab::throw_error does it).
  throw NotImplemented("TODO(lab02): implement decode_reply() in src/protocol.cpp");
}

}  // namespace ipclab::lab02
