// Lab 03 hidden grader: the corners of the contract — a child reaped elsewhere, other
// children left alone, early close of either side, caller descriptors, many streams
// closed in random order, a caller whose stdin or stdout is closed.
#include <dlfcn.h>         // dlsym, RTLD_NEXT
#include <fcntl.h>         // open
#include <signal.h>        // sigaction, SIGCHLD
#include <sys/resource.h>  // setrlimit, RLIMIT_NOFILE
#include <sys/wait.h>      // waitpid

#include <algorithm>  // std::shuffle
#include <atomic>     // std::atomic
#include <cstdlib>    // std::malloc, std::free
#include <new>        // std::bad_alloc
#include <random>     // std::mt19937_64
#include <utility>    // std::exchange

#include "../public/common.hpp"
#include "ipclab/io.hpp"  // read_file

using ipclab::read_file;
using namespace lab03_test;

GRADED_TEST(Hidden, ReapedElsewhereIsEchildLikeGlibc, 2,
            "README §Pitfalls 4 — waitpid fails with ECHILD when the child was reaped "
            "elsewhere: return -1, but the stream is closed all the same") {
  const auto fds_before = ipclab::open_fds();
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;  // children are reaped by the kernel: no status for anyone
  struct sigaction old {};
  ::sigaction(SIGCHLD, &ign, &old);
  FILE* g = ::popen("echo x; exit 3", "r");
  const Reference ref = [&] {
    Reference r;
    char buf[64];
    while (std::fread(buf, 1, sizeof buf, g) > 0) {
    }
    r.status = ::pclose(g);
    r.err = errno;
    return r;
  }();
  FILE* f = mypopen("echo x; exit 3", "r");
  std::optional<CloseResult> mine;
  if (f != nullptr && new_fds(fds_before).size() == 1) {
    read_to_eof(::fileno(f));
    mine = close_within(f);
  }
  ::sigaction(SIGCHLD, &old, nullptr);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(mine.has_value()) << "mypopen left more than one new descriptor open";
  ASSERT_EQ(ref.status, -1);  // glibc: -1 with ECHILD
  EXPECT_EQ(mine->ret, -1) << "mypclose: " << mine->describe();
  EXPECT_EQ(mine->err, ref.err) << "mypclose: " << mine->describe()
                                << "; glibc: " << status_text(ref.status, ref.err);
  EXPECT_EQ(ipclab::open_fds(), fds_before)
      << "the stream was not closed: " << describe_fds(0, new_fds(fds_before));
}

GRADED_TEST(Hidden, DoesNotReapOtherChildren, 2,
            "README §Pitfalls 4 — waitpid(pid), not wait(): the caller's other children are "
            "not yours") {
  const pid_t other = ipclab::spawn({"sh", "-c", "exit 5"});
  ASSERT_TRUE(grader::wait_until([&] { return ipclab::process_state(other) == 'Z'; }));
  FILE* f = mypopen("exit 3", "r");
  ASSERT_NE(f, nullptr) << "mypopen failed: " << errno_name(errno);
  read_to_eof(::fileno(f));
  const auto closed = close_within(f);
  EXPECT_EQ(closed.ret, 3 << 8) << "mypclose: " << closed.describe();
  int status = 0;
  const pid_t got = ::waitpid(other, &status, WNOHANG);
  EXPECT_EQ(got, other) << "the caller's own child (pid " << other
                        << ") was reaped by mypclose: its status is lost";
  if (got == other) {
    EXPECT_EQ(status, 5 << 8);
  }
}

GRADED_TEST(Hidden, EarlyCloseOfReaderEndsWriter, 2,
            "README §Pitfalls 1 — a writer learns its reader is gone only when every read end "
            "is closed") {
  FILE* f = mypopen("yes 2>/dev/null", "r");
  ASSERT_NE(f, nullptr) << "mypopen failed: " << errno_name(errno);
  char buf[4];
  ASSERT_EQ(std::fread(buf, 1, sizeof buf, f), sizeof buf);
  EXPECT_EQ(std::string(buf, 4), "y\ny\n");
  const auto closed = close_within(f);
  EXPECT_FALSE(closed.timed_out) << closed.describe();
  EXPECT_NE(closed.ret, -1) << closed.describe();
  EXPECT_TRUE(grader::zombie_children().empty());
}

