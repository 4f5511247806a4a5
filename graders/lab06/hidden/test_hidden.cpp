// Lab 06 hidden grader: odd and random sizes on every mechanism, the transports driven
// directly (both sides sending first, end of file, a creation that fails halfway, who
// connects, close-on-exec), Ctrl-C to the whole process group, and the limits under
// other /proc/sys settings (in an IPC namespace of the test's own).
#include <dlfcn.h>       // dlsym, RTLD_NEXT
#include <fcntl.h>       // O_CREAT, fcntl
#include <mqueue.h>      // mq_open
#include <sched.h>       // unshare
#include <signal.h>      // SIGINT
#include <sys/ioctl.h>   // ioctl, FIONREAD
#include <sys/mman.h>    // shm_open
#include <sys/mount.h>   // mount
#include <sys/msg.h>     // msgget, msgrcv
#include <sys/socket.h>  // getsockname, getpeername
#include <sys/stat.h>    // mkfifo
#include <sys/un.h>      // sockaddr_un
#include <unistd.h>      // unlink

#include <algorithm>   // std::search
#include <atomic>      // std::atomic
#include <cstring>     // strnlen
#include <filesystem>  // std::filesystem::exists
#include <fstream>     // std::ofstream
#include <functional>  // std::function
#include <map>         // std::map
#include <optional>    // std::optional
#include <random>      // std::mt19937_64

#include "../public/common.hpp"
#include "ipclab/error.hpp"    // OperationFailed
#include "ipclab/fd.hpp"       // open_fds, fd_target
#include "ipclab/mq.hpp"       // PosixMq
#include "ipclab/names.hpp"    // names::posix, names::path
#include "ipclab/process.hpp"  // child_pids
#include "ipclab/sem.hpp"      // NamedSemaphore
#include "ipclab/shm.hpp"      // PosixShm
#include "lab06/channel.hpp"
#include "lab06/payload.hpp"

namespace lab = ipclab::lab06;

using grader::expect_exit;
using grader::run;
using lab::Mechanism;
using lab06_test::objects_now;

