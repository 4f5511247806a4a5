#include "ipclab/io.hpp"

#include <fcntl.h>   // open
#include <unistd.h>  // read, write

#include <array>  // std::array

#include "ipclab/error.hpp"  // throw_errno, throw_error
#include "ipclab/fd.hpp"     // Fd

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
  // Not an ifstream: libstdc++'s filebuf throws when a read fails after the open, which is
  // what /proc/PID/stat does (ESRCH) when the process is reaped between the two.
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {};
  std::string out;
  std::array<char, 65536> chunk;
  for (;;) {
    const ssize_t n = retry_eintr(::read, fd.get(), chunk.data(), chunk.size());
    if (n <= 0) return out;  // end of file, or an error: what was read
    out.append(chunk.data(), static_cast<std::size_t>(n));
  }
}

}  // namespace ipclab
