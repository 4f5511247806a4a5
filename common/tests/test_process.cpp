// Unit tests of ipclab/process.hpp: wait-status decoding, spawn (redirection, environment,
// working directory, process groups, the child's descriptor table, exec errors), timed
// waits, process-group kills and the /proc readers.
//
// Every child is started through the fixture, which kills and reaps whatever a failing
// test leaves behind. Nothing sleeps to "let things happen": waits have deadlines.
#include <fcntl.h>     // open
#include <poll.h>      // poll
#include <signal.h>    // kill, SIGKILL, sigprocmask
#include <stdlib.h>    // setenv, unsetenv, mkdtemp, realpath
#include <sys/stat.h>  // chmod
#include <sys/wait.h>  // W_EXITCODE
#include <unistd.h>    // getpid, getpgid

#include <algorithm>     // std::find, std::sort
#include <chrono>        // std::chrono
#include <cstdint>       // std::uint64_t
#include <filesystem>    // std::filesystem
#include <fstream>       // std::ofstream
#include <optional>      // std::optional
#include <sstream>       // std::istringstream
#include <string>        // std::string
#include <system_error>  // std::errc
#include <thread>        // std::this_thread::sleep_for
#include <vector>        // std::vector

#include <fmt/core.h>  // fmt::format
#include <gtest/gtest.h>

#include "ipclab/clock.hpp"    // Deadline, Stopwatch
#include "ipclab/error.hpp"    // SysError
#include "ipclab/fd.hpp"       // Fd, make_pipe, open_fds, fd_target
#include "ipclab/io.hpp"       // read_all, read_full, write_full
#include "ipclab/process.hpp"  // spawn, wait_for, ...
#include "test_util.hpp"       // wait_until

namespace ipclab {
namespace {

using test::wait_until;

bool contains(const std::vector<pid_t>& v, pid_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

struct Output {
  std::string out;
  WaitStatus status;
};

class ProcessTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (pid_t pid : live_) {
      ::kill(pid, SIGKILL);
      try {
        wait_for(pid);
      } catch (const SysError&) {
      }
    }
  }

  /// spawn() and remember the child until it is reaped.
  pid_t start(const std::vector<std::string>& argv, SpawnOptions opts = {}) {
    if (opts.parent_death_signal == 0) opts.parent_death_signal = SIGKILL;
    const pid_t pid = spawn(argv, opts);
    EXPECT_GT(pid, 0);
    live_.push_back(pid);
    return pid;
  }

  /// Reaps a child (killing it if it does not end within 10 s, which fails the test).
  WaitStatus reap(pid_t pid) {
    std::optional<WaitStatus> st = wait_for(pid, Deadline(std::chrono::seconds(10)));
    if (!st) {
      ADD_FAILURE() << "child " << pid << " did not exit within 10 s";
      ::kill(pid, SIGKILL);
      st = wait_for(pid);
    }
    forget(pid);
    return *st;
  }

  void forget(pid_t pid) { std::erase(live_, pid); }

  /// Runs argv with stdout captured, and reaps it.
  Output run(const std::vector<std::string>& argv, SpawnOptions opts = {}) {
    Pipe p = make_pipe();
    opts.stdout_fd = p.write.get();
    const pid_t pid = start(argv, opts);
    p.write.reset();  // the child holds the only write end now: EOF when it exits
    std::string out = read_all(p.read.get());
    return {std::move(out), reap(pid)};
  }

