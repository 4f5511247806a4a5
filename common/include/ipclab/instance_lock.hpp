// One live owner per service: the single-instance lock every server takes.
//
// The lock is an OFD write lock (fcntl F_OFD_SETLK) on <rundir>/<name>.lock, a regular
// file named through ipclab::names, holding the owner's pid for humans and messages. The
// kernel drops the lock when the owner dies, however it dies; a file left by a dead owner
// is stale and the next acquire() takes it over. A clean release removes the file.
//
//   auto lock = ipclab::InstanceLock::acquire("calc_server");  // AlreadyRunning: exit 1
//   ... serve ...                                                 // ~InstanceLock removes it
//
//   // --unlink: remove a service's objects only when no live owner uses them. Taking the
//   // lock for the removal (not just asking) keeps a server from starting half-way.
//   auto lock = ipclab::InstanceLock::acquire("pool_manager");  // refuses while one runs
//   unlink the objects ...
//
// Why OFD locks: a classic POSIX lock (F_SETLK) is dropped when the process closes ANY
// descriptor of the file — held_by_live_owner() opening and closing the file would free
// the owner's lock. An OFD lock belongs to the open file description: only the owner's own
// close (or death) drops it, two descriptions conflict even in one process, and
// F_OFD_GETLK asks without taking. The descriptor is close-on-exec; a child forked without
// exec shares it (and so keeps the service "running" while it lives).
#pragma once

#include <sys/types.h>  // pid_t

#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "ipclab/error.hpp"  // OperationFailed
#include "ipclab/fd.hpp"     // Fd

namespace ipclab {

/// Another live process holds the service's lock. An OperationFailed: run_main exits 1.
/// what(): "calc_server is already running (pid 1234; lock <path>)".
class AlreadyRunning : public OperationFailed {
 public:
  AlreadyRunning(std::string_view name, pid_t pid, const std::string& path);
  /// The owner's pid as it wrote it in the lock file; 0 if it could not be read.
  pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_;
};

class InstanceLock {
 public:
  /// Takes the lock on <rundir>/<name>.lock (`name`: [A-Za-z0-9_.-], at most 59
  /// characters), creating the file or taking over a stale one, and writes our pid in it.
  /// Throws AlreadyRunning while a live owner holds it, UsageError for a bad name,
  /// SysError if the file cannot be opened or locked.
  static InstanceLock acquire(std::string_view name);

  /// The pid of the live owner of <rundir>/<name>.lock (0 if it holds the lock but its pid
  /// cannot be read), or nullopt when nobody holds it. Asks without taking the lock.
  static std::optional<pid_t> held_by_live_owner(std::string_view name);

  /// The lock file of service `name`: <rundir>/<name>.lock.
  static std::string path_of(std::string_view name);

  InstanceLock(InstanceLock&& other) noexcept;
  InstanceLock& operator=(InstanceLock&& other) noexcept;
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;
  /// release().
  ~InstanceLock();

  /// Removes the lock file if it still is ours (same inode, and we are the process that
  /// took it — not a forked child), then drops the lock. Idempotent; never throws.
  void release() noexcept;

  const std::string& path() const noexcept { return path_; }
  bool held() const noexcept { return fd_.valid(); }

 private:
  InstanceLock(Fd fd, std::string path);
  Fd fd_;
  std::string path_;
  pid_t owner_ = 0;  // getpid() at acquire: a forked child's copy does not remove the file
};

/// For tools and the inventory, by path: the pid of the live owner of the lock file
/// `path` (0 if unreadable), or nullopt if no one holds it or it does not exist.
std::optional<pid_t> lock_file_owner(const std::string& path);

/// Removes the lock file `path` unless a live owner holds it (then returns false and sets
/// *why to "held by pid N"). Takes the lock while it unlinks, so an owner starting at the
/// same moment either finds the file gone or wins before the removal. True if the file is
/// gone afterwards.
bool remove_stale_lock_file(const std::string& path, std::string* why = nullptr);

}  // namespace ipclab
