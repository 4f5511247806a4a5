// Given: addresses on the command line, and the conversions between the lab's types and
// the structs rpcgen made from kv.x.
#include <netinet/in.h>  // sockaddr_in, htonl, ntohs
#include <sys/socket.h>  // socket, bind, getsockname

#include <fmt/core.h>  // fmt::format

#include "ipclab/cli_numbers.hpp"  // parse_integer
#include "ipclab/error.hpp"        // UsageError, throw_errno
#include "lab18/kv.hpp"

namespace ipclab::lab18 {

Address parse_address(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    throw UsageError(fmt::format("\"{}\" is not host:port", text));
  Address a;
  a.host = std::string(text.substr(0, colon));
  a.port = static_cast<int>(parse_integer("port", text.substr(colon + 1), 1, 65535));
  return a;
}

std::vector<Address> parse_addresses(std::string_view text) {
  std::vector<Address> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view one = text.substr(0, comma);
    if (!one.empty()) out.push_back(parse_address(one));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::vector<int> free_ports(std::size_t n) {
  std::vector<Fd> held;
  std::vector<int> ports;
  for (std::size_t i = 0; i < n; ++i) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    if (!fd.valid() || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sin), &len) != 0)
      throw_errno("a free loopback port");
    ports.push_back(ntohs(sin.sin_port));
    held.push_back(std::move(fd));
  }
  return ports;
}

kv_version to_xdr(Version v) { return kv_version{v.counter, v.node}; }
Version from_xdr(kv_version v) { return Version{v.counter, v.node}; }

kv_entry to_xdr(const Entry& e) {
  kv_entry x{};
  // XDR only reads an entry it encodes: the const_casts never lead to a write.
  x.key = const_cast<char*>(e.key.c_str());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  x.ver = to_xdr(e.version);
  x.present = e.present ? TRUE : FALSE;
  x.value.kv_value_len = static_cast<u_int>(e.value.size());
  x.value.kv_value_val =
      const_cast<char*>(e.value.data());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  return x;
}

Entry from_xdr(const kv_entry& e) {
  Entry out;
  out.key = e.key != nullptr ? e.key : "";
  out.version = from_xdr(e.ver);
  out.present = e.present != FALSE;
  if (e.value.kv_value_val != nullptr) out.value.assign(e.value.kv_value_val, e.value.kv_value_len);
  return out;
}

}  // namespace ipclab::lab18
