// Unit tests of the IPC wrappers: POSIX shared memory and mappings (ipclab/shm.hpp),
// named semaphores (sem.hpp), POSIX message queues (mq.hpp) and SysV message queues,
// semaphore sets and shared-memory segments (sysv.hpp).
//
// Each test runs in the namespace "ut-<pid>-ipc" with its own run directory; the fixture
// removes every name and key it handed out, even when an assertion fails half-way.
#include <fcntl.h>      // O_RDONLY, O_ACCMODE
#include <mqueue.h>     // mq_unlink
#include <semaphore.h>  // sem_unlink
#include <stdlib.h>     // mkdtemp
#include <sys/ipc.h>    // IPC_RMID, IPC_NOWAIT
#include <sys/mman.h>   // shm_unlink, MAP_PRIVATE
#include <sys/msg.h>    // msgctl
#include <sys/sem.h>    // semctl, sembuf
#include <sys/shm.h>    // shmctl
#include <sys/wait.h>   // waitpid
#include <unistd.h>     // fork, _exit

#include <algorithm>     // std::find, std::max
#include <chrono>        // std::chrono
#include <cstring>       // std::memcpy, std::strcmp
#include <filesystem>    // std::filesystem::remove_all
#include <fstream>       // std::ifstream
#include <string>        // std::string
#include <system_error>  // std::errc
#include <thread>        // std::jthread
#include <vector>        // std::vector

#include <fmt/core.h>  // fmt::format
#include <gtest/gtest.h>

#include "ipclab/clock.hpp"      // Deadline, Stopwatch
#include "ipclab/error.hpp"      // SysError
#include "ipclab/inventory.hpp"  // inventory, remove_object (last-resort cleanup)
#include "ipclab/mq.hpp"         // PosixMq
#include "ipclab/names.hpp"      // names::*
#include "ipclab/sem.hpp"        // NamedSemaphore
#include "ipclab/shm.hpp"        // PosixShm, Mapping
#include "ipclab/sysv.hpp"       // SysvMsgQueue, SysvSemSet, SysvShm
#include "test_util.hpp"         // sys_error_of

namespace ipclab {
namespace {

using test::sys_error_of;

using std::chrono::milliseconds;
using std::chrono::seconds;

std::chrono::nanoseconds elapsed(const Stopwatch& sw) {
  return std::chrono::nanoseconds(sw.elapsed_ns());
}

// A timed wait must not come back early. The timed calls take CLOCK_REALTIME deadlines and
// we measure on CLOCK_MONOTONIC, so allow a little slack for a clock adjustment.
constexpr auto kShortTimeout = milliseconds(50);
constexpr auto kAtLeast = milliseconds(40);

long read_proc_long(const char* path) {
  std::ifstream in(path);
  long v = -1;
  in >> v;
  return v;
}

class IpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ns_ = fmt::format("ut-{}-ipc", ::getpid());
    std::string tmpl = fmt::format("/tmp/ipclab-ut-ipc-{}.XXXXXX", ::getpid());
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    rundir_ = tmpl;
    names::set_ns(ns_);
    names::set_rundir(rundir_);
  }

  void TearDown() override {
    for (const auto& n : posix_names_) {
      ::shm_unlink(n.c_str());
      ::sem_unlink(n.c_str());
      ::mq_unlink(n.c_str());
    }
    for (const key_t k : keys_) {
      if (const int id = ::msgget(k, 0); id >= 0) ::msgctl(id, IPC_RMID, nullptr);
      if (const int id = ::semget(k, 0, 0); id >= 0) ::semctl(id, 0, IPC_RMID);
      if (const int id = ::shmget(k, 0, 0); id >= 0) ::shmctl(id, IPC_RMID, nullptr);
    }
    std::vector<std::string> leaked;
    for (const auto& obj : inventory(ns_, rundir_)) {
      leaked.push_back(describe(obj));
      remove_object(obj);
    }
    EXPECT_TRUE(leaked.empty()) << "left behind: " << leaked.front();
    names::set_ns("");
    names::set_rundir("");
    std::error_code ec;
    std::filesystem::remove_all(rundir_, ec);
  }

