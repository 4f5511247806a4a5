// Lab 01 hidden grader: random pipelines against bash, binary data, repeated runs, and the
// corners of exec and signals.
#include <pthread.h>       // pthread_atfork
#include <signal.h>        // SIGPIPE, SIGTERM, SIGUSR1, sigaction
#include <sys/ioctl.h>     // FIONREAD
#include <sys/mman.h>      // mmap, mprotect
#include <sys/resource.h>  // setrlimit, RLIMIT_NOFILE
#include <sys/socket.h>    // socketpair, shutdown
#include <sys/stat.h>      // chmod, mkdir
#include <sys/syscall.h>   // SYS_*

#include <algorithm>  // std::binary_search, std::min
#include <atomic>     // std::atomic
#include <cstdlib>    // std::getenv
#include <cstring>    // std::memcpy
#include <fstream>    // std::ofstream
#include <random>     // std::mt19937_64
#include <thread>     // std::thread

#include "../public/common.hpp"
#include "grader/syscalls.hpp"  // SyscallDenial, seccomp_filters_work
#include "ipclab/process.hpp"

namespace lab = ipclab::lab01;

using grader::bash;
using grader::expect_exit;
using grader::expect_output;
using grader::run;
using grader::seccomp_filters_work;
using grader::SyscallDenial;
using lab01_test::commands;
using lab01_test::run_in_process;
using lab01_test::shell_text;

GRADED_TEST(Hidden, RandomPipelinesMatchBash, 3) {
  const std::vector<std::string> pool = {"cat",       "sort",      "sort -r",    "tr a-z A-Z",
                                         "uniq",      "grep -v e", "head -n 40", "tail -n 25",
                                         "cut -c1-3", "tac",       "sort -n",    "wc -l"};
  grader::repeat(6, [&](int, std::uint64_t s) {
    std::mt19937_64 rng(s);
    std::string input;
    const int lines = 20 + static_cast<int>(rng() % 400);
    for (int i = 0; i < lines; ++i)
      input += fmt::format("{}{}\n", "abcdefgh"[rng() % 8], rng() % 1000);
    std::vector<std::string> argv = {"mypipe"};
    std::string script;
    const int stages = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < stages; ++i) {
      const auto& c = pool[rng() % pool.size()];
      argv.push_back(c);
      script += (i ? " | " : "") + c;
    }
    auto r = run(argv, {.input = input});
    expect_output(r, bash(script, {.input = input}).out);
    expect_exit(r, 0);
  });
}

GRADED_TEST(Hidden, BinaryDataOfRandomSizeUnchanged, 2) {
  grader::repeat(4, [&](int, std::uint64_t s) {
    std::mt19937_64 rng(s);
    std::string data(rng() % (3u << 20), '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    auto r = run_in_process(commands({{"cat"}, {"cat"}}), data);
    EXPECT_TRUE(r.out == data) << data.size() << " bytes in, " << r.out.size()
                               << " bytes out, or the bytes differ";
  });
}

GRADED_TEST(Hidden, ManyRunsLeakNothing, 3, "README §Pitfalls 2 and 4") {
  const auto before = ipclab::open_fds();
  for (int i = 0; i < 150; ++i) {
    auto r = run_in_process(commands({{"echo", "x"}, {"cat"}, {"wc", "-c"}}));
    ASSERT_EQ(r.out, "2\n") << "run " << i;
  }
  EXPECT_EQ(before, ipclab::open_fds()) << "descriptors leaked over 150 runs";
  EXPECT_TRUE(grader::zombie_children().empty()) << "zombies left over 150 runs";
}

GRADED_TEST(Hidden, SignalledStageIs128PlusSignal, 2, "README §Status") {
  auto r = run({"mypipe", "sh -c 'kill -TERM $$'"});
  expect_exit(r, 128 + SIGTERM);
  auto in = run_in_process(commands({{"sh", "-c", "kill -KILL $$"}, {"true"}}));
  EXPECT_TRUE(in.result.stages[0].status.signaled());
  EXPECT_EQ(in.result.stages[0].exit_code, 128 + SIGKILL);
}

GRADED_TEST(Hidden, NotExecutableIs126, 1, "README §Pitfalls 5") {
  const std::string file = grader::scratch() + "/not_executable";
  std::ofstream(file) << "#!/bin/sh\necho should not run\n";
  ::chmod(file.c_str(), 0644);
  auto r = run({"mypipe", file});
  expect_exit(r, 126);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.describe();
}

GRADED_TEST(Hidden, StdinReachesFirstStage, 2) {
  auto r = run({"mypipe", "cat", "wc -l"}, {.input = "one\ntwo\nthree\n"});
  expect_output(r, "3\n");
}

GRADED_TEST(Hidden, ParseCorners, 1) {
  using W = std::vector<std::string>;
  EXPECT_EQ(lab::split_words("a\"b\"'c'd e"), (W{"abcd", "e"}));
  EXPECT_EQ(lab::split_words("'a\\b' \"a\\b\""), (W{"a\\b", "a\\b"}));
  EXPECT_EQ(lab::split_words("x|y;z"), (W{"x|y;z"}));
  EXPECT_THROW(lab::split_words("trailing\\"), ipclab::UsageError);
}

GRADED_TEST(Hidden, SigpipeResetInChildren, 2,
            "README §Pitfalls 6 — an ignored SIGPIPE is inherited across exec; reset it") {
  // The grader ignores SIGPIPE (as many servers do): stages must not inherit that.
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &sa, nullptr);
  auto r = run_in_process(commands({{"yes"}, {"head", "-1"}}));
  EXPECT_EQ(r.out, "y\n");
  EXPECT_TRUE(r.result.stages[0].status.signaled() && r.result.stages[0].status.signal() == SIGPIPE)
      << "`yes` should die of SIGPIPE when head exits; it " << r.result.stages[0].status.describe();
}

