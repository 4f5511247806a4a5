// Unit tests of ipclab/fd.hpp and ipclab/io.hpp: descriptor ownership, pipe helpers, the
// /proc fd-table readers, full reads and writes over real pipes, and u32 framing.
#include <fcntl.h>    // fcntl, F_GETFD, O_NONBLOCK
#include <poll.h>     // poll
#include <pthread.h>  // pthread_kill
#include <signal.h>   // sigaction, raise
#include <unistd.h>   // write, close, getpid

#include <algorithm>     // std::find
#include <atomic>        // std::atomic
#include <cerrno>        // errno, EBADF
#include <chrono>        // std::chrono::steady_clock
#include <cstddef>       // std::size_t
#include <exception>     // std::exception
#include <fstream>       // std::ifstream
#include <iterator>      // std::istreambuf_iterator
#include <string>        // std::string
#include <system_error>  // std::errc
#include <thread>        // std::jthread, std::this_thread::yield
#include <type_traits>   // std::is_copy_constructible_v
#include <utility>       // std::declval, std::move
#include <vector>        // std::vector

#include <gtest/gtest.h>

#include "ipclab/error.hpp"   // SysError
#include "ipclab/fd.hpp"      // Fd, make_pipe, open_fds, fd_target
#include "ipclab/io.hpp"      // read_full, write_full, read_all
#include "ipclab/signal.hpp"  // ignore_sigpipe, ShutdownSignals
#include "test_util.hpp"      // sys_error_of, wait_until

namespace ipclab {
namespace {

using test::sys_error_of;
using test::wait_until;

/// True if `fd` is an open descriptor of this process.
bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

bool has_cloexec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }
bool has_nonblock(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

/// A deterministic byte pattern that includes NULs and every byte value.
std::string pattern(std::size_t n, unsigned seed = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed + i / 256) & 0xff);
  return s;
}

/// Runs a helper thread's body, keeping what it throws for the test to report after the
/// join (an exception escaping a thread would abort the whole binary).
///
/// Pattern in the tests below: the pipe end the test itself uses is moved into an Fd
/// declared *after* the thread, so if an assertion bails out, that end closes before the
/// thread is joined: the helper then sees EOF or EPIPE instead of blocking forever.
struct Helper {
  std::string error;
  template <typename F>
  auto wrap(F body) {
    return [this, body = std::move(body)]() mutable {
      try {
        body();
      } catch (const std::exception& e) {
        error = e.what();
      }
    };
  }
};

/// True if thread `tid` of this process sleeps (blocked in a system call).
bool thread_sleeps(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'S';
}

// ---- Fd -------------------------------------------------------------------------------

TEST(Fd, DefaultIsInvalid) {
  Fd f;
  EXPECT_FALSE(f.valid());
  EXPECT_FALSE(static_cast<bool>(f));
  EXPECT_EQ(f.get(), -1);
  static_assert(noexcept(Fd(std::declval<Fd&&>())), "moving an Fd never throws");
  static_assert(!std::is_copy_constructible_v<Fd>, "one owner per descriptor");
}

