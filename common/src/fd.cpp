#include "ipclab/fd.hpp"

#include <dirent.h>  // opendir, readdir
#include <fcntl.h>   // fcntl, pipe2
#include <unistd.h>  // close, readlink

#include <algorithm>  // std::sort
#include <cerrno>     // errno
#include <charconv>   // std::from_chars
#include <cstring>    // std::strlen
#include <string>     // std::string

#include "ipclab/error.hpp"  // check_unix

namespace ipclab {

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);  // never retried: see the class comment
  fd_ = fd;
}

void Fd::close() {
  const int fd = std::exchange(fd_, -1);
  if (fd >= 0 && ::close(fd) < 0 && errno != EINTR) throw_errno("close({})", fd);
}

Pipe make_pipe(int flags) {
  int fds[2];
  check_unix(::pipe2(fds, flags), "pipe2");
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

void set_cloexec(int fd, bool on) {
  int flags = check_unix(::fcntl(fd, F_GETFD), "fcntl({}, F_GETFD)", fd);
  flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  check_unix(::fcntl(fd, F_SETFD, flags), "fcntl({}, F_SETFD)", fd);
}

void set_nonblocking(int fd, bool on) {
  int flags = check_unix(::fcntl(fd, F_GETFL), "fcntl({}, F_GETFL)", fd);
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  check_unix(::fcntl(fd, F_SETFL, flags), "fcntl({}, F_SETFL)", fd);
}

std::vector<int> open_fds(pid_t pid) {
  const std::string dir = pid == 0 ? "/proc/self/fd" : "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) throw_errno("opendir(\"{}\")", dir);
  const int own = pid == 0 ? ::dirfd(d) : -1;
  std::vector<int> fds;
  while (const dirent* e = ::readdir(d)) {
    int fd = -1;
    const char* name = e->d_name;
    auto [p, ec] = std::from_chars(name, name + std::strlen(name), fd);
    if (ec == std::errc{} && *p == '\0' && fd != own) fds.push_back(fd);
  }
  ::closedir(d);
  std::sort(fds.begin(), fds.end());
  return fds;
}

std::string fd_target(pid_t pid, int fd) {
  const std::string link = (pid == 0 ? std::string("/proc/self") : "/proc/" + std::to_string(pid)) +
                           "/fd/" + std::to_string(fd);
  char buf[512];
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace ipclab