  std::vector<pid_t> live_;
};

// ---- WaitStatus ------------------------------------------------------------------------

TEST(WaitStatusTest, DecodesRawStatuses) {
  const WaitStatus exit3(W_EXITCODE(3, 0));
  EXPECT_TRUE(exit3.exited());
  EXPECT_FALSE(exit3.signaled());
  EXPECT_EQ(exit3.exit_code(), 3);
  EXPECT_EQ(exit3.signal(), 0);
  EXPECT_EQ(exit3.shell_status(), 3);
  EXPECT_EQ(exit3.describe(), "exited with status 3");

  const WaitStatus term(W_EXITCODE(0, SIGTERM));
  EXPECT_FALSE(term.exited());
  EXPECT_TRUE(term.signaled());
  EXPECT_EQ(term.exit_code(), -1);
  EXPECT_EQ(term.signal(), SIGTERM);
  EXPECT_FALSE(term.core_dumped());
  EXPECT_EQ(term.shell_status(), 128 + SIGTERM);

  const WaitStatus core(W_EXITCODE(0, SIGSEGV) | WCOREFLAG);
  EXPECT_TRUE(core.core_dumped());
  EXPECT_NE(core.describe().find("core dumped"), std::string::npos) << core.describe();

  const WaitStatus stopped(W_STOPCODE(SIGSTOP));
  EXPECT_FALSE(stopped.exited());
  EXPECT_FALSE(stopped.signaled());
  EXPECT_EQ(stopped.raw(), W_STOPCODE(SIGSTOP));
}

TEST_F(ProcessTest, ExitCodeFromAShell) {
  const Output r = run({"/bin/sh", "-c", "exit 42"});
  EXPECT_TRUE(r.status.exited());
  EXPECT_EQ(r.status.exit_code(), 42);
  EXPECT_EQ(r.status.shell_status(), 42);
  EXPECT_EQ(r.status.describe(), "exited with status 42");
}

TEST_F(ProcessTest, KilledBySigkill) {
  const pid_t pid = start({"sleep", "5"});
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  const WaitStatus st = reap(pid);
  EXPECT_TRUE(st.signaled());
  EXPECT_EQ(st.signal(), SIGKILL);
  EXPECT_EQ(st.exit_code(), -1);
  EXPECT_EQ(st.shell_status(), 137);
  EXPECT_EQ(st.describe(), "killed by signal 9 (Killed)");
}

// ---- spawn -----------------------------------------------------------------------------

TEST_F(ProcessTest, StdoutToAPipe) {
  const Output r = run({"echo", "hello", "world"});
  EXPECT_EQ(r.out, "hello world\n");
  EXPECT_EQ(r.status.exit_code(), 0);
}

TEST_F(ProcessTest, StdinAndStderrRedirection) {
  Pipe in = make_pipe();
  Pipe err = make_pipe();
  SpawnOptions opts;
  opts.stdin_fd = in.read.get();
  opts.stderr_fd = err.write.get();
  Pipe out = make_pipe();
  opts.stdout_fd = out.write.get();
  const pid_t pid = start({"/bin/sh", "-c", "read line; echo \"got $line\"; echo oops >&2"}, opts);
  in.read.reset();
  err.write.reset();
  out.write.reset();
  write_full(in.write.get(), "ping\n");
  in.write.reset();
  EXPECT_EQ(read_all(out.read.get()), "got ping\n");
  EXPECT_EQ(read_all(err.read.get()), "oops\n");
  EXPECT_EQ(reap(pid).exit_code(), 0);
}

TEST_F(ProcessTest, EnvironmentSetOverrideAndUnset) {
  ::setenv("IPCLAB_UT_GONE", "present", 1);
  ::setenv("IPCLAB_UT_OLD", "old", 1);
  SpawnOptions opts;
  opts.env = {"IPCLAB_UT_NEW=hello world", "IPCLAB_UT_OLD=new", "IPCLAB_UT_GONE"};
  const Output r = run({"/bin/sh", "-c",
                        "printf '%s|%s|%s\\n' \"$IPCLAB_UT_NEW\" \"$IPCLAB_UT_OLD\" "
                        "\"${IPCLAB_UT_GONE-unset}\"; env | grep -c '^IPCLAB_UT_OLD='; "
                        "env | grep -c IPCLAB_UT_GONE"},
                       opts);
  ::unsetenv("IPCLAB_UT_GONE");
  ::unsetenv("IPCLAB_UT_OLD");
  EXPECT_EQ(r.out, "hello world|new|unset\n1\n0\n");  // overridden, not duplicated
  // The raw environment, without a shell in between (a shell drops malformed entries):
  // an unset leaves no trace, not even a bare "NAME" entry.
  ::setenv("IPCLAB_UT_GONE", "present", 1);
  const Output raw = run({"env"}, opts);
  ::unsetenv("IPCLAB_UT_GONE");
  EXPECT_EQ(raw.out.find("IPCLAB_UT_GONE"), std::string::npos) << raw.out;
  EXPECT_NE(("\n" + raw.out).find("\nIPCLAB_UT_NEW=hello world\n"), std::string::npos) << raw.out;
}

TEST_F(ProcessTest, WorkingDirectory) {
  char tmpl[] = "/tmp/ipclab-ut-cwd.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = std::filesystem::canonical(tmpl).string();
  SpawnOptions opts;
  opts.cwd = dir;
  const Output r = run({"/bin/pwd", "-P"}, opts);
  std::filesystem::remove(dir);
  EXPECT_EQ(r.out, dir + "\n");
  // Without cwd the child inherits ours.
  const Output here = run({"/bin/pwd", "-P"});
  EXPECT_EQ(here.out, std::filesystem::canonical(std::filesystem::current_path()).string() + "\n");
}

TEST_F(ProcessTest, NewProcessGroup) {
  SpawnOptions opts;
  opts.new_process_group = true;
  const pid_t pid = start({"sleep", "5"}, opts);
  EXPECT_EQ(::getpgid(pid), pid);
  const pid_t same = start({"sleep", "5"});
  EXPECT_EQ(::getpgid(same), ::getpgrp());  // without the option: our group
  EXPECT_TRUE(kill_group(pid, SIGKILL));
  EXPECT_EQ(reap(pid).signal(), SIGKILL);
  ::kill(same, SIGKILL);
  reap(same);
}

TEST_F(ProcessTest, ExtraFdsMapping) {
  Pipe a = make_pipe();
  Pipe b = make_pipe();
  const int fa = a.write.get();
  const int fb = b.write.get();
  // Swapped: each source's number is the other's target, so a naive dup2 loop would
  // clobber the second source before using it.
  SpawnOptions opts;
  opts.extra_fds = {{fa, fb}, {fb, fa}};
  const Output r =
      run({"/bin/sh", "-c",
           fmt::format("printf to-fb >/proc/self/fd/{}; printf to-fa >/proc/self/fd/{}", fb, fa)},
          opts);
  EXPECT_EQ(r.status.exit_code(), 0);
  a.write.reset();
  b.write.reset();
  EXPECT_EQ(read_all(a.read.get()), "to-fb");  // fd fb in the child is our a.write
  EXPECT_EQ(read_all(b.read.get()), "to-fa");
}

TEST_F(ProcessTest, ChildHoldsOnlyStdioAndExtras) {
  Pipe leak = make_pipe(0);  // not close-on-exec: spawn must close it anyway
  Pipe extra = make_pipe();
  Pipe in = make_pipe();
  Pipe out = make_pipe();
  Fd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(null.valid());
  SpawnOptions opts;
  opts.stdin_fd = in.read.get();
  opts.stdout_fd = out.write.get();
  opts.stderr_fd = null.get();
  opts.extra_fds = {{extra.read.get(), 7}};
  const pid_t pid = start({"cat"}, opts);
  in.read.reset();
  out.write.reset();
  // One round trip proves cat has finished starting up (dynamic loading opens and closes
  // files) and sits in read(): its descriptor table is now stable.
  write_full(in.write.get(), "ping\n");
  char buf[5];
  ASSERT_EQ(read_full(out.read.get(), buf, 5), 5u);
  EXPECT_EQ(std::string(buf, 5), "ping\n");

  EXPECT_EQ(open_fds(pid), (std::vector<int>{0, 1, 2, 7}));
  EXPECT_EQ(fd_target(pid, 7), fd_target(0, extra.read.get()));
  EXPECT_EQ(fd_target(pid, 0), fd_target(0, in.write.get()));

  in.write.reset();  // EOF: cat exits
  EXPECT_EQ(reap(pid).exit_code(), 0);
}

TEST_F(ProcessTest, ChildStartsWithDefaultSignalsAndEmptyMask) {
  // Ignore SIGINT and block SIGUSR1 here; the child must see neither.
  struct sigaction ign {};
  struct sigaction old_int {};
  ign.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGINT, &ign, &old_int), 0);
  sigset_t usr1;
  sigset_t old_mask;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ASSERT_EQ(::sigprocmask(SIG_BLOCK, &usr1, &old_mask), 0);
  const Output r = run({"grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"});
  ::sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGINT, &old_int, nullptr);
  // Signals 32..SIGRTMIN-1 are glibc's own (thread cancellation, setxid): its sigaction
  // refuses them, so an ignored one inherited from whoever started us cannot be reset.
  // Every other signal must start at its default, unblocked.
  std::uint64_t glibc_reserved = 0;
  for (int sig = 32; sig < SIGRTMIN; ++sig) glibc_reserved |= std::uint64_t{1} << (sig - 1);
  std::istringstream lines(r.out);
  std::string blk_name, blk_hex, ign_name, ign_hex;
  ASSERT_TRUE(lines >> blk_name >> blk_hex >> ign_name >> ign_hex) << r.out;
  EXPECT_EQ(blk_name, "SigBlk:");
  EXPECT_EQ(ign_name, "SigIgn:");
  EXPECT_EQ(std::stoull(blk_hex, nullptr, 16) & ~glibc_reserved, 0u) << r.out;
  EXPECT_EQ(std::stoull(ign_hex, nullptr, 16) & ~glibc_reserved, 0u) << r.out;
}

