// Lab 03 reference: popen()/pclose() from scratch.
//
// Why this design:
//   - The table. Every open stream is one Entry {stream, its descriptor, child pid, mode}
//     in one vector guarded by one mutex. mypopen() holds the mutex from pipe2() until the
//     new stream is in the table, the spawn included; mypclose() holds it from the lookup
//     until the descriptor is closed. So while a child is being set up, the set of
//     "streams from earlier calls that remain open" is exact: no stream can appear (its
//     descriptor inheritable but not yet listed) or disappear (its descriptor number
//     closed and reused by someone else) under our feet.
//   - Pipes are born O_CLOEXEC, so no other fork+exec in this process (another thread's
//     system(), a spawn) inherits them. Without `e` in the mode, the parent's end loses
//     the flag after the spawn, as in glibc: a POSIX popen stream is inheritable. Our own
//     later children close it explicitly (a posix_spawn file action per open stream).
//   - The child is started with posix_spawn: in glibc it is a clone(CLONE_VM|CLONE_VFORK)
//     that runs only glibc's own spawn code until execve, so it is safe from a threaded
//     process (no lock taken after fork in a child) and ThreadSanitizer has nothing to
//     say. fork+exec works too if the child calls only async-signal-safe functions.
//   - File actions, in order: dup2(child end, 0 or 1) — a same-number dup2 clears
//     close-on-exec (POSIX 2017, glibc >= 2.29) — then close() every earlier stream's
//     descriptor except the one the dup2 just replaced. The child's copy of the child end
//     is O_CLOEXEC and goes at exec.
//   - mypclose() flushes a "w" stream outside the lock (the flush can block on a full
//     pipe, and must not block every other thread's mypopen), closes it under the lock,
//     and waits for the pid outside the lock (another thread's mypclose must not wait for
//     our child to exit).
//
// Lock order: table_mutex is the only lock; stdio's own stream locks are taken inside it
// (fdopen, fclose) but never the other way round.
#include "lab03/mypopen.hpp"

#include <fcntl.h>     // O_CLOEXEC, fcntl
#include <spawn.h>     // posix_spawn, posix_spawn_file_actions_*
#include <sys/wait.h>  // waitpid
#include <unistd.h>    // pipe2, close

#include <algorithm>    // std::find_if
#include <cerrno>       // errno
#include <mutex>        // std::mutex, std::lock_guard
#include <new>          // std::bad_alloc
#include <string_view>  // std::string_view
#include <vector>       // std::vector

extern char** environ;  // the child gets this process's environment, as with popen

namespace ipclab::lab03 {
namespace {

struct Entry {
  FILE* stream;
  int fd;  // the parent's end, fileno(stream): spawning never touches another thread's FILE
  pid_t pid;
  bool writing;
};

/// All open mypopen() streams. Never destroyed (a heap object): a thread still closing a
/// stream during exit() must not find a destroyed vector.
struct Table {
  std::mutex mutex;
  std::vector<Entry> entries;  // guarded by mutex
};
Table& table() {
  static auto* t = new Table;  // NOLINT(cppcoreguidelines-owning-memory): intentionally leaked
  return *t;
}

std::vector<Entry>::iterator find(std::vector<Entry>& entries, FILE* stream) {
  return std::find_if(entries.begin(), entries.end(),
                      [stream](const Entry& e) { return e.stream == stream; });
}

struct Mode {
  bool read;
  bool cloexec;
};

/// "r", "w", "re", "we"; anything else is invalid.
bool parse_mode(const char* mode, Mode& out) {
  if (mode == nullptr) return false;
  const std::string_view m(mode);
  if (m == "r" || m == "re" || m == "w" || m == "we") {
    out = {m[0] == 'r', m.size() == 2};
    return true;
  }
  return false;
}

/// Owns a posix_spawn_file_actions_t.
class FileActions {
 public:
  FileActions() { ok_ = ::posix_spawn_file_actions_init(&fa_) == 0; }
  ~FileActions() {
    if (ok_) ::posix_spawn_file_actions_destroy(&fa_);
  }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  bool ok() const { return ok_; }
  posix_spawn_file_actions_t* get() { return &fa_; }