GRADED_TEST(Hidden, WriteToExitedChildKeepsItsStatus, 1,
            "README §Pitfalls 10 — a write to a child that is gone fails with EPIPE; mypclose "
            "still returns the child's status") {
  const auto kids = ipclab::child_pids();
  FILE* f = mypopen("exit 3", "w");
  ASSERT_NE(f, nullptr) << "mypopen failed: " << errno_name(errno);
  ASSERT_TRUE(grader::wait_until([&] {
    for (pid_t k : ipclab::child_pids())
      if (std::find(kids.begin(), kids.end(), k) == kids.end() && ipclab::process_state(k) == 'Z')
        return true;
    return false;
  })) << "the child of mypopen(\"exit 3\", \"w\") did not exit";
  // The grader ignores SIGPIPE, so the write fails with EPIPE instead of killing us.
  const int werr = write_all(::fileno(f), std::string(100'000, 'x'), 5'000ms);
  EXPECT_EQ(werr, EPIPE) << "writing to a child that has exited: " << errno_name(werr);
  const auto closed = close_within(f);
  const auto ref = glibc_write("exit 3", std::string(100'000, 'x'));
  EXPECT_EQ(closed.ret, ref.status)
      << "mypclose: " << closed.describe() << "; glibc: " << status_text(ref.status, ref.err);
}

GRADED_TEST(Hidden, CallerDescriptorsStillInherited, 2,
            "README §Pitfalls 3 — close the earlier streams only, not every descriptor: the "
            "caller's own inheritable descriptors reach the child, as with glibc") {
  const std::string file = grader::scratch() + "/inherited.txt";
  ipclab::Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600));  // no O_CLOEXEC
  ASSERT_TRUE(fd.valid());
  const std::string cmd = fmt::format("echo through fd {0} >&{0}", fd.get());
  FILE* f = mypopen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr) << "mypopen failed: " << errno_name(errno);
  read_to_eof(::fileno(f));
  const auto closed = close_within(f);
  EXPECT_EQ(closed.ret, 0) << closed.describe();
  EXPECT_EQ(read_file(file), fmt::format("through fd {}\n", fd.get()))
      << "`" << cmd << "` could not write to the caller's descriptor";
}

GRADED_TEST(Hidden, ManyStreamsClosedInRandomOrder, 3,
            "README §Pitfalls 3 and 6 — every open stream is closed in each new child; each "
            "mypclose finds its own child") {
  const auto fds_before = ipclab::open_fds();
  grader::repeat(3, [&](int rep, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    struct Open {
      FILE* f;
      int k;
      bool writing;
      std::string file;
    };
    std::vector<Open> streams;
    for (int k = 1; k <= 24; ++k) {
      const bool writing = rng() % 2 == 0;
      const std::string file = fmt::format("{}/s{}_{}", grader::scratch(), rep, k);
      const std::string cmd = writing ? fmt::format("cat > {}; exit {}", file, k)
                                      : fmt::format("echo {0}; exit {0}", k);
      const auto before = ipclab::open_fds();
      FILE* f = mypopen(cmd.c_str(), writing ? "w" : "r");
      ASSERT_NE(f, nullptr) << "stream " << k << ": mypopen failed: " << errno_name(errno);
      ASSERT_TRUE(holds_one_new_fd(before, f));
      streams.push_back({f, k, writing, file});
    }
    const auto kids = ipclab::child_pids();
    FILE* probe = mypopen("exec cat", "w");
    ASSERT_NE(probe, nullptr);
    const pid_t child = new_child(kids);
    ASSERT_GT(child, 0);
    for (const auto& s : streams) {
      const auto held = fds_referring_to(child, target_of(::fileno(s.f)));
      EXPECT_TRUE(held.empty()) << "the 25th child holds the pipe of stream " << s.k << ": "
                                << describe_fds(child, held);
    }
    std::shuffle(streams.begin(), streams.end(), rng);
    for (const auto& s : streams) {
      if (s.writing) {
        EXPECT_EQ(write_all(::fileno(s.f), fmt::format("to {}\n", s.k)), 0);
      } else {
        EXPECT_EQ(read_to_eof(::fileno(s.f)), fmt::format("{}\n", s.k));
      }
      const auto closed = close_within(s.f);
      ASSERT_EQ(closed.ret, s.k << 8)
          << "stream " << s.k << ": mypclose gave " << closed.describe();
      if (s.writing) {
        EXPECT_EQ(read_file(s.file), fmt::format("to {}\n", s.k));
      }
    }
    EXPECT_EQ(close_within(probe).ret, 0);
  });
  EXPECT_EQ(ipclab::open_fds(), fds_before);
  EXPECT_TRUE(grader::zombie_children().empty());
}

