// Lab 19 public grader, in-process part: line framing, the bounded output buffer, UTF-8,
// peer credentials, descriptor passing and the listening socket.
#include <fcntl.h>         // fcntl, open
#include <signal.h>        // kill, SIGSTOP, SIGCONT
#include <sys/resource.h>  // getrlimit, setrlimit
#include <sys/socket.h>    // socketpair, setsockopt, SO_PASSCRED
#include <sys/stat.h>      // fstat
#include <unistd.h>        // pipe, getpid

#include <algorithm>  // std::find
#include <fstream>    // std::ofstream

#include "common.hpp"
#include "ipclab/error.hpp"    // SysError, UsageError, OperationFailed
#include "ipclab/io.hpp"       // read_all, write_full
#include "ipclab/process.hpp"  // process_state
#include "lab19/channel.hpp"
#include "lab19/chat.hpp"
#include "lab19/unix.hpp"

namespace lab = ipclab::lab19;

GRADER_LAB("lab19", "IPC toolkit demo and Unix-socket chat");

using lab::Line;
using lab::LineReader;
using lab::OutBuffer;

namespace {

std::vector<std::string> drain(LineReader& r) {
  std::vector<std::string> out;
  while (auto l = r.next()) out.push_back(l->too_long ? "<too long>" : l->text);
  return out;
}

struct Pair {
  ipclab::Fd a, b;
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

}  // namespace

// ---- framing ----------------------------------------------------------------------------

GRADED_TEST(Framing, LinesSplitAcrossReads, 3,
            "README §Pitfalls 4 — a read returns any number of bytes, not one line") {
  LineReader r;
  r.feed("he");
  EXPECT_FALSE(r.next().has_value()) << "a line was returned before its '\\n' arrived";
  EXPECT_EQ(r.pending(), 2u);
  r.feed("llo\nwor");
  r.feed("ld\n\nthree\nfo");
  EXPECT_EQ(drain(r), (std::vector<std::string>{"hello", "world", "", "three"}));
  EXPECT_EQ(r.pending(), 2u) << "the unfinished \"fo\" must wait in the reader";
  r.feed("ur\n");
  EXPECT_EQ(drain(r), std::vector<std::string>{"four"});
  EXPECT_EQ(r.pending(), 0u);
  // One byte at a time gives the same lines.
  LineReader bytes;
  for (const char c : std::string("a\nbc\n\xC3\xA9t\xC3\xA9\n")) bytes.feed(std::string(1, c));
  EXPECT_EQ(drain(bytes), (std::vector<std::string>{"a", "bc", "\xC3\xA9t\xC3\xA9"}));
}

GRADED_TEST(Framing, OverlongLineReportedOnceAndMemoryBounded, 4,
            "README §Pitfalls 5 — reject a too-long line as soon as it passes the limit") {
  LineReader r(100);
  r.feed(std::string(100, 'a') + "\n");  // exactly the limit: fine
  auto ok = r.next();
  ASSERT_TRUE(ok.has_value());
  EXPECT_FALSE(ok->too_long) << "a line of exactly max_line bytes is allowed";
  EXPECT_EQ(ok->text.size(), 100u);
  // A line without end: reported once, long before its '\n', and never held whole.
  for (int i = 0; i < 1000; ++i) {
    r.feed(std::string(1000, 'x'));
    ASSERT_LE(r.pending(), 100u) << "the reader holds " << r.pending()
                                 << " bytes of a line over the 100-byte limit";
  }
  auto bad = r.next();
  ASSERT_TRUE(bad.has_value()) << "a 1 MB line without '\\n' was not reported as too long";
  EXPECT_TRUE(bad->too_long);
  EXPECT_FALSE(r.next().has_value()) << "a too-long line must be reported exactly once";
  r.feed("tail of the long line\nnext\n");
  EXPECT_EQ(drain(r), std::vector<std::string>{"next"})
      << "the rest of a too-long line (up to its '\\n') must be discarded, the next line kept";
  r.feed(std::string(101, 'y') + "\nafter\n");  // 101 bytes: one over
  EXPECT_EQ(drain(r), (std::vector<std::string>{"<too long>", "after"}));
}

GRADED_TEST(Framing, OutBufferBoundedAndNonBlocking, 3,
            "README §Pitfalls 1 and 2 — never block on a client, never buffer without bound") {
  OutBuffer out(1000);
  EXPECT_TRUE(out.push(std::string(600, 'a')));
  EXPECT_FALSE(out.push(std::string(401, 'b'))) << "push past the cap must be refused";
  EXPECT_EQ(out.size(), 600u) << "a refused push must append nothing";
  EXPECT_TRUE(out.push(std::string(400, 'c')));
  EXPECT_EQ(out.size(), 1000u);
  Pair p;
  EXPECT_EQ(out.flush(p.a.get()), 0);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(ipclab::read_full(p.b.get(), std::string(1000, '\0').data(), 0), 0u);
  std::string got(1000, '\0');
  ASSERT_EQ(ipclab::read_full(p.b.get(), got.data(), got.size()), 1000u);
  EXPECT_EQ(got, std::string(600, 'a') + std::string(400, 'c'));
  // A peer that does not read: flush returns (0) with the rest kept, and does not block.
  OutBuffer big(8u << 20);
  std::string chunk(64 * 1024, 'z');
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(big.push(chunk));
  EXPECT_EQ(big.flush(p.a.get()), 0) << "a full socket is not an error";
  EXPECT_GT(big.size(), 0u) << "4 MiB cannot all fit in a socket nobody reads";
  EXPECT_LT(big.size(), 4u << 20) << "flush wrote nothing into an empty socket";
  // The peer vanishes: an error number comes back (EPIPE), and no SIGPIPE kills us.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGPIPE, &dfl, nullptr);
  p.b.reset();
  const int err = big.flush(p.a.get());
  EXPECT_TRUE(err == EPIPE || err == ECONNRESET) << "flush to a closed peer returned " << err;
}

GRADED_TEST(Framing, Utf8AndNames, 1, "README §Protocol") {
  using lab::valid_name;
  using lab::valid_utf8;
  EXPECT_TRUE(valid_utf8("plain ascii"));
  EXPECT_TRUE(valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xC3")) << "truncated sequence";
  EXPECT_FALSE(valid_utf8("\x80")) << "lone continuation byte";
  EXPECT_FALSE(valid_utf8("\xC0\xAF")) << "overlong '/'";
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80")) << "UTF-16 surrogate";
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80")) << "above U+10FFFF";
  EXPECT_FALSE(valid_utf8("\xFF"));
  EXPECT_TRUE(valid_name("alice_2-b"));
  EXPECT_FALSE(valid_name(""));
  EXPECT_FALSE(valid_name("has space"));
  EXPECT_FALSE(valid_name(std::string(33, 'n')));
  EXPECT_TRUE(valid_name(std::string(32, 'n')));
}

GRADED_TEST(Framing, Utf8EveryBoundary, 2,
            "README §Protocol — UTF-8: lead bytes C2..F4 only, no overlong form, nothing above "
            "U+10FFFF, no surrogate") {
  using lab::valid_utf8;
  struct Case {
    const char* bytes;
    bool valid;
    const char* what;
  };
  const Case cases[] = {
      {"\x7F", true, "the last ASCII byte"},
      {"\x80", false, "a continuation byte first"},
      {"\xBF", false, "a continuation byte first"},
      {"\xC1\xBF", false, "C1: an overlong 2-byte form"},
      {"\xC2\x80", true, "U+0080, the first 2-byte character"},
      {"\xDF\xBF", true, "U+07FF, the last 2-byte character"},
      {"\xC3\x28", false, "a 2-byte lead followed by ASCII"},
      {"\xC3\xC3", false, "a 2-byte lead followed by a lead"},
      {"\xE0\x9F\xBF", false, "an overlong 3-byte form (U+07FF)"},
      {"\xE0\xA0\x80", true, "U+0800, the first 3-byte character"},
      {"\xED\x9F\xBF", true, "U+D7FF, just below the surrogates"},
      {"\xED\xBF\xBF", false, "U+DFFF, the last surrogate"},
      {"\xEE\x80\x80", true, "U+E000, just above the surrogates"},
      {"\xEF\xBF\xBF", true, "U+FFFF, the last 3-byte character"},
      {"\xE2\x82", false, "a 3-byte sequence cut short"},
      {"\xF0\x8F\xBF\xBF", false, "an overlong 4-byte form (U+FFFF)"},
      {"\xF0\x90\x80\x80", true, "U+10000, the first 4-byte character"},
      {"\xF4\x8F\xBF\xBF", true, "U+10FFFF, the last character"},
      {"\xF0\x9F\x98", false, "a 4-byte sequence cut short"},
      {"\xF5\x80\x80\x80", false, "F5: a lead byte above U+10FFFF"},
      {"\xF8\x90\x80\x80", false, "F8: a 5-byte lead, not UTF-8"},
      {"\xFC\x84\x80\x80\x80\x80", false, "FC: a 6-byte lead, not UTF-8"},
      {"a\xC3\xA9", true, "a 2-byte character that ends the string"},
      {"\xC3\xA9\xC3", false, "a character, then a lead byte cut short"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(valid_utf8(c.bytes), c.valid) << grader::excerpt(c.bytes) << ": " << c.what;
  EXPECT_TRUE(valid_utf8(std::string_view("a\xC3", 1)))
      << "\"a\" is valid: a view ends at its size, whatever byte follows it in memory";
}

GRADED_TEST(Framing, NamesEveryBoundary, 1,
            "README §Protocol — a name is 1-32 of A-Z a-z 0-9 _ -: each class to its edges, "
            "and not one byte around them") {
  using lab::valid_name;
  for (const char* ok : {"a", "z", "A", "Z", "0", "9", "_", "-", "Zed", "AZaz09_-"})
    EXPECT_TRUE(valid_name(ok)) << '"' << ok << "\" is a valid name";
  // The bytes next to each class: / : @ [ ^ ` { , . and a byte of a UTF-8 letter.
  for (const char* bad : {"/", ":", "@", "[", "^", "`", "{", ",", ".", "\xC3\xA9", "ab c"})
    EXPECT_FALSE(valid_name(bad)) << grader::excerpt(bad) << " is not a valid name";
  EXPECT_TRUE(valid_name(std::string(31, 'K') + "9")) << "32 characters";
  EXPECT_FALSE(valid_name(std::string(32, 'K') + "9")) << "33 characters";
}

// ---- Unix-domain socket helpers ---------------------------------------------------------

GRADED_TEST(Unix, PeerCredentialsFromTheKernel, 2,
            "README §Pitfalls 10 — SO_PEERCRED, not what the client claims") {
  Pair p;
  const auto cred = lab::peer_credentials(p.a.get());
  EXPECT_EQ(cred.pid, ::getpid());
  EXPECT_EQ(cred.uid, ::getuid());
  EXPECT_EQ(cred.gid, ::getgid());
  int pfd[2];
  ASSERT_EQ(::pipe2(pfd, O_CLOEXEC), 0);
  ipclab::Fd r(pfd[0]), w(pfd[1]);
  EXPECT_THROW(lab::peer_credentials(r.get()), ipclab::SysError)
      << "a pipe has no peer credentials";
}

GRADED_TEST(Unix, PassedDescriptorIsTheSameOpenFile, 4,
            "README §Pitfalls 11 — SCM_RIGHTS passes the open file, not the number") {
  Pair p;
  // A pipe's write end: only a real passed descriptor can write into this pipe.
  int pfd[2];
  ASSERT_EQ(::pipe2(pfd, O_CLOEXEC), 0);
  ipclab::Fd pr(pfd[0]), pw(pfd[1]);
  lab::send_fd(p.a.get(), pw.get(), "pipe-end");
  EXPECT_NE(::fcntl(pw.get(), F_GETFD), -1) << "send_fd must leave the caller's fd open";
  pw.reset();  // the descriptor in flight keeps the pipe's write side alive
  auto got = lab::recv_fd(p.b.get());
  ASSERT_TRUE(got.has_value()) << "recv_fd returned nothing";
  EXPECT_EQ(got->data, "pipe-end");
  ASSERT_TRUE(got->fd.valid());
  EXPECT_TRUE(::fcntl(got->fd.get(), F_GETFD) & FD_CLOEXEC)
      << "the received descriptor must be close-on-exec (MSG_CMSG_CLOEXEC)";
  ipclab::write_full(got->fd.get(), "through the passed fd");
  got->fd.reset();
  EXPECT_EQ(ipclab::read_all(pr.get()), "through the passed fd");
  // A file: the offset is shared, because it is the same open file description.
  const std::string file = grader::scratch() + "/shared_offset";
  std::ofstream(file) << "0123456789";
  ipclab::Fd f(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  lab::send_fd(p.a.get(), f.get());
  auto g = lab::recv_fd(p.b.get());
  ASSERT_TRUE(g.has_value());
  char c3[3];
  ASSERT_EQ(::read(g->fd.get(), c3, 3), 3);
  char next = 0;
  ASSERT_EQ(::read(f.get(), &next, 1), 1);
  EXPECT_EQ(next, '3') << "reading through the received fd must move the sender's offset too";
  struct stat s1 {
  }, s2{};
  ::fstat(f.get(), &s1);
  ::fstat(g->fd.get(), &s2);
  EXPECT_EQ(s1.st_ino, s2.st_ino);
}

GRADED_TEST(Unix, RecvFdEofAndMissingDescriptor, 2, "README §Pitfalls 11") {
  Pair p;
  ipclab::write_full(p.a.get(), "no fd here");
  try {
    (void)lab::recv_fd(p.b.get());
    ADD_FAILURE() << "a message without a descriptor must throw SysError(EPROTO)";
  } catch (const ipclab::SysError& e) {
    EXPECT_EQ(e.err(), EPROTO) << e.what();
  }
  EXPECT_THROW(lab::send_fd(p.a.get(), 0, ""), ipclab::UsageError);
  p.a.reset();
  ipclab::Fd drainer = std::move(p.b);
  char sink[64];
  while (::recv(drainer.get(), sink, sizeof sink, MSG_DONTWAIT) > 0) {
  }
  EXPECT_FALSE(lab::recv_fd(drainer.get()).has_value()) << "EOF must give nullopt";
}

GRADED_TEST(Unix, RecvFdTakesAtMostMaxDataBytes, 1,
            "README §Passing descriptors — recv_fd takes at most max_data bytes (0 counts as "
            "1), the rest stays in the stream") {
  Pair p;
  ipclab::Fd f(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const auto rest = [&] {
    char buf[64];
    const ssize_t n = ::recv(p.b.get(), buf, sizeof buf, MSG_DONTWAIT);
    return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  };
  lab::send_fd(p.a.get(), f.get(), "hello");
  auto got = lab::recv_fd(p.b.get(), 2);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->fd.valid());
  EXPECT_EQ(got->data, "he") << "max_data 2";
  EXPECT_EQ(rest(), "llo") << "what max_data 2 left of `hello`";
  lab::send_fd(p.a.get(), f.get(), "xy");
  got = lab::recv_fd(p.b.get(), 0);
  ASSERT_TRUE(got.has_value()) << "max_data 0: one byte and the descriptor";
  EXPECT_TRUE(got->fd.valid());
  EXPECT_EQ(got->data, "x") << "max_data 0 counts as 1";
  EXPECT_EQ(rest(), "y") << "what max_data 0 left of `xy`";
}

GRADED_TEST(Unix, RecvFdSkipsCredentialsMessages, 1,
            "README §Passing descriptors — only an SCM_RIGHTS message carries descriptors: "
            "skip every other control message, never take its bytes for descriptors") {
  Pair p;
  const int on = 1;  // the kernel now adds the sender's SCM_CREDENTIALS to every message
  ASSERT_EQ(::setsockopt(p.b.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
  // Credentials are three ints (pid, uid, gid). Taken for descriptors, they would close
  // whatever this process has open under those numbers: keep something open there.
  const ucred me{::getpid(), ::getuid(), ::getgid()};
  std::vector<int> watched;
  for (const long n : {long{me.pid}, long{me.uid}, long{me.gid}})
    if (n < 4096 && std::find(watched.begin(), watched.end(), n) == watched.end())
      watched.push_back(static_cast<int>(n));
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  const rlimit saved = lim;
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, std::max<rlim_t>(lim.rlim_cur, 4097));
  ::setrlimit(RLIMIT_NOFILE, &lim);
  ipclab::Fd marker(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(marker.valid());
  std::vector<std::pair<int, ino_t>> before;  // (number, inode): what is open there
  std::vector<ipclab::Fd> ours;               // the numbers this test opened, closed after
  for (const int n : watched) {
    if (static_cast<rlim_t>(n) >= lim.rlim_cur) continue;
    if (::fcntl(n, F_GETFD) < 0) {
      if (::dup3(marker.get(), n, O_CLOEXEC) != n) continue;
      ours.emplace_back(n);
    }
    struct stat st {};
    ::fstat(n, &st);
    before.emplace_back(n, st.st_ino);
  }
  ipclab::write_full(p.a.get(), "credentials, no descriptor");
  try {
    (void)lab::recv_fd(p.b.get());
    ADD_FAILURE() << "a message with credentials and no descriptor must throw SysError(EPROTO)";
  } catch (const ipclab::SysError& e) {
    EXPECT_EQ(e.err(), EPROTO) << e.what();
  }
  for (const auto& [n, ino] : before) {
    struct stat st {};
    EXPECT_TRUE(::fstat(n, &st) == 0 && st.st_ino == ino)
        << "descriptor " << n << " (the number of this process's pid, uid or gid) was closed "
        << "by recv_fd: an SCM_CREDENTIALS message was taken for descriptors";
  }
  ours.clear();
  ::setrlimit(RLIMIT_NOFILE, &saved);
  EXPECT_FALSE(before.empty()) << "(no pid, uid or gid below 4096 to watch)";
}

GRADED_TEST(Unix, ChannelSendCutShortSendsTheRest, 2,
            "README §Program — Channel::send sends all n bytes: a write(2) that a "
            "stop signal cuts short took only part of them, send the rest") {
  // 4 MiB fills the pipe or the socket many times over. Nobody reads until the sender has
  // blocked in its write and been stopped and continued there: that write returns the
  // bytes it had passed to the kernel, a short count.
  std::string data(std::size_t{4} << 20, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + (i * 7) % 23);
  for (const auto m : {lab::Mechanism::kPipe, lab::Mechanism::kSock}) {
    SCOPED_TRACE(lab::mechanism_name(m));
    auto ch = lab::Channel::make(m);
    grader::Child sender(
        [&] {
          ch.become_child();
          ch.send(data.data(), data.size());
          ch.send("E", 1);  // the end mark
        },
        "channel sender");
    ch.become_parent();
    ASSERT_TRUE(grader::wait_until(
        [&] { return ipclab::process_state(sender.pid()) == 'S' || sender.exited(); }, 10'000ms))
        << "the sender never blocked";
    ASSERT_FALSE(sender.exited()) << "4 MiB went into the " << lab::mechanism_name(m)
                                  << " channel while nobody read:\n"
                                  << sender.finish().describe();
    ::kill(sender.pid(), SIGSTOP);
    ASSERT_TRUE(
        grader::wait_until([&] { return ipclab::process_state(sender.pid()) == 'T'; }, 10'000ms));
    ::kill(sender.pid(), SIGCONT);
    std::string got(data.size() + 1, '\0');
    try {
      ch.recv(got.data(), got.size());
    } catch (const ipclab::SysError& e) {
      ADD_FAILURE() << "the sender's 4 MiB and end mark did not all arrive: " << e.what();
    }
    EXPECT_TRUE(got == data + "E") << "what arrived differs from what was sent";
    const auto r = sender.finish(10'000ms);
    EXPECT_TRUE(r.passed()) << r.describe();
  }
}

GRADED_TEST(Unix, ShmChannelRunsTwoSlotsAheadOfItsReader, 1,
            "README §Program — the shm channel has two slots each way: a sender fills both "
            "while its reader has not read yet, and waits (to the deadline) for a third") {
  constexpr std::size_t kSlot = lab::Channel::kShmSlot;
  std::string data(2 * kSlot, '\0');
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>('a' + (i * 7 + i / kSlot) % 23);
  auto ch = lab::Channel::make(lab::Mechanism::kShm, /*timeout_s=*/1.0);
  auto go = ipclab::make_pipe();
  grader::Child reader(
      [&] {
        ch.become_child();
        go.write.reset();
        char c = 0;
        ASSERT_EQ(ipclab::read_full(go.read.get(), &c, 1), 1u) << "the test's go";
        std::string got(data.size(), '\0');
        ch.recv(got.data(), got.size());
        EXPECT_TRUE(got == data) << "the two slots' bytes arrived changed";
      },
      "shm channel reader");
  go.read.reset();
  ch.become_parent();
  // The reader reads nothing until the go: two slots' worth fit at once.
  try {
    ch.send(data.data(), data.size());
  } catch (const ipclab::SysError& e) {
    ADD_FAILURE() << "two slots' worth to a reader that has not read yet: " << e.what();
  }
  // Both slots are full: a third piece waits for the reader until the deadline.
  try {
    ch.send(data.data(), 1);
    ADD_FAILURE() << "a third piece went in while both slots were full and unread";
  } catch (const ipclab::SysError& e) {
    EXPECT_EQ(e.err(), ETIMEDOUT) << e.what();
  }
  ipclab::write_full(go.write.get(), "g");
  const auto r = reader.finish(10'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}

GRADED_TEST(Unix, SocketsAndChannelEndsAreCloseOnExec, 2,
            "README §Pitfalls 11 — every descriptor close-on-exec (SOCK_CLOEXEC, O_CLOEXEC), or "
            "it leaks into any program the process runs") {
  const auto cloexec = [](int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; };
  const std::string path = lab19_test::sock_path("cloexec.sock");
  {
    auto listener = lab::listen_unix(path, 16);
    EXPECT_TRUE(cloexec(listener.get())) << "listen_unix's socket must be close-on-exec";
    auto conn = lab::connect_unix(path, grader::deadline(5'000ms));
    EXPECT_TRUE(cloexec(conn.get())) << "connect_unix's socket must be close-on-exec";
  }
  ::unlink(path.c_str());
  for (const auto m : {lab::Mechanism::kPipe, lab::Mechanism::kShm, lab::Mechanism::kSock}) {
    const auto before = ipclab::open_fds();
    auto ch = lab::Channel::make(m);
    for (const int fd : ipclab::open_fds()) {
      if (std::find(before.begin(), before.end(), fd) != before.end()) continue;
      EXPECT_TRUE(cloexec(fd)) << "Channel::make(" << lab::mechanism_name(m) << "): descriptor "
                               << fd << " -> " << ipclab::fd_target(0, fd)
                               << " is not close-on-exec";
    }
  }
}

GRADED_TEST(Unix, SendFdToVanishedPeerIsEpipeNotSigpipe, 1,
            "README §Pitfalls 3 — sendmsg with MSG_NOSIGNAL: a vanished peer is EPIPE") {
  grader::Child child(
      [] {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;  // as in a program that does not ignore SIGPIPE
        ::sigaction(SIGPIPE, &dfl, nullptr);
        Pair p;
        p.b.reset();
        try {
          lab::send_fd(p.a.get(), 0, "x");
          ADD_FAILURE() << "send_fd to a closed peer must throw SysError(EPIPE)";
        } catch (const ipclab::SysError& e) {
          EXPECT_EQ(e.err(), EPIPE) << e.what();
        }
      },
      "send_fd to a closed peer");
  const auto r = child.finish(10'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}

GRADED_TEST(Unix, ListenReplacesStaleNeverLive, 4,
            "README §Pitfalls 8 — probe with connect before unlinking a socket file") {
  const std::string path = lab19_test::sock_path("inproc.sock");
  {
    // A socket file with no listener: what a killed server leaves behind.
    bool stale = false;
    auto first = lab::listen_unix(path, 16, &stale);
    EXPECT_FALSE(stale);
    first.reset();  // closed, but the file stays
    ASSERT_EQ(::access(path.c_str(), F_OK), 0);
    auto second = lab::listen_unix(path, 16, &stale);
    EXPECT_TRUE(stale) << "a stale socket file must be reported as replaced";
    EXPECT_TRUE(::fcntl(second.get(), F_GETFL) & O_NONBLOCK) << "the listener must be non-blocking";
    // Now it is live: a third must not take it over, and the file must still reach it.
    EXPECT_THROW(lab::listen_unix(path, 16), ipclab::OperationFailed);
    lab19_test::Raw probe(path);
    pollfd pf{second.get(), POLLIN, 0};
    EXPECT_EQ(::poll(&pf, 1, 5000), 1) << "the live server's socket file was taken over";
  }
  ::unlink(path.c_str());
  const std::string regular = grader::scratch() + "/not_a_socket";
  std::ofstream(regular) << "keep me";
  EXPECT_THROW(lab::listen_unix(regular), ipclab::OperationFailed);
  EXPECT_EQ(ipclab::read_file(regular), "keep me") << "a regular file must never be removed";
  EXPECT_THROW(lab::listen_unix(grader::rundir() + "/" + std::string(120, 'x')),
               ipclab::UsageError);
}

GRADED_TEST(Unix, TooLongPathErrorNamesTheLimit, 1,
            "README §Stale sockets — a path longer than 107 bytes is a UsageError that says "
            "the limit") {
  const std::string too_long = grader::rundir() + "/" + std::string(200, 'q');
  for (const bool listening : {true, false}) {
    try {
      if (listening)
        (void)lab::listen_unix(too_long, 4);
      else
        (void)lab::connect_unix(too_long, grader::deadline(1'000ms));
      ADD_FAILURE() << (listening ? "listen_unix" : "connect_unix") << " took a 200-byte path";
    } catch (const ipclab::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("107"), std::string::npos)
          << (listening ? "listen_unix" : "connect_unix")
          << ": the error must say the limit (107 bytes): " << e.what();
    }
  }
}

GRADED_TEST(Unix, SocketPathUpTo107Bytes, 1,
            "README §Stale sockets — sun_path holds 108 bytes with the NUL: a 107-byte path "
            "works, a 108-byte one is refused before anything is made") {
  const std::string dir = grader::rundir() + "/";
  ASSERT_LT(dir.size(), 100u);
  const std::string longest = dir + std::string(107 - dir.size(), 'p');
  const std::string too_long = dir + std::string(108 - dir.size(), 'q');
  {
    auto listener = lab::listen_unix(longest, 4);
    auto conn = lab::connect_unix(longest, grader::deadline(5'000ms));
    EXPECT_TRUE(conn.valid());
  }
  EXPECT_EQ(::unlink(longest.c_str()), 0) << "no socket file at the 107-byte path";
  EXPECT_THROW(lab::listen_unix(too_long, 4), ipclab::UsageError);
  EXPECT_THROW(lab::connect_unix(too_long, grader::deadline(1'000ms)), ipclab::UsageError);
  EXPECT_NE(::access(too_long.c_str(), F_OK), 0) << "a file was made at the 108-byte path";
}
