// Unit tests of ipclab/names.hpp (namespaces, POSIX names, run directories, SysV keys, the
// message-queue manifest) and ipclab/inventory.hpp (listing and removing every kind of
// object a namespace can hold).
//
// Every test works in its own namespace ("ut-<pid>-...") and a fresh run directory under
// /tmp, so parallel runs never collide, and the fixtures remove what they made even when
// an assertion fails half-way.
#include <mqueue.h>      // mq_unlink
#include <semaphore.h>   // sem_unlink
#include <stdlib.h>      // setenv, unsetenv, mkdtemp
#include <sys/ipc.h>     // IPC_RMID
#include <sys/mman.h>    // shm_unlink
#include <sys/msg.h>     // msgget, msgctl
#include <sys/sem.h>     // semget, semctl
#include <sys/shm.h>     // shmget, shmctl
#include <sys/socket.h>  // socket, bind
#include <sys/stat.h>    // mkfifo, stat
#include <sys/un.h>      // sockaddr_un
#include <unistd.h>      // getpid

#include <algorithm>   // std::find, std::count_if
#include <cstring>     // std::strncpy
#include <filesystem>  // std::filesystem::remove_all
#include <fstream>     // std::ifstream
#include <map>         // std::map
#include <optional>    // std::optional
#include <set>         // std::set
#include <string>      // std::string
#include <vector>      // std::vector

#include <fmt/core.h>  // fmt::format
#include <gtest/gtest.h>

#include "ipclab/error.hpp"      // UsageError, SysError
#include "ipclab/fd.hpp"         // Fd
#include "ipclab/inventory.hpp"  // inventory, remove_object, known_namespaces
#include "ipclab/mq.hpp"         // PosixMq
#include "ipclab/names.hpp"      // names::*
#include "ipclab/sem.hpp"        // NamedSemaphore
#include "ipclab/shm.hpp"        // PosixShm
#include "ipclab/sysv.hpp"       // SysvMsgQueue, SysvSemSet, SysvShm

namespace ipclab {
namespace {

std::string make_temp_dir(const char* what) {
  std::string tmpl = fmt::format("/tmp/ipclab-ut-{}-{}.XXXXXX", what, ::getpid());
  if (::mkdtemp(tmpl.data()) == nullptr) throw SysError(errno, "mkdtemp " + tmpl);
  return tmpl;
}

/// Saves an environment variable and puts it back on destruction.
class EnvGuard {
 public:
  explicit EnvGuard(const char* name) : name_(name) {
    if (const char* v = std::getenv(name)) old_ = v;
  }
  ~EnvGuard() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// Clears the overrides and restores the environment the naming layer reads.
class NamesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    names::set_ns("");
    names::set_rundir("");
    tmp_ = make_temp_dir("names");
  }
  void TearDown() override {
    names::set_ns("");
    names::set_rundir("");
    std::error_code ec;
    std::filesystem::remove_all(tmp_, ec);
  }

