#include "ipclab/instance_lock.hpp"

#include <fcntl.h>     // open, fcntl, F_OFD_SETLK, F_OFD_GETLK
#include <signal.h>    // kill
#include <sys/stat.h>  // fstat, stat
#include <unistd.h>    // getpid, ftruncate, pwrite, pread, unlink

#include <cerrno>    // errno
#include <charconv>  // std::from_chars
#include <chrono>    // std::chrono
#include <cstring>   // strerrordesc_np
#include <thread>    // std::this_thread::sleep_for
#include <utility>   // std::move, std::exchange

#include <fmt/core.h>  // fmt::format

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/names.hpp"  // names::path

namespace ipclab {
namespace {

/// How long a held lock may show no live pid before we believe it: the owner writes its
/// pid just after it takes the lock, and a remover holds it only while it unlinks.
constexpr auto kSettle = std::chrono::milliseconds(200);
constexpr int kMaxAttempts = 1000;  // acquire() retries only on races; this bounds them

struct flock whole_file(short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file; l_pid must be 0 (OFD)
  return fl;
}

/// Takes the write lock without waiting: true if taken, false if someone holds it.
bool try_lock(int fd, const std::string& path) {
  struct flock fl = whole_file(F_WRLCK);
  if (::fcntl(fd, F_OFD_SETLK, &fl) == 0) return true;
  if (errno == EAGAIN || errno == EACCES) return false;
  throw_errno("fcntl(\"{}\", F_OFD_SETLK)", path);
}

/// Whether a lock that would block ours is held: nullopt if not; else the holder's pid
/// when the kernel knows it (a classic POSIX lock), -1 for an OFD lock (pid in the file).
std::optional<pid_t> holder(int fd) {
  struct flock fl = whole_file(F_WRLCK);
  if (::fcntl(fd, F_OFD_GETLK, &fl) != 0 || fl.l_type == F_UNLCK) return std::nullopt;
  return fl.l_pid > 0 ? fl.l_pid : -1;
}

/// The pid written in the lock file, 0 if there is none.
pid_t read_pid(int fd) {
  char buf[32];
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  if (n <= 0) return 0;
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(buf, buf + n, pid);
  return ec == std::errc() && pid > 0 ? pid : 0;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

/// The holder's pid, waiting up to kSettle for a live one to appear in the file (an owner
/// between taking the lock and writing its pid, a remover unlinking a stale file). -1 if
/// the lock was released meanwhile; else the pid read last (0 or dead if none settled).
pid_t settled_owner(int fd) {
  const Deadline deadline(kSettle);
  for (;;) {
    const pid_t pid = read_pid(fd);
    if (pid > 0 && alive(pid)) return pid;
    const auto held_by = holder(fd);
    if (!held_by) return -1;
    if (*held_by > 0) return *held_by;  // a classic lock (programs not yet on InstanceLock)
    if (deadline.expired()) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

/// True if `path` still names the file open on `fd` (nobody unlinked or replaced it).
bool still_named(int fd, const std::string& path) {
  struct stat a {};
  struct stat b {};
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

}  // namespace

AlreadyRunning::AlreadyRunning(std::string_view name, pid_t pid, const std::string& path)
    : OperationFailed(fmt::format("{} is already running ({}; lock {})", name,
                                  pid > 0 ? fmt::format("pid {}", pid) : "pid unknown", path)),
      pid_(pid) {}

std::string InstanceLock::path_of(std::string_view name) {
  if (name.empty()) throw UsageError("instance lock: empty service name");
  return names::path(std::string(name) + ".lock");
}

InstanceLock InstanceLock::acquire(std::string_view name) {
  const std::string path = path_of(name);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    Fd fd(check_unix(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600),
                     "open(\"{}\")", path));
    if (try_lock(fd.get(), path)) {
      // A releasing owner unlinks the file before it drops the lock: if we locked a file
      // that is no longer at `path`, start again with the one that is.
      if (!still_named(fd.get(), path)) continue;
      const std::string text = fmt::format("{}\n", ::getpid());
      check_unix(::ftruncate(fd.get(), 0), "ftruncate(\"{}\")", path);
      check_unix(::pwrite(fd.get(), text.data(), text.size(), 0), "pwrite(\"{}\")", path);
      return InstanceLock(std::move(fd), path);
    }
    const pid_t owner = settled_owner(fd.get());
    if (owner >= 0) throw AlreadyRunning(name, owner, path);
    // Released while we looked: try again.
  }
  throw_error(EAGAIN, "lock \"{}\": taken and released {} times while acquiring", path,
              kMaxAttempts);
}

std::optional<pid_t> InstanceLock::held_by_live_owner(std::string_view name) {
  return lock_file_owner(path_of(name));
}

InstanceLock::InstanceLock(Fd fd, std::string path)
    : fd_(std::move(fd)), path_(std::move(path)), owner_(::getpid()) {}

InstanceLock::InstanceLock(InstanceLock&& other) noexcept
    : fd_(std::move(other.fd_)),
      path_(std::move(other.path_)),
      owner_(std::exchange(other.owner_, 0)) {}

InstanceLock& InstanceLock::operator=(InstanceLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::move(other.fd_);
    path_ = std::move(other.path_);
    owner_ = std::exchange(other.owner_, 0);
  }
  return *this;
}

InstanceLock::~InstanceLock() { release(); }

void InstanceLock::release() noexcept {
  if (!fd_.valid()) return;
  // Unlink while still holding the lock, then close: a process that opened the old file
  // meanwhile gets the lock on an unlinked inode, sees that, and starts again.
  if (owner_ == ::getpid() && still_named(fd_.get(), path_)) ::unlink(path_.c_str());
  fd_.reset();
}

std::optional<pid_t> lock_file_owner(const std::string& path) {
  const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (raw < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno("open(\"{}\")", path);
  }
  const Fd fd(raw);
  if (!holder(fd.get())) return std::nullopt;
  const pid_t owner = settled_owner(fd.get());
  if (owner < 0) return std::nullopt;
  return owner;
}

bool remove_stale_lock_file(const std::string& path, std::string* why) {
  const int raw = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (raw < 0) {
    if (errno == ENOENT) return true;
    if (why != nullptr) *why = ::strerrordesc_np(errno);
    return false;
  }
  const Fd fd(raw);
  struct flock fl = whole_file(F_WRLCK);
  if (::fcntl(fd.get(), F_OFD_SETLK, &fl) != 0) {
    const int err = errno;
    if (why != nullptr) {
      const pid_t pid = read_pid(fd.get());
      *why = err == EAGAIN || err == EACCES
                 ? fmt::format("held by a live owner ({})",
                               pid > 0 ? fmt::format("pid {}", pid) : "pid unknown")
                 : std::string(::strerrordesc_np(err));
    }
    return false;
  }
  if (!still_named(fd.get(), path)) {
    if (why != nullptr) *why = "replaced while being removed (run again)";
    return ::access(path.c_str(), F_OK) != 0;
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    if (why != nullptr) *why = ::strerrordesc_np(errno);
    return false;
  }
  return true;
}

}  // namespace ipclab
