// What IPC objects a namespace holds right now, and removing them. One implementation
// serves the graders' leak guard and tools/ipc-clean.
#pragma once

#include <sys/types.h>  // pid_t

#include <string>  // std::string
#include <vector>  // std::vector

namespace ipclab {

struct IpcObject {
  enum class Kind { kShm, kSem, kMqueue, kSysvMsg, kSysvSem, kSysvShm, kFifo, kSocket, kLockFile };
  Kind kind;
  std::string name;  // POSIX name ("/ipclab.ns.x"), path, or "key 0x... id N"
  int id = -1;       // SysV id, -1 otherwise
  std::string ns;    // the namespace it belongs to
  // Lock files (ipclab/instance_lock.hpp) only: `live` when a running owner holds it — a
  // service, not a leftover; remove_object refuses it. `pid`: that owner (0: unknown).
  bool live = false;
  pid_t pid = 0;
};

/// "shm", "sem", "mqueue", "sysv-msg", "sysv-sem", "sysv-shm", "fifo", "socket", "lock".
const char* kind_name(IpcObject::Kind kind);
/// One line: "<kind> <name>", plus " (held by pid N)" for a live lock file.
std::string describe(const IpcObject& obj);

/// Whether inventory() lists the single-instance lock files (<rundir>/*.lock).
enum class LockFiles { kSkip, kList };

/// Every object of namespace `ns`: POSIX shm and semaphores (/dev/shm), POSIX message
/// queues (/dev/mqueue; when it is not mounted, a private mount as root, else the
/// queues recorded in the run directory), SysV objects whose key comes from a key file in
/// `rundir`, and FIFOs and sockets in `rundir`; with LockFiles::kList also the lock files
/// `rundir`/*.lock, live or stale. Other regular files are not objects.
std::vector<IpcObject> inventory(const std::string& ns, const std::string& rundir,
                                 LockFiles lock_files = LockFiles::kSkip);

/// The namespaces that have anything under names::rundir_base() or a POSIX prefix.
std::vector<std::string> known_namespaces();

/// Removes one object; returns false (and fills `why`) if it could not be removed. A lock
/// file is removed only if no live owner holds it at that moment (remove_stale_lock_file).
bool remove_object(const IpcObject& obj, std::string* why = nullptr);

}  // namespace ipclab