namespace {

const std::string kAll = "pipe,fifo,uds,posix_mq,sysv_mq,shm_sem";

/// What one side does with its end of the channel; its EXPECT/ASSERT failures and
/// exceptions fail the side.
using SideFn = std::function<void(lab::Channel&)>;

/// Creates the transport here, starts side A and side B in child processes (each opens its
/// end and runs its body), and waits for both, 5 s at most. Returns "" or what went wrong.
std::string run_sides(Mechanism m, std::size_t size, const SideFn& a, const SideFn& b,
                      bool drop_creator_after_fork = false) {
  auto t = lab::make_transport(m, size);
  std::vector<grader::Child> sides;
  sides.emplace_back([&] { a(*t->open(lab::Side::kA)); }, "side A");
  sides.emplace_back([&] { b(*t->open(lab::Side::kB)); }, "side B");
  if (drop_creator_after_fork) t.reset();
  return grader::join(sides, 5'000ms);
}

void send_n(lab::Channel& ch, std::size_t size, std::uint64_t first, int n) {
  std::vector<std::byte> m(size);
  for (int i = 0; i < n; ++i) {
    lab::fill_message(m, first + static_cast<std::uint64_t>(i));
    ch.send(m);
  }
}

void recv_n(lab::Channel& ch, std::size_t size, std::uint64_t first, int n) {
  std::vector<std::byte> m(size);
  for (int i = 0; i < n; ++i) {
    ch.recv(m);
    const auto v = lab::verify_message(m, first + static_cast<std::uint64_t>(i));
    ASSERT_EQ(v, lab::Verdict::kOk) << "message " << first + i << ": " << lab::verdict_text(v)
                                    << " (header says " << lab::message_sequence(m) << ")";
  }
}

}  // namespace

GRADED_TEST(Hidden, OddAndMinimumSizesOnEveryMechanism, 3,
            "README §Pitfalls 1 and 5 — tails and empty bodies") {
  for (std::size_t size : {16u, 1001u, 4097u}) {
    auto r = run(lab06_test::tiny(kAll, "csv", size), lab06_test::slow_ok());
    expect_exit(r, 0);
    EXPECT_EQ(lab06_test::csv_rows(r, nullptr).size(), 6u) << r.describe();
  }
}

GRADED_TEST(Hidden, RandomSizesRepeatedLeaveNothing, 2, "README §Pitfalls 6") {
  grader::repeat(3, [&](int, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const std::size_t size = 16 + rng() % 8000;
    auto r = run(lab06_test::tiny(kAll, "json", size), lab06_test::slow_ok());
    expect_exit(r, 0);
    EXPECT_EQ(objects_now(), "") << "after a run with --msg-size=" << size;
  });
}

GRADED_TEST(Hidden, BothSidesMaySendFirst, 3,
            "README §Pitfalls 3 — each direction must be its own (mtype, queue, ring)") {
  // Three messages each way in flight at once: a side must never receive its own.
  for (Mechanism m : lab::kAllMechanisms) {
    const std::string why = run_sides(
        m, 1024,
        [](auto& ch) {
          send_n(ch, 1024, 0, 3);
          recv_n(ch, 1024, 100, 3);
        },
        [](auto& ch) {
          send_n(ch, 1024, 100, 3);
          recv_n(ch, 1024, 0, 3);
        });
    EXPECT_EQ(why, "") << lab::mechanism_name(m);
    EXPECT_EQ(objects_now(), "") << lab::mechanism_name(m) << ": left behind";
  }
}

GRADED_TEST(Hidden, StreamEndOfFileIsOperationFailed, 2,
            "README §Pitfalls 4 — an end left open in the wrong process means no EOF") {
  for (Mechanism m : {Mechanism::kPipe, Mechanism::kFifo, Mechanism::kUds}) {
    const std::string why = run_sides(
        m, 512,
        [](auto& ch) {
          ASSERT_NO_FATAL_FAILURE(recv_n(ch, 512, 0, 1));
          std::vector<std::byte> buf(512);
          try {
            ch.recv(buf);
          } catch (const ipclab::OperationFailed&) {
            return;  // end of file, reported as the contract says
          }
          ADD_FAILURE() << "recv returned after the other side exited";
        },
        [](auto& ch) { send_n(ch, 512, 0, 1); },
        /*drop_creator_after_fork=*/m == Mechanism::kPipe);
    EXPECT_EQ(why, "") << lab::mechanism_name(m);
  }
}

GRADED_TEST(Hidden, FailedCreateLeavesNothing, 2,
            "README §Pitfalls 6 — a constructor that throws runs no destructor") {
  using lab::object_name;
  // Each transport can be made and removed when nothing is in its way.
  ASSERT_NO_THROW(lab::make_fifo_transport(64));
  ASSERT_NO_THROW(lab::make_posix_mq_transport(64));
  ASSERT_NO_THROW(lab::make_shm_sem_transport(64));
  ASSERT_EQ(objects_now(), "") << "a transport made and destroyed left objects";
  // Occupy the name a transport creates last, so its constructor fails halfway.
  {
    const std::string ba = ipclab::names::path(object_name("fifo-ba"));
    ASSERT_EQ(::mkfifo(ba.c_str(), 0600), 0);
    EXPECT_ANY_THROW(lab::make_fifo_transport(64));
    ::unlink(ba.c_str());
    EXPECT_EQ(objects_now(), "") << "fifo: a failed constructor left its first FIFO";
  }
  {
    const std::string ba = ipclab::names::posix(object_name("mq-ba"));
    mq_attr attr{};
    attr.mq_maxmsg = 1;
    attr.mq_msgsize = 64;
    const mqd_t q = ::mq_open(ba.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
    ASSERT_NE(q, static_cast<mqd_t>(-1));
    ::mq_close(q);
    EXPECT_ANY_THROW(lab::make_posix_mq_transport(64));
    ::mq_unlink(ba.c_str());
    EXPECT_EQ(objects_now(), "") << "posix_mq: a failed constructor left its first queue";
  }
  {
    const std::string full = ipclab::names::posix(object_name("sem-ba-full"));
    sem_t* s = ::sem_open(full.c_str(), O_CREAT | O_EXCL, 0600, 0);
    ASSERT_NE(s, SEM_FAILED);
    ::sem_close(s);
    EXPECT_ANY_THROW(lab::make_shm_sem_transport(64));
    ::sem_unlink(full.c_str());
    EXPECT_EQ(objects_now(), "") << "shm_sem: a failed constructor left objects";
  }
}

GRADED_TEST(Hidden, CtrlCToTheGroupCleansUp, 2, "README §Pitfalls 6") {
  grader::Process p({"ipc_benchmark", "--mechanisms=shm_sem,sysv_mq,posix_mq",
                     "--iterations=2000000000", "--runs=1", "--warmup=0", "--timeout=30"});
  grader::wait_until(
      [&] {
        return !p.running() || (ipclab::child_pids(p.pid()).size() == 2 && objects_now() != "");
      },
      10'000ms);
  ASSERT_TRUE(p.running()) << "ipc_benchmark ended early:\n" << p.finish().describe();
  ASSERT_TRUE(ipclab::child_pids(p.pid()).size() == 2 && objects_now() != "")
      << "no run in progress after 10 s\n"
      << p.err();
  ::kill(-p.pid(), SIGINT);  // what a terminal does: the whole foreground group
  auto r = p.finish(10'000ms);
  expect_exit(r, 1);
  EXPECT_NE(r.err.find("interrupted"), std::string::npos) << r.describe();
  EXPECT_EQ(objects_now(), "");
}

GRADED_TEST(Hidden, ChecksumIsSeededAndLengthAware, 1, "README §Payload") {
  std::vector<std::byte> zeros(64);
  const auto c = lab::checksum64;
  EXPECT_NE(c(zeros, 1), c(zeros, 2)) << "the seed does not matter";
  EXPECT_NE(c(std::span(zeros).first(16), 0), c(std::span(zeros).first(24), 0))
      << "16 and 24 zero bytes have the same checksum";
  EXPECT_NE(c(std::span(zeros).first(16), 0), c(std::span(zeros).first(17), 0))
      << "a trailing zero byte is not seen";
}

namespace {

/// This process's descriptors and what each refers to ("socket:[123]").
using FdTable = std::map<int, std::string>;
FdTable fd_table() {
  FdTable t;
  for (int fd : ipclab::open_fds()) t[fd] = ipclab::fd_target(0, fd);
  return t;
}

/// The descriptors opened since `before` (a number may have been closed and reused).
std::vector<int> opened_since(const FdTable& before) {
  std::vector<int> out;
  for (const auto& [fd, target] : fd_table())
    if (const auto it = before.find(fd); it == before.end() || it->second != target)
      out.push_back(fd);
  return out;
}

/// The descriptors opened since `before` that an exec would pass on: no FD_CLOEXEC.
/// "fd -> target" a line; "" if none.
std::string inheritable_since(const FdTable& before) {
  std::string out;
  for (int fd : opened_since(before))
    if ((::fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0)
      out += fmt::format("{} -> {}\n", fd, ipclab::fd_target(0, fd));
  return out;
}

/// The Unix-socket address at this end (getsockname) or the other end (getpeername) of
/// `fd`; "" for an unnamed socket.
std::string socket_name(int fd, bool peer) {
  sockaddr_un a{};
  socklen_t len = sizeof a;
  const int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                     : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (r < 0 || len <= sizeof(sa_family_t)) return "";
  return {a.sun_path, ::strnlen(a.sun_path, len - sizeof(sa_family_t))};
}

}  // namespace

GRADED_TEST(Hidden, EveryDescriptorIsCloseOnExec, 2,
            "README §Pitfalls 11 — O_CLOEXEC, SOCK_CLOEXEC, accept4(..., SOCK_CLOEXEC)") {
  for (Mechanism m : lab::kAllMechanisms) {
    SCOPED_TRACE(lab::mechanism_name(m));
    const auto before = fd_table();
    auto t = lab::make_transport(m, 64);
    EXPECT_EQ(inheritable_since(before), "") << "the transport's constructor opened these "
                                                "descriptors without close-on-exec";
    std::vector<grader::Child> sides;
    for (lab::Side side : {lab::Side::kA, lab::Side::kB})
      sides.emplace_back(
          [&t, side] {
            const auto mine = fd_table();
            auto ch = t->open(side);
            EXPECT_EQ(inheritable_since(mine), "")
                << "open() opened these descriptors without close-on-exec";
          },
          side == lab::Side::kA ? "side A" : "side B");
    EXPECT_EQ(grader::join(sides, 5'000ms), "");
  }
}

GRADED_TEST(Hidden, UdsSideAConnectsSideBAccepts, 1,
            "README §The API — uds: the supervisor listens, side B accepts, side A connects") {
  const std::string path = ipclab::names::path(lab::object_name("uds"));
  auto t = lab::make_uds_transport(64);
  std::vector<grader::Child> sides;
  for (lab::Side side : {lab::Side::kA, lab::Side::kB})
    sides.emplace_back(
        [&t, &path, side] {
          const auto mine = fd_table();
          auto ch = t->open(side);
          int sock = -1;
          for (int fd : opened_since(mine))
            if (ipclab::fd_target(0, fd).starts_with("socket:")) sock = fd;
          ASSERT_GE(sock, 0) << "open() made no new socket";
          if (side == lab::Side::kA) {
            EXPECT_EQ(socket_name(sock, /*peer=*/true), path)
                << "side A's socket is not connected to the listening socket's path";
          } else {
            EXPECT_EQ(socket_name(sock, /*peer=*/false), path)
                << "side B's socket was not accepted on the listening socket's path";
            EXPECT_EQ(socket_name(sock, /*peer=*/true), "")
                << "side B's peer has a name: side B connected";
          }
        },
        side == lab::Side::kA ? "side A" : "side B");
  EXPECT_EQ(grader::join(sides, 5'000ms), "");
}

namespace {

/// Makes this (child) process an IPC namespace and a mount namespace of its own, where the
/// queue limits in /proc/sys are its own to set and to hide: as root, or as root of a user
/// namespace of its own. False if this machine allows neither (then nothing changed).
bool own_namespaces() {
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (::unshare(CLONE_NEWIPC | CLONE_NEWNS) != 0) {
    if (::unshare(CLONE_NEWUSER | CLONE_NEWIPC | CLONE_NEWNS) != 0) return false;
    std::ofstream("/proc/self/setgroups") << "deny";
    std::ofstream("/proc/self/uid_map") << fmt::format("0 {} 1", uid);
    std::ofstream("/proc/self/gid_map") << fmt::format("0 {} 1", gid);
  }
  // Mounts made here must not reach the machine's namespace.
  return ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
}

const std::string kMsgsizeMax = "/proc/sys/fs/mqueue/msgsize_max";
const std::string kMsgmax = "/proc/sys/kernel/msgmax";
const std::string kMsgmnb = "/proc/sys/kernel/msgmnb";

bool set_limit(const std::string& file, long value) {
  std::ofstream(file) << value;
  return lab06_test::proc_number(file) == value;
}

}  // namespace

GRADED_TEST(Hidden, LimitsFollowTheSystemsSettings, 2,
            "README §Limits — read the files each time; an unreadable one means the default; "
            "on a tie, msgmax") {
  grader::Child probe(
      [] {
        if (!own_namespaces() || !set_limit(kMsgmax, 6000) ||
            ::mount("/dev/null", kMsgmnb.c_str(), nullptr, MS_BIND, nullptr) != 0)
          ::_exit(1);
      },
      "probe");
  if (!probe.finish(5'000ms).passed())
    GTEST_SKIP() << "no IPC and mount namespace of our own here (unshare(2) not allowed)";

  grader::Child child(
      [] {
        ASSERT_TRUE(own_namespaces());
        using lab::Mechanism;
        auto expect = [](Mechanism m, std::size_t bytes, const std::string& source,
                         const std::string& settings) {
          const auto got = lab::message_limit(m);
          EXPECT_EQ(got.bytes, bytes) << lab::mechanism_name(m) << " with " << settings;
          if (!source.empty()) {
            EXPECT_EQ(got.source, source) << lab::mechanism_name(m) << " with " << settings;
          }
        };
        ASSERT_TRUE(set_limit(kMsgsizeMax, 4000) && set_limit(kMsgmax, 6000) &&
                    set_limit(kMsgmnb, 5000));
        expect(Mechanism::kPosixMq, 4000, kMsgsizeMax, "msgsize_max 4000");
        expect(Mechanism::kSysvMq, 5000, kMsgmnb, "msgmax 6000, msgmnb 5000");
        ASSERT_TRUE(set_limit(kMsgmnb, 7000));
        expect(Mechanism::kSysvMq, 6000, kMsgmax, "msgmax 6000, msgmnb 7000");
        ASSERT_TRUE(set_limit(kMsgmnb, 6000));
        expect(Mechanism::kSysvMq, 6000, kMsgmax, "msgmax 6000, msgmnb 6000 (a tie)");
        // An unreadable file (an empty one mounted over it) means the Linux default.
        auto hidden = [](const std::string& file, auto&& check) {
          ASSERT_EQ(::mount("/dev/null", file.c_str(), nullptr, MS_BIND, nullptr), 0)
              << "mount over " << file << ": " << std::strerror(errno);
          check();
          ::umount2(file.c_str(), 0);
        };
        hidden(kMsgsizeMax,
               [&] { expect(Mechanism::kPosixMq, 8192, "", "msgsize_max unreadable"); });
        ASSERT_TRUE(set_limit(kMsgmax, 20000));
        hidden(kMsgmnb,
               [&] { expect(Mechanism::kSysvMq, 16384, "", "msgmax 20000, msgmnb unreadable"); });
        ASSERT_TRUE(set_limit(kMsgmnb, 30000));
        hidden(kMsgmax,
               [&] { expect(Mechanism::kSysvMq, 8192, "", "msgmax unreadable, msgmnb 30000"); });
      },
      "limits in a namespace of their own");
  const auto r = child.finish(10'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}

namespace {

/// A FIFO opened here for reading, without blocking: what waits in it can be counted.
struct FifoPeek {
  ipclab::Fd fd;
  explicit FifoPeek(const std::string& path)
      : fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)) {}
  long waiting() const {
    int n = 0;
    return ::ioctl(fd.get(), FIONREAD, &n) == 0 ? n : -1;
  }
};

}  // namespace

GRADED_TEST(Hidden, EachDirectionHasItsOwnObject, 2,
            "README §The API — side A sends on fifo-ab, mq-ab, mtype 1, ring ab; side B on "
            "fifo-ba, mq-ba, mtype 2, ring ba") {
  using lab::object_name;
  namespace names = ipclab::names;
  constexpr int kSent = 3;
  constexpr std::size_t kSize = 64;
  constexpr std::uint64_t kFirst[2] = {0, 100};  // side A's sequence numbers, side B's
  const char* const kObject[2][4] = {{"fifo-ab", "mq-ab", "mtype 1", "ring ab"},
                                     {"fifo-ba", "mq-ba", "mtype 2", "ring ba"}};
  // Each side sends three messages and waits for the test to end it; nobody receives.
  // Where the messages are is then seen from outside, and they are taken out and checked.
  const Mechanism mechs[] = {Mechanism::kFifo, Mechanism::kPosixMq, Mechanism::kSysvMq,
                             Mechanism::kShmSem};
  for (std::size_t k = 0; k < 4; ++k) {
    const Mechanism m = mechs[k];
    SCOPED_TRACE(lab::mechanism_name(m));
    auto t = lab::make_transport(m, kSize);
    std::vector<grader::Child> sides;
    for (int d = 0; d < 2; ++d)
      sides.emplace_back(
          [&t, d, &kFirst] {
            auto ch = t->open(d == 0 ? lab::Side::kA : lab::Side::kB);
            send_n(*ch, kSize, kFirst[d], kSent);
            ::pause();  // the test ends this process
          },
          d == 0 ? "side A" : "side B");
    std::function<long()> total;      // the messages waiting, both directions
    std::function<void(int d)> take;  // takes direction d's (0: A->B) and checks them
    std::vector<std::byte> buf(kSize);
    auto check = [&](int d, int i) {
      EXPECT_EQ(lab::verify_message(buf, kFirst[d] + i), lab::Verdict::kOk)
          << "message " << i << " in " << kObject[d][k] << " is not side " << (d == 0 ? "A" : "B")
          << "'s message " << i << " (header says " << lab::message_sequence(buf) << ")";
    };
    std::vector<FifoPeek> fifos;
    std::vector<ipclab::PosixMq> queues;
    std::vector<ipclab::NamedSemaphore> full;
    if (m == Mechanism::kFifo) {
      for (int d = 0; d < 2; ++d) fifos.emplace_back(names::path(object_name(kObject[d][0])));
      total = [&] { return (fifos[0].waiting() + fifos[1].waiting()) / static_cast<long>(kSize); };
      take = [&](int d) {
        for (int i = 0; i < kSent; ++i) {
          ASSERT_EQ(::read(fifos[d].fd.get(), buf.data(), kSize), static_cast<ssize_t>(kSize))
              << kObject[d][0] << " holds fewer than " << kSent << " messages";
          check(d, i);
        }
      };
    } else if (m == Mechanism::kPosixMq) {
      for (int d = 0; d < 2; ++d)
        queues.push_back(
            ipclab::PosixMq::open(names::posix(object_name(kObject[d][1])), O_RDONLY | O_NONBLOCK));
      total = [&] { return queues[0].attr().mq_curmsgs + queues[1].attr().mq_curmsgs; };
      take = [&](int d) {
        for (int i = 0; i < kSent; ++i) {
          ASSERT_EQ(
              ::mq_receive(queues[d].native(), reinterpret_cast<char*>(buf.data()), kSize, nullptr),
              static_cast<ssize_t>(kSize))
              << kObject[d][1] << " holds fewer than " << kSent << " messages";
          check(d, i);
        }
      };
    } else if (m == Mechanism::kSysvMq) {
      const int msq = ::msgget(names::sysv_key(object_name("msq")), 0);
      ASSERT_GE(msq, 0) << "no System V queue with the key of `msq`";
      total = [msq] {
        msqid_ds ds{};
        return ::msgctl(msq, IPC_STAT, &ds) == 0 ? static_cast<long>(ds.msg_qnum) : -1L;
      };
      take = [&, msq](int d) {
        std::vector<char> msg(sizeof(long) + kSize);
        for (int i = 0; i < kSent; ++i) {
          ASSERT_EQ(::msgrcv(msq, msg.data(), kSize, d + 1, IPC_NOWAIT),
                    static_cast<ssize_t>(kSize))
              << "fewer than " << kSent << " messages of " << kObject[d][2];
          std::memcpy(buf.data(), msg.data() + sizeof(long), kSize);
          check(d, i);
        }
      };
    } else {
      for (int d = 0; d < 2; ++d)
        full.push_back(ipclab::NamedSemaphore::open(
            names::posix(object_name(d == 0 ? "sem-ab-full" : "sem-ba-full"))));
      total = [&] { return static_cast<long>(full[0].value() + full[1].value()); };
      // Ring ab is the object's first half, ring ba the second: each message is looked
      // for in its own half (wherever the slots are in it).
      take = [&](int d) {
        EXPECT_EQ(full[d].value(), kSent) << (d == 0 ? "sem-ab-full" : "sem-ba-full");
        const auto map = ipclab::PosixShm::open(names::posix(object_name("shm"))).map();
        const std::span<const std::byte> all(map.as<std::byte>(), map.size());
        const auto half = all.subspan(d * (map.size() / 2), map.size() / 2);
        for (int i = 0; i < kSent; ++i) {
          lab::fill_message(buf, kFirst[d] + i);
          EXPECT_NE(std::search(half.begin(), half.end(), buf.begin(), buf.end()), half.end())
              << "side " << (d == 0 ? "A" : "B") << "'s message " << i << " is not in "
              << kObject[d][3] << " (the " << (d == 0 ? "first" : "second")
              << " half of the shared memory)";
        }
      };
    }
    EXPECT_TRUE(grader::wait_until([&] { return total() >= 2 * kSent; }, 5'000ms))
        << "the " << 2 * kSent << " messages the sides sent did not arrive within 5 s";
    for (int d = 0; d < 2; ++d) take(d);
    for (auto& s : sides) s.kill();
  }
  EXPECT_EQ(objects_now(), "");
}

GRADED_TEST(Hidden, FifosAreOwnerOnlyAndKeyFilesGo, 1,
            "README §Pitfalls 6 — FIFOs with mode 0600; the SysV key file is a name too") {
  using lab::object_name;
  namespace names = ipclab::names;
  {
    auto t = lab::make_fifo_transport(64);
    for (const char* what : {"fifo-ab", "fifo-ba"}) {
      struct stat st {};
      ASSERT_EQ(::stat(names::path(object_name(what)).c_str(), &st), 0) << what;
      EXPECT_EQ(st.st_mode & 07777, 0600u)
          << what << ": mode 0" << fmt::format("{:o}", st.st_mode & 07777);
    }
  }
  const std::string key_file = names::sysv_key_file(object_name("msq"));
  lab::make_sysv_mq_transport(64).reset();
  EXPECT_FALSE(std::filesystem::exists(key_file)) << "the destructor left " << key_file;
  // A queue already has the key: the constructor fails, and removes the key file it used.
  const int q = ::msgget(names::sysv_key(object_name("msq")), IPC_CREAT | IPC_EXCL | 0600);
  ASSERT_GE(q, 0);
  EXPECT_ANY_THROW(lab::make_sysv_mq_transport(64));
  ::msgctl(q, IPC_RMID, nullptr);
  EXPECT_FALSE(std::filesystem::exists(key_file)) << "a failed constructor left " << key_file;
}

// listen() made to fail once, for the test below: this executable's listen is the one the
// lab's library calls; unarmed, it is glibc's.
namespace {
std::atomic<int> fail_next_listen{0};
}  // namespace

extern "C" int listen(int fd, int backlog) noexcept {
  if (fail_next_listen.exchange(0) != 0) {
    errno = ENOBUFS;
    return -1;
  }
  using Fn = int (*)(int, int);
  static const auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "listen"));
  return real(fd, backlog);
}

GRADED_TEST(Hidden, UdsFailuresLeaveNothing, 1,
            "README §Pitfalls 6 — a socket bound but not listening is a name to remove") {
  fail_next_listen = 1;
  EXPECT_ANY_THROW(lab::make_uds_transport(64));
  fail_next_listen = 0;
  EXPECT_EQ(objects_now(), "") << "a failed listen left the socket's path";
  // A path sun_path cannot hold (108 bytes with its NUL) is a usage error naming 107.
  const std::string name = lab::object_name("uds");
  const std::string base = grader::scratch() + "/";
  const std::size_t room = sizeof(sockaddr_un::sun_path) - 1;  // 107
  if (base.size() + 2 + name.size() > room) GTEST_SKIP() << "scratch path too long: " << base;
  for (std::size_t length : {room, room + 1}) {
    const std::string dir = base + std::string(length - 1 - name.size() - base.size(), 'd');
    ipclab::names::set_rundir(dir);
    try {
      lab::make_uds_transport(64);
      EXPECT_EQ(length, room) << "a socket path of " << length << " bytes was accepted";
    } catch (const ipclab::UsageError& e) {
      EXPECT_EQ(length, room + 1) << "a socket path of " << length << " bytes: " << e.what();
      EXPECT_NE(std::string(e.what()).find("107"), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "a socket path of " << length << " bytes: not a UsageError: " << e.what();
    }
    ipclab::names::set_rundir("");
  }
}

GRADED_TEST(Hidden, ShmOfTheWrongSizeIsRefused, 1,
            "README §The API — open() maps the object only if it has the size the rings need") {
  auto t = lab::make_shm_sem_transport(64);  // 2 rings x 16 slots x 64 bytes
  const std::string shm = ipclab::names::posix(lab::object_name("shm"));
  {
    const ipclab::Fd fd(::shm_open(shm.c_str(), O_RDWR | O_CLOEXEC, 0));
    ASSERT_TRUE(fd.valid()) << "no shared-memory object `shm`";
    ASSERT_EQ(::ftruncate(fd.get(), 4096), 0);
  }
  grader::Child side(
      [&t] {
        try {
          t->open(lab::Side::kA);
          ADD_FAILURE() << "open() accepted an object of 4096 bytes; the rings need 2048";
        } catch (const ipclab::OperationFailed& e) {
          const std::string what = e.what();
          EXPECT_TRUE(what.find("4096") != std::string::npos &&
                      what.find("2048") != std::string::npos)
              << "the error does not name both sizes (4096, expected 2048): " << what;
        }
      },
      "side A");
  const auto r = side.finish(5'000ms);
  EXPECT_TRUE(r.passed()) << r.describe();
}
