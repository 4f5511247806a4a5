// File descriptors: one owner per descriptor, and the pipe/fd-table helpers the labs share.
#pragma once

#include <fcntl.h>      // O_CLOEXEC
#include <sys/types.h>  // pid_t

#include <string>   // std::string
#include <utility>  // std::exchange
#include <vector>   // std::vector

namespace ipclab {

/// A move-only owner of one file descriptor. The destructor closes and never throws;
/// close() reports errors. close() is never retried after EINTR: on Linux the descriptor
/// is gone either way, and retrying could close a descriptor another thread just opened.
class Fd {
 public:
  Fd() noexcept = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  /// Gives up ownership: the caller closes the returned descriptor.
  int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the current descriptor (errors ignored) and owns fd instead.
  void reset(int fd = -1) noexcept;
  /// Closes the descriptor and throws SysError if close(2) reports an error.
  void close();

 private:
  int fd_ = -1;
};

/// Both ends of a pipe.
struct Pipe {
  Fd read;
  Fd write;
};

/// pipe2(2) with the given flags (default O_CLOEXEC: a child sees only what it is given).
Pipe make_pipe(int flags = O_CLOEXEC);

void set_cloexec(int fd, bool on = true);
void set_nonblocking(int fd, bool on = true);

/// The descriptors open in a process (from /proc/<pid>/fd; pid 0 = this process), sorted.
/// The descriptor used to read the directory itself is not listed for this process.
std::vector<int> open_fds(pid_t pid = 0);

/// What fd `fd` of process `pid` refers to (readlink of /proc/<pid>/fd/<fd>), e.g.
/// "pipe:[1234]"; empty if it is not open.
std::string fd_target(pid_t pid, int fd);

}  // namespace ipclab