namespace {

/// Closes a standard descriptor and puts it back when it goes, exceptions included: the
/// test's own report is written to fd 1.
struct Closed {
  int fd;
  ipclab::Fd saved;
  explicit Closed(int n) : fd(n), saved(::fcntl(n, F_DUPFD_CLOEXEC, 3)) { ::close(n); }
  ~Closed() { ::dup2(saved.get(), fd); }
};

}  // namespace

GRADED_TEST(Hidden, StdinOrStdoutClosedInCaller, 1,
            "README §Pitfalls 12 — when the pipe end already has the target number, dup2 does "
            "nothing: do not close it afterwards, and clear its close-on-exec flag") {
  // stdin closed: the new pipe's read end becomes fd 0, and in "w" mode that is the child's.
  const std::string file = grader::scratch() + "/zero.txt";
  FILE* w = nullptr;
  int w_err = 0;
  int werr = -1;
  std::optional<CloseResult> wclosed;
  {
    const Closed stdin_closed(0);
    w = mypopen(("cat > " + file).c_str(), "w");
    w_err = errno;
    if (w != nullptr) {
      werr = write_all(::fileno(w), "zero\n");
      wclosed = close_within(w);
    }
  }
  // stdout closed: the read end becomes fd 1; in "r" mode the child's end must end up there.
  FILE* r = nullptr;
  int r_err = 0;
  std::optional<std::string> out;
  std::optional<CloseResult> rclosed;
  {
    const Closed stdout_closed(1);
    r = mypopen("echo one", "r");
    r_err = errno;
    if (r != nullptr) {
      out = read_to_eof(::fileno(r), 5'000ms);
      rclosed = close_within(r, 5'000ms);
    }
  }

  ASSERT_NE(w, nullptr) << "mypopen(\"cat > ...\", \"w\") with stdin closed: " << errno_name(w_err);
  EXPECT_EQ(werr, 0) << errno_name(werr);
  EXPECT_EQ(wclosed->ret, 0) << wclosed->describe();
  EXPECT_EQ(read_file(file), "zero\n")
      << "with the caller's stdin closed, cat did not read the pipe";
  ASSERT_NE(r, nullptr) << "mypopen(\"echo one\", \"r\") with stdout closed: " << errno_name(r_err);
  EXPECT_EQ(out, "one\n") << "with the caller's stdout closed, the child's output was lost";
  EXPECT_EQ(rclosed->ret, 0) << rclosed->describe();
}

GRADED_TEST(Hidden, PipeFailureLeavesNothing, 1,
            "README §The API — on failure, nullptr with the call's errno, nothing left behind") {
  const auto fds_before = ipclab::open_fds();
  // Allow exactly one more descriptor: pipe2 needs two, so it fails with EMFILE.
  std::vector<int> free_fds;
  for (int fd = 0; free_fds.size() < 2; ++fd)
    if (!std::binary_search(fds_before.begin(), fds_before.end(), fd)) free_fds.push_back(fd);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit tight = old;
  tight.rlim_cur = static_cast<rlim_t>(free_fds[1]);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  errno = 0;
  FILE* g = ::popen("echo x", "r");
  const int glibc_err = errno;
  errno = 0;
  FILE* f = nullptr;
  int err = 0;
  try {
    f = mypopen("echo x", "r");
    err = errno;
  } catch (...) {
    ::setrlimit(RLIMIT_NOFILE, &old);
    throw;
  }
  ::setrlimit(RLIMIT_NOFILE, &old);
  ASSERT_EQ(g, nullptr) << "grader: glibc popen worked with one descriptor to spare";
  if (f != nullptr) close_within(f);
  EXPECT_EQ(f, nullptr) << "mypopen worked with one descriptor to spare";
  EXPECT_EQ(err, glibc_err) << "mypopen failed with " << errno_name(err) << ", glibc popen with "
                            << errno_name(glibc_err);
  EXPECT_EQ(ipclab::open_fds(), fds_before)
      << "the failed mypopen left descriptors open: " << describe_fds(0, new_fds(fds_before));
  EXPECT_TRUE(ipclab::child_pids().empty()) << "the failed mypopen started a process";
}

// fdopen() made to fail once, for the test below: this executable's fdopen is the one the
// lab's library calls; unarmed, it is glibc's.
namespace {
std::atomic<int> fail_next_fdopen{0};
}  // namespace

extern "C" FILE* fdopen(int fd, const char* mode) noexcept {
  if (fail_next_fdopen.exchange(0) != 0) {
    errno = ENOMEM;
    return nullptr;
  }
  using Fn = FILE* (*)(int, const char*);
  static const auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "fdopen"));
  return real(fd, mode);
}