TEST_F(ProcessTest, MissingProgramIsEnoent) {
  const auto before = child_pids();
  for (const std::string prog : {"/nonexistent/ipclab-ut", "ipclab-ut-no-such-program"}) {
    try {
      start({prog});
      ADD_FAILURE() << "spawn of " << prog << " did not throw";
    } catch (const SysError& e) {
      EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory) << e.what();
      EXPECT_NE(std::string(e.what()).find(prog), std::string::npos) << e.what();
    }
  }
  // A missing working directory fails in the child after fork: reported, and reaped.
  SpawnOptions opts;
  opts.cwd = "/nonexistent/ipclab-ut";
  try {
    start({"true"}, opts);
    ADD_FAILURE() << "spawn with a missing cwd did not throw";
  } catch (const SysError& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory) << e.what();
  }
  EXPECT_EQ(child_pids(), before) << "a failed spawn left a child behind";
}

TEST_F(ProcessTest, NonExecutableIsEacces) {
  char tmpl[] = "/tmp/ipclab-ut-noexec.XXXXXX";
  Fd f(::mkstemp(tmpl));
  ASSERT_TRUE(f.valid());
  write_full(f.get(), "#!/bin/sh\nexit 0\n");
  f.reset();
  ::chmod(tmpl, 0644);
  try {
    start({tmpl});
    ADD_FAILURE() << "spawn of a non-executable file did not throw";
  } catch (const SysError& e) {
    EXPECT_EQ(e.code(), std::errc::permission_denied) << e.what();
  }
  ::unlink(tmpl);
}

