// Errors: one exception type per exit code, built from errno at the call site.
//
// Every system call in the kit goes through check_unix()/check_posix() or a wrapper in
// this layer, so a failure reads as `shm_open("/ipclab.x.ring"): Permission denied` and
// carries errno as a std::error_code that tests compare with std::errc.
#pragma once

#include <cerrno>        // errno
#include <stdexcept>     // std::runtime_error, std::logic_error
#include <string>        // std::string
#include <system_error>  // std::system_error, std::generic_category
#include <utility>       // std::forward

#include <fmt/core.h>  // fmt::format for the context strings

namespace ipclab {

/// A failed system call: errno plus what was being done. Maps to exit code 3.
class SysError : public std::system_error {
 public:
  SysError(int err, const std::string& what)
      : std::system_error(err, std::generic_category(), what) {}
  int err() const noexcept { return code().value(); }
};

/// Bad command-line input or arguments. Maps to exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The operation was carried out and failed (not found, rejected, timed out). Exit 1.
class OperationFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A skeleton function the student has not written yet. Exit 3, message names the TODO.
class NotImplemented : public std::logic_error {
 public:
  explicit NotImplemented(const std::string& what) : std::logic_error(what) {}
};

/// Throws SysError(errno, formatted context). Never returns.
template <typename... Args>
[[noreturn]] void throw_errno(fmt::format_string<Args...> context, Args&&... args) {
  const int err = errno;  // capture before formatting can touch errno
  throw SysError(err, fmt::format(context, std::forward<Args>(args)...));
}

/// Same as throw_errno with an explicit error number (pthread-style APIs).
template <typename... Args>
[[noreturn]] void throw_error(int err, fmt::format_string<Args...> context, Args&&... args) {
  throw SysError(err, fmt::format(context, std::forward<Args>(args)...));
}

/// For calls that return -1 (or a negative value) and set errno: returns ret or throws.
template <typename T, typename... Args>
T check_unix(T ret, fmt::format_string<Args...> context, Args&&... args) {
  if (ret < 0) throw_errno(context, std::forward<Args>(args)...);
  return ret;
}

/// For pthread-style calls that return 0 or an error number.
template <typename... Args>
void check_posix(int rc, fmt::format_string<Args...> context, Args&&... args) {
  if (rc != 0) throw_error(rc, context, std::forward<Args>(args)...);
}

/// Calls f(args...) again while it fails with EINTR (folly's wrapNoInt). Not for close().
template <typename F, typename... Args>
auto retry_eintr(F&& f, Args&&... args) {
  for (;;) {
    auto ret = f(args...);
    if (!(ret == -1 && errno == EINTR)) return ret;
  }
}

}  // namespace ipclab