GRADED_TEST(Hidden, FailedFdopenLeaksNothing, 2,
            "README §Pitfalls 1 — on every error path, close both ends of the pipe you made") {
  const auto fds_before = ipclab::open_fds();
  for (const char* mode : {"r", "w"}) {
    fail_next_fdopen = 1;
    errno = 0;
    FILE* f = lab::mypopen("echo x", mode);
    const int err = errno;
    fail_next_fdopen = 0;
    EXPECT_EQ(f, nullptr) << "mypopen(\"echo x\", \"" << mode << "\") with fdopen failing";
    if (f != nullptr) {
      mypclose(f);
      continue;
    }
    EXPECT_EQ(err, ENOMEM) << "mypopen must return NULL with fdopen's errno (ENOMEM)";
    const auto leaked = new_fds(fds_before);
    EXPECT_TRUE(leaked.empty()) << "after a failed fdopen in mode " << mode
                                << " still open: " << describe_fds(::getpid(), leaked);
  }
  FILE* ok = lab::mypopen("true", "r");  // and the next call works
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(mypclose(ok), 0);
}

GRADED_TEST(Hidden, EarlierStreamOnTheTargetNumberStays, 1,
            "README §Pitfalls 12 — an earlier stream may hold the very number the new child's "
            "end is put on: after the dup2 that number is the child's, do not close it") {
  // The caller's stdout is closed, so the first stream's read end is fd 1; the second
  // child's stdout is its pipe, put on fd 1 over that inherited copy.
  FILE* first = nullptr;
  FILE* second = nullptr;
  int first_fd = -1;
  int err = 0;
  std::optional<std::string> out1, out2;
  std::optional<CloseResult> closed1, closed2;
  {
    const Closed stdout_closed(1);
    first = mypopen("echo one", "r");
    err = errno;
    if (first != nullptr) {
      first_fd = ::fileno(first);
      second = mypopen("echo two", "r");
      err = errno;
      if (second != nullptr) {
        out2 = read_to_eof(::fileno(second), 5'000ms);
        closed2 = close_within(second, 5'000ms);
      }
      out1 = read_to_eof(::fileno(first), 5'000ms);
      closed1 = close_within(first, 5'000ms);
    }
  }
  ASSERT_NE(first, nullptr) << "mypopen(\"echo one\", \"r\") with stdout closed: "
                            << errno_name(err);
  ASSERT_EQ(first_fd, 1) << "grader: the first stream should have taken fd 1";
  ASSERT_NE(second, nullptr) << "the second mypopen: " << errno_name(err);
  EXPECT_EQ(out2, "two\n") << "the second child's output was lost: its stdout (fd 1) was "
                              "closed after the dup2 put its pipe there";
  EXPECT_EQ(closed2->ret, 0) << closed2->describe();
  EXPECT_EQ(out1, "one\n");
  EXPECT_EQ(closed1->ret, 0) << closed1->describe();
}

GRADED_TEST(Hidden, SpawnFailureLeavesNothing, 1,
            "README §The API — when the child cannot be started, nullptr with the error and "
            "nothing left behind") {
  // One argument longer than MAX_ARG_STRLEN (128 KiB): execve fails with E2BIG, and
  // posix_spawn reports it.
  const std::string cmd = "true " + std::string(200'000, 'x');
  const auto fds_before = ipclab::open_fds();
  const auto kids_before = ipclab::child_pids();
  for (const char* mode : {"r", "w"}) {
    errno = 0;
    FILE* f = mypopen(cmd.c_str(), mode);
    const int err = errno;
    if (f != nullptr) {
      // fork+exec learns of a failed exec only in the child: then the status says it.
      if (mode[0] == 'r') read_to_eof(::fileno(f));
      const auto closed = close_within(f);
      EXPECT_TRUE(closed.ret > 0 && WIFEXITED(closed.ret) && WEXITSTATUS(closed.ret) == 127)
          << "mode " << mode << ": the child could not exec, yet mypclose gave "
          << closed.describe();
    } else {
      EXPECT_EQ(err, E2BIG) << "mode " << mode << ": mypopen failed with " << errno_name(err)
                            << "; posix_spawn's error is E2BIG";
    }
    EXPECT_EQ(ipclab::open_fds(), fds_before)
        << "mode " << mode << ": left open: " << describe_fds(0, new_fds(fds_before));
    EXPECT_EQ(ipclab::child_pids(), kids_before) << "mode " << mode << ": a child is left";
  }
}

// operator new made to fail once in the thread that armed it, for the test below: this
// executable's operator new is the one the lab's library calls; unarmed, it is malloc's.
namespace {
thread_local bool fail_next_new = false;
}  // namespace

void* operator new(std::size_t size) {
  if (std::exchange(fail_next_new, false)) throw std::bad_alloc();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;  // NOLINT: what new is made of
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }  // NOLINT: pairs with the malloc above
void operator delete(void* p, std::size_t) noexcept { std::free(p); }  // NOLINT: the same

GRADED_TEST(Hidden, FailedAllocationStartsNothing, 1,
            "README §The API — ENOMEM with nothing left behind: allocate before the child "
            "exists, not after") {
  // One stream opened and closed, one open: the table holds exactly what it has room for,
  // so the next mypopen needs memory (if it keeps its table in memory from operator new).
  FILE* warm = mypopen("true", "r");
  ASSERT_NE(warm, nullptr) << errno_name(errno);
  read_to_eof(::fileno(warm));
  ASSERT_EQ(close_within(warm).ret, 0);
  FILE* open1 = mypopen("exec cat", "w");
  ASSERT_NE(open1, nullptr) << errno_name(errno);
  const auto fds_before = ipclab::open_fds();
  const auto kids_before = ipclab::child_pids();
  fail_next_new = true;
  errno = 0;
  FILE* f = mypopen("echo x", "r");
  const int err = errno;
  fail_next_new = false;
  if (f != nullptr) {  // it did not need operator new, or did without it: a working stream
    EXPECT_EQ(read_to_eof(::fileno(f)), "x\n");
    const auto closed = close_within(f);
    EXPECT_EQ(closed.ret, 0) << closed.describe();
  } else {
    EXPECT_EQ(err, ENOMEM) << "mypopen failed with " << errno_name(err);
    EXPECT_EQ(ipclab::open_fds(), fds_before)
        << "a mypopen that ran out of memory left open: " << describe_fds(0, new_fds(fds_before));
    EXPECT_EQ(ipclab::child_pids(), kids_before)
        << "a mypopen that ran out of memory started a child all the same";
  }
  EXPECT_EQ(close_within(open1).ret, 0);
}

// fflush() made to stop once in the thread that armed it, for the test below: it waits
// until released and then returns without touching the stream (which may be gone by
// then). Unarmed, it is glibc's.
namespace {
thread_local bool hold_next_fflush = false;
std::atomic<bool> fflush_holding{false};
std::atomic<bool> fflush_release{false};
}  // namespace

extern "C" int fflush(FILE* stream) {
  if (std::exchange(hold_next_fflush, false)) {
    fflush_holding = true;
    fflush_release.wait(false);
    return 0;
  }
  using Fn = int (*)(FILE*);
  static const auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "fflush"));
  return real(stream);
}

GRADED_TEST(Hidden, ClosedByAnotherThreadDuringItsFlush, 1,
            "README §Pitfalls 6 and 7 — after the flush, look the stream up again: another "
            "thread may have closed it meanwhile (ECHILD, and do not touch it)") {
  FILE* f = mypopen("cat > /dev/null", "w");
  ASSERT_NE(f, nullptr) << "mypopen failed: " << errno_name(errno);
  fflush_holding = false;
  fflush_release = false;
  std::promise<CloseResult> promise;
  auto first = promise.get_future();
  std::thread closer([f, p = std::move(promise)]() mutable {
    hold_next_fflush = true;
    CloseResult r;
    r.ret = mypclose(f);
    r.err = errno;
    hold_next_fflush = false;
    p.set_value(r);
  });
  grader::wait_until(
      [&] { return fflush_holding.load() || first.wait_for(0ms) == std::future_status::ready; },
      5'000ms);
  const bool held = fflush_holding.load();
  std::optional<CloseResult> second;
  if (held) second = close_within(f);  // the first mypclose is between lookup and close
  fflush_release = true;
  fflush_release.notify_all();
  closer.join();
  const CloseResult r1 = first.get();
  if (!held) {
    EXPECT_EQ(r1.ret, 0) << r1.describe();  // no flush of its own: nothing to race with
    return;
  }
  EXPECT_EQ(second->ret, 0) << "the second mypclose: " << second->describe();
  EXPECT_TRUE(r1.ret == -1 && r1.err == ECHILD)
      << "the first mypclose, whose stream another thread closed while it flushed, returned "
      << r1.describe() << "; expected -1 with ECHILD";
}