 private:
  posix_spawn_file_actions_t fa_{};
  bool ok_ = false;
};

/// Starts /bin/sh -c command with child_end on target and every open stream closed.
/// Returns 0 or an error number. Called with the table locked.
int spawn_shell(const char* command, int child_end, int target,
                const std::vector<Entry>& open_streams, pid_t& pid) {
  FileActions fa;
  if (!fa.ok()) return ENOMEM;
  int rc = ::posix_spawn_file_actions_adddup2(fa.get(), child_end, target);
  for (const Entry& e : open_streams)
    if (rc == 0 && e.fd != target)  // that number now is the child's own end
      rc = ::posix_spawn_file_actions_addclose(fa.get(), e.fd);
  if (rc != 0) return rc;
  char sh[] = "sh";
  char dash_c[] = "-c";
  char* const argv[] = {sh, dash_c, const_cast<char*>(command), nullptr};
  return ::posix_spawn(&pid, "/bin/sh", fa.get(), nullptr, argv, environ);
}

}  // namespace

FILE* mypopen(const char* command, const char* mode) {
  Mode m{};
  if (command == nullptr || !parse_mode(mode, m)) {
    errno = EINVAL;
    return nullptr;
  }
  Table& t = table();
  try {
    const std::lock_guard lock(t.mutex);
    t.entries.reserve(t.entries.size() + 1);  // bad_alloc now, before a child exists

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) return nullptr;
    const int parent_end = m.read ? fds[0] : fds[1];
    const int child_end = m.read ? fds[1] : fds[0];
    FILE* stream = ::fdopen(parent_end, m.read ? "r" : "w");
    if (stream == nullptr) {
      const int err = errno;
      ::close(fds[0]);
      ::close(fds[1]);
      errno = err;
      return nullptr;
    }
    pid_t pid = -1;
    const int rc = spawn_shell(command, child_end, m.read ? 1 : 0, t.entries, pid);
    ::close(child_end);  // the child has it now; ours would keep EOF/SIGPIPE from happening
    if (rc != 0) {
      std::fclose(stream);  // NOLINT(cert-err33-c): closing a stream nobody used
      errno = rc;
      return nullptr;
    }
    if (!m.cloexec) ::fcntl(parent_end, F_SETFD, 0);          // cannot fail on an open descriptor
    t.entries.push_back({stream, parent_end, pid, !m.read});  // capacity reserved: no throw
    return stream;
  } catch (const std::bad_alloc&) {
    errno = ENOMEM;
    return nullptr;
  }
}

int mypclose(FILE* stream) {
  Table& t = table();
  bool writing = false;
  {
    const std::lock_guard lock(t.mutex);
    const auto it = find(t.entries, stream);
    if (it == t.entries.end()) {
      errno = ECHILD;  // not ours: never touch it (it may be someone's fopen, or freed)
      return -1;
    }
    writing = it->writing;
  }
  // A failed flush (EPIPE: the child is gone) does not change what pclose reports: the
  // child's status. The data is lost either way.
  if (writing) (void)std::fflush(stream);

  pid_t pid = -1;
  {
    const std::lock_guard lock(t.mutex);
    const auto it = find(t.entries, stream);
    if (it == t.entries.end()) {  // another thread closed it meanwhile (caller's bug)
      errno = ECHILD;
      return -1;
    }
    pid = it->pid;
    t.entries.erase(it);
    // Closed under the lock: once the number is free, a new mypopen may reuse it, and no
    // child may be spawned in between that holds this end without the table knowing.
    std::fclose(stream);  // NOLINT(cert-err33-c): its only error (flush) is reported above
  }

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;  // ECHILD: reaped elsewhere (SIGCHLD ignored, wait(-1))
  return status;
}

}  // namespace ipclab::lab03