TEST_F(ProcessTest, EmptyArgvIsEinval) {
  try {
    spawn({});
    ADD_FAILURE() << "spawn({}) did not throw";
  } catch (const SysError& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
  }
}

// ---- waiting ---------------------------------------------------------------------------

TEST_F(ProcessTest, TimedWaitTimesOutThenKillGroupReaps) {
  SpawnOptions opts;
  opts.new_process_group = true;
  const pid_t pid = start({"sleep", "5"}, opts);
  const Stopwatch sw;
  const auto st = wait_for(pid, Deadline(std::chrono::milliseconds(100)));
  const auto waited = std::chrono::nanoseconds(sw.elapsed_ns());
  EXPECT_FALSE(st.has_value()) << st->describe();
  EXPECT_GE(waited, std::chrono::milliseconds(99));
  EXPECT_LT(waited, std::chrono::seconds(4)) << "the timed wait ignored its deadline";
  const char state = process_state(pid);  // left running (asleep, not a zombie)
  EXPECT_TRUE(state != 0 && state != 'Z') << "state " << state;

  EXPECT_TRUE(kill_group(pid, SIGKILL));
  const auto done = wait_for(pid, Deadline(std::chrono::seconds(10)));
  ASSERT_TRUE(done.has_value());
  forget(pid);
  EXPECT_EQ(done->signal(), SIGKILL);
  EXPECT_EQ(process_state(pid), 0);       // reaped: gone from /proc
  EXPECT_FALSE(kill_group(pid, 0));       // the group is gone too
  EXPECT_THROW(try_wait(pid), SysError);  // ECHILD: nothing left to reap
}