TEST(Fd, DestructorCloses) {
  int raw = -1;
  {
    Pipe p = make_pipe();
    raw = p.read.get();
    ASSERT_TRUE(is_open(raw));
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(Fd, MoveTransfersOwnership) {
  Pipe p = make_pipe();
  const int raw = p.read.get();
  Fd moved(std::move(p.read));
  EXPECT_EQ(moved.get(), raw);
  EXPECT_FALSE(p.read.valid());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_TRUE(is_open(raw));

  // Move assignment closes what the target owned before.
  const int other = p.write.get();
  Fd target(std::move(p.write));
  target = std::move(moved);
  EXPECT_EQ(target.get(), raw);
  EXPECT_FALSE(moved.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(is_open(other));
  EXPECT_TRUE(is_open(raw));
}

TEST(Fd, ReleaseGivesUpOwnership) {
  int raw = -1;
  {
    Pipe p = make_pipe();
    raw = p.read.release();
    EXPECT_FALSE(p.read.valid());
  }
  EXPECT_TRUE(is_open(raw));  // the Fd did not close it
  ASSERT_EQ(::close(raw), 0);
}

TEST(Fd, ResetClosesOldAndOwnsNew) {
  Pipe p = make_pipe();
  const int old_fd = p.read.get();
  const int new_fd = p.write.release();
  p.read.reset(new_fd);
  EXPECT_FALSE(is_open(old_fd));
  EXPECT_EQ(p.read.get(), new_fd);
  EXPECT_TRUE(is_open(new_fd));
  p.read.reset(new_fd);  // resetting to the same descriptor must not close it
  EXPECT_TRUE(is_open(new_fd));
  p.read.reset();
  EXPECT_FALSE(is_open(new_fd));
  EXPECT_FALSE(p.read.valid());
}

TEST(Fd, CloseClosesAndReportsErrors) {
  Pipe p = make_pipe();
  const int raw = p.read.get();
  p.read.close();
  EXPECT_FALSE(p.read.valid());
  EXPECT_FALSE(is_open(raw));
  EXPECT_NO_THROW(p.read.close());  // closing an empty Fd is a no-op

  // An Fd holding a descriptor that is not open: close() reports EBADF.
  Fd bogus(raw);
  std::string what;
  EXPECT_EQ(sys_error_of([&] { bogus.close(); }, &what), std::errc::bad_file_descriptor);
  EXPECT_NE(what.find("close"), std::string::npos) << what;
  EXPECT_FALSE(bogus.valid());
}

// ---- pipes and descriptor helpers ------------------------------------------------------

TEST(FdHelpers, MakePipeIsCloexecByDefault) {
  Pipe p = make_pipe();
  ASSERT_TRUE(p.read.valid());
  ASSERT_TRUE(p.write.valid());
  EXPECT_TRUE(has_cloexec(p.read.get()));
  EXPECT_TRUE(has_cloexec(p.write.get()));
  EXPECT_FALSE(has_nonblock(p.read.get()));

  Pipe plain = make_pipe(0);
  EXPECT_FALSE(has_cloexec(plain.read.get()));
  EXPECT_FALSE(has_cloexec(plain.write.get()));

  Pipe nb = make_pipe(O_CLOEXEC | O_NONBLOCK);
  EXPECT_TRUE(has_nonblock(nb.read.get()));
  EXPECT_TRUE(has_nonblock(nb.write.get()));

  // The ends are connected, in the right direction.
  write_full(p.write.get(), "xy");
  char buf[2];
  ASSERT_EQ(read_full(p.read.get(), buf, 2), 2u);
  EXPECT_EQ(std::string(buf, 2), "xy");
}

TEST(FdHelpers, SetNonblockingAndCloexecToggle) {
  Pipe p = make_pipe(0);
  set_nonblocking(p.read.get());
  EXPECT_TRUE(has_nonblock(p.read.get()));
  // An empty non-blocking pipe: read fails at once with EAGAIN instead of blocking.
  char c = 0;
  EXPECT_EQ(sys_error_of([&] { read_full(p.read.get(), &c, 1); }),
            std::errc::resource_unavailable_try_again);
  set_nonblocking(p.read.get(), false);
  EXPECT_FALSE(has_nonblock(p.read.get()));

  set_cloexec(p.write.get());
  EXPECT_TRUE(has_cloexec(p.write.get()));
  set_cloexec(p.write.get(), false);
  EXPECT_FALSE(has_cloexec(p.write.get()));

  EXPECT_EQ(sys_error_of([&] { set_nonblocking(1 << 20); }), std::errc::bad_file_descriptor);
}

TEST(FdHelpers, OpenFdsListsANewPipe) {
  const std::vector<int> before = open_fds();
  int r = -1;
  int w = -1;
  {
    Pipe p = make_pipe();
    r = p.read.get();
    w = p.write.get();
    const std::vector<int> during = open_fds();
    EXPECT_NE(std::find(during.begin(), during.end(), r), during.end());
    EXPECT_NE(std::find(during.begin(), during.end(), w), during.end());
    EXPECT_EQ(during.size(), before.size() + 2);
    EXPECT_TRUE(std::is_sorted(during.begin(), during.end()));
    // By pid too.
    const std::vector<int> by_pid = open_fds(::getpid());
    EXPECT_NE(std::find(by_pid.begin(), by_pid.end(), r), by_pid.end());

    const std::string target = fd_target(0, r);
    EXPECT_EQ(target.rfind("pipe:[", 0), 0u) << target;
    EXPECT_EQ(target.back(), ']') << target;
    EXPECT_EQ(fd_target(0, w), target);  // both ends name the same pipe inode
    EXPECT_EQ(fd_target(::getpid(), r), target);
  }
  const std::vector<int> after = open_fds();
  EXPECT_EQ(after, before);
  EXPECT_EQ(fd_target(0, r), "");
  // The descriptor used to read /proc/self/fd is not listed: everything listed is open.
  for (int fd : after) EXPECT_TRUE(is_open(fd)) << "open_fds listed closed fd " << fd;
}

// ---- full reads and writes -------------------------------------------------------------

TEST(Io, ReadFullCollectsShortReads) {
  ignore_sigpipe();
  constexpr std::size_t kTotal = 50'000;
  const std::string data = pattern(kTotal);
  Pipe p = make_pipe();
  Helper h;
  std::jthread writer(h.wrap([&, w = std::move(p.write)] {
    // Small chunks: the reader sees many short reads.
    for (std::size_t off = 0; off < data.size(); off += 7)
      write_full(w.get(), data.data() + off, std::min<std::size_t>(7, data.size() - off));
  }));  // w closes when the thread ends
  Fd r = std::move(p.read);
  std::string got(kTotal, '\0');
  EXPECT_EQ(read_full(r.get(), got.data(), got.size()), kTotal);
  EXPECT_TRUE(got == data);
  writer.join();
  EXPECT_EQ(h.error, "");
  char extra = 0;
  EXPECT_EQ(read_full(r.get(), &extra, 1), 0u);  // then end of file
}

TEST(Io, ReadFullReturnsShortCountAtEof) {
  Pipe p = make_pipe();
  write_full(p.write.get(), "0123456789");
  p.write.reset();
  char buf[100];
  EXPECT_EQ(read_full(p.read.get(), buf, sizeof buf), 10u);
  EXPECT_EQ(std::string(buf, 10), "0123456789");
  EXPECT_EQ(read_full(p.read.get(), buf, sizeof buf), 0u);
  EXPECT_EQ(read_full(p.read.get(), buf, 0), 0u);
}

TEST(Io, WriteFullLargerThanThePipeWithAConcurrentReader) {
  const std::string data = pattern(1 << 20, 3);  // 16 times a default pipe buffer
  Pipe p = make_pipe();
  std::string got;
  Helper h;
  std::jthread reader(h.wrap([&, r = std::move(p.read)] { got = read_all(r.get()); }));
  Fd w = std::move(p.write);
  write_full(w.get(), data.data(), data.size());
  w.reset();
  reader.join();
  EXPECT_EQ(h.error, "");
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

TEST(Io, ReadFileReadsWholeFileOrNothing) {
  const std::string path = ::testing::TempDir() + "ipclab-read-file-" + std::to_string(::getpid());
  const std::string data = pattern(300'000, 5);  // NULs included, larger than one chunk
  { std::ofstream(path, std::ios::binary) << data; }
  EXPECT_TRUE(read_file(path) == data);
  ::unlink(path.c_str());
  EXPECT_EQ(read_file(path), "");  // missing: empty, no throw
}

TEST(Io, ReadAllReadsUntilEof) {
  ignore_sigpipe();
  const std::string data = pattern(200'000, 9);
  Pipe p = make_pipe();
  Helper h;
  std::jthread writer(h.wrap([&, w = std::move(p.write)] { write_full(w.get(), data); }));
  Fd r = std::move(p.read);
  const std::string got = read_all(r.get());
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
  writer.join();
  EXPECT_EQ(h.error, "");

  Pipe empty = make_pipe();
  empty.write.reset();
  EXPECT_EQ(read_all(empty.read.get()), "");
}

/// Installs a SIGUSR1 handler without SA_RESTART for the scope, so a blocked read or write
/// interrupted by it returns early: -1/EINTR if nothing moved yet, else a short count.
class InterruptingSignal {
 public:
  InterruptingSignal() {
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_hits.fetch_add(1, std::memory_order_relaxed); };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    ::sigaction(SIGUSR1, &sa, &old_);
  }
  ~InterruptingSignal() { ::sigaction(SIGUSR1, &old_, nullptr); }
  InterruptingSignal(const InterruptingSignal&) = delete;
  InterruptingSignal& operator=(const InterruptingSignal&) = delete;
  static inline std::atomic<int> g_hits{0};

 private:
  struct sigaction old_ {};
};

TEST(Io, WriteFullRetriesEintr) {
  ignore_sigpipe();
  const InterruptingSignal sig;
  // Fill the pipe, so the writer blocks before moving a single byte: the signal then
  // makes write(2) fail with EINTR rather than return a short count.
  Pipe p = make_pipe();
  set_nonblocking(p.write.get());
  std::size_t filled = 0;
  const std::string block(4096, 'f');
  while (::write(p.write.get(), block.data(), block.size()) > 0) filled += block.size();
  ASSERT_EQ(errno, EAGAIN);
  set_nonblocking(p.write.get(), false);

  std::atomic<pid_t> tid{0};
  Helper h;
  std::jthread writer(h.wrap([&, w = std::move(p.write)] {
    tid.store(::gettid());
    write_full(w.get(), "tail");
  }));
  Fd r = std::move(p.read);
  ASSERT_TRUE(wait_until([&] { return tid.load() != 0 && thread_sleeps(tid.load()); }));
  const int hits = InterruptingSignal::g_hits.load();
  ::pthread_kill(writer.native_handle(), SIGUSR1);
  ASSERT_TRUE(wait_until([&] { return InterruptingSignal::g_hits.load() > hits; }));
  const std::string got = read_all(r.get());
  writer.join();
  EXPECT_EQ(h.error, "") << "write_full gave up on EINTR";
  EXPECT_EQ(got.size(), filled + 4);
  EXPECT_EQ(got.substr(got.size() - 4), "tail");
}

TEST(Io, ReadFullRetriesEintr) {
  const InterruptingSignal sig;
  Pipe p = make_pipe();
  std::atomic<pid_t> tid{0};
  std::string got(10, '\0');
  std::size_t n = 0;
  Helper h;
  std::jthread reader(h.wrap([&, r = std::move(p.read)] {
    tid.store(::gettid());
    n = read_full(r.get(), got.data(), got.size());  // blocks on the empty pipe
  }));
  Fd w = std::move(p.write);
  ASSERT_TRUE(wait_until([&] { return tid.load() != 0 && thread_sleeps(tid.load()); }));
  const int hits = InterruptingSignal::g_hits.load();
  ::pthread_kill(reader.native_handle(), SIGUSR1);
  ASSERT_TRUE(wait_until([&] { return InterruptingSignal::g_hits.load() > hits; }));
  write_full(w.get(), "0123456789");
  reader.join();
  EXPECT_EQ(h.error, "") << "read_full gave up on EINTR";
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(got, "0123456789");
}

TEST(Io, WriteFullSurvivesSignalsAndShortWrites) {
  ignore_sigpipe();
  const InterruptingSignal sig;
  const std::string data = pattern(4 << 20, 11);
  Pipe p = make_pipe();
  std::atomic<bool> done{false};
  Helper h;
  std::jthread writer(h.wrap([&, w = std::move(p.write)] {
    write_full(w.get(), data.data(), data.size());
    done.store(true);
  }));
  Fd r = std::move(p.read);
  // Signal the writer while it is blocked on the full pipe (a partial write returns a
  // short count), and drain slowly.
  std::string got;
  std::string chunk(16384, '\0');
  for (;;) {
    if (!done.load()) ::pthread_kill(writer.native_handle(), SIGUSR1);
    const std::size_t n = read_full(r.get(), chunk.data(), chunk.size());
    got.append(chunk.data(), n);
    if (n < chunk.size()) break;  // end of file: the writer finished and closed
  }
  writer.join();
  EXPECT_EQ(h.error, "");
  EXPECT_GT(InterruptingSignal::g_hits.load(), 0);
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data) << "data lost or repeated around an interrupted write";
}

TEST(Io, ReadFullSurvivesSignals) {
  const InterruptingSignal sig;
  const std::string data = pattern(300'000, 13);
  Pipe p = make_pipe();
  std::string got(data.size(), '\0');
  std::size_t n = 0;
  std::atomic<bool> done{false};
  Helper h;
  std::jthread reader(h.wrap([&, r = std::move(p.read)] {
    n = read_full(r.get(), got.data(), got.size());
    done.store(true);
  }));
  Fd w = std::move(p.write);
  // Write in pieces, signalling the reader (usually blocked on the empty pipe) each time.
  for (std::size_t off = 0; off < data.size(); off += 1000) {
    if (!done.load()) ::pthread_kill(reader.native_handle(), SIGUSR1);
    write_full(w.get(), data.data() + off, std::min<std::size_t>(1000, data.size() - off));
  }
  reader.join();
  EXPECT_EQ(h.error, "");
  EXPECT_EQ(n, data.size());
  EXPECT_TRUE(got == data);
}

TEST(ShutdownSignalsTest, SigtermSetsTheFlagAndWakesThePipe) {
  {
    ShutdownSignals sig;
    EXPECT_FALSE(sig.requested());
    EXPECT_EQ(sig.signal(), 0);
    ASSERT_GE(sig.fd(), 0);
    EXPECT_THROW(ShutdownSignals(), SysError);  // one per process
    ASSERT_EQ(::raise(SIGTERM), 0);             // handled: the process survives
    EXPECT_TRUE(sig.requested());
    EXPECT_EQ(sig.signal(), SIGTERM);
    pollfd pfd{sig.fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&pfd, 1, 0), 1);  // readable at once
  }
  // Destroyed: the dispositions are back to default, and a new one can be made.
  struct sigaction now {};
  ::sigaction(SIGTERM, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
  ShutdownSignals again;
  EXPECT_FALSE(again.requested());
}

TEST(Io, ReadOfABadDescriptorThrows) {
  char c = 0;
  EXPECT_EQ(sys_error_of([&] { read_full(1 << 20, &c, 1); }), std::errc::bad_file_descriptor);
  EXPECT_EQ(sys_error_of([&] { read_all(1 << 20); }), std::errc::bad_file_descriptor);
}

TEST(Io, WriteToAVanishedReaderIsEpipe) {
  ignore_sigpipe();
  Pipe p = make_pipe();
  p.read.reset();
  std::string what;
  const auto code = sys_error_of([&] { write_full(p.write.get(), "hello"); }, &what);
  EXPECT_EQ(code, std::errc::broken_pipe) << what;
  EXPECT_NE(what.find("write"), std::string::npos) << what;
}

}  // namespace
}  // namespace ipclab