  /// A POSIX name in this test's namespace, removed at teardown.
  std::string pname(std::string_view x) {
    posix_names_.push_back(names::posix(x));
    return posix_names_.back();
  }
  /// A SysV key in this test's namespace; whatever has it is removed at teardown.
  key_t key(std::string_view x) {
    keys_.push_back(names::sysv_key(x));
    return keys_.back();
  }

  std::string ns_;
  std::string rundir_;
  std::vector<std::string> posix_names_;
  std::vector<key_t> keys_;
};

// ---- POSIX shared memory ----------------------------------------------------------------

TEST_F(IpcTest, PosixShmCreateOpenMapResizeUnlink) {
  const std::string name = pname("shm");
  PosixShm a = PosixShm::create(name, 4096);
  EXPECT_EQ(a.name(), name);
  EXPECT_EQ(a.size(), 4096u);
  ASSERT_GE(a.fd(), 0);
  EXPECT_NE(::fcntl(a.fd(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_TRUE(std::filesystem::exists("/dev/shm" + name));

  Mapping ma = a.map();
  ASSERT_NE(ma.data(), nullptr);
  EXPECT_EQ(ma.size(), 4096u);
  const char* bytes = ma.as<char>();
  EXPECT_TRUE(std::all_of(bytes, bytes + 4096, [](char c) { return c == 0; }));  // zero-filled
  std::memcpy(ma.data(), "hello", 6);

  // A second open + map sees the same memory, both ways.
  PosixShm b = PosixShm::open(name);
  EXPECT_EQ(b.size(), 4096u);
  Mapping mb = b.map();
  EXPECT_STREQ(mb.as<char>(), "hello");
  mb.as<char>()[100] = 'x';
  EXPECT_EQ(ma.as<char>()[100], 'x');
  EXPECT_NE(ma.data(), mb.data());

  std::string what;
  EXPECT_EQ(sys_error_of([&] { PosixShm::create(name, 4096); }, &what), std::errc::file_exists);
  EXPECT_NE(what.find(name), std::string::npos) << what;

  a.resize(3 * 4096);
  EXPECT_EQ(a.size(), 3u * 4096);
  PosixShm c = PosixShm::open(name);
  EXPECT_EQ(c.size(), 3u * 4096);
  Mapping mc = c.map();
  EXPECT_EQ(mc.size(), 3u * 4096);
  EXPECT_STREQ(mc.as<char>(), "hello");  // resizing keeps the contents
  mc.as<char>()[3 * 4096 - 1] = 'z';
  Mapping ma2 = a.map();
  EXPECT_EQ(ma2.as<char>()[3 * 4096 - 1], 'z');

  PosixShm ro = PosixShm::open(name, /*read_only=*/true);
  EXPECT_EQ(::fcntl(ro.fd(), F_GETFL) & O_ACCMODE, O_RDONLY);
  Mapping mro = ro.map();  // a read-write map of a read-only fd would fail with EACCES
  EXPECT_STREQ(mro.as<char>(), "hello");

  EXPECT_TRUE(PosixShm::unlink(name));
  EXPECT_FALSE(PosixShm::unlink(name));
  EXPECT_EQ(sys_error_of([&] { PosixShm::open(name); }), std::errc::no_such_file_or_directory);
  EXPECT_STREQ(ma.as<char>(), "hello");  // mappings outlive the name
}

TEST_F(IpcTest, MappingMoveAndReset) {
  Mapping m = Mapping::anonymous_shared(8192);
  void* addr = m.data();
  ASSERT_NE(addr, nullptr);
  Mapping n(std::move(m));
  EXPECT_EQ(m.data(), nullptr);  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(m.size(), 0u);       // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(n.data(), addr);
  EXPECT_EQ(n.size(), 8192u);
  Mapping o;
  o = std::move(n);
  EXPECT_EQ(o.data(), addr);
  o.as<int>()[0] = 1;
  o.sync();
  o.reset();
  EXPECT_EQ(o.data(), nullptr);
  EXPECT_EQ(o.size(), 0u);
  EXPECT_EQ(sys_error_of([] { Mapping(-1, 4096, PROT_READ, MAP_SHARED); }),
            std::errc::bad_file_descriptor);
}

TEST_F(IpcTest, AnonymousSharedMappingIsSharedAcrossFork) {
  Mapping shared = Mapping::anonymous_shared(4096);
  Mapping priv(-1, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  shared.as<int>()[0] = 1;
  priv.as<int>()[0] = 1;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    shared.as<int>()[0] = 12345;
    std::memcpy(shared.as<char>() + 64, "from child", 11);
    priv.as<int>()[0] = 777;
    ::_exit(0);  // no destructors, no gtest in the child
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(shared.as<int>()[0], 12345);
  EXPECT_STREQ(shared.as<char>() + 64, "from child");
  EXPECT_EQ(priv.as<int>()[0], 1);  // MAP_PRIVATE: the child's write stays in the child
}

// ---- POSIX named semaphores -------------------------------------------------------------

TEST_F(IpcTest, NamedSemaphore) {
  const std::string name = pname("sem");
  NamedSemaphore s = NamedSemaphore::create(name, 2);
  EXPECT_EQ(s.name(), name);
  EXPECT_NE(s.native(), nullptr);
  EXPECT_TRUE(std::filesystem::exists("/dev/shm/sem." + name.substr(1)));
  EXPECT_EQ(s.value(), 2);
  EXPECT_TRUE(s.try_wait());
  EXPECT_TRUE(s.try_wait());
  EXPECT_FALSE(s.try_wait());
  EXPECT_EQ(s.value(), 0);

  EXPECT_EQ(sys_error_of([&] { NamedSemaphore::create(name, 0); }), std::errc::file_exists);

  // A second handle is the same semaphore.
  NamedSemaphore o = NamedSemaphore::open(name);
  o.post();
  EXPECT_EQ(s.value(), 1);
  s.wait();
  EXPECT_EQ(o.value(), 0);

  // Timed wait on zero: false, and not before the deadline.
  const Stopwatch sw;
  EXPECT_FALSE(s.wait(Deadline(kShortTimeout)));
  EXPECT_GE(elapsed(sw), kAtLeast);
  // Already-passed deadline: still succeeds when the value is positive.
  s.post();
  EXPECT_TRUE(s.wait(Deadline(milliseconds(0))));
  EXPECT_FALSE(s.wait(Deadline(milliseconds(0))));

  // A post from another thread wakes a timed waiter.
  {
    std::jthread poster([&] { o.post(); });
    EXPECT_TRUE(s.wait(Deadline(seconds(10))));
  }
  EXPECT_EQ(s.value(), 0);

  NamedSemaphore moved(std::move(o));
  EXPECT_EQ(o.native(), nullptr);  // NOLINT(bugprone-use-after-move)
  moved.post();
  EXPECT_EQ(s.value(), 1);

  EXPECT_TRUE(NamedSemaphore::unlink(name));
  EXPECT_FALSE(NamedSemaphore::unlink(name));
  EXPECT_EQ(sys_error_of([&] { NamedSemaphore::open(name); }),
            std::errc::no_such_file_or_directory);
  s.post();  // open handles keep working after the name is gone
  EXPECT_EQ(s.value(), 2);
}

// ---- POSIX message queues ---------------------------------------------------------------

TEST_F(IpcTest, PosixMqLimitsAreReadFromProc) {
  EXPECT_EQ(PosixMq::limit_msg_max(), read_proc_long("/proc/sys/fs/mqueue/msg_max"));
  EXPECT_EQ(PosixMq::limit_msgsize_max(), read_proc_long("/proc/sys/fs/mqueue/msgsize_max"));
}

TEST_F(IpcTest, PosixMqCreateAboveTheLimitNamesIt) {
  const std::string name = pname("mq-big");
  // Unprivileged, msgsize_max is the limit; with CAP_SYS_RESOURCE (root) it is ignored and
  // only the kernel's HARD_MSGSIZEMAX (16 MiB) applies. Exceed both.
  const long too_big = std::max(PosixMq::limit_msgsize_max(), 16L << 20) + 1;
  std::string what;
  EXPECT_EQ(sys_error_of([&] { PosixMq::create(name, 1, too_big); }, &what),
            std::errc::invalid_argument);
  EXPECT_NE(what.find("msgsize_max"), std::string::npos) << what;
  EXPECT_NE(what.find(name), std::string::npos) << what;
  // Likewise msg_max (HARD_MSGMAX is 65536).
  const long too_many = std::max(PosixMq::limit_msg_max(), 65536L) + 1;
  EXPECT_EQ(sys_error_of([&] { PosixMq::create(name, too_many, 16); }, &what),
            std::errc::invalid_argument);
  EXPECT_NE(what.find("msg_max"), std::string::npos) << what;
  EXPECT_FALSE(PosixMq::unlink(name));  // nothing was created
}

TEST_F(IpcTest, PosixMqPrioritiesTimeoutsAndUnlink) {
  const std::string name = pname("mq");
  PosixMq q = PosixMq::create(name, 4, 64);
  EXPECT_EQ(q.name(), name);
  const mq_attr a = q.attr();
  EXPECT_EQ(a.mq_maxmsg, 4);
  EXPECT_EQ(a.mq_msgsize, 64);
  EXPECT_EQ(a.mq_curmsgs, 0);
  const auto recorded = names::recorded_mqueues(rundir_);
  EXPECT_NE(std::find(recorded.begin(), recorded.end(), name), recorded.end())
      << "create() must record the queue for ipc-clean";

  EXPECT_EQ(sys_error_of([&] { PosixMq::create(name, 4, 64); }), std::errc::file_exists);

  // Higher priority first; equal priorities in arrival order.
  q.send("low", 1);
  q.send("high", 9);
  q.send("mid-a", 5);
  q.send(std::string_view("mid\0b", 5), 5);
  EXPECT_EQ(q.attr().mq_curmsgs, 4);
  const std::vector<std::pair<std::string, unsigned>> want = {
      {"high", 9}, {"mid-a", 5}, {std::string("mid\0b", 5), 5}, {"low", 1}};
  for (const auto& [data, prio] : want) {
    const MqMessage m = q.receive();
    EXPECT_EQ(m.data, data);
    EXPECT_EQ(m.priority, prio);
  }

  // Timed receive on an empty queue: nullopt after the deadline.
  Stopwatch sw;
  EXPECT_FALSE(q.receive(Deadline(kShortTimeout)).has_value());
  EXPECT_GE(elapsed(sw), kAtLeast);

  // Timed send on a full queue: false after the deadline.
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(q.send(std::to_string(i), 0, Deadline(seconds(5))));
  sw.reset();
  EXPECT_FALSE(q.send("overflow", 0, Deadline(kShortTimeout)));
  EXPECT_GE(elapsed(sw), kAtLeast);

  // Other handles: a reader opened by name, and open-or-create of an existing queue.
  PosixMq reader = PosixMq::open(name, O_RDONLY);
  auto first = reader.receive(Deadline(seconds(5)));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->data, "0");
  PosixMq again = PosixMq::create(name, 4, 64, O_RDWR, /*exclusive=*/false);
  EXPECT_EQ(again.attr().mq_curmsgs, 3);
  EXPECT_EQ(sys_error_of([&] { reader.send("x"); }), std::errc::bad_file_descriptor);

  // A message longer than mq_msgsize is refused.
  EXPECT_EQ(sys_error_of([&] { q.send(std::string(65, 'x')); }), std::errc::message_size);

  // A timed receive is woken by a send from another thread.
  while (q.receive(Deadline(milliseconds(0)))) {
  }
  {
    std::jthread sender([&] { again.send("late", 2); });
    auto late = q.receive(Deadline(seconds(10)));
    ASSERT_TRUE(late.has_value());
    EXPECT_EQ(late->data, "late");
    EXPECT_EQ(late->priority, 2u);
  }

  EXPECT_TRUE(PosixMq::unlink(name));
  EXPECT_FALSE(PosixMq::unlink(name));
  EXPECT_EQ(sys_error_of([&] { PosixMq::open(name); }), std::errc::no_such_file_or_directory);
}

// ---- SysV message queues ----------------------------------------------------------------

TEST_F(IpcTest, SysvMsgQueueRoutesByType) {
  const key_t k = key("msgq");
  SysvMsgQueue q = SysvMsgQueue::create(k);
  EXPECT_GE(q.id(), 0);
  EXPECT_EQ(q.count(), 0u);
  EXPECT_EQ(sys_error_of([&] { SysvMsgQueue::create(k); }), std::errc::file_exists);
  auto opened = SysvMsgQueue::open(k);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->id(), q.id());

  EXPECT_TRUE(q.send(5, "five"));
  EXPECT_TRUE(q.send(7, "seven"));
  EXPECT_EQ(q.count(), 2u);
  auto m7 = q.receive(7, 64);
  ASSERT_TRUE(m7.has_value());
  EXPECT_EQ(m7->first, 7);
  EXPECT_EQ(m7->second, "seven");
  EXPECT_EQ(q.count(), 1u);
  EXPECT_FALSE(q.receive(7, 64, /*nowait=*/true).has_value());
  auto any = q.receive(0, 64);
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->first, 5);
  EXPECT_EQ(any->second, "five");
  EXPECT_FALSE(q.receive(0, 64, true).has_value());
  EXPECT_EQ(q.count(), 0u);

  // Negative type: the lowest type <= |mtype|.
  q.send(9, "nine");
  q.send(4, "four");
  q.send(2, "two");
  EXPECT_EQ(q.receive(-5, 64)->first, 2);
  EXPECT_EQ(q.receive(-5, 64)->first, 4);
  EXPECT_FALSE(q.receive(-5, 64, true).has_value());
  EXPECT_EQ(q.receive(0, 64)->second, "nine");

  // Binary payloads, and a buffer too small for the message (E2BIG; it stays queued).
  const std::string binary("\0a\0b\xff", 5);
  q.send(3, binary);
  EXPECT_EQ(sys_error_of([&] { q.receive(3, 2); }), std::errc::argument_list_too_long);
  EXPECT_EQ(sys_error_of([&] { q.receive(3, 2, /*nowait=*/true); }),
            std::errc::argument_list_too_long);  // an error, not "no message"
  EXPECT_EQ(q.receive(3, 64)->second, binary);
  q.send(3, "");
  EXPECT_EQ(q.receive(3, 64)->second, "");

  // A full queue: nowait send returns false. Shrink the queue to 16 bytes to get there.
  msqid_ds ds{};
  ASSERT_EQ(::msgctl(q.id(), IPC_STAT, &ds), 0);
  ds.msg_qbytes = 16;
  ASSERT_EQ(::msgctl(q.id(), IPC_SET, &ds), 0);
  EXPECT_TRUE(q.send(1, "0123456789", true));
  EXPECT_FALSE(q.send(1, "0123456789", true));
  EXPECT_EQ(q.count(), 1u);
  q.receive(1, 64);

  // A blocking receive is woken by a send from another thread.
  {
    std::jthread sender([&] { opened->send(11, "late"); });
    auto late = q.receive(11, 64);
    ASSERT_TRUE(late.has_value());
    EXPECT_EQ(late->second, "late");
  }

  EXPECT_TRUE(q.remove());
  EXPECT_FALSE(q.remove());
  EXPECT_FALSE(SysvMsgQueue::open(k).has_value());
}

// ---- SysV semaphore sets ----------------------------------------------------------------

TEST_F(IpcTest, SysvSemSetSetGetOp) {
  const key_t k = key("semset");
  SysvSemSet s = SysvSemSet::create(k, 2);
  EXPECT_GE(s.id(), 0);
  EXPECT_EQ(sys_error_of([&] { SysvSemSet::create(k, 2); }), std::errc::file_exists);
  auto opened = SysvSemSet::open(k);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->id(), s.id());

  s.set(0, 1);
  s.set(1, 0);
  EXPECT_EQ(s.get(0), 1);
  EXPECT_EQ(s.get(1), 0);

  // Two operations at once: take sem 0, give sem 1.
  const sembuf transfer[2] = {{0, -1, 0}, {1, +1, 0}};
  s.op(transfer);
  EXPECT_EQ(s.get(0), 0);
  EXPECT_EQ(s.get(1), 1);

  // All or none: the second operation cannot proceed, so the first is not applied either.
  const sembuf blocked[2] = {{1, +1, IPC_NOWAIT}, {0, -1, IPC_NOWAIT}};
  EXPECT_EQ(sys_error_of([&] { s.op(blocked); }), std::errc::resource_unavailable_try_again);
  EXPECT_EQ(s.get(1), 1);
  EXPECT_EQ(s.get(0), 0);

  // A blocked op is released by another thread's op.
  {
    std::jthread upper([&] {
      const sembuf up[1] = {{0, +1, 0}};
      opened->op(up);
    });
    const sembuf down[1] = {{0, -1, 0}};
    s.op(down);
  }
  EXPECT_EQ(s.get(0), 0);

  EXPECT_EQ(sys_error_of([&] { s.get(5); }), std::errc::invalid_argument);
  EXPECT_TRUE(s.remove());
  EXPECT_FALSE(s.remove());
  EXPECT_FALSE(SysvSemSet::open(k).has_value());
}

