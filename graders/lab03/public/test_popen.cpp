// Lab 03 public grader: mypopen/mypclose checked against glibc's popen/pclose where the
// behaviour must match (output, input, wait statuses, EINVAL, close-on-exec), plus what
// glibc cannot show: which process holds which pipe end, leaks over 1000 calls, threads.
#include <fcntl.h>     // fcntl, FD_CLOEXEC
#include <pthread.h>   // pthread_kill
#include <signal.h>    // sigaction, SIGUSR1
#include <sys/wait.h>  // WIFEXITED, WEXITSTATUS

#include <sys/stat.h>     // mkfifo
#include <sys/syscall.h>  // SYS_wait4, SYS_waitid

#include <atomic>      // std::atomic
#include <filesystem>  // std::filesystem
#include <fstream>     // std::ofstream
#include <memory>      // std::shared_ptr
#include <mutex>       // std::mutex
#include <thread>      // std::thread

#include "common.hpp"
#include "ipclab/io.hpp"  // read_file

namespace lab = ipclab::lab03;

GRADER_LAB("lab03", "popen and pclose from scratch");

using grader::expect_exit;
using grader::expect_output;
using grader::run;
using ipclab::read_file;
using namespace lab03_test;

namespace {

std::string exited_with(int code) { return status_text(code << 8); }

}  // namespace

// ---- read and write modes, compared with glibc -------------------------------------------

GRADED_TEST(Read, OutputMatchesGlibc, 3,
            "README §Pitfalls 1 — the parent must close the child's end of the pipe") {
  const std::string data = grader::scratch() + "/data.bin";
  std::ofstream(data, std::ios::binary) << random_bytes(300 * 1024, grader::seed());
  const std::vector<std::string> commands = {
      "echo hello",        "printf 'no newline'", "echo \"$0\" \"$#\"", "seq 1 20000",
      "printf 'a\\0b\\n'", "ls -l /usr",          "cat " + data,        "true"};
  for (const auto& cmd : commands) {
    SCOPED_TRACE("mypopen(\"" + cmd + "\", \"r\")");
    const auto before = ipclab::open_fds();
    FILE* f = mypopen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr) << "mypopen failed: " << errno_name(errno);
    ASSERT_TRUE(holds_one_new_fd(before, f));
    const auto out = read_to_eof(::fileno(f));
    const auto closed = close_within(f);
    ASSERT_TRUE(out.has_value())
        << "no end of file on the stream after 10 s: some process still holds the pipe's "
           "write end";
    const auto ref = glibc_read(cmd);
    EXPECT_TRUE(*out == ref.out) << "what mypopen's stream reads differs from glibc popen's ("
                                 << out->size() << " vs " << ref.out.size() << " bytes)\n"
                                 << grader::diff(ref.out, *out);
    EXPECT_EQ(closed.ret, ref.status)
        << "mypclose: " << closed.describe() << "\nglibc pclose: " << status_text(ref.status);
  }
}

