// Lab 01 reference: running cmd1 | cmd2 | ... | cmdN.
//
// The descriptor discipline, which is the whole lab:
//   - pipes are made with O_CLOEXEC, one at a time, just before the stage that writes it,
//     so at most two pipe ends are open in this process at once and no other thread's
//     children can inherit them;
//   - a child dup2()s its two ends onto 0 and 1 (dup2 clears close-on-exec on the copy),
//     then closes everything from 3 up, so the program starts with exactly 0, 1, 2;
//   - the parent closes each end as soon as the child that needs it exists: a reader sees
//     EOF only when *every* copy of the write end is closed, in every process.
//   - SIGPIPE goes back to its default in the child: if the caller ignores it, an
//     upstream `yes` would get EPIPE errors instead of dying quietly like in a shell.
#include <fcntl.h>         // O_CLOEXEC, fcntl, F_DUPFD_CLOEXEC
#include <signal.h>        // signal, SIGPIPE
#include <string.h>        // strerrordesc_np
#include <sys/resource.h>  // getrlimit, RLIMIT_NOFILE
#include <sys/syscall.h>   // SYS_close_range
#include <sys/wait.h>      // waitpid
#include <unistd.h>        // fork, dup2, execvp, pipe2

#include <cerrno>   // errno
#include <cstring>  // std::strlen

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // UsageError, throw_errno
#include "lab01/pipeline.hpp"

namespace ipclab::lab01 {
namespace {

/// write(2) in a loop: the child may only use async-signal-safe calls after fork.
void write_stderr(const char* s) {
  std::size_t len = std::strlen(s);
  while (len > 0) {
    const ssize_t n = ::write(2, s, len);
    if (n <= 0) return;
    s += n;
    len -= static_cast<std::size_t>(n);
  }
}

/// The child's side: wire up 0 and 1, shed every other descriptor, exec. Never returns.
[[noreturn]] void exec_stage(const std::vector<char*>& argv, int in_fd, int out_fd) {
  (void)::signal(SIGPIPE, SIG_DFL);  // cannot fail for SIGPIPE with SIG_DFL
  if (in_fd != 0 && ::dup2(in_fd, 0) < 0) ::_exit(kNotExecutable);
  if (out_fd != 1 && ::dup2(out_fd, 1) < 0) ::_exit(kNotExecutable);
  // Close 3 and up (in_fd/out_fd included: they now live on as 0 and 1).
  // A kernel without close_range (before 5.9): every descriptor below the limit.
  if (::syscall(SYS_close_range, 3U, ~0U, 0U) < 0) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) < 0) ::_exit(kNotExecutable);
    for (rlim_t fd = 3; fd < rl.rlim_cur; ++fd) ::close(static_cast<int>(fd));
  }
  ::execvp(argv[0], argv.data());
  const int err = errno;
  const bool not_found = err == ENOENT && std::strchr(argv[0], '/') == nullptr;
  write_stderr("mypipe: ");
  write_stderr(argv[0]);
  write_stderr(": ");
  write_stderr(not_found ? "command not found" : strerrordesc_np(err));
  write_stderr("\n");
  ::_exit(err == ENOENT ? kNotFound : kNotExecutable);
}

/// A pipe end moved above 2 if it landed on 0, 1 or 2 (the caller had closed one of them):
/// there it would be mistaken for the caller's stdin or stdout, and a child's dup2 onto
/// itself would keep its close-on-exec flag. Returns -1 (errno set) if that fails.
int above_stdio(int fd) {
  if (fd > 2) return fd;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const int err = errno;
  ::close(fd);
  errno = err;
  return moved;
}

void wait_all(PipelineResult& result) {
  for (auto& stage : result.stages) {
    if (stage.pid <= 0) continue;
    int status = 0;
    while (::waitpid(stage.pid, &status, 0) < 0) {
      if (errno != EINTR) throw_errno("waitpid({})", stage.pid);
    }
    stage.status = WaitStatus(status);
    stage.exit_code = stage.status.shell_status();
  }
}

}  // namespace

PipelineResult run_pipeline(const std::vector<Command>& commands, const Options& opts) {
  if (commands.empty()) throw UsageError("empty pipeline: give at least one command");
  for (std::size_t i = 0; i < commands.size(); ++i)
    if (commands[i].argv.empty()) throw UsageError(fmt::format("command {} is empty", i + 1));

  PipelineResult result;
  result.stages.resize(commands.size());
  int prev_read = -1;  // read end of the pipe from the previous stage (this process's copy)
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const bool last = i + 1 == commands.size();
    int fds[2] = {-1, -1};
    if (!last && (::pipe2(fds, O_CLOEXEC) < 0 || (fds[0] = above_stdio(fds[0])) < 0 ||
                  (fds[1] = above_stdio(fds[1])) < 0)) {
      const int err = errno;
      for (const int fd : fds)
        if (fd >= 0) ::close(fd);
      if (prev_read >= 0) ::close(prev_read);
      wait_all(result);  // every stage already started ends: its pipe ends are closed here
      throw_error(err, "pipe2 for stage {}", i + 1);
    }
    // Built before fork: the child must not allocate.
    std::vector<char*> argv;
    for (const auto& a : commands[i].argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid == 0)
      exec_stage(argv, i == 0 ? opts.stdin_fd : prev_read, last ? opts.stdout_fd : fds[1]);
    const int fork_errno = errno;
    // Parent: the ends now held by the child are closed here at once.
    if (prev_read >= 0) ::close(prev_read);
    if (!last) ::close(fds[1]);
    prev_read = last ? -1 : fds[0];
    if (pid < 0) {
      if (prev_read >= 0) ::close(prev_read);
      wait_all(result);
      throw_error(fork_errno, "fork for stage {} ({})", i + 1, commands[i].argv[0]);
    }
    result.stages[i].pid = pid;
  }

  wait_all(result);
  result.exit_code = result.stages.back().exit_code;
  if (opts.pipefail) {
    result.exit_code = 0;
    for (const auto& s : result.stages)
      if (s.exit_code != 0) result.exit_code = s.exit_code;  // the rightmost failure wins
  }
  return result;
}

}  // namespace ipclab::lab01
