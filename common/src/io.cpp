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

namespace {
/// Appends what `fd` has up to end of file to `out`; 0 at end of file, or the errno of the
/// read that failed (what came before it stays in `out`).
int append_to_eof(int fd, std::string& out) {
  std::array<char, 65536> chunk;
  for (;;) {
    const ssize_t n = retry_eintr(::read, fd, chunk.data(), chunk.size());
    if (n < 0) return errno;
    if (n == 0) return 0;
    out.append(chunk.data(), static_cast<std::size_t>(n));
  }
}
}  // namespace

std::string read_all(int fd) {
  std::string out;
  if (const int err = append_to_eof(fd, out); err != 0) throw_error(err, "read(fd {})", fd);
  return out;
}

std::string read_file(const std::string& path) {
  // Not an ifstream: libstdc++'s filebuf throws when a read fails after the open, which is
  // what /proc/PID/stat does (ESRCH) when the process is reaped between the two.
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::string out;
  if (fd) (void)append_to_eof(fd.get(), out);  // an error: what was read
  return out;
}

}  // namespace ipclab