GRADED_TEST(Write, InputReachesChildLikeGlibc, 3,
            "README §Pitfalls 2 — the child must see EOF: nobody but the parent holds the write "
            "end, and mypclose closes it before waiting") {
  const std::string dir = grader::scratch();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cat > {}", random_bytes(1 << 20, grader::seed())},  // 1 MiB, NULs included
      {"tr a-z A-Z > {}", "hello, popen\nsecond line\n"},
      {"wc -c > {}", std::string(100'000, 'x')},
      {"cat > {}", ""},  // nothing written: EOF at once
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& [pattern, input] = cases[i];
    const std::string mine = fmt::format("{}/mine{}", dir, i);
    const std::string theirs = fmt::format("{}/glibc{}", dir, i);
    const std::string cmd = fmt::format(fmt::runtime(pattern), mine);
    SCOPED_TRACE(fmt::format("mypopen(\"{}\", \"w\"), {} bytes written", cmd, input.size()));
    const auto before = ipclab::open_fds();
    FILE* f = mypopen(cmd.c_str(), "w");
    ASSERT_NE(f, nullptr) << "mypopen failed: " << errno_name(errno);
    ASSERT_TRUE(holds_one_new_fd(before, f));
    const int werr = write_all(::fileno(f), input);
    const auto closed = close_within(f);
    EXPECT_EQ(werr, 0) << "writing to the stream failed: " << errno_name(werr);
    ASSERT_FALSE(closed.timed_out)
        << closed.describe() << "\nthe child never saw end of file on its stdin";
    const auto ref = glibc_write(fmt::format(fmt::runtime(pattern), theirs), input);
    EXPECT_EQ(closed.ret, ref.status)
        << "mypclose: " << closed.describe() << "\nglibc pclose: " << status_text(ref.status);
    const std::string got = read_file(mine);
    EXPECT_TRUE(got == read_file(theirs))
        << "what the child wrote differs from what it wrote under glibc popen\n"
        << grader::diff(read_file(theirs), got);
    if (i == 0) {
      EXPECT_TRUE(got == input) << "the 1 MiB that came out differs from what went in";
    }
  }
}

// ---- statuses -----------------------------------------------------------------------------

GRADED_TEST(Status, WaitStatusMatchesGlibc, 3,
            "README §Pitfalls 4 — return waitpid's raw status, for that child") {
  const std::vector<std::string> commands = {"exit 0",
                                             "exit 1",
                                             "exit 42",
                                             "exit 255",
                                             "kill -TERM $$",
                                             "kill -KILL $$",
                                             "ipclab_no_such_command 2>/dev/null"};
  for (const char* mode : {"r", "w"}) {
    for (const auto& cmd : commands) {
      SCOPED_TRACE(fmt::format("mypopen(\"{}\", \"{}\")", cmd, mode));
      const auto before = ipclab::open_fds();
      FILE* f = mypopen(cmd.c_str(), mode);
      ASSERT_NE(f, nullptr) << "mypopen failed: " << errno_name(errno);
      ASSERT_TRUE(holds_one_new_fd(before, f));
      if (mode[0] == 'r') read_to_eof(::fileno(f));
      const auto closed = close_within(f);
      const auto ref = mode[0] == 'r' ? glibc_read(cmd) : glibc_write(cmd, "");
      EXPECT_EQ(closed.ret, ref.status)
          << "mypclose: " << closed.describe() << "\nglibc pclose: " << status_text(ref.status);
    }
  }
  FILE* f = mypopen("exit 42", "r");
  ASSERT_NE(f, nullptr);
  const auto closed = close_within(f);
  EXPECT_TRUE(closed.ret >= 0 && WIFEXITED(closed.ret) && WEXITSTATUS(closed.ret) == 42)
      << "`exit 42` must give WIFEXITED and WEXITSTATUS 42; mypclose gave " << closed.describe();
}

// ---- bad input ----------------------------------------------------------------------------

GRADED_TEST(Mode, InvalidModeIsEinval, 2,
            "README §Pitfalls 5 — check the whole mode string before opening or starting "
            "anything") {
  const auto fds_before = ipclab::open_fds();
  const auto kids_before = ipclab::child_pids();
  const std::string marker = grader::scratch() + "/ran";
  const std::string cmd = "echo ran > " + marker;
  for (const char* mode :
       {"", "x", "rw", "wr", "r+", "w+", "a", "rb", "wb", "R", "W", "re+", "rx", "e", " r"}) {
    // glibc agrees that each of these is invalid (a check of this list on this machine).
    errno = 0;
    FILE* g = ::popen("true", mode);
    const int glibc_err = errno;
    if (g != nullptr) ::pclose(g);
    ASSERT_TRUE(g == nullptr && glibc_err == EINVAL) << "grader: glibc accepts mode " << mode;

    errno = 0;
    FILE* f = mypopen(cmd.c_str(), mode);
    const int err = errno;
    if (f != nullptr) {
      ADD_FAILURE() << "mypopen accepted the invalid mode \"" << mode << "\"";
      close_within(f);
      continue;
    }
    EXPECT_EQ(err, EINVAL) << "mypopen(cmd, \"" << mode << "\") returned nullptr with errno "
                           << errno_name(err) << "; expected EINVAL like glibc";
  }
  errno = 0;
  EXPECT_EQ(mypopen(cmd.c_str(), nullptr), nullptr) << "a null mode must be rejected";
  EXPECT_EQ(errno, EINVAL) << "mypopen(cmd, nullptr): errno " << errno_name(errno);
  errno = 0;
  EXPECT_EQ(mypopen(nullptr, "r"), nullptr) << "a null command must be rejected";
  EXPECT_EQ(errno, EINVAL) << "mypopen(nullptr, \"r\"): errno " << errno_name(errno);

  EXPECT_EQ(ipclab::open_fds(), fds_before)
      << "a rejected mypopen left descriptors open: " << describe_fds(0, new_fds(fds_before));
  EXPECT_EQ(ipclab::child_pids(), kids_before) << "a rejected mypopen started a process";
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a rejected mypopen ran its command";
}

GRADED_TEST(Mode, CloexecOnlyWithE, 1,
            "README §Pitfalls 9 — 'e' sets close-on-exec on the parent's end; without it the "
            "descriptor is inheritable, as in glibc") {
  for (const char* mode : {"r", "re", "w", "we"}) {
    const char* cmd = mode[0] == 'r' ? "true" : "cat > /dev/null";
    FILE* g = ::popen(cmd, mode);
    ASSERT_NE(g, nullptr);
    const bool glibc_cloexec = (::fcntl(::fileno(g), F_GETFD) & FD_CLOEXEC) != 0;
    ::pclose(g);

    const auto before = ipclab::open_fds();
    FILE* f = mypopen(cmd, mode);
    ASSERT_NE(f, nullptr) << "mypopen(\"" << cmd << "\", \"" << mode
                          << "\") failed: " << errno_name(errno);
    ASSERT_TRUE(holds_one_new_fd(before, f));
    const bool cloexec = (::fcntl(::fileno(f), F_GETFD) & FD_CLOEXEC) != 0;
    if (mode[0] == 'r') read_to_eof(::fileno(f));
    close_within(f);
    EXPECT_EQ(cloexec, glibc_cloexec)
        << "mode \"" << mode << "\": the stream's descriptor "
        << (cloexec ? "has" : "does not have") << " FD_CLOEXEC; glibc's "
        << (glibc_cloexec ? "has" : "does not have") << " it";
  }
}

GRADED_TEST(Close, UnknownStreamIsEchild, 2,
            "README §Pitfalls 6 — look the stream up in the table; a stream that is not there "
            "is not yours: ECHILD, and do not touch it") {
  const std::string file = grader::scratch() + "/plain.txt";
  FILE* plain = std::fopen(file.c_str(), "w+");
  ASSERT_NE(plain, nullptr);
  const int plain_fd = ::fileno(plain);
  errno = 0;
  const int r = mypclose(plain);
  const int err = errno;
  EXPECT_EQ(r, -1) << "mypclose of a stream from fopen() returned " << r;
  EXPECT_EQ(err, ECHILD) << "mypclose of a stream from fopen(): errno " << errno_name(err);
  // It must be left alone: still open, still usable by its owner.
  ASSERT_GE(::fcntl(plain_fd, F_GETFD), 0)
      << "mypclose closed a stream that mypopen did not open (its descriptor is gone)";
  EXPECT_GE(std::fputs("still mine\n", plain), 0);
  EXPECT_EQ(std::fclose(plain), 0);
  EXPECT_EQ(read_file(file), "still mine\n");

  errno = 0;
  EXPECT_EQ(mypclose(nullptr), -1) << "mypclose(nullptr) must fail";
  EXPECT_EQ(errno, ECHILD) << "mypclose(nullptr): errno " << errno_name(errno);

  FILE* f = mypopen("exit 3", "r");
  ASSERT_NE(f, nullptr) << "mypopen failed: " << errno_name(errno);
  read_to_eof(::fileno(f));
  const auto first = close_within(f);
  EXPECT_EQ(first.ret, 3 << 8) << "first mypclose: " << first.describe();
  errno = 0;
  const int second = mypclose(f);  // f is a dangling pointer now: only compare it, never use it
  const int second_err = errno;
  EXPECT_EQ(second, -1) << "a second mypclose of the same stream returned " << second;
  EXPECT_EQ(second_err, ECHILD) << "a second mypclose: errno " << errno_name(second_err);
}

// ---- hygiene: descriptors and children ----------------------------------------------------

GRADED_TEST(Hygiene, ThousandCallsLeakNothing, 4,
            "README §Pitfalls 1 and 4 — close the child's end in the parent; waitpid every "
            "child") {
  const auto fds_before = ipclab::open_fds();
  const auto kids_before = ipclab::child_pids();
  static constexpr const char* kModes[] = {"r", "w", "re", "we"};
  for (int i = 0; i < 1000; ++i) {
    const char* mode = kModes[i % 4];
    const bool reading = mode[0] == 'r';
    const std::string cmd = reading ? fmt::format("echo {}", i) : "read line";
    const auto before = ipclab::open_fds();
    FILE* f = mypopen(cmd.c_str(), mode);
    ASSERT_NE(f, nullptr) << "call " << i << ": mypopen(\"" << cmd << "\", \"" << mode
                          << "\") failed: " << errno_name(errno);
    ASSERT_TRUE(holds_one_new_fd(before, f)) << "call " << i;
    if (reading) {
      const auto out = read_to_eof(::fileno(f));
      ASSERT_TRUE(out.has_value()) << "call " << i << ": no end of file on the stream";
      ASSERT_EQ(*out, fmt::format("{}\n", i)) << "call " << i;
    } else {
      ASSERT_EQ(write_all(::fileno(f), "x\n"), 0) << "call " << i;
    }
    const auto closed = close_within(f);
    ASSERT_EQ(closed.ret, 0) << "call " << i << " (\"" << cmd << "\", \"" << mode
                             << "\"): mypclose gave " << closed.describe();
    if (i % 100 == 99) {
      ASSERT_EQ(ipclab::open_fds(), fds_before)
          << "after " << i + 1
          << " calls, descriptors leaked: " << describe_fds(0, new_fds(fds_before));
      ASSERT_TRUE(grader::zombie_children().empty())
          << "after " << i + 1
          << " calls, zombies: " << fmt::format("{}", fmt::join(grader::zombie_children(), " "));
    }
  }
  EXPECT_EQ(ipclab::child_pids(), kids_before) << "children still exist after their mypclose";
}

GRADED_TEST(Hygiene, ChildHoldsOnlyItsOwnEnd, 2,
            "README §Pitfalls 2 — the child must not keep the parent's end of its own pipe") {
  for (const char* mode : {"w", "r"}) {
    const bool writing = mode[0] == 'w';
    const auto kids = ipclab::child_pids();
    FILE* f = mypopen(writing ? "exec cat" : "exec sleep 600", mode);
    ASSERT_NE(f, nullptr) << "mypopen failed: " << errno_name(errno);
    const pid_t child = new_child(kids);
    ASSERT_GT(child, 0) << "no child process of mypopen showed up";
    const auto held = fds_referring_to(child, target_of(::fileno(f)));
    const std::vector<int> expected = {writing ? 0 : 1};
    EXPECT_EQ(held, expected) << "mode \"" << mode
                              << "\": the child should hold the pipe only as its "
                              << (writing ? "stdin (fd 0)" : "stdout (fd 1)") << "; it holds "
                              << describe_fds(child, held);
    if (!writing) ::kill(child, SIGKILL);
    const auto closed = close_within(f);
    EXPECT_FALSE(closed.timed_out) << closed.describe();
  }
}

// ---- no inheritance of earlier streams ----------------------------------------------------

GRADED_TEST(Isolation, LaterChildDoesNotHoldEarlierWriteEnd, 4,
            "README §Pitfalls 3 — every new child closes the streams of earlier mypopen calls") {
  const std::string one = grader::scratch() + "/one.txt";
  FILE* f1 = mypopen(("cat > " + one).c_str(), "w");  // no 'e': its descriptor is inheritable
  ASSERT_NE(f1, nullptr) << "mypopen failed: " << errno_name(errno);
  const auto kids = ipclab::child_pids();
  FILE* f2 = mypopen("exec cat", "w");  // runs until we close f2
  ASSERT_NE(f2, nullptr) << "mypopen failed: " << errno_name(errno);
  const pid_t child2 = new_child(kids);
  ASSERT_GT(child2, 0) << "no child process of the 2nd mypopen showed up";
  const auto held = fds_referring_to(child2, target_of(::fileno(f1)));
  EXPECT_TRUE(held.empty()) << "the child of the 2nd mypopen holds the 1st stream's pipe: "
                            << describe_fds(child2, held);

  EXPECT_EQ(write_all(::fileno(f1), "first\n"), 0);
  // The 1st cat sees EOF only if nobody else holds its pipe (if the check above failed, it
  // will not: a short deadline then).
  const auto c1 = close_within(f1, held.empty() ? 10'000ms : 2'000ms);
  EXPECT_FALSE(c1.timed_out) << "mypclose of the 1st stream hung while the 2nd child was "
                                "running: its cat never saw end of file\n"
                             << c1.describe();
  EXPECT_EQ(c1.ret, 0) << c1.describe();
  EXPECT_EQ(read_file(one), "first\n");
  const auto c2 = close_within(f2);
  if (!c1.timed_out) {
    EXPECT_EQ(c2.ret, 0) << "2nd stream: " << c2.describe();
  }
}

GRADED_TEST(Isolation, LaterChildDoesNotHoldEarlierReadEnd, 2,
            "README §Pitfalls 3 — every new child closes the streams of earlier mypopen calls") {
  FILE* f1 = mypopen("yes 2>/dev/null", "r");  // writes until its reader is gone
  ASSERT_NE(f1, nullptr) << "mypopen failed: " << errno_name(errno);
  const auto kids = ipclab::child_pids();
  FILE* f2 = mypopen("exec cat", "w");
  ASSERT_NE(f2, nullptr) << "mypopen failed: " << errno_name(errno);
  const pid_t child2 = new_child(kids);
  ASSERT_GT(child2, 0) << "no child process of the 2nd mypopen showed up";
  const auto held = fds_referring_to(child2, target_of(::fileno(f1)));
  EXPECT_TRUE(held.empty()) << "the child of the 2nd mypopen holds the 1st stream's pipe: "
                            << describe_fds(child2, held);
  const auto c1 = close_within(f1, held.empty() ? 10'000ms : 2'000ms);
  EXPECT_FALSE(c1.timed_out) << "mypclose of the `yes` stream hung: `yes` never learned that its "
                                "reader was gone (SIGPIPE/EPIPE need every read end closed)\n"
                             << c1.describe();
  EXPECT_NE(c1.ret, -1) << c1.describe();
  const auto c2 = close_within(f2);
  if (!c1.timed_out) {
    EXPECT_EQ(c2.ret, 0) << "2nd stream: " << c2.describe();
  }
}

// ---- threads ------------------------------------------------------------------------------

GRADED_TEST(Threads, EightThreadsOpenAndCloseConcurrently, 5,
            "README §Pitfalls 7 and 3 — one mutex around the table, held from pipe to "
            "registration and from lookup to close") {
  constexpr int kThreads = 8;
  constexpr int kRounds = 12;
  struct Shared {
    std::atomic<int> finished{0};
    std::mutex mutex;
    std::vector<std::string> failures;  // guarded by mutex
    void fail(std::string what) {
      const std::lock_guard lock(mutex);
      failures.push_back(std::move(what));
    }
  };
  auto shared = std::make_shared<Shared>();
  const auto fds_before = ipclab::open_fds();
  const std::string dir = grader::scratch();
  auto body = [shared, dir](int t) {
    try {
      for (int i = 0; i < kRounds; ++i) {
        const int k1 = (t * 31 + i * 7) % 100, k2 = k1 + 100, k3 = k1 + 50;
        const std::string file1 = fmt::format("{}/t{}_{}_a", dir, t, i);
        const std::string file2 = fmt::format("{}/t{}_{}_b", dir, t, i);
        // Two writers open at once (the 2nd child must not hold the 1st's pipe, nor may any
        // other thread's child), then a reader.
        FILE* w1 = mypopen(fmt::format("cat > {}; exit {}", file1, k1).c_str(), "w");
        FILE* w2 = mypopen(fmt::format("cat > {}; exit {}", file2, k2).c_str(), i % 2 ? "we" : "w");
        FILE* r = mypopen(fmt::format("echo {}-{}; exit {}", t, i, k3).c_str(), i % 2 ? "re" : "r");
        if (w1 == nullptr || w2 == nullptr || r == nullptr) {
          shared->fail(
              fmt::format("thread {} round {}: mypopen failed: {}", t, i, errno_name(errno)));
          for (FILE* s : {w1, w2, r})
            if (s != nullptr) mypclose(s);
          return;
        }
        const auto out = read_to_eof(::fileno(r), 20'000ms);
        if (out != fmt::format("{}-{}\n", t, i))
          shared->fail(
              fmt::format("thread {} round {}: read {:?}", t, i, out.value_or("(no EOF)")));
        const int s3 = mypclose(r);
        std::fputs("payload one\n", w1);
        std::fputs("payload two\n", w2);
        const int s1 = mypclose(w1);  // its cat sees EOF only if no other child holds its pipe
        const int s2 = mypclose(w2);
        const std::pair<int, int> got[] = {{s1, k1}, {s2, k2}, {s3, k3}};
        for (const auto& [s, k] : got)
          if (s != k << 8)
            shared->fail(fmt::format("thread {} round {}: mypclose gave {}, expected {}", t, i,
                                     status_text(s, errno), exited_with(k)));
        if (read_file(file1) != "payload one\n" || read_file(file2) != "payload two\n")
          shared->fail(fmt::format("thread {} round {}: a cat did not get its input", t, i));
      }
    } catch (const std::exception& e) {
      shared->fail(fmt::format("thread {}: {}", t, e.what()));
    }
    shared->finished.fetch_add(1, std::memory_order_release);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(body, t);
  const bool in_time = grader::wait_until(
      [&] { return shared->finished.load(std::memory_order_acquire) == kThreads; }, 20'000ms);
  if (!in_time) {
    // Stuck: some mypclose waits for a cat that waits for an EOF held up by another child.
    // Killing the children ends every such wait.
    grader::wait_until(
        [&] {
          kill_children();
          return shared->finished.load(std::memory_order_acquire) == kThreads;
        },
        5'000ms);
  }
  const bool all_done = shared->finished.load(std::memory_order_acquire) == kThreads;
  for (auto& th : threads) all_done ? th.join() : th.detach();
  EXPECT_TRUE(in_time) << "the threads did not finish within 20 s: mypclose waited for children "
                          "that waited for end of file on pipes other children still held";
  const std::lock_guard lock(shared->mutex);
  EXPECT_TRUE(shared->failures.empty())
      << shared->failures.size() << " failures, the first ones:\n    "
      << fmt::format("{}", fmt::join(shared->failures.begin(),
                                     shared->failures.begin() +
                                         std::min<std::ptrdiff_t>(10, shared->failures.size()),
                                     "\n    "));
  if (all_done) {
    EXPECT_EQ(ipclab::open_fds(), fds_before)
        << "descriptors leaked: " << describe_fds(0, new_fds(fds_before));
    EXPECT_TRUE(grader::zombie_children().empty()) << "zombies left behind";
  }
}

namespace {

/// The system call a thread of this process is blocked in (from /proc), or -1.
long blocked_syscall(pid_t tid) {
  const std::string s = ipclab::read_file(fmt::format("/proc/self/task/{}/syscall", tid));
  return s.empty() || s[0] == 'r' ? -1 : std::strtol(s.c_str(), nullptr, 10);  // "running"
}

bool in_wait_syscall(pid_t tid) {
  const long nr = blocked_syscall(tid);
  return nr == SYS_wait4 || nr == SYS_waitid;
}

/// A FIFO that a child waits on: its `read x < PATH` blocks until the test opens the gate.
/// The test holds the FIFO open read-write, so the child's open never blocks, only its read.
struct Gate {
  std::string path;
  ipclab::Fd fd;
  Gate() : path(fmt::format("{}/gate{}", grader::scratch(), counter()++)) {
    if (::mkfifo(path.c_str(), 0600) < 0) ipclab::throw_errno("mkfifo {}", path);
    fd.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd.valid()) ipclab::throw_errno("open {}", path);
  }
  ~Gate() { ::unlink(path.c_str()); }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  void open() { (void)!::write(fd.get(), "go\n", 3); }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

}  // namespace

GRADED_TEST(Threads, PcloseWaitDoesNotBlockOthers, 2,
            "README §Pitfalls 7 — never hold the table's lock while waiting for a child") {
  Gate gate;
  FILE* slow = mypopen(fmt::format("read x < {}; exit 4", gate.path).c_str(), "r");
  ASSERT_NE(slow, nullptr) << "mypopen failed: " << errno_name(errno);

  std::promise<CloseResult> slow_promise;
  auto slow_result = slow_promise.get_future();
  std::atomic<pid_t> waiter_tid{0};
  std::thread waiter([&, p = std::move(slow_promise)]() mutable {
    waiter_tid = static_cast<pid_t>(::gettid());
    try {
      CloseResult r;
      r.ret = mypclose(slow);  // waits until the gate opens
      r.err = errno;
      p.set_value(r);
    } catch (...) {
      p.set_exception(std::current_exception());
    }
  });
  // Let the waiter get into its wait for the child.
  grader::wait_until([&] { return waiter_tid != 0 && in_wait_syscall(waiter_tid); }, 5'000ms);

  // Meanwhile another thread opens and closes a stream of its own.
  std::promise<std::string> other_promise;
  auto other_result = other_promise.get_future();
  std::thread other([p = std::move(other_promise)]() mutable {
    try {
      FILE* f = mypopen("echo meanwhile", "r");
      if (f == nullptr) throw ipclab::SysError(errno, "mypopen(\"echo meanwhile\")");
      auto out = read_to_eof(::fileno(f));
      const int st = mypclose(f);
      p.set_value(fmt::format("{} / {}", out.value_or("(no EOF)"), status_text(st, errno)));
    } catch (...) {
      p.set_exception(std::current_exception());
    }
  });
  const bool other_in_time =
      other_result.wait_for(grader::scaled(5'000ms)) == std::future_status::ready;
  gate.open();  // now the slow child ends, and a mypclose that held the lock lets go
  const bool slow_in_time =
      slow_result.wait_for(grader::scaled(10'000ms)) == std::future_status::ready;
  if (!slow_in_time) kill_children();
  waiter.join();
  other.join();
  EXPECT_TRUE(other_in_time)
      << "mypopen/mypclose in one thread waited until another thread's mypclose had finished "
         "waiting for its (slow) child: the table's lock was held during waitpid";
  EXPECT_EQ(other_result.get(), "meanwhile\n / " + exited_with(0));
  const auto slow_closed = slow_result.get();
  EXPECT_EQ(slow_closed.ret, 4 << 8) << "the slow stream: " << slow_closed.describe();
}

GRADED_TEST(Close, RetriesEintr, 2,
            "README §Pitfalls 4 — a signal handler without SA_RESTART makes waitpid fail with "
            "EINTR: wait again") {
  static std::atomic<int> hits{0};
  struct sigaction sa {};
  sa.sa_handler = [](int) { hits.fetch_add(1, std::memory_order_relaxed); };
  sa.sa_flags = 0;  // no SA_RESTART: a blocked waitpid returns EINTR
  struct sigaction old {};
  ::sigaction(SIGUSR1, &sa, &old);

  Gate gate;
  FILE* f = mypopen(fmt::format("read x < {}; exit 7", gate.path).c_str(), "r");
  ASSERT_NE(f, nullptr) << "mypopen failed: " << errno_name(errno);
  std::promise<CloseResult> promise;
  auto result = promise.get_future();
  std::thread closer([f, p = std::move(promise)]() mutable {
    try {
      CloseResult r;
      r.ret = mypclose(f);
      r.err = errno;
      p.set_value(r);
    } catch (...) {
      p.set_exception(std::current_exception());
    }
  });
  // Interrupt the closing thread again and again while its child still runs.
  const int start = hits.load();
  grader::wait_until(
      [&] {
        if (result.wait_for(0ms) == std::future_status::ready) return true;
        ::pthread_kill(closer.native_handle(), SIGUSR1);
        return hits.load() - start >= 30;
      },
      5'000ms);
  const bool returned_early = result.wait_for(0ms) == std::future_status::ready;
  gate.open();
  if (result.wait_for(grader::scaled(10'000ms)) != std::future_status::ready) kill_children();
  closer.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  const auto closed = result.get();
  EXPECT_FALSE(returned_early) << "mypclose returned while its child was still running, after "
                               << hits.load() - start << " signals: " << closed.describe();
  EXPECT_EQ(closed.ret, 7 << 8) << "mypclose: " << closed.describe() << "; expected "
                                << exited_with(7) << " (glibc's pclose retries the wait)";
}

// ---- the RAII wrapper and the program -----------------------------------------------------

GRADED_TEST(Popen, RaiiWrapperClosesAndReaps, 1, "README §Popen") {
  using lab::Popen;
  const auto fds_before = ipclab::open_fds();
  {
    Popen p("echo via Popen; exit 5", "r");
    ASSERT_TRUE(holds_one_new_fd(fds_before, p.get()));  // else read_all would never see EOF
    EXPECT_EQ(p.read_all(), "via Popen\n");
    const auto st = p.close();
    EXPECT_EQ(st.exit_code(), 5) << st.describe();
    EXPECT_EQ(p.get(), nullptr);
  }
  const std::string file = grader::scratch() + "/raii.txt";
  {
    Popen w("cat > " + file, "w");
    w.write("abc");
    Popen moved = std::move(w);
    EXPECT_EQ(w.get(), nullptr);  // NOLINT(bugprone-use-after-move): that is the point
  }                               // the destructor closes the stream and waits for cat
  EXPECT_EQ(read_file(file), "abc");
  EXPECT_TRUE(ipclab::child_pids().empty()) << "a Popen's child outlived it";
  EXPECT_EQ(ipclab::open_fds(), fds_before);
  try {
    Popen bad("true", "rw");
    ADD_FAILURE() << "Popen with mode \"rw\" did not throw";
  } catch (const ipclab::SysError& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument) << e.what();
  }
}

GRADED_TEST(Program, TranscriptMatches, 2,
            "README §Pitfalls 10 — flush stdout before a child that shares it writes") {
  const std::string dir = grader::scratch() + "/popen-demo";
  make_dir_with(dir, {"alpha", "beta", "gamma"});
  const std::string ls = ipclab::shell_quote({"ls", "--", dir});
  auto r = run({"test_mypopen", "--dir", dir}, {.timeout = 5'000ms});
  expect_output(r, guide_transcript(ls, "alpha\\nbeta\\ngamma\\n"));
  expect_exit(r, 0);
  ASSERT_FALSE(r.timed_out);
  auto q =
      run({"test_mypopen", "--dir", dir, "--lines", "5", "--exit-code", "7"}, {.timeout = 5'000ms});
  EXPECT_NE(q.out.find("line 5\nmypclose returned: 0\nPASS\n"), std::string::npos) << q.describe();
  EXPECT_TRUE(
      q.out.ends_with("Testing mypopen(\"exit 7\", \"r\")...\nmypclose returned: 7\nPASS (exit "
                      "status preserved)\n"))
      << q.describe();
  expect_exit(q, 0);
}

GRADED_TEST(Program, BadInputIsUsageError, 1, "README §Program — bad input is exit 2") {
  auto ok = run({"test_mypopen", "--lines", "0", "--exit-code", "0"}, {.timeout = 5'000ms});
  expect_exit(ok, 0);
  ASSERT_EQ(ok.exit_code(), 0) << "test_mypopen must work before its bad input is checked";
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--dir", grader::scratch() + "/no/such/dir"},
                                             {"--lines", "-1"},
                                             {"--exit-code", "256"},
                                             {"--exit-code", "x"},
                                             {"--bogus"},
                                             {"extra"}}) {
    std::vector<std::string> argv = {"test_mypopen"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    expect_exit(r, 2);
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.describe();
    EXPECT_TRUE(r.out.empty()) << "nothing should run on bad input\n" << r.describe();
  }
}
