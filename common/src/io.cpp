#include "ipclab/io.hpp"

#include <unistd.h>  // read, write

#include <array>    // std::array
#include <cerrno>   // errno, EPROTO
#include <cstring>  // std::memcpy
#include <fstream>  // std::ifstream

#include "ipclab/error.hpp"  // throw_errno, throw_error

namespace ipclab {

std::size_t read_full(int fd, void* buf, std::size_t size) {
  auto* p = static_cast<char*>(buf);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = retry_eintr(::read, fd, p + done, size - done);
    if (n < 0) throw_errno("read(fd {})", fd);
    if (n == 0) break;  // end of file
    done += static_cast<std::size_t>(n);
  }
  return done;
}

void write_full(int fd, const void* buf, std::size_t size) {
  const auto* p = static_cast<const char*>(buf);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = retry_eintr(::write, fd, p + done, size - done);
    if (n < 0) throw_errno("write(fd {})", fd);
    done += static_cast<std::size_t>(n);
  }
}

std::string read_all(int fd) {
  std::string out;
  std::array<char, 65536> chunk;
  for (;;) {
    const ssize_t n = retry_eintr(::read, fd, chunk.data(), chunk.size());
    if (n < 0) throw_errno("read(fd {})", fd);
    if (n == 0) return out;
    out.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

namespace {
void put_be32(unsigned char* p, std::uint32_t v) {
  p[0] = static_cast<unsigned char>(v >> 24);
  p[1] = static_cast<unsigned char>(v >> 16);
  p[2] = static_cast<unsigned char>(v >> 8);
  p[3] = static_cast<unsigned char>(v);
}
std::uint32_t get_be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
}  // namespace

void write_frame(int fd, std::span<const std::byte> payload) {
  if (payload.size() > UINT32_MAX) throw_error(EMSGSIZE, "write_frame: {} bytes", payload.size());
  // Header and payload in one buffer: one write(2) for small frames, so a frame up to
  // PIPE_BUF is atomic on a pipe shared by several writers.
  std::string buf(4 + payload.size(), '\0');
  put_be32(reinterpret_cast<unsigned char*>(buf.data()),
           static_cast<std::uint32_t>(payload.size()));
  if (!payload.empty()) std::memcpy(buf.data() + 4, payload.data(), payload.size());
  write_full(fd, buf.data(), buf.size());
}

void write_frame(int fd, std::string_view payload) {
  write_frame(fd, std::as_bytes(std::span(payload.data(), payload.size())));
}

std::optional<std::string> read_frame(int fd, std::uint32_t max_len) {
  unsigned char hdr[4];
  const std::size_t got = read_full(fd, hdr, sizeof hdr);
  if (got == 0) return std::nullopt;
  if (got < sizeof hdr) throw_error(EPROTO, "read_frame(fd {}): end of file inside header", fd);
  const std::uint32_t len = get_be32(hdr);
  if (len > max_len)
    throw_error(EPROTO, "read_frame(fd {}): length {} > limit {}", fd, len, max_len);
  std::string payload(len, '\0');
  if (read_full(fd, payload.data(), len) < len)
    throw_error(EPROTO, "read_frame(fd {}): end of file inside a {}-byte payload", fd, len);
  return payload;
}

}  // namespace ipclab
