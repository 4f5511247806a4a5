// Full reads and writes.
//
// The *_full functions retry EINTR and loop over short transfers until the job is done
// (folly's readFull/writeFull): a pipe or socket may move fewer bytes than asked.
#pragma once

#include <sys/types.h>  // ssize_t

#include <cstddef>      // std::size_t
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
/// The whole content of the file at `path`; empty if it cannot be opened, and what was read
/// before a read failed (a /proc file of a process reaped meanwhile): no I/O error throws.
std::string read_file(const std::string& path);

}  // namespace ipclab