  EnvGuard ns_env_{"IPCLAB_NS"};
  EnvGuard rundir_env_{"IPCLAB_RUNDIR"};
  EnvGuard xdg_env_{"XDG_RUNTIME_DIR"};
  std::string tmp_;
};

// ---- names -----------------------------------------------------------------------------

TEST_F(NamesTest, NsComesFromTheEnvironmentAndSetNsOverridesIt) {
  ::setenv("IPCLAB_NS", "from-env_1", 1);
  EXPECT_EQ(names::ns(), "from-env_1");
  EXPECT_EQ(names::posix_prefix(), "/ipclab.from-env_1.");
  names::set_ns("override");
  EXPECT_EQ(names::ns(), "override");
  ::setenv("IPCLAB_NS", "changed", 1);
  EXPECT_EQ(names::ns(), "override");  // the override wins over the environment
  names::set_ns("");                   // empty: back to the environment
  EXPECT_EQ(names::ns(), "changed");
}

TEST_F(NamesTest, NsDefaultsToAValidUserName) {
  ::unsetenv("IPCLAB_NS");
  const std::string ns = names::ns();
  EXPECT_TRUE(names::valid_ns(ns)) << ns;
  ::setenv("IPCLAB_NS", "", 1);  // set but empty counts as unset
  EXPECT_EQ(names::ns(), ns);
}

TEST_F(NamesTest, InvalidNamespacesAreUsageErrors) {
  const std::string len64(64, 'n');
  const std::string len65(65, 'n');
  EXPECT_FALSE(names::valid_ns(""));
  EXPECT_FALSE(names::valid_ns("a/b"));
  EXPECT_FALSE(names::valid_ns("a.b"));  // a dot would make POSIX names ambiguous
  EXPECT_FALSE(names::valid_ns(len65));
  EXPECT_TRUE(names::valid_ns(len64));
  EXPECT_TRUE(names::valid_ns("Az09_-"));

  EXPECT_THROW(names::set_ns("a/b"), UsageError);
  EXPECT_THROW(names::set_ns(len65), UsageError);
  EXPECT_THROW(names::set_ns("a b"), UsageError);
  EXPECT_NO_THROW(names::set_ns(len64));
  EXPECT_EQ(names::ns(), len64);
  names::set_ns("");

  for (const std::string& bad : {std::string("a/b"), len65, std::string("x y")}) {
    ::setenv("IPCLAB_NS", bad.c_str(), 1);
    EXPECT_THROW(names::ns(), UsageError) << bad;
    EXPECT_THROW(names::posix("x"), UsageError) << bad;
  }
}

TEST_F(NamesTest, PosixNames) {
  const std::string ns = fmt::format("ut-{}", ::getpid());
  names::set_ns(ns);
  EXPECT_EQ(names::posix_prefix(), "/ipclab." + ns + ".");
  EXPECT_EQ(names::posix("x"), "/ipclab." + ns + ".x");
  EXPECT_EQ(names::posix("ring.v2_a-b"), "/ipclab." + ns + ".ring.v2_a-b");
  EXPECT_THROW(names::posix("a/b"), UsageError);
  EXPECT_THROW(names::posix(""), UsageError);
  EXPECT_THROW(names::posix(std::string(65, 'x')), UsageError);
  EXPECT_NO_THROW(names::posix(std::string(64, 'x')));
}

TEST_F(NamesTest, RundirHonoursTheEnvironmentAndCreatesTheDirectory) {
  const std::string env_dir = tmp_ + "/from/env";
  ::setenv("IPCLAB_RUNDIR", env_dir.c_str(), 1);
  EXPECT_EQ(names::rundir(), env_dir);
  struct stat st {};
  ASSERT_EQ(::stat(env_dir.c_str(), &st), 0) << "rundir() did not create " << env_dir;
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(names::rundir(), env_dir);  // a second call with the directory present is fine

  const std::string over = tmp_ + "/override";
  names::set_rundir(over);
  EXPECT_EQ(names::rundir(), over);  // the override wins
  EXPECT_TRUE(std::filesystem::is_directory(over));
  names::set_rundir("");
  EXPECT_EQ(names::rundir(), env_dir);
}

TEST_F(NamesTest, DefaultRundirIsBaseSlashNs) {
  ::unsetenv("IPCLAB_RUNDIR");
  ::setenv("XDG_RUNTIME_DIR", tmp_.c_str(), 1);
  names::set_ns("ut-default");
  EXPECT_EQ(names::rundir_base(), tmp_ + "/ipclab");
  EXPECT_EQ(names::rundir(), tmp_ + "/ipclab/ut-default");
  EXPECT_TRUE(std::filesystem::is_directory(tmp_ + "/ipclab/ut-default"));

  ::setenv("XDG_RUNTIME_DIR", "relative/dir", 1);  // not absolute: ignored
  EXPECT_EQ(names::rundir_base(), fmt::format("/tmp/ipclab-{}", ::getuid()));
  ::unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(names::rundir_base(), fmt::format("/tmp/ipclab-{}", ::getuid()));
}

TEST_F(NamesTest, PathIsUnderTheRundir) {
  names::set_rundir(tmp_ + "/rd");
  EXPECT_EQ(names::path("fifo.in"), tmp_ + "/rd/fifo.in");
  EXPECT_THROW(names::path("a/b"), UsageError);
  EXPECT_THROW(names::path(""), UsageError);
  // Made of allowed characters, but they would name the run directory or its parent.
  EXPECT_THROW(names::path(".."), UsageError);
  EXPECT_THROW(names::path("."), UsageError);
  EXPECT_NO_THROW(names::path("..x"));
}

TEST_F(NamesTest, SysvKeyIsStablePerNameAndDistinctAcrossNames) {
  names::set_rundir(tmp_ + "/rd");
  const key_t a1 = names::sysv_key("alpha");
  const key_t a2 = names::sysv_key("alpha");
  const key_t b = names::sysv_key("beta");
  EXPECT_NE(a1, -1);
  EXPECT_EQ(a1, a2);
  EXPECT_NE(a1, b);
  EXPECT_EQ(names::sysv_key_file("alpha"), tmp_ + "/rd/alpha.key");
  EXPECT_TRUE(std::filesystem::is_regular_file(tmp_ + "/rd/alpha.key"));
  EXPECT_TRUE(std::filesystem::is_regular_file(tmp_ + "/rd/beta.key"));
  EXPECT_THROW(names::sysv_key("a/b"), UsageError);
}

TEST_F(NamesTest, RecordMqueueDedupes) {
  const std::string rd = tmp_ + "/rd";
  names::set_rundir(rd);
  EXPECT_TRUE(names::recorded_mqueues(rd).empty());
  names::record_mqueue("/ipclab.t.a");
  names::record_mqueue("/ipclab.t.b");
  names::record_mqueue("/ipclab.t.a");
  const std::vector<std::string> want = {"/ipclab.t.a", "/ipclab.t.b"};
  EXPECT_EQ(names::recorded_mqueues(rd), want);
  // The manifest itself holds each name once.
  std::ifstream in(rd + "/.mqueues");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  EXPECT_EQ(lines, want);
}

TEST_F(NamesTest, RpcProgramIsTransientStableAndPerNamespace) {
  // The same namespace gives the same number in every process (graders pass it as --prog).
  EXPECT_EQ(names::rpc_program("lab16-1-1"), names::rpc_program("lab16-1-1"));
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::uint32_t p = names::rpc_program(fmt::format("lab16-{}-{}", 4242, i));
    EXPECT_GE(p, names::kRpcTransientFirst);
    EXPECT_LE(p, names::kRpcTransientLast);
    seen.insert(p);
  }
  EXPECT_EQ(seen.size(), 1000U);  // parallel tests do not collide
  names::set_ns("rpc-ns");
  EXPECT_EQ(names::rpc_program(), names::rpc_program("rpc-ns"));
  EXPECT_NE(names::rpc_program(), 0x31230000U);  // never the calculator's default
}