TEST_F(ProcessTest, KillGroupReachesTheWholeGroup) {
  SpawnOptions opts;
  opts.new_process_group = true;
  Pipe out = make_pipe();
  opts.stdout_fd = out.write.get();
  // The shell starts a grandchild in its group and tells us its pid.
  const pid_t pid = start({"/bin/sh", "-c", "sleep 30 & echo $!; wait"}, opts);
  out.write.reset();
  std::string line;
  for (char c = 0; read_full(out.read.get(), &c, 1) == 1 && c != '\n';) line += c;
  const pid_t grandchild = static_cast<pid_t>(std::stoi(line));
  EXPECT_EQ(::getpgid(grandchild), pid);
  EXPECT_TRUE(kill_group(pid, SIGKILL));
  EXPECT_EQ(reap(pid).signal(), SIGKILL);
  // Not our child, so we cannot reap it: it is gone, or a zombie awaiting its new parent.
  EXPECT_TRUE(wait_until([&] {
    const char st = process_state(grandchild);
    return st == 0 || st == 'Z';
  })) << "kill_group did not reach the grandchild "
      << grandchild;
  ::kill(grandchild, SIGKILL);  // only matters if the assertion above failed
}

TEST_F(ProcessTest, TimedWaitReturnsAsSoonAsTheChildExits) {
  Pipe in = make_pipe();
  SpawnOptions opts;
  opts.stdin_fd = in.read.get();
  const pid_t pid = start({"/bin/sh", "-c", "read x; exit 7"}, opts);
  in.read.reset();
  write_full(in.write.get(), "go\n");
  const auto st = wait_for(pid, Deadline(std::chrono::seconds(10)));
  ASSERT_TRUE(st.has_value());
  forget(pid);
  EXPECT_EQ(st->exit_code(), 7);
}

TEST_F(ProcessTest, TryWait) {
  const pid_t pid = start({"sleep", "5"});
  EXPECT_FALSE(try_wait(pid).has_value());
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  std::optional<WaitStatus> st;
  ASSERT_TRUE(wait_until([&] { return (st = try_wait(pid)).has_value(); }));
  forget(pid);
  EXPECT_EQ(st->signal(), SIGTERM);
  EXPECT_EQ(st->shell_status(), 143);
}

TEST_F(ProcessTest, ChildPidsListsSpawnedChildren) {
  const pid_t a = start({"sleep", "5"});
  const pid_t b = start({"sleep", "5"});
  const auto kids = child_pids();
  EXPECT_TRUE(contains(kids, a));
  EXPECT_TRUE(contains(kids, b));
  EXPECT_EQ(child_pids(::getpid()), kids);
  EXPECT_FALSE(contains(kids, ::getpid()));
  ::kill(a, SIGKILL);
  reap(a);
  const auto after = child_pids();
  EXPECT_FALSE(contains(after, a));
  EXPECT_TRUE(contains(after, b));
  ::kill(b, SIGKILL);
  reap(b);
}

TEST_F(ProcessTest, ExitedUnreapedChildIsAZombie) {
  EXPECT_EQ(process_state(::getpid()), 'R');
  const pid_t pid = start({"true"});
  EXPECT_TRUE(wait_until([&] { return process_state(pid) == 'Z'; }))
      << "state " << process_state(pid);
  EXPECT_TRUE(contains(child_pids(), pid));  // a zombie is still our child
  const WaitStatus st = reap(pid);
  EXPECT_EQ(st.exit_code(), 0);
  EXPECT_EQ(process_state(pid), 0);
  EXPECT_FALSE(contains(child_pids(), pid));
}

TEST_F(ProcessTest, ProcStatParsesStateParentAndCpuTime) {
  const auto me = proc_stat(0);
  ASSERT_TRUE(me.has_value());
  EXPECT_EQ(me->state, 'R');
  EXPECT_EQ(me->ppid, ::getppid());
  // Burn a little CPU so the tick counters cannot both be zero.
  const Deadline busy(std::chrono::milliseconds(60));
  volatile std::uint64_t x = 0;
  while (!busy.expired()) x = x + 1;
  const auto later = proc_stat(0);
  ASSERT_TRUE(later.has_value());
  EXPECT_GT(later->utime_ticks + later->stime_ticks, 0u);
  // A command name with ')' and blanks must not shift the fields: the kernel takes comm
  // from the program's file name, so run a copy of sleep called "a) b".
  const std::string dir = ::testing::TempDir() + "ipclab-comm-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string odd = dir + "/a) b";
  std::filesystem::copy_file("/bin/sleep", odd, std::filesystem::copy_options::overwrite_existing);
  const pid_t pid = start({odd, "5"});
  ASSERT_TRUE(wait_until([&] { return process_comm(pid) == "a) b"; })) << process_comm(pid);
  const auto child = proc_stat(pid);
  ASSERT_TRUE(child.has_value());
  EXPECT_EQ(child->ppid, ::getpid());
  // Just after exec it may still be running; asleep in nanosleep is where it settles (a
  // misparse would read a letter of the name, never 'S').
  EXPECT_TRUE(wait_until([&] {
    const auto now = proc_stat(pid);
    return now && now->state == 'S';
  }));
  EXPECT_EQ(kill_and_reap(pid).signal(), SIGKILL);
  forget(pid);
  EXPECT_FALSE(proc_stat(pid).has_value());
  std::filesystem::remove_all(dir);
}

