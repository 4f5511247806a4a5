// What IPC objects a namespace holds right now, and removing them. One implementation
// serves the graders' leak guard and tools/ipc-clean.
#pragma once

#include <string>  // std::string
#include <vector>  // std::vector

namespace ipclab {

struct IpcObject {
  enum class Kind { kShm, kSem, kMqueue, kSysvMsg, kSysvSem, kSysvShm, kFifo, kSocket };
  Kind kind;
  std::string name;  // POSIX name ("/ipclab.ns.x"), path, or "key 0x... id N"
  int id = -1;       // SysV id, -1 otherwise
  std::string ns;    // the namespace it belongs to
};

/// "shm", "sem", "mqueue", "sysv-msg", "sysv-sem", "sysv-shm", "fifo", "socket".
const char* kind_name(IpcObject::Kind kind);
/// One line: "<kind> <name>".
std::string describe(const IpcObject& obj);

/// Every object of namespace `ns`: POSIX shm and semaphores (/dev/shm), POSIX message
/// queues (/dev/mqueue; when it is not mounted, a private mount as root, else the
/// queues recorded in the run directory), SysV objects whose key comes from a key file in
/// `rundir`, and FIFOs and sockets in `rundir`. Regular files are not objects.
std::vector<IpcObject> inventory(const std::string& ns, const std::string& rundir);

/// The namespaces that have anything under names::rundir_base() or a POSIX prefix.
std::vector<std::string> known_namespaces();

/// Removes one object; returns false (and fills `why`) if it could not be removed.
bool remove_object(const IpcObject& obj, std::string* why = nullptr);

}  // namespace ipclab
