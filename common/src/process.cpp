#include "ipclab/process.hpp"

#include <dirent.h>             // opendir
#include <fcntl.h>              // fcntl
#include <linux/close_range.h>  // CLOSE_RANGE_CLOEXEC
#include <poll.h>               // poll
#include <signal.h>             // kill, sigaction
#include <sys/prctl.h>          // prctl, PR_SET_PDEATHSIG
#include <sys/syscall.h>        // SYS_pidfd_open
#include <sys/wait.h>           // waitpid
#include <unistd.h>             // fork, execve

#include <algorithm>  // std::max
#include <cerrno>     // errno
#include <charconv>   // std::from_chars
#include <cstring>    // std::strlen, sigdescr_np
#include <fstream>    // std::ifstream
#include <set>        // std::set
#include <sstream>    // std::istringstream
#include <thread>     // std::this_thread::sleep_for

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // throw_errno
#include "ipclab/fd.hpp"     // Fd, make_pipe
#include "ipclab/io.hpp"     // read_file

extern char** environ;

namespace ipclab {

bool WaitStatus::exited() const { return WIFEXITED(raw_); }
bool WaitStatus::signaled() const { return WIFSIGNALED(raw_); }
int WaitStatus::exit_code() const { return exited() ? WEXITSTATUS(raw_) : -1; }
int WaitStatus::signal() const { return signaled() ? WTERMSIG(raw_) : 0; }
bool WaitStatus::core_dumped() const { return signaled() && WCOREDUMP(raw_); }
int WaitStatus::shell_status() const { return exited() ? exit_code() : 128 + signal(); }

std::string WaitStatus::describe() const {
  if (exited()) return fmt::format("exited with status {}", exit_code());
  if (signaled())
    // sigdescr_np, not strsignal: it is thread-safe (a static table, no shared buffer).
    return fmt::format("killed by signal {} ({}){}", signal(),
                       ::sigdescr_np(signal()) != nullptr ? ::sigdescr_np(signal()) : "unknown",
                       core_dumped() ? ", core dumped" : "");
  return fmt::format("raw wait status 0x{:x}", raw_);
}

namespace {

/// PATH search done in the parent, so the child calls only async-signal-safe functions.
std::string resolve_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path_env = std::getenv("PATH");
  std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) dir = ".";
    std::string candidate = dir;
    candidate += '/';
    candidate += name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::vector<std::string> build_env(const std::vector<std::string>& changes) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  for (const auto& change : changes) {
    const auto eq = change.find('=');
    const std::string key = change.substr(0, eq) + "=";
    std::erase_if(env, [&](const std::string& kv) { return kv.compare(0, key.size(), key) == 0; });
    if (eq != std::string::npos) env.push_back(change);
  }
  return env;
}

[[noreturn]] void child_fail(int err_fd, int err) {
  // Report errno to the parent through the close-on-exec pipe, then die.
  (void)!::write(err_fd, &err, sizeof err);
  ::_exit(127);
}

}  // namespace

pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& opts) {
  if (argv.empty()) throw_error(EINVAL, "spawn: empty argv");
  const std::string program = resolve_program(argv[0]);
  if (program.empty()) throw_error(ENOENT, "spawn \"{}\"", argv[0]);

  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const auto env = build_env(opts.env);
  std::vector<char*> cenv;
  cenv.reserve(env.size() + 1);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  // Where each descriptor must end up in the child.
  std::vector<std::pair<int, int>> moves;  // {source fd, target fd}
  if (opts.stdin_fd >= 0) moves.emplace_back(opts.stdin_fd, 0);
  if (opts.stdout_fd >= 0) moves.emplace_back(opts.stdout_fd, 1);
  if (opts.stderr_fd >= 0) moves.emplace_back(opts.stderr_fd, 2);
  for (const auto& m : opts.extra_fds) moves.push_back(m);
  int max_target = 2;
  for (const auto& m : moves) max_target = std::max(max_target, m.second);
  constexpr std::size_t kMaxMoves = 64;  // the child keeps them in a fixed array (no malloc)
  if (moves.size() > kMaxMoves)
    throw_error(EINVAL, "spawn \"{}\": more than {} descriptors to pass", argv[0], kMaxMoves);

  Pipe err_pipe = make_pipe(O_CLOEXEC);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork for \"{}\"", argv[0]);
  if (pid == 0) {
    // Child: async-signal-safe calls only from here to execve.
    // The error pipe must not sit on a target descriptor: move it above them all.
    const int efd = ::fcntl(err_pipe.write.get(), F_DUPFD_CLOEXEC, max_target + 1);
    if (efd < 0) child_fail(err_pipe.write.get(), errno);  // before any dup2 could clobber it
    if (opts.new_process_group) ::setpgid(0, 0);
    if (opts.parent_death_signal != 0) {
      if (::prctl(PR_SET_PDEATHSIG, opts.parent_death_signal) < 0) child_fail(efd, errno);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    }
    // Move sources above every target first, so no dup2 clobbers a later source.
    int tmp[kMaxMoves];
    const std::size_t n = moves.size();
    for (std::size_t i = 0; i < n; ++i) {
      tmp[i] = ::fcntl(moves[i].first, F_DUPFD, max_target + 1);
      if (tmp[i] < 0) child_fail(efd, errno);
    }
    for (std::size_t i = 0; i < n; ++i)
      if (::dup2(tmp[i], moves[i].second) < 0) child_fail(efd, errno);
    // Everything except 0-2 and the targets goes at exec. CLOSE_RANGE_CLOEXEC keeps the
    // error pipe usable until execve succeeds.
    for (int fd = 3; fd <= max_target; ++fd) {
      bool keep = false;
      for (std::size_t i = 0; i < n; ++i) keep = keep || moves[i].second == fd;
      if (!keep && fd != efd) ::close(fd);  // targets: dup2 already cleared close-on-exec
    }
    if (::syscall(SYS_close_range, max_target + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
      for (int fd = max_target + 1; fd < 65536; ++fd)
        if (fd != efd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // EINVAL for some: fine
    sigset_t none;
    sigemptyset(&none);
    // The child has one thread, so the process-wide mask is its own.
    // NOLINTNEXTLINE(concurrency-mt-unsafe)
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!opts.cwd.empty() && ::chdir(opts.cwd.c_str()) < 0) child_fail(efd, errno);
    ::execve(program.c_str(), cargv.data(), cenv.data());
    child_fail(efd, errno);
  }
  err_pipe.write.reset();
  int child_errno = 0;
  const ssize_t got = retry_eintr(::read, err_pipe.read.get(), &child_errno, sizeof child_errno);
  if (got == sizeof child_errno) {
    ::waitpid(pid, nullptr, 0);
    throw_error(child_errno, "exec \"{}\"", argv[0]);
  }
  return pid;
}

WaitStatus wait_for(pid_t pid) {
  int status = 0;
  if (retry_eintr(::waitpid, pid, &status, 0) < 0) throw_errno("waitpid({})", pid);
  return WaitStatus(status);
}

std::optional<WaitStatus> try_wait(pid_t pid) {
  int status = 0;
  const pid_t r = retry_eintr(::waitpid, pid, &status, WNOHANG);
  if (r < 0) throw_errno("waitpid({}, WNOHANG)", pid);
  if (r == 0) return std::nullopt;
  return WaitStatus(status);
}

Fd pidfd_open(pid_t pid) {
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0 && errno == ENOSYS) return Fd();
  check_unix(fd, "pidfd_open({})", pid);
  const int raw = static_cast<int>(fd);
  set_cloexec(raw, true);  // pidfd_open has set it since 5.10; say so for older kernels
  return Fd(raw);
}

