// Asking the kernel about fcntl record locks on a file, for graders whose tests must prove
// that a locker sleeps in F_SETLKW / F_OFD_SETLKW (labs 09 and 14).
#pragma once

#include <fcntl.h>          // open, fcntl, F_OFD_GETLK
#include <sys/stat.h>       // stat
#include <sys/sysmacros.h>  // major, minor

#include <sstream>  // std::istringstream
#include <string>   // std::string

#include <fmt/format.h>

#include "ipclab/error.hpp"  // check_unix
#include "ipclab/fd.hpp"     // Fd
#include "ipclab/io.hpp"     // read_file

namespace grader {

/// The number of lock requests blocked in the kernel on the file at `path` (the "->" lines
/// of /proc/locks whose inode is the file's): proof that a locker sleeps in F_OFD_SETLKW.
inline int blocked_lock_requests(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  // /proc/locks names a file as MAJOR:MINOR:INODE (major and minor in hex, %02x).
  const std::string id = fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev),
                                     static_cast<unsigned long>(st.st_ino));
  std::istringstream in(ipclab::read_file("/proc/locks"));
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find("->") == std::string::npos) continue;
    std::istringstream words(line);
    for (std::string w; words >> w;)
      if (w == id) ++n;
  }
  return n;
}

/// What F_OFD_GETLK reports for a write-lock request on [start, start + len) (len 0: to the
/// end of the file and beyond): the first conflicting lock (type F_UNLCK if none). Asked
/// through a fresh open file description, so it sees locks of every other owner, this
/// process's OFD and classic locks included.
struct LockHolder {
  short type = F_UNLCK;
  off_t start = 0;
  off_t len = 0;
  bool locked() const { return type != F_UNLCK; }
};
inline LockHolder lock_holder(const std::string& path, off_t start, off_t len) {
  ipclab::Fd fd(ipclab::check_unix(::open(path.c_str(), O_RDONLY | O_CLOEXEC), "open {}", path));
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  ipclab::check_unix(::fcntl(fd.get(), F_OFD_GETLK, &fl), "fcntl(F_OFD_GETLK)");
  return {fl.l_type, fl.l_start, fl.l_len};
}

}  // namespace grader