// ---- inventory -------------------------------------------------------------------------

/// A namespace of its own with one object of every kind; TearDown removes all of them
/// by name and key (not only through inventory(), which is what is under test).
class InventoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ns_ = fmt::format("ut-{}-inv", ::getpid());
    rundir_ = make_temp_dir("inv");
    names::set_ns(ns_);
    names::set_rundir(rundir_);
  }

  void TearDown() override {
    for (const auto& obj : inventory(ns_, rundir_)) remove_object(obj);
    ::shm_unlink(names::posix("shm1").c_str());
    ::sem_unlink(names::posix("sem1").c_str());
    ::mq_unlink(names::posix("mq1").c_str());
    for (const char* k : {"msg1", "sem2", "shm2"}) {
      const key_t key = ::ftok(names::sysv_key_file(k).c_str(), 'I');
      if (key == -1) continue;
      if (const int id = ::msgget(key, 0); id >= 0) ::msgctl(id, IPC_RMID, nullptr);
      if (const int id = ::semget(key, 0, 0); id >= 0) ::semctl(id, 0, IPC_RMID);
      if (const int id = ::shmget(key, 0, 0); id >= 0) ::shmctl(id, IPC_RMID, nullptr);
    }
    names::set_ns("");
    names::set_rundir("");
    std::error_code ec;
    std::filesystem::remove_all(rundir_, ec);
  }

  /// The objects of this namespace by "kind name" line.
  std::map<std::string, IpcObject> listing() {
    std::map<std::string, IpcObject> out;
    for (auto& obj : inventory(ns_, rundir_)) {
      EXPECT_EQ(obj.ns, ns_) << describe(obj);
      EXPECT_TRUE(out.emplace(describe(obj), obj).second) << "listed twice: " << describe(obj);
    }
    return out;
  }

  bool ns_known() {
    const auto all = known_namespaces();
    return std::find(all.begin(), all.end(), ns_) != all.end();
  }

  std::string ns_;
  std::string rundir_;
};

TEST(Inventory, KindNamesAndDescribe) {
  using K = IpcObject::Kind;
  EXPECT_STREQ(kind_name(K::kShm), "shm");
  EXPECT_STREQ(kind_name(K::kSem), "sem");
  EXPECT_STREQ(kind_name(K::kMqueue), "mqueue");
  EXPECT_STREQ(kind_name(K::kSysvMsg), "sysv-msg");
  EXPECT_STREQ(kind_name(K::kSysvSem), "sysv-sem");
  EXPECT_STREQ(kind_name(K::kSysvShm), "sysv-shm");
  EXPECT_STREQ(kind_name(K::kFifo), "fifo");
  EXPECT_STREQ(kind_name(K::kSocket), "socket");
  EXPECT_EQ(describe(IpcObject{K::kFifo, "/run/x/f", -1, "x"}), "fifo /run/x/f");
}

TEST_F(InventoryTest, EmptyNamespaceHasNothing) {
  EXPECT_TRUE(inventory(ns_, rundir_).empty());
  // Regular files (key files, the mqueue manifest) are not objects.
  (void)names::sysv_key("unused");
  names::record_mqueue(names::posix("never-created"));
  EXPECT_TRUE(inventory(ns_, rundir_).empty());
}