// ---- the error paths, in process ---------------------------------------------------------
//
// A failed pipe2 or fork, a kernel without close_range, a waitpid or a write cut short by a
// signal: each is made to happen on purpose, in a grader::Child (its descriptor table,
// limits and seccomp filter are its own).

namespace {

/// The system calls glibc's fork (and a student's vfork) may make.
SyscallDenial no_fork() {
  return SyscallDenial(
      {
          SYS_clone,
#ifdef SYS_clone3
          SYS_clone3,
#endif
#ifdef SYS_fork
          SYS_fork,
          SYS_vfork,
#endif
      },
      EAGAIN);
}

/// A copy of `text` that ends where a readable page does, an inaccessible page after it: a
/// read one byte past the text's end faults (SIGSEGV) instead of going unnoticed.
class AtPageEnd {
 public:
  explicit AtPageEnd(std::string_view text)
      : page_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))), size_(text.size()) {
    void* m =
        ::mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw ipclab::SysError(errno, "mmap");
    base_ = static_cast<char*>(m);
    ::mprotect(base_ + page_, page_, PROT_NONE);
    std::memcpy(base_ + page_ - size_, text.data(), size_);
  }
  ~AtPageEnd() { ::munmap(base_, 2 * page_); }
  AtPageEnd(const AtPageEnd&) = delete;
  AtPageEnd& operator=(const AtPageEnd&) = delete;
  std::string_view view() const { return {base_ + page_ - size_, size_}; }

 private:
  std::size_t page_, size_;
  char* base_ = nullptr;
};

/// Waits for a Child whose pipeline started `yes`, and expects it passed: a timeout means a
/// pipe end left open kept `yes` writing, and the wait for it never ended.
void expect_yes_ended(grader::Child& c) {
  const auto end = c.finish(10'000ms);
  EXPECT_TRUE(end.passed()) << end.describe()
                            << (end.timed_out ? "\n(a pipe end still open keeps `yes` writing, and "
                                                "the wait for it never ends)"
                                              : "");
}

/// The descriptors open in this process, read with fcntl (no directory to open: it works
/// with the descriptor table full).
std::vector<int> fd_table(int below = 1024) {
  std::vector<int> fds;
  for (int fd = 0; fd < below; ++fd)
    if (::fcntl(fd, F_GETFD) >= 0) fds.push_back(fd);
  return fds;
}

/// Lowers RLIMIT_NOFILE to a few slots above the highest open descriptor and fills every
/// free slot with /dev/null: returns the limit (each slot below it is open), or -1.
int fill_descriptor_table() {
  const int limit = fd_table().back() + 8;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  rl.rlim_cur = static_cast<rlim_t>(limit);
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  while (::open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0) {
  }
  return errno == EMFILE ? limit : -1;
}

/// ipclab::child_pids() with room to work: it opens /proc files, and a sanitizer runtime
/// checking it needs descriptors of its own (UBSan probes memory through a pipe, and with
/// none free reports an "invalid vptr" that is not there). The soft RLIMIT_NOFILE is raised
/// by a few slots meanwhile; the descriptors open below the old limit do not change.
std::vector<pid_t> child_pids_with_room() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return ipclab::child_pids();
  const rlimit low = rl;
  rl.rlim_cur = std::min(rl.rlim_max, rl.rlim_cur + 16);
  (void)::setrlimit(RLIMIT_NOFILE, &rl);
  auto pids = ipclab::child_pids();
  (void)::setrlimit(RLIMIT_NOFILE, &low);
  return pids;
}

