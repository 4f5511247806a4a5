// Shared by lab 03's public and hidden tests: reading and writing a mypopen() stream's
// descriptor with deadlines, a mypclose() that cannot hang the test, glibc's popen as the
// reference, and looking at a child's descriptor table.
//
// Why deadlines everywhere: the classic popen mistakes (a pipe end left open in the parent
// or in some child) do not fail, they hang: a read that never sees EOF, a pclose that waits
// for a child that waits for EOF. The helpers turn a hang into a failure with a message,
// and undo it (kill the children) so the rest of the test can still report.
#pragma once

#include <limits.h>    // PIPE_BUF
#include <poll.h>      // poll
#include <signal.h>    // kill, SIGKILL
#include <sys/wait.h>  // WIFEXITED
#include <unistd.h>    // read, write

#include <algorithm>         // std::set_difference
#include <cerrno>            // errno
#include <cstdio>            // FILE, popen, pclose
#include <cstring>           // strerrorname_np, strerrordesc_np
#include <exception>         // std::exception_ptr
#include <filesystem>        // std::filesystem::create_directories
#include <fstream>           // std::ofstream
#include <future>            // std::promise, std::future
#include <initializer_list>  // std::initializer_list
#include <optional>          // std::optional
#include <set>               // std::set
#include <string>            // std::string
#include <string_view>       // std::string_view
#include <thread>            // std::thread
#include <vector>            // std::vector

#include "grader/grader.hpp"
#include "ipclab/clock.hpp"    // Deadline
#include "ipclab/error.hpp"    // throw_errno
#include "ipclab/fd.hpp"       // open_fds, fd_target
#include "ipclab/process.hpp"  // child_pids, process_comm, WaitStatus
#include "lab03/mypopen.hpp"
#include "lab03/popen.hpp"

using namespace std::chrono_literals;

namespace lab03_test {

namespace lab = ipclab::lab03;

using lab::mypclose;
using lab::mypopen;

/// "EINVAL (Invalid argument)" for messages.
inline std::string errno_name(int err) {
  const char* name = ::strerrorname_np(err);
  const char* desc = ::strerrordesc_np(err);
  return fmt::format("{} ({})", name != nullptr ? name : std::to_string(err),
                     desc != nullptr ? desc : "?");
}

/// A wait status for messages: "exited with status 42", "-1 (error ECHILD ...)".
inline std::string status_text(int status, int err = 0) {
  if (status == -1) return fmt::format("-1 with errno {}", errno_name(err));
  return fmt::format("{} (raw 0x{:x})", ipclab::WaitStatus(status).describe(), status);
}

/// Reads `fd` to end of file; nullopt if EOF has not come by the deadline (some process
/// still holds the write end of the pipe).
inline std::optional<std::string> read_to_eof(int fd, grader::Timeout timeout = 10'000ms) {
  const ipclab::Deadline deadline = grader::deadline(timeout);
  std::string out;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, deadline.poll_ms());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) ipclab::throw_errno("poll(fd {})", fd);
    if (r == 0) return std::nullopt;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ipclab::throw_errno("read(fd {})", fd);
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

