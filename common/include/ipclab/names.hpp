// The naming layer: every IPC object in the kit is named here, so tests never collide and
// tools/ipc-clean can find what was left behind.
//
//   namespace  $IPCLAB_NS, default: the user name          ([A-Za-z0-9_-]{1,64})
//   POSIX      /ipclab.<ns>.<name>   (shm, named semaphores, message queues)
//   rundir     $IPCLAB_RUNDIR, default <base>/<ns>; base = $XDG_RUNTIME_DIR/ipclab or
//              /tmp/ipclab-<uid>. FIFOs, sockets, key files and databases live here.
//   SysV keys  ftok(<rundir>/<name>.key, 'I'): the key file is created on demand, so a
//              key is attributable to a namespace by its key file.
//
// Graders give each test its own namespace (and so its own rundir and POSIX prefix).
#pragma once

#include <sys/types.h>  // key_t

#include <cstdint>  // std::uint32_t

#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

namespace ipclab::names {

/// The namespace in force ($IPCLAB_NS, else the user name). Throws UsageError if invalid.
std::string ns();
/// "/ipclab.<ns>." — the prefix of every POSIX name in this namespace.
std::string posix_prefix();
/// "/ipclab.<ns>.<name>". `name` must be [A-Za-z0-9_.-]+ (no slash); UsageError otherwise.
std::string posix(std::string_view name);
/// The base under which default run directories live ($XDG_RUNTIME_DIR/ipclab or
/// /tmp/ipclab-<uid>).
std::string rundir_base();
/// The run directory of this namespace, created (mode 0700) if missing.
std::string rundir();
/// <rundir>/<name>, for FIFOs, sockets and files.
std::string path(std::string_view name);
/// The SysV key for `name`: ftok on <rundir>/<name>.key (created if missing).
key_t sysv_key(std::string_view name);
/// The key file behind sysv_key(name).
std::string sysv_key_file(std::string_view name);

/// Sun RPC program numbers a namespace registers with rpcbind: the transient range
/// 0x40000000-0x5fffffff, one number per namespace, the same every time (a hash of the
/// name). Graders pass it to servers as --prog, so parallel tests share one rpcbind without
/// colliding, and a registration left behind is attributable to its test.
inline constexpr std::uint32_t kRpcTransientFirst = 0x40000000;
inline constexpr std::uint32_t kRpcTransientLast = 0x5fffffff;
std::uint32_t rpc_program(std::string_view ns);
/// rpc_program(ns()).
std::uint32_t rpc_program();

/// Overrides for tests and tools (empty string = back to the environment's value).
void set_ns(std::string_view ns);
void set_rundir(std::string_view dir);

/// True if `ns` is a valid namespace name.
bool valid_ns(std::string_view ns);

/// Records a POSIX message-queue name in <rundir>/.mqueues so leftovers can be found even
/// where /dev/mqueue is not mounted. Called by PosixMq on create; harmless if repeated.
void record_mqueue(std::string_view full_name);
/// The names recorded by record_mqueue in a run directory.
std::vector<std::string> recorded_mqueues(const std::string& rundir);

}  // namespace ipclab::names