// ---- SysV shared memory -----------------------------------------------------------------

int attach_count(int id) {
  shmid_ds ds{};
  if (::shmctl(id, IPC_STAT, &ds) < 0) return -1;
  return static_cast<int>(ds.shm_nattch);
}

TEST_F(IpcTest, SysvShmCreateAttachWriteRemove) {
  const key_t k = key("seg");
  SysvShm seg = SysvShm::create(k, 10000);
  EXPECT_GE(seg.id(), 0);
  EXPECT_EQ(seg.size(), 10000u);
  EXPECT_EQ(sys_error_of([&] { SysvShm::create(k, 10000); }), std::errc::file_exists);
  EXPECT_EQ(attach_count(seg.id()), 0);

  void* p = seg.attach();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(seg.attach(), p);  // attached once
  EXPECT_EQ(attach_count(seg.id()), 1);
  std::memcpy(static_cast<char*>(p) + 9990, "shared", 7);

  {
    auto other = SysvShm::open(k);
    ASSERT_TRUE(other.has_value());
    EXPECT_EQ(other->id(), seg.id());
    EXPECT_EQ(other->size(), 10000u);
    const char* q = static_cast<const char*>(other->attach(/*read_only=*/true));
    EXPECT_NE(static_cast<const void*>(q), p);
    EXPECT_EQ(attach_count(seg.id()), 2);
    EXPECT_STREQ(q + 9990, "shared");
    static_cast<char*>(p)[0] = 'w';
    EXPECT_EQ(q[0], 'w');
  }  // the destructor detaches
  EXPECT_EQ(attach_count(seg.id()), 1);

  SysvShm moved(std::move(seg));
  EXPECT_EQ(moved.attach(), p);  // the attachment moved with it
  moved.detach();
  EXPECT_EQ(attach_count(moved.id()), 0);

  EXPECT_TRUE(moved.remove());
  EXPECT_FALSE(moved.remove());
  EXPECT_FALSE(SysvShm::open(k).has_value());
  EXPECT_EQ(sys_error_of([&] { moved.attach(); }), std::errc::invalid_argument);
}

}  // namespace
}  // namespace ipclab
