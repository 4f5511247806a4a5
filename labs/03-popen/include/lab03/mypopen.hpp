// Lab 03 — popen() and pclose() from scratch: a pipe, a child running /bin/sh -c COMMAND,
// and a table that remembers which child belongs to which stream. You write mypopen() and
// mypclose() (src/mypopen.cpp); the RAII wrapper Popen (lab03/popen.hpp) and the program
// test_mypopen (main/test_mypopen.cpp) are given.
#pragma once

#include <cstdio>  // FILE

namespace ipclab::lab03 {

/**
 * @brief Starts `/bin/sh -c command` with a pipe to or from it, like POSIX popen(3).
 *
 * Mode "r": the child's stdout is the write end of a new pipe and the returned stream
 * reads its read end. Mode "w": the child's stdin is the read end and the stream writes
 * the write end. "re" and "we" do the same and also set close-on-exec on the parent's end
 * (the stream's descriptor); without the `e` that descriptor does not have it, as in
 * glibc. Every other descriptor of the caller is inherited by the child as by fork+exec,
 * EXCEPT the descriptors of streams from earlier mypopen() calls that are still open:
 * the child must not hold them (POSIX: "popen() shall ensure that any streams from
 * previous popen() calls that remain open in the parent process are closed in the new
 * child process"). The child's stderr is the caller's.
 *
 * Thread-safe: any thread may call mypopen() and mypclose() at any time, and a child
 * started in one thread never holds a stream another thread opened.
 *
 * @param command  a shell command line, run by /bin/sh -c (argv: "sh", "-c", command)
 * @param mode     exactly "r", "w", "re" or "we"
 * @return         the stream, or nullptr with errno set: EINVAL for a null command, a
 *                 null mode or any other mode string (then nothing was started and no
 *                 descriptor was opened); the error of pipe2/posix_spawn/fork otherwise
 *                 (EMFILE, EAGAIN, ENOMEM, ...), with nothing left behind
 *
 * TODO(lab03): implement in src/mypopen.cpp.
 */
FILE* mypopen(const char* command, const char* mode);

/**
 * @brief Closes a stream from mypopen() and waits for its child, like POSIX pclose(3).
 *
 * Flushes and closes the stream (so a "w" child sees end of file), then waits for that
 * child, and only that child (not wait(-1)), retrying when a signal interrupts the wait.
 *
 * @param stream  a stream returned by mypopen() and not closed yet
 * @return        the child's wait status as waitpid(2) reports it (so `exit 42` gives
 *                WIFEXITED and WEXITSTATUS 42; a shell killed by SIGTERM gives WIFSIGNALED
 *                and WTERMSIG 15), or -1 with errno set:
 *                ECHILD if `stream` is not an open mypopen() stream (nullptr, a stream
 *                from fopen(), one already closed by mypclose()): it is left untouched;
 *                ECHILD if the child's status cannot be obtained because it was reaped
 *                elsewhere (SIGCHLD ignored, someone else's wait): the stream is closed.
 *
 * TODO(lab03): implement in src/mypopen.cpp.
 */
int mypclose(FILE* stream);

}  // namespace ipclab::lab03
