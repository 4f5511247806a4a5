// Processes: spawning with a chosen fd table, decoding wait statuses, timed waits, and
// killing process groups.
#pragma once

#include <sys/types.h>  // pid_t

#include <chrono>       // std::chrono::duration
#include <cstdint>      // std::uint64_t
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::pair
#include <vector>       // std::vector

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/fd.hpp"     // Fd

namespace ipclab {

/// A decoded wait(2) status.
class WaitStatus {
 public:
  WaitStatus() = default;
  explicit WaitStatus(int raw) : raw_(raw) {}
  int raw() const { return raw_; }
  bool exited() const;
  bool signaled() const;
  /// Exit code if exited(), else -1.
  int exit_code() const;
  /// Signal number if signaled(), else 0.
  int signal() const;
  bool core_dumped() const;
  /// The shell's $? for this status: the exit code, or 128 + signal.
  int shell_status() const;
  /// "exited with status 3", "killed by signal 9 (Killed)".
  std::string describe() const;

 private:
  int raw_ = 0;
};

struct SpawnOptions {
  /// Descriptors the child gets as 0, 1, 2 (-1: inherit this process's). Every other
  /// descriptor is closed in the child, whatever its close-on-exec flag.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  /// Extra descriptors to keep: {parent_fd, child_fd} (child_fd >= 3).
  std::vector<std::pair<int, int>> extra_fds;
  /// Environment changes: "NAME=value" sets, "NAME" (no '=') unsets.
  std::vector<std::string> env;
  /// Put the child in a new process group of its own (pgid = pid).
  bool new_process_group = false;
  /// Signal the child receives when this process dies (PR_SET_PDEATHSIG); 0 = none.
  int parent_death_signal = 0;
  /// Working directory for the child ("" = inherit).
  std::string cwd;
};

/// Starts argv[0] (searched in PATH when it has no '/') with signal dispositions and mask
/// reset to defaults. Throws SysError if the program cannot be started (ENOENT, EACCES):
/// the exec error is reported back to the parent, not left for the child to print.
pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& opts = {});

/// waitpid(pid, 0) retrying EINTR.
WaitStatus wait_for(pid_t pid);
/// Waits until the child exits or the deadline passes (pidfd + poll). nullopt on timeout
/// (the child is left running).
std::optional<WaitStatus> wait_for(pid_t pid, const Deadline& deadline);
/// Non-blocking check; nullopt if still running.
std::optional<WaitStatus> try_wait(pid_t pid);
/// A pidfd for `pid` (pidfd_open, close-on-exec): poll() it with other descriptors, it
/// becomes readable when the process exits (it does not reap). An invalid Fd on kernels
/// without pidfd_open (ENOSYS, before Linux 5.3): callers fall back to polling try_wait.
/// Throws SysError otherwise (ESRCH: no such process).
Fd pidfd_open(pid_t pid);

/// kill(-pgid, sig); ESRCH (group already gone) is not an error. Returns false if gone.
bool kill_group(pid_t pgid, int sig);
/// SIGKILL to the process and to the group it leads (if any), then waits for it: for a
/// child that passed its deadline.
WaitStatus kill_and_reap(pid_t pid);

/// Children of `pid` (from /proc; pid 0 = this process).
std::vector<pid_t> child_pids(pid_t pid = 0);
/// The fields of /proc/<pid>/stat the kit uses (pid 0 = this process).
struct ProcStat {
  char state = 0;  // 'R', 'S', 'Z', ...
  pid_t ppid = 0;
  std::uint64_t utime_ticks = 0;  // user CPU time, in clock ticks (sysconf(_SC_CLK_TCK))
  std::uint64_t stime_ticks = 0;  // system CPU time, in clock ticks
};
/// nullopt if the process does not exist (any more).
std::optional<ProcStat> proc_stat(pid_t pid);
/// The one-letter state of a process from /proc/<pid>/stat ('R', 'S', 'Z', ...), or 0 if
/// it does not exist.
char process_state(pid_t pid);
/// The command name (/proc/<pid>/comm), empty if gone.
std::string process_comm(pid_t pid);

/// "ls -l 'a b'" — argv quoted for a shell, for messages.
std::string shell_quote(const std::vector<std::string>& argv);

}  // namespace ipclab
