// Lab 03: popen() and pclose() from scratch. Read the contract in
// include/lab03/mypopen.hpp and the README (Thinking exercise, Pitfalls) before you start.
#include "lab03/mypopen.hpp"

#include "ipclab/error.hpp"  // ipclab::NotImplemented

namespace ipclab::lab03 {

// TODO(lab03): add the bookkeeping you need: one table of open streams (the stream, its
// descriptor, the child's pid, its mode), guarded by one std::mutex.

FILE* mypopen([[maybe_unused]] const char* command, [[maybe_unused]] const char* mode) {
  // TODO(lab03):
  //  1. check command and the whole mode string ("r", "w", "re", "we"); otherwise set
  //     errno = EINVAL and return nullptr before anything is opened or started;
  //  2. with the table locked: make a pipe (pipe2 with O_CLOEXEC), wrap the parent's end
  //     in a FILE (fdopen), start `/bin/sh -c command` with the child's end on its stdin
  //     ("w") or stdout ("r") and every earlier stream's descriptor closed in the child
  //     (posix_spawn with file actions, or fork + async-signal-safe calls only + exec);
  //  3. close the child's end here, clear close-on-exec on the parent's end unless the
  //     mode has 'e', record {stream, fd, pid} in the table, return the stream.
  // Any failure returns nullptr with errno and leaves nothing behind: no descriptor and no
  // child. So whatever can fail (room in the table: std::bad_alloc is ENOMEM) fails before
  // the child is started.
  throw NotImplemented("TODO(lab03): implement mypopen() in src/mypopen.cpp");
}

int mypclose([[maybe_unused]] FILE* stream) {
  // TODO(lab03): find the stream in the table (not there: errno = ECHILD, return -1,
  // and do not touch the stream); remove it and fclose it; then waitpid() for its child
  // (that pid only), retrying on EINTR, and return the raw status.
  throw NotImplemented("TODO(lab03): implement mypclose() in src/mypopen.cpp");
}

}  // namespace ipclab::lab03