/// The system call thread `tid` of this process is blocked in, or -1 (running, unknown).
long blocked_in(pid_t pid, pid_t tid) {
  const std::string s = ipclab::read_file(fmt::format("/proc/{}/task/{}/syscall", pid, tid));
  if (s.empty() || s[0] < '0' || s[0] > '9') return -1;
  return std::stol(s);
}

/// True while a SIGUSR1 sent to `pid` has not been delivered (ShdPnd or SigPnd in
/// /proc/<pid>/status, hexadecimal signal masks).
bool sigusr1_pending(pid_t pid) {
  const std::string s = ipclab::read_file(fmt::format("/proc/{}/status", pid));
  for (const char* field : {"SigPnd:", "ShdPnd:"}) {
    const auto pos = s.find(field);
    if (pos != std::string::npos &&
        ((std::stoull(s.substr(pos + 7), nullptr, 16) >> (SIGUSR1 - 1)) & 1) != 0)
      return true;
  }
  return false;
}

std::atomic<int> g_handled{0};  // SIGUSR1s handled by this process
extern "C" void count_signal(int) { g_handled.fetch_add(1); }

/// SIGUSR1 handled (without SA_RESTART: a blocked system call returns EINTR) while alive.
class Sigusr1Handler {
 public:
  Sigusr1Handler() {
    struct sigaction sa {};
    sa.sa_handler = count_signal;
    ::sigaction(SIGUSR1, &sa, &old_);
  }
  ~Sigusr1Handler() { ::sigaction(SIGUSR1, &old_, nullptr); }
  Sigusr1Handler(const Sigusr1Handler&) = delete;
  Sigusr1Handler& operator=(const Sigusr1Handler&) = delete;

 private:
  struct sigaction old_ {};
};

}  // namespace

GRADED_TEST(Hidden, WaitpidInterruptedBySignalIsRetried, 2,
            "README §Pitfalls 4 — waitpid fails with EINTR when a signal handler runs: retry") {
  // The caller handles SIGUSR1 without SA_RESTART; one arrives while run_pipeline waits.
  Sigusr1Handler handler;
  g_handled = 0;
  auto release = ipclab::make_pipe();  // the stage waits for EOF on it
  const pid_t tid = static_cast<pid_t>(::gettid());
  bool interrupted = false;
  std::atomic<bool> returned{false};
  std::thread helper([&] {
    // Once run_pipeline sits in waitpid (wait4, or waitid), interrupt it; then let the
    // stage end.
    if (grader::wait_until(
            [&] {
              if (returned) return true;
              const long nr = blocked_in(::getpid(), tid);
              return !ipclab::child_pids().empty() && (nr == SYS_wait4 || nr == SYS_waitid);
            },
            10'000ms) &&
        !returned) {
      ::tgkill(::getpid(), tid, SIGUSR1);
      interrupted = grader::wait_until([] { return g_handled.load() > 0; });
    }
    release.write.reset();
  });
  lab::Options opts;
  opts.stdin_fd = release.read.get();
  lab::PipelineResult r;
  std::string threw;  // the helper must be joined before the test can fail
  try {
    r = lab::run_pipeline(commands({{"sh", "-c", "read x; exit 3"}}), opts);
  } catch (const std::exception& e) {
    threw = e.what();
  }
  returned = true;
  helper.join();
  ASSERT_EQ(threw, "") << "run_pipeline threw";
  ASSERT_TRUE(interrupted) << "run_pipeline was never seen blocked in waitpid";
  EXPECT_EQ(r.exit_code, 3) << "a waitpid that failed with EINTR was taken for the stage's status";
  EXPECT_EQ(ipclab::process_state(r.stages[0].pid), 0)
      << "the stage was not waited for after the interrupted waitpid";
  EXPECT_TRUE(grader::zombie_children().empty()) << "zombie children left behind";
}

namespace {
std::atomic<bool> g_check_cloexec{false};
std::vector<int> g_fds_before;       // the caller's descriptors before run_pipeline
std::atomic<int> g_inheritable{-1};  // a descriptor of run_pipeline's without close-on-exec
std::atomic<int> g_forks{0};
extern "C" void check_cloexec_before_fork() {
  if (!g_check_cloexec) return;
  g_forks.fetch_add(1);
  for (int fd = 0; fd < 1024; ++fd) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) == 0 &&
        !std::binary_search(g_fds_before.begin(), g_fds_before.end(), fd))
      g_inheritable = fd;
  }
}
}  // namespace