/// Writes all of `data` to `fd` in pieces of at most PIPE_BUF, each after poll(2) says the
/// pipe has room, so it never blocks. Returns 0, ETIMEDOUT if the reader stopped reading
/// until the deadline, or the write error (EPIPE: no reader left).
inline int write_all(int fd, std::string_view data, grader::Timeout timeout = 10'000ms) {
  const ipclab::Deadline deadline = grader::deadline(timeout);
  while (!data.empty()) {
    pollfd p{fd, POLLOUT, 0};
    const int r = ::poll(&p, 1, deadline.poll_ms());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return ETIMEDOUT;
    const ssize_t n = ::write(fd, data.data(), std::min<std::size_t>(data.size(), PIPE_BUF));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

struct CloseResult {
  int ret = -1;            ///< what mypclose returned
  int err = 0;             ///< errno after it
  bool timed_out = false;  ///< it did not return by the deadline (children were killed)
  std::string describe() const {
    return timed_out ? fmt::format(
                           "mypclose did not return within its deadline (it waits for "
                           "a child that never ends); then it returned {}",
                           status_text(ret, err))
                     : status_text(ret, err);
  }
};

/// Kills every child of this process (SIGKILL); returns how many there were.
inline std::size_t kill_children() {
  const auto kids = ipclab::child_pids();
  for (pid_t k : kids) ::kill(k, SIGKILL);
  return kids.size();
}

/// mypclose(stream) in a helper thread with a deadline. A mypclose that waits for a child
/// which itself waits for an EOF that never comes (because some process still holds the
/// write end) would hang the test: at the deadline every child of this process is killed,
/// which ends that wait, and the result says timed_out. Exceptions (the skeleton's
/// NotImplemented) are rethrown here.
inline CloseResult close_within(FILE* stream, grader::Timeout timeout = 10'000ms) {
  std::promise<CloseResult> promise;
  auto result = promise.get_future();
  std::thread t([stream, p = std::move(promise)]() mutable {
    try {
      CloseResult r;
      r.ret = mypclose(stream);
      r.err = errno;
      p.set_value(r);
    } catch (...) {
      p.set_exception(std::current_exception());
    }
  });
  bool timed_out = false;
  if (result.wait_for(grader::scaled(timeout)) != std::future_status::ready) {
    timed_out = true;
    for (int round = 0; round < 100; ++round) {
      kill_children();
      if (result.wait_for(50ms) == std::future_status::ready) break;
    }
  }
  if (result.wait_for(0ms) != std::future_status::ready) {
    t.detach();  // stuck for good (a deadlock in mypclose itself): leave it, report it
    CloseResult r;
    r.timed_out = true;
    r.err = EDEADLK;
    return r;
  }
  t.join();
  CloseResult r = result.get();  // rethrows the thread's exception
  r.timed_out = timed_out;
  return r;
}

/// What glibc's popen/pclose give for the same command: the reference.
struct Reference {
  std::string out;  ///< everything read ("r" mode)
  int status = -1;  ///< pclose's return value
  int err = 0;
};

inline Reference glibc_read(const std::string& command, const char* mode = "r") {
  Reference ref;
  FILE* f = ::popen(command.c_str(), mode);
  if (f == nullptr) ipclab::throw_errno("glibc popen(\"{}\")", command);
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) ref.out.append(buf, n);
  ref.status = ::pclose(f);
  ref.err = errno;
  return ref;
}

inline Reference glibc_write(const std::string& command, std::string_view data) {
  Reference ref;
  FILE* f = ::popen(command.c_str(), "w");
  if (f == nullptr) ipclab::throw_errno("glibc popen(\"{}\")", command);
  std::fwrite(data.data(), 1, data.size(), f);
  ref.status = ::pclose(f);
  ref.err = errno;
  return ref;
}

/// The descriptors this process holds now that it did not hold in `before`.
inline std::vector<int> new_fds(const std::vector<int>& before) {
  const auto now = ipclab::open_fds();
  std::vector<int> out;
  std::set_difference(now.begin(), now.end(), before.begin(), before.end(),
                      std::back_inserter(out));
  return out;
}

/// "5 -> pipe:[123], 6 -> pipe:[124]" for messages.
inline std::string describe_fds(pid_t pid, const std::vector<int>& fds) {
  std::string s;
  for (int fd : fds)
    s += fmt::format("{}{} -> {}", s.empty() ? "" : ", ", fd, ipclab::fd_target(pid, fd));
  return s.empty() ? "(none)" : s;
}

/// Checks that mypopen left exactly one new descriptor here, the stream's own. A second
/// one is the child's end of the pipe, which would keep EOF (or SIGPIPE) from happening.
inline ::testing::AssertionResult holds_one_new_fd(const std::vector<int>& before, FILE* f) {
  const auto added = new_fds(before);
  if (added.size() == 1 && added[0] == ::fileno(f)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "after mypopen this process should hold exactly one new descriptor, the "
            "stream's own (fileno "
         << ::fileno(f) << "); new descriptors: " << describe_fds(0, added)
         << "\n(the child's end of the pipe must be closed in the parent)";
}

/// The one child of this process not in `before`, once it has exec'd (its command name is
/// no longer ours); -1 if none shows up by the deadline.
inline pid_t new_child(const std::vector<pid_t>& before, grader::Timeout timeout = 5'000ms) {
  const std::string self = ipclab::process_comm(::getpid());
  pid_t found = -1;
  grader::wait_until(
      [&] {
        for (pid_t k : ipclab::child_pids()) {
          if (std::find(before.begin(), before.end(), k) != before.end()) continue;
          const std::string comm = ipclab::process_comm(k);
          if (!comm.empty() && comm != self) {
            found = k;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

/// The descriptors of process `pid` that refer to `target` (e.g. "pipe:[1234]").
inline std::vector<int> fds_referring_to(pid_t pid, const std::string& target) {
  std::vector<int> out;
  try {
    for (int fd : ipclab::open_fds(pid))
      if (ipclab::fd_target(pid, fd) == target) out.push_back(fd);
  } catch (const ipclab::SysError&) {  // the process is gone: it holds nothing
  }
  return out;
}

/// What this process's descriptor `fd` refers to, e.g. "pipe:[1234]".
inline std::string target_of(int fd) { return ipclab::fd_target(0, fd); }

/// Deterministic pseudo-random bytes (every value, NULs included).
inline std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::string s(n, '\0');
  std::uint64_t x = seed | 1;
  for (auto& c : s) {  // xorshift64
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  return s;
}

/// What test_mypopen prints with its defaults (the course guide's transcript) when its
/// read demo runs `ls_command` and reads `listing` (newlines shown as \n).
inline std::string guide_transcript(const std::string& ls_command, const std::string& listing) {
  return "Testing mypopen(\"" + ls_command + "\", \"r\")...\nRead: " + listing +
         "\nmypclose returned: 0\nPASS\n"
         "Testing mypopen(\"cat\", \"w\")...\n"
         "Wrote: \"Hello from parent\\n\"\n"
         "Hello from parent\n"
         "mypclose returned: 0\nPASS\n"
         "Testing mypopen(\"exit 42\", \"r\")...\n"
         "mypclose returned: 42\n"
         "PASS (exit status preserved)\n";
}

/// Makes `dir` with the files `names` (a newline each) in it.
inline void make_dir_with(const std::string& dir, std::initializer_list<const char*> names) {
  std::filesystem::create_directories(dir);
  for (const char* n : names) std::ofstream(dir + "/" + n).put('\n');
}

}  // namespace lab03_test
