// Full reads and writes, and u32 length-prefixed framing.
//
// The *_full functions retry EINTR and loop over short transfers until the job is done
// (folly's readFull/writeFull): a pipe or socket may move fewer bytes than asked.
#pragma once

#include <sys/types.h>  // ssize_t

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint32_t
#include <optional>     // std::optional
#include <span>         // std::span
#include <string>       // std::string
#include <string_view>  // std::string_view

namespace ipclab {

/// Reads until `buf` is full or end of file. Returns the bytes read (< size only at EOF).
std::size_t read_full(int fd, void* buf, std::size_t size);
/// Writes all of `buf` (retrying short writes and EINTR). Throws SysError (e.g. EPIPE).
void write_full(int fd, const void* buf, std::size_t size);
inline void write_full(int fd, std::string_view s) { write_full(fd, s.data(), s.size()); }
/// Reads until end of file.
std::string read_all(int fd);
/// The whole content of the file at `path`; empty if it cannot be opened.
std::string read_file(const std::string& path);

/// The largest frame payload read_frame accepts unless told otherwise (16 MiB).
inline constexpr std::uint32_t kMaxFrameDefault = 16u << 20;

/// Writes a frame: 4-byte big-endian payload length, then the payload.
void write_frame(int fd, std::span<const std::byte> payload);
void write_frame(int fd, std::string_view payload);
/// Reads one frame. std::nullopt on a clean EOF before the header; throws SysError(EPROTO)
/// on EOF inside a frame or a length above max_len.
std::optional<std::string> read_frame(int fd, std::uint32_t max_len = kMaxFrameDefault);

}  // namespace ipclab