GRADED_TEST(Hidden, PipeEndsInTheCallerAreCloseOnExec, 2,
            "README §Pitfalls 11 — make pipes with pipe2(O_CLOEXEC): another thread of the "
            "caller may fork and exec at any moment") {
  // At every fork (pthread_atfork), no descriptor run_pipeline made may lack FD_CLOEXEC:
  // a program another thread starts at that moment would inherit it.
  ASSERT_EQ(::pthread_atfork(check_cloexec_before_fork, nullptr, nullptr), 0);
  g_fds_before = fd_table();
  g_check_cloexec = true;
  auto r = run_in_process(commands({{"echo", "x"}, {"cat"}, {"cat"}, {"wc", "-c"}}));
  g_check_cloexec = false;
  EXPECT_EQ(r.out, "2\n");
  const int fd = g_inheritable;
  EXPECT_EQ(fd, -1) << "at a fork, descriptor " << fd << " of run_pipeline's lacked close-on-exec ("
                    << g_forks << " forks seen)";
}

GRADED_TEST(Hidden, ExecErrorMessageNamesTheCause, 2,
            "README §Pitfalls 5 — `command not found` only for a name looked up in PATH") {
  // A path that does not exist: bash says "No such file or directory", status 127.
  auto missing = run({"mypipe", "./ipclab_no_such_file"});
  expect_exit(missing, 127);
  EXPECT_NE(missing.err.find("mypipe: ./ipclab_no_such_file: No such file or directory"),
            std::string::npos)
      << missing.describe();
  // A name found in PATH but not executable: execvp fails with EACCES, status 126.
  const std::string dir = grader::scratch() + "/bin";
  ::mkdir(dir.c_str(), 0755);
  std::ofstream(dir + "/ipclab_not_executable") << "#!/bin/sh\necho should not run\n";
  ::chmod((dir + "/ipclab_not_executable").c_str(), 0644);
  auto r = run({"mypipe", "ipclab_not_executable"},
               {.env = {"PATH=" + dir + ":" + std::string(std::getenv("PATH"))}});
  expect_exit(r, 126);
  EXPECT_NE(r.err.find("mypipe: ipclab_not_executable: Permission denied"), std::string::npos)
      << r.describe();
}

