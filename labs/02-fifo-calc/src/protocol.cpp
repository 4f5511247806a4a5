// Lab 02 reference: the wire format. One line per message, so a reader that gets several
// requests in one read(2) (or half of one) splits them at '\n'; a request is written with
// one write(2) of at most PIPE_BUF bytes, so requests from many clients never interleave.
#include <cerrno>        // EPROTO
#include <charconv>      // std::from_chars
#include <system_error>  // std::errc

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // UsageError, throw_error
#include "lab02/calc.hpp"

namespace ipclab::lab02 {
namespace {

const char* kind_name(Status s) {
  switch (s) {
    case Status::kMalformed:
      return "malformed";
    case Status::kDivisionByZero:
      return "division_by_zero";
    case Status::kOverflow:
      return "overflow";
    default:
      return "ok";
  }
}

[[noreturn]] void bad_reply(std::string_view line) {
  throw_error(EPROTO, "bad reply from server: \"{}\"", line.substr(0, 80));
}

}  // namespace

std::string encode_request(const Request& request) {
  if (!valid_client_id(request.client_id))
    throw UsageError(fmt::format("client id \"{}\": use 1-{} of [A-Za-z0-9_-]",
                                 request.client_id.substr(0, 60), kMaxClientId));
  if (request.expression.find('\n') != std::string::npos)
    throw UsageError("an expression cannot hold a newline: it ends a request");
  std::string line = request.client_id + " " + request.expression + "\n";
  if (line.size() > kMaxRequest)
    throw UsageError(fmt::format(
        "request too long: {} bytes; a request must fit in PIPE_BUF ({} bytes) to be written "
        "atomically",
        line.size(), kMaxRequest));
  return line;
}

std::optional<Request> decode_request(std::string_view line) {
  const auto space = line.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  Request r{std::string(line.substr(0, space)), std::string(line.substr(space + 1))};
  if (!valid_client_id(r.client_id)) return std::nullopt;
  return r;
}

std::string encode_reply(const Reply& reply) {
  if (reply.status == Status::kOk) return fmt::format("ok {}\n", reply.value);
  std::string message = reply.message;
  for (char& c : message)
    if (c == '\n') c = ' ';
  return fmt::format("error {}{}{}\n", kind_name(reply.status), message.empty() ? "" : " ",
                     message);
}

Reply decode_reply(std::string_view line) {
  if (line.starts_with("ok ")) {
    const std::string_view num = line.substr(3);
    Reply r;
    const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), r.value);
    if (ec != std::errc() || end != num.data() + num.size() || num.empty()) bad_reply(line);
    return r;
  }
  if (!line.starts_with("error ")) bad_reply(line);
  std::string_view rest = line.substr(6);
  const auto space = rest.find(' ');
  const std::string_view kind = rest.substr(0, space);
  Reply r;
  if (space != std::string_view::npos) r.message = std::string(rest.substr(space + 1));
  if (kind == "malformed")
    r.status = Status::kMalformed;
  else if (kind == "division_by_zero")
    r.status = Status::kDivisionByZero;
  else if (kind == "overflow")
    r.status = Status::kOverflow;
  else
    bad_reply(line);
  return r;
}

}  // namespace ipclab::lab02