TEST_F(ProcessTest, KillAndReapEndsTheProcessAndItsGroup) {
  // sh leads its own group and starts a grandchild there; kill_and_reap must end both.
  Pipe out = make_pipe();
  SpawnOptions so;
  so.new_process_group = true;
  so.stdout_fd = out.write.get();
  const pid_t pid = start({"sh", "-c", "sleep 30 & echo $!; wait"}, so);
  out.write.reset();
  std::string line;
  char c = 0;
  while (read_full(out.read.get(), &c, 1) == 1 && c != '\n') line += c;
  const pid_t grandchild = static_cast<pid_t>(std::stol(line));
  ASSERT_TRUE(wait_until([&] { return process_comm(grandchild) == "sleep"; }));

  const WaitStatus st = kill_and_reap(pid);
  forget(pid);
  EXPECT_EQ(st.signal(), SIGKILL);
  EXPECT_EQ(process_state(pid), 0) << "not reaped";
  // The grandchild is now init's to reap; dead (gone or a zombie) is what counts.
  EXPECT_TRUE(wait_until([&] {
    const char state = process_state(grandchild);
    return state == 0 || state == 'Z';
  })) << "the grandchild in the group survived";
}

TEST_F(ProcessTest, ProcessComm) {
  const pid_t pid = start({"sleep", "5"});
  EXPECT_EQ(process_comm(pid), "sleep");
  ::kill(pid, SIGKILL);
  reap(pid);
  EXPECT_EQ(process_comm(pid), "");
  std::ifstream self("/proc/self/comm");
  std::string comm;
  std::getline(self, comm);
  EXPECT_EQ(process_comm(::getpid()), comm);
}

TEST(ShellQuote, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(shell_quote({"ls", "-l", "a b"}), "ls -l 'a b'");
  EXPECT_EQ(shell_quote({"it's"}), "'it'\\''s'");
  EXPECT_EQ(shell_quote({""}), "''");
  EXPECT_EQ(shell_quote({"a=b", "/x/y.z", "k:v,w+1@h%"}), "a=b /x/y.z k:v,w+1@h%");
  EXPECT_EQ(shell_quote({"$HOME", "a*", "x;y"}), "'$HOME' 'a*' 'x;y'");
  EXPECT_EQ(shell_quote({}), "");
}

TEST_F(ProcessTest, ShellQuoteRoundTripsThroughSh) {
  const std::vector<std::string> args = {"printf", "[%s]", "a b", "it's", "", "$x", "\\n"};
  const Output r = run({"/bin/sh", "-c", shell_quote(args)});
  EXPECT_EQ(r.out, "[a b][it's][][$x][\\n]");
}

TEST_F(ProcessTest, PidfdBecomesReadableWhenTheChildExits) {
  const pid_t pid = start({"sleep", "5"});
  const Fd pidfd = pidfd_open(pid);
  if (!pidfd.valid()) GTEST_SKIP() << "this kernel has no pidfd_open";
  EXPECT_TRUE(::fcntl(pidfd.get(), F_GETFD) & FD_CLOEXEC);
  pollfd p{pidfd.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "readable while the child still runs";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  p.revents = 0;
  EXPECT_EQ(::poll(&p, 1, 10'000), 1) << "not readable after the child was killed";
  const auto st = try_wait(pid);  // readable, not reaped: the status is still ours
  ASSERT_TRUE(st.has_value());
  forget(pid);
  EXPECT_EQ(st->signal(), SIGKILL);
  EXPECT_THROW(pidfd_open(pid), SysError);  // reaped: ESRCH
}

}  // namespace
}  // namespace ipclab