GRADED_TEST(Hidden, ExecErrorMessageWrittenWholeThroughASignal, 2,
            "README §Pitfalls 5 — write(2) may write less than asked: write the rest") {
  // Stderr is a pipe of one page that nobody reads yet, and the stage's name is a page and
  // a byte long: the kernel fits one byte of it after "mypipe: " and blocks the write.
  // Then a signal (handled: the handler is inherited through fork) ends the write early,
  // having written that byte. The whole message must still arrive.
  grader::Child c(
      [] {
        Sigusr1Handler handler;
        auto err = ipclab::make_pipe();
        const long page = ::sysconf(_SC_PAGESIZE);
        ASSERT_GE(::fcntl(err.read.get(), F_SETPIPE_SZ, static_cast<int>(page)), 0);
        ASSERT_EQ(::dup2(err.write.get(), 2), 2);
        err.write.reset();
        int queued_at_signal = -1;
        std::string got;
        std::atomic<bool> returned{false};
        std::thread reader([&] {
          pid_t stage = -1;
          int queued = 0;
          // Blocked in write with part of the name in the pipe: then a signal cuts it short.
          // (Where the kernel writes nothing before blocking, no signal is sent.)
          if (grader::wait_until(
                  [&] {
                    if (returned) return true;
                    const auto kids = ipclab::child_pids();
                    if (kids.size() != 1) return false;
                    stage = kids[0];
                    if (blocked_in(stage, stage) != SYS_write) return false;
                    ::ioctl(err.read.get(), FIONREAD, &queued);
                    return queued > 8;
                  },
                  10'000ms) &&
              !returned) {
            queued_at_signal = queued;
            ::kill(stage, SIGUSR1);
            // Read nothing before the handler ran: space made earlier would let the write
            // go on instead of returning.
            grader::wait_until([&] { return !sigusr1_pending(stage); });
          }
          got = ipclab::read_all(err.read.get());  // to EOF: the stage exits, fd 2 closes
        });
        const std::string name(static_cast<std::size_t>(page) + 1, 'x');
        lab::PipelineResult r;
        std::string threw;  // the reader must be joined before the test can fail
        try {
          r = lab::run_pipeline(commands({{name}}));
        } catch (const std::exception& e) {
          threw = e.what();
        }
        returned = true;
        const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        ::dup2(null, 2);  // our copy of the write end: now the reader sees EOF
        ::close(null);
        reader.join();
        ASSERT_EQ(threw, "") << "run_pipeline threw";
        EXPECT_EQ(r.exit_code, lab::kNotExecutable);
        const std::string expected = "mypipe: " + name + ": File name too long\n";
        EXPECT_TRUE(got == expected)
            << "stderr has " << got.size() << " bytes, expected " << expected.size()
            << " (the name is " << name.size() << " x; a signal arrived when " << queued_at_signal
            << " bytes were in the pipe), ending: "
            << grader::excerpt(got.substr(got.size() - std::min<std::size_t>(got.size(), 40)));
      },
      "stage with stderr on a pipe");
  const auto end = c.finish(20'000ms);
  EXPECT_TRUE(end.passed()) << end.describe();
}

GRADED_TEST(Hidden, FailedForkClosesEveryEndAndReaps, 2,
            "README §Pitfalls 4 — on a failed fork, close what you hold and wait for the stages "
            "already started before you throw") {
  if (!seccomp_filters_work()) GTEST_SKIP() << "seccomp filters are not available here";
  // The second fork fails (EAGAIN, as at RLIMIT_NPROC) while `yes` already runs: it must
  // die of SIGPIPE and be reaped, and the caller must hold what it held before. Once for a
  // middle stage, once for the last.
  for (const auto& cmds :
       {commands({{"yes"}, {"cat"}, {"wc", "-c"}}), commands({{"yes"}, {"cat"}})}) {
    SCOPED_TRACE(shell_text(cmds) + ": the second fork fails");
    grader::Child c(
        [&cmds] {
          static const SyscallDenial deny = no_fork();
          static std::atomic<int> forks{0};
          ASSERT_EQ(::pthread_atfork(
                        [] {
                          if (forks.fetch_add(1) == 1) (void)deny.install();
                        },
                        nullptr, nullptr),
                    0);
          const auto before = fd_table();
          int err = 0;
          try {
            lab::run_pipeline(cmds);
          } catch (const ipclab::SysError& e) {
            err = e.err();
          }
          EXPECT_EQ(err, EAGAIN) << "run_pipeline must throw SysError(EAGAIN) when fork fails";
          EXPECT_EQ(forks.load(), 2) << "stages are started with fork(2)";
          EXPECT_EQ(ipclab::child_pids(), std::vector<pid_t>{})
              << "the stage started before the failed fork was not waited for";
          EXPECT_EQ(fd_table(), before) << "descriptors left open after the failed fork";
        },
        "fork fails at the second stage");
    expect_yes_ended(c);
  }
}

GRADED_TEST(Hidden, FailedPipeInProcessClosesEveryEndAndReaps, 2,
            "README §Pitfalls 1 — on a failed pipe(), close every end you hold before you wait") {
  // The descriptor table filled up to a low RLIMIT_NOFILE, with a chosen few slots free.
  grader::Child c(
      [] {
        const int limit = fill_descriptor_table();
        ASSERT_GT(limit, 0) << "could not fill the descriptor table";
        // 1. Free: fd 0 and one slot above 2. pipe2 puts its read end on 0, and moving it
        //    above 2 fails: its write end must be closed too. (A solution that keeps the
        //    read end on 0 runs the pipeline instead; it must leak nothing either.)
        ASSERT_EQ(::close(0), 0);
        ASSERT_EQ(::close(limit - 1), 0);
        auto before = fd_table(limit);
        try {
          lab::run_pipeline(commands({{"true"}, {"true"}}));
        } catch (const ipclab::SysError&) {
        }
        EXPECT_TRUE(child_pids_with_room().empty());
        EXPECT_EQ(fd_table(limit), before) << "fd 0 closed, one slot free: descriptors leaked";
        ASSERT_EQ(::open("/dev/null", O_RDONLY), 0);
        ASSERT_EQ(::open("/dev/null", O_RDONLY | O_CLOEXEC), limit - 1);
        // 2. Free: two slots. The first pipe takes both and `yes` starts; the second pipe
        //    cannot be made: yes's read end must be closed (yes dies of SIGPIPE) and yes
        //    reaped before SysError.
        ASSERT_EQ(::close(limit - 1), 0);
        ASSERT_EQ(::close(limit - 2), 0);
        before = fd_table(limit);
        int err = 0;
        try {
          lab::run_pipeline(commands({{"yes"}, {"cat"}, {"cat"}}));
        } catch (const ipclab::SysError& e) {
          err = e.err();
        }
        EXPECT_EQ(err, EMFILE) << "run_pipeline must throw SysError(EMFILE)";
        EXPECT_EQ(fd_table(limit), before) << "two slots free: descriptors leaked";
        EXPECT_EQ(child_pids_with_room(), std::vector<pid_t>{})
            << "the stage started before the failed pipe2 was not waited for";
      },
      "descriptor table full");
  expect_yes_ended(c);
}

GRADED_TEST(Hidden, PipelineThatFitsTheDescriptorTableRuns, 1,
            "README §Pitfalls 10 — move an end on 0-2 to the lowest free number above 2; leave "
            "an end above 2 where it is") {
  // A two-stage pipeline needs one pipe: two free slots above 2, wherever pipe2 puts it.
  grader::Child c(
      [] {
        const int saved2 = ::fcntl(2, F_DUPFD_CLOEXEC, 3);  // stderr, given back at the end
        const int limit = fill_descriptor_table();
        ASSERT_GT(limit, 0) << "could not fill the descriptor table";
        auto run = [](const char* free) {
          try {
            const auto r = lab::run_pipeline(commands({{"true"}, {"true"}}));
            EXPECT_EQ(r.exit_code, 0) << free;
          } catch (const std::exception& e) {
            ADD_FAILURE() << free << ": the pipeline fits, but run_pipeline threw: " << e.what();
          }
        };
        // Free: 0, 2, 3 and the last slot. pipe2 gives 0 and 2; they go to 3 and the last.
        for (const int fd : {0, 2, 3, limit - 1}) ASSERT_EQ(::close(fd), 0);
        run("fds 0, 2, 3 and one more free");
        for (const int fd : {0, 2, 3, limit - 1}) ASSERT_EQ(::open("/dev/null", O_RDONLY), fd);
        // Free: 3 and the last slot. pipe2 gives both, and both stay.
        for (const int fd : {3, limit - 1}) ASSERT_EQ(::close(fd), 0);
        run("fd 3 and one more free");
        ::dup2(saved2, 2);
      },
      "descriptor table nearly full");
  const auto end = c.finish(10'000ms);
  EXPECT_TRUE(end.passed()) << end.describe();
}

GRADED_TEST(Hidden, CallersInheritableDescriptorsNeverReachAStage, 2,
            "README §Pitfalls 2 — close every descriptor from 3 up, the last one too") {
  // The caller holds 3, 40 and its highest possible descriptor without close-on-exec; a
  // stage checks each, and that its stderr is still the caller's. With close_range, and
  // without it (seccomp: ENOSYS).
  const bool seccomp = seccomp_filters_work();
  for (const bool deny_close_range : {false, true}) {
    if (deny_close_range && !seccomp) continue;
    SCOPED_TRACE(deny_close_range ? "close_range fails with ENOSYS" : "close_range works");
    grader::Child c(
        [deny_close_range] {
          rlimit rl{};
          ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
          if (rl.rlim_max >= 4096 && rl.rlim_cur < 4096) {
            rl.rlim_cur = 4096;  // a caller's descriptor above 1023 too
            ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);
          }
          const int top = static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 4096)) - 1;
          const std::string err_file = grader::scratch() + "/stage-stderr";
          const std::vector<int> targets = {3, 40, top};
          int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
          if (std::find(targets.begin(), targets.end(), null) != targets.end()) {
            const int first = null;  // on a slot to be tested: move it out of the way
            null = ::fcntl(first, F_DUPFD_CLOEXEC, 41);
            ::close(first);
          }
          std::string checks;
          std::vector<std::pair<int, int>> saved;  // (fd, its copy) for a slot in use here
          for (const int fd : targets) {
            if (::fcntl(fd, F_GETFD) >= 0)
              saved.emplace_back(fd, ::fcntl(fd, F_DUPFD_CLOEXEC, 100));
            ASSERT_EQ(::dup2(null, fd), fd);  // without close-on-exec
            checks += fmt::format("test -e /proc/self/fd/{0} && echo fd-{0}-open; ", fd);
          }
          ::close(null);
          const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
          ASSERT_EQ(::dup2(err, 2), 2);
          ::close(err);
          if (deny_close_range) {
            ASSERT_TRUE(SyscallDenial({SYS_close_range}, ENOSYS).install());
          }
          auto r =
              run_in_process(commands({{"sh", "-c", checks + "echo x"},
                                       {"sh", "-c", "cat; " + checks + "echo to-stderr >&2"}}));
          for (const auto& [fd, copy] : saved) {
            ::dup2(copy, fd);
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            ::close(copy);
          }
          EXPECT_EQ(r.out, "x\n") << "a stage started with a descriptor of the caller's (checked: "
                                  << checks << ")";
          EXPECT_EQ(ipclab::read_file(err_file), "to-stderr\n") << "the stage's stderr was lost";
        },
        deny_close_range ? "close_range missing" : "close_range present");
    const auto end = c.finish(10'000ms);
    EXPECT_TRUE(end.passed()) << end.describe();
  }
}

GRADED_TEST(Hidden, OuterDescriptorsMayBeAnyNumber, 2,
            "README §Pitfalls 10 — stdin_fd and stdout_fd may be any descriptors, 0-2 too") {
  grader::Child c(
      [] {
        const std::string dir = grader::scratch();
        // The input on fd 1: stdin_fd = 1.
        {
          std::ofstream(dir + "/in1") << "from-one\n";
          const int in = ::open((dir + "/in1").c_str(), O_RDONLY | O_CLOEXEC);
          const int saved = ::fcntl(1, F_DUPFD_CLOEXEC, 3);
          ASSERT_EQ(::dup2(in, 1), 1);
          ::close(in);
          ipclab::Fd out(
              ::open((dir + "/out1").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
          lab::Options opts;
          opts.stdin_fd = 1;
          opts.stdout_fd = out.get();
          lab::run_pipeline(commands({{"cat"}}), opts);
          ::dup2(saved, 1);
          ::close(saved);
          EXPECT_EQ(ipclab::read_file(dir + "/out1"), "from-one\n") << "stdin_fd = 1";
        }
        // The output on fd 2: stdout_fd = 2.
        {
          const int out =
              ::open((dir + "/out2").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
          const int saved = ::fcntl(2, F_DUPFD_CLOEXEC, 3);
          ASSERT_EQ(::dup2(out, 2), 2);
          ::close(out);
          lab::Options opts;
          opts.stdout_fd = 2;
          lab::run_pipeline(commands({{"echo", "to-two"}}), opts);
          ::dup2(saved, 2);
          ::close(saved);
          EXPECT_EQ(ipclab::read_file(dir + "/out2"), "to-two\n") << "stdout_fd = 2";
        }
        // One socket on fd 0 for both (as inetd starts a server): stdin_fd = stdout_fd = 0.
        {
          int sv[2];
          ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
          ipclab::Fd peer(sv[1]);
          const int saved = ::fcntl(0, F_DUPFD_CLOEXEC, 3);
          ASSERT_EQ(::dup2(sv[0], 0), 0);
          ::close(sv[0]);
          ipclab::write_full(peer.get(), "echoed\n");
          ::shutdown(peer.get(), SHUT_WR);
          lab::Options opts;
          opts.stdin_fd = 0;
          opts.stdout_fd = 0;
          lab::run_pipeline(commands({{"cat"}}), opts);
          ::dup2(saved, 0);  // closes our end of the socket: the peer reads to EOF
          ::close(saved);
          EXPECT_EQ(ipclab::read_all(peer.get()), "echoed\n") << "stdin_fd = stdout_fd = 0";
        }
      },
      "outer descriptors 0, 1, 2");
  const auto end = c.finish(10'000ms);
  EXPECT_TRUE(end.passed()) << end.describe();
}

GRADED_TEST(Hidden, ClosedStderrGetsNoPipeEnd, 1,
            "README §Pitfalls 10 — a pipe end pipe2 puts on 0, 1 or 2 must be moved above 2") {
  // mypipe with stdin and stderr closed: its first pipe is 0 and 2. Left on 2, the write
  // end would take the failing stage's error message into the pipeline's data.
  auto r = run({"sh", "-c", "exec 0<&- 2>&-; exec \"$0\" ipclab_no_such_cmd cat",
                grader::program("mypipe")});
  expect_output(r, "");
  expect_exit(r, 0);
}

GRADED_TEST(Hidden, EmptyArgvAnywhereIsUsageError, 1, "README §run_pipeline") {
  EXPECT_THROW(lab::run_pipeline(commands({{}, {"true"}})), ipclab::UsageError);
  EXPECT_THROW(lab::run_pipeline(commands({{"true"}, {}})), ipclab::UsageError);
  EXPECT_THROW(lab::run_pipeline({}), ipclab::UsageError);
  EXPECT_TRUE(ipclab::child_pids().empty()) << "a stage was started before the check";
}

GRADED_TEST(Hidden, PipefailCountsEveryNonZeroStatus, 1, "README §Status") {
  // Status 1 is a failure like any other.
  expect_exit(run({"mypipe", "--pipefail", "false", "true"}),
              bash("set -o pipefail; false | true").exit_code());
  expect_exit(run({"mypipe", "--pipefail", "sh -c 'exit 4'", "false", "true"}),
              bash("set -o pipefail; sh -c 'exit 4' | false | true").exit_code());
}

GRADED_TEST(Hidden, ParseEscapesAndReadsOnlyItsView, 1,
            "README §Words — a backslash escapes the next character; the line is a string_view") {
  using W = std::vector<std::string>;
  EXPECT_EQ(lab::split_words("a\\b"), W{"ab"});
  EXPECT_EQ(lab::split_words("x \\'"), (W{"x", "'"}));
  // A view of part of a longer text: what lies past its end is not part of the line.
  const std::string text = R"(echo "ab" c\d)";
  EXPECT_THROW(lab::split_words(std::string_view(text).substr(0, 8)), ipclab::UsageError)
      << "`echo \"ab` is unterminated";
  EXPECT_THROW(lab::split_words(std::string_view(text).substr(0, 12)), ipclab::UsageError)
      << "`echo \"ab\" c\\` ends in a backslash";
  EXPECT_EQ(lab::split_words(std::string_view(text).substr(0, 11)), (W{"echo", "ab", "c"}));
  // Lines that end where the memory does: a read past the view's end faults (SIGSEGV).
  EXPECT_EQ(lab::split_words(AtPageEnd("ls -l").view()), (W{"ls", "-l"}));
  EXPECT_EQ(lab::split_words(AtPageEnd("a\\b").view()), W{"ab"});
  EXPECT_EQ(lab::split_words(AtPageEnd(R"("a\"")").view()), W{"a\""});
  for (const char* bad : {R"("a\)", R"("a\\)", R"(echo "ab)", R"(a\)", "'ab"})
    EXPECT_THROW(lab::split_words(AtPageEnd(bad).view()), ipclab::UsageError) << bad;
}