TEST_F(InventoryTest, ListsEveryKindAndRemovesEach) {
  const std::string p = "/ipclab." + ns_ + ".";
  {
    // POSIX objects: the handles close here, the names stay.
    PosixShm shm = PosixShm::create(names::posix("shm1"), 4096);
    NamedSemaphore sem = NamedSemaphore::create(names::posix("sem1"), 0);
    PosixMq mq = PosixMq::create(names::posix("mq1"), 2, 64);
  }
  const SysvMsgQueue msg = SysvMsgQueue::create(names::sysv_key("msg1"));
  const SysvSemSet semset = SysvSemSet::create(names::sysv_key("sem2"), 1);
  const SysvShm seg = SysvShm::create(names::sysv_key("shm2"), 4096);
  const std::string fifo = names::path("fifo1");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string sock_path = names::path("sock1");
  {
    Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(sock.valid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(sock_path.size(), sizeof addr.sun_path);
    std::strncpy(addr.sun_path, sock_path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  }  // the socket file outlives the descriptor

  auto objs = listing();
  const std::map<std::string, int> want = {
      {"shm " + p + "shm1", -1},
      {"sem " + p + "sem1", -1},
      {"mqueue " + p + "mq1", -1},
      {fmt::format("sysv-msg key 0x{:08x} id {}", static_cast<unsigned>(names::sysv_key("msg1")),
                   msg.id()),
       msg.id()},
      {fmt::format("sysv-sem key 0x{:08x} id {}", static_cast<unsigned>(names::sysv_key("sem2")),
                   semset.id()),
       semset.id()},
      {fmt::format("sysv-shm key 0x{:08x} id {}", static_cast<unsigned>(names::sysv_key("shm2")),
                   seg.id()),
       seg.id()},
      {"fifo " + fifo, -1},
      {"socket " + sock_path, -1},
  };
  for (const auto& [line, id] : want) {
    auto it = objs.find(line);
    ASSERT_NE(it, objs.end()) << "missing from inventory: " << line;
    EXPECT_EQ(it->second.id, id) << line;
  }
  EXPECT_EQ(objs.size(), want.size());
  EXPECT_TRUE(ns_known()) << ns_ << " not in known_namespaces()";

  for (const auto& [line, obj] : objs) {
    std::string why;
    EXPECT_TRUE(remove_object(obj, &why)) << line << ": " << why;
  }
  EXPECT_TRUE(inventory(ns_, rundir_).empty());
  EXPECT_FALSE(ns_known()) << ns_ << " still in known_namespaces() with nothing left";

  // Really gone, checked without the inventory.
  EXPECT_FALSE(PosixShm::unlink(names::posix("shm1")));
  EXPECT_FALSE(NamedSemaphore::unlink(names::posix("sem1")));
  EXPECT_FALSE(PosixMq::unlink(names::posix("mq1")));
  EXPECT_FALSE(SysvMsgQueue::open(names::sysv_key("msg1")).has_value());
  EXPECT_FALSE(SysvSemSet::open(names::sysv_key("sem2")).has_value());
  EXPECT_FALSE(SysvShm::open(names::sysv_key("shm2")).has_value());
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(fifo)));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(sock_path)));

  // Removing what is already gone is not a failure.
  for (const auto& [line, obj] : objs) EXPECT_TRUE(remove_object(obj)) << line;
}

TEST_F(InventoryTest, KnownNamespacesFromEachKindOfPosixObject) {
  EXPECT_FALSE(ns_known());
  { PosixShm shm = PosixShm::create(names::posix("shm1"), 4096); }
  EXPECT_TRUE(ns_known()) << "a shared-memory object alone names the namespace";
  PosixShm::unlink(names::posix("shm1"));
  EXPECT_FALSE(ns_known());
  { NamedSemaphore sem = NamedSemaphore::create(names::posix("sem1"), 0); }
  EXPECT_TRUE(ns_known()) << "a semaphore alone names the namespace";
  NamedSemaphore::unlink(names::posix("sem1"));
  { PosixMq mq = PosixMq::create(names::posix("mq1"), 1, 16); }
  EXPECT_TRUE(ns_known()) << "a message queue alone names the namespace";
  PosixMq::unlink(names::posix("mq1"));
  EXPECT_FALSE(ns_known());
}

TEST_F(InventoryTest, OtherNamespacesAreNotListed) {
  const std::string other_ns = ns_ + "x";  // shares ns_ as a prefix: must not match
  const std::string other = "/ipclab." + other_ns + ".shm1";
  { PosixShm shm = PosixShm::create(other, 4096); }
  const auto objs = inventory(ns_, rundir_);
  PosixShm::unlink(other);
  EXPECT_TRUE(objs.empty()) << describe(objs.front());
}

}  // namespace
}  // namespace ipclab