std::optional<WaitStatus> wait_for(pid_t pid, const Deadline& deadline) {
  if (auto st = try_wait(pid)) return st;  // and ECHILD for a pid that is not our child
  const Fd pidfd = pidfd_open(pid);
  if (pidfd.valid()) {
    for (;;) {
      if (auto st = try_wait(pid)) return st;
      pollfd p{pidfd.get(), POLLIN, 0};
      const int r = ::poll(&p, 1, deadline.poll_ms());
      if (r < 0 && errno != EINTR) throw_errno("poll(pidfd of {})", pid);
      if (r == 0) return try_wait(pid);  // deadline passed
    }
  }
  // No pidfd (old kernel): poll with a short, growing interval.
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    if (auto st = try_wait(pid)) return st;
    if (deadline.expired()) return std::nullopt;
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline.remaining()));
    pause = std::min(pause * 2, std::chrono::microseconds(10'000));
  }
}

bool kill_group(pid_t pgid, int sig) {
  if (::kill(-pgid, sig) == 0) return true;
  if (errno == ESRCH) return false;
  throw_errno("kill(-{}, {})", pgid, sig);
}

WaitStatus kill_and_reap(pid_t pid) {
  kill_group(pid, SIGKILL);  // ESRCH when it leads no group: fine
  ::kill(pid, SIGKILL);
  return wait_for(pid);
}

std::vector<pid_t> child_pids(pid_t pid) {
  const pid_t self = pid == 0 ? ::getpid() : pid;
  std::set<pid_t> out;
  const std::string task_dir = fmt::format("/proc/{}/task", self);
  bool have_children_files = false;
  if (DIR* d = ::opendir(task_dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream in(task_dir + "/" + e->d_name + "/children");
      if (!in) continue;
      have_children_files = true;
      for (pid_t c; in >> c;) out.insert(c);
    }
    ::closedir(d);
  }
  if (!have_children_files) {
    // Kernel without CONFIG_PROC_CHILDREN: scan every /proc/<pid>/stat for the parent.
    if (DIR* d = ::opendir("/proc")) {
      while (const dirent* e = ::readdir(d)) {
        pid_t p = 0;
        const char* name = e->d_name;
        const auto [end, ec] = std::from_chars(name, name + std::strlen(name), p);
        if (ec != std::errc{} || *end != '\0' || p <= 0) continue;
        if (const auto st = proc_stat(p); st && st->ppid == self) out.insert(p);
      }
      ::closedir(d);
    }
  }
  return {out.begin(), out.end()};
}

std::optional<ProcStat> proc_stat(pid_t pid) {
  const std::string stat = read_file(fmt::format("/proc/{}/stat", pid == 0 ? ::getpid() : pid));
  // The command name (field 2) is in parentheses and may itself contain ')' or blanks:
  // the fields that follow start after the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  ProcStat st;
  std::string skip;
  rest >> st.state >> st.ppid;
  for (int field = 5; field <= 13; ++field) rest >> skip;  // pgrp .. cmajflt
  rest >> st.utime_ticks >> st.stime_ticks;
  if (!rest) return std::nullopt;
  return st;
}

char process_state(pid_t pid) {
  const auto st = proc_stat(pid);
  return st ? st->state : 0;
}

std::string process_comm(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/comm", pid));
  std::string comm;
  std::getline(in, comm);
  return comm;
}

std::string shell_quote(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain =
        !a.empty() &&
        a.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") ==
            std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

}  // namespace ipclab
