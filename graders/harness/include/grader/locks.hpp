// Asking the kernel about fcntl record locks on a file, for graders whose tests must prove
// that a locker sleeps in F_SETLKW / F_OFD_SETLKW (labs 09 and 14).
#pragma once

#include <sys/stat.h>       // stat
#include <sys/sysmacros.h>  // major, minor

#include <sstream>  // std::istringstream
#include <string>   // std::string

#include <fmt/format.h>

#include "ipclab/io.hpp"  // read_file

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

}  // namespace grader
