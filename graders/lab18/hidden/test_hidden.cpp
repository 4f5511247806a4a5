// Lab 18's hidden tests: the same contract in other shapes — the log in process (a torn
// last record, a damaged checksum, the newest version after replay), a delete that a
// replica which missed it must not undo, many writers of one key through every node at
// once, and a retry that races its own first run.
#include <dlfcn.h>         // dlsym, RTLD_NEXT
#include <fcntl.h>         // fcntl, FD_CLOEXEC
#include <netinet/in.h>    // sockaddr_in, INADDR_LOOPBACK
#include <poll.h>          // poll
#include <sys/resource.h>  // setrlimit, prlimit, RLIMIT_FSIZE
#include <sys/socket.h>    // socket, bind, listen, connect
#include <sys/stat.h>      // umask
#include <sys/syscall.h>   // SYS_futex, SYS_gettid
#include <unistd.h>        // dup, dup2, close

#include <algorithm>           // std::find
#include <atomic>              // std::atomic
#include <condition_variable>  // std::condition_variable
#include <cstring>             // std::memcpy
#include <filesystem>          // std::filesystem
#include <fstream>             // std::ofstream, std::fstream
#include <map>                 // std::map
#include <set>                 // std::set
#include <thread>              // std::thread
#include <type_traits>         // std::remove_pointer_t
#include <utility>             // std::make_pair

#include "../public/common.hpp"
#include "grader/linearizability.hpp"
#include "ipclab/clock.hpp"  // Stopwatch
#include "ipclab/fd.hpp"     // open_fds, fd_target
#include "ipclab/io.hpp"     // read_file

using namespace lab18_test;

namespace {
lab::Entry entry(const std::string& k, std::uint64_t counter, std::uint32_t node,
                 const std::string& v, bool present = true) {
  return lab::Entry{k, {counter, node}, present, v};
}
}  // namespace

GRADED_TEST(Hidden, LogReplayKeepsNewestAndDropsATornTail, 3, "README §Pitfalls 7") {
  const std::string dir = grader::scratch() + "/store";
  {
    lab::Store s(dir);
    EXPECT_TRUE(s.apply(entry("a", 1, 1, "one")));
    EXPECT_TRUE(s.apply(entry("a", 3, 2, "three")));
    EXPECT_FALSE(s.apply(entry("a", 2, 3, "two"))) << "an older version must change nothing";
    EXPECT_FALSE(s.apply(entry("a", 3, 2, "three again"))) << "an equal version neither";
    EXPECT_TRUE(s.apply(entry("b", 1, 1, "bee")));
    EXPECT_TRUE(s.apply(entry("b", 2, 1, "", false)));  // deleted: a tombstone
    EXPECT_EQ(s.get("a").value, "three");
    EXPECT_EQ(s.get("never").version, lab::Version{});
  }
  const std::string log = dir + "/kv.log";
  const auto good_size = std::filesystem::file_size(log);
  {
    std::ofstream out(log, std::ios::app | std::ios::binary);
    out.write("\x00\x00\x01\x00garbage", 11);  // a record cut short by a crash
  }
  {
    lab::Store s(dir);
    EXPECT_EQ(s.get("a"), entry("a", 3, 2, "three"));
    EXPECT_EQ(s.get("b"), entry("b", 2, 1, "", false));
    EXPECT_EQ(std::filesystem::file_size(log), good_size) << "the torn tail must be cut off";
    EXPECT_TRUE(s.apply(entry("c", 1, 1, "sea")));
  }
  {
    // The last record's last byte damaged: that record goes, the others stay.
    std::fstream f(log, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  lab::Store s(dir);
  EXPECT_EQ(s.get("a").value, "three");
  EXPECT_FALSE(s.get("c").present) << "a record with a bad checksum must not be replayed";
  EXPECT_EQ(s.all().size(), 2U);
}

GRADED_TEST(Hidden, DeleteIsNotUndoneByAReplicaThatMissedIt, 3,
            "README §The interface — a delete is a write with a version") {
  Cluster c;
  expect_ok(c.client(0, {"put", "k", "v"}), "OK (replicated to 3 nodes)\n");
  c.kill(2);
  expect_ok(c.client(0, {"del", "k"}), "OK (replicated to 2 nodes)\n");
  c.pause(1);
  ASSERT_TRUE(c.restart(2));  // node 3 still holds "v"
  expect_error(c.client(2, {"get", "k"}), 1, "error: key not found: k");
  c.resume(1);
  for (std::size_t i = 0; i < 3; ++i)
    expect_error(c.client(i, {"get", "k"}), 1, "error: key not found");
}

GRADED_TEST(Hidden, ManyWritersOfOneKeyThroughEveryNode, 3, "README §Pitfalls 8") {
  Cluster c({.data = false});
  std::mutex mu;
  std::vector<grader::KvOp> history;
  std::vector<std::thread> ts;
  auto now = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  for (int id = 0; id < 6; ++id)
    ts.emplace_back([&, id] {
      lab::Connection conn({"localhost", c.port(static_cast<std::size_t>(id) % 3)}, 5000ms);
      for (int n = 0; n < 40; ++n) {
        grader::KvOp op{id, n % 2 == 0 ? grader::KvOp::Kind::kWrite : grader::KvOp::Kind::kRead,
                        "k"};
        op.call = now();
        if (op.kind == grader::KvOp::Kind::kWrite) {
          op.value = std::to_string(id) + "-" + std::to_string(n);
          op.completed = conn.put(7 + static_cast<std::uint64_t>(id),
                                  static_cast<std::uint64_t>(n) + 1, "k", true, *op.value)
                             .status == KV_OK;
        } else {
          const auto r = conn.get("k");
          if (r.status != KV_OK) continue;
          if (r.entry.present) op.value = r.entry.value;
        }
        op.ret = now();
        std::lock_guard lock(mu);
        history.push_back(op);
      }
    });
  for (auto& t : ts) t.join();
  const auto first = c.client(0, {"get", "k"});
  grader::expect_exit(first, 0);
  for (std::size_t i = 1; i < 3; ++i) expect_ok(c.client(i, {"get", "k"}), first.out);
  const auto verdict = grader::check_linearizable(history);
  EXPECT_TRUE(verdict.ok) << verdict.explanation;
}

GRADED_TEST(Hidden, RetryRacingItsFirstRunRunsOnce, 2, "README §Pitfalls 4") {
  Cluster c({.data = false, .peer_timeout_ms = 1000});
  c.pause(2);  // every write now waits the peer timeout for node 3: a window for the race
  // The request and two retries at once: one runs, both retries wait for its reply.
  std::vector<lab::PutReply> replies(3);
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i)
    ts.emplace_back([&, i] {
      lab::Connection conn({"localhost", c.port(0)}, 5000ms);
      replies[static_cast<std::size_t>(i)] = conn.put(42, 1, "k", true, "once");
    });
  for (auto& t : ts) t.join();
  c.resume(2);
  for (const auto& r : replies) {
    EXPECT_EQ(r.status, KV_OK);
    EXPECT_EQ(r.version, replies[0].version) << "two runs of one request: two versions";
  }
  expect_ok(c.client(0, {"put", "k", "later"}), "OK (replicated to 3 nodes)\n");
  lab::Connection conn({"localhost", c.port(0)}, 5000ms);  // the node that ran it remembers
  EXPECT_EQ(conn.put(42, 1, "k", true, "once").version, replies[0].version);
  expect_ok(c.client(2, {"get", "k"}), "later\n");
}

GRADED_TEST(Hidden, LogIsCloseOnExecAndPrivate, 1, "README §The replica") {
  ::umask(022);  // the usual one: a mode of 0600 stays 0600
  const std::string dir = grader::scratch() + "/store";
  lab::Store s(dir);
  int log_fd = -1;
  for (int fd : ipclab::open_fds())
    if (ipclab::fd_target(0, fd) == std::filesystem::canonical(s.log_path()).string()) log_fd = fd;
  ASSERT_GE(log_fd, 0) << "no descriptor open on " << s.log_path();
  EXPECT_NE(::fcntl(log_fd, F_GETFD) & FD_CLOEXEC, 0) << "the log would leak into an exec'd child";
  namespace fs = std::filesystem;
  EXPECT_EQ(fs::status(s.log_path()).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write)
      << "the log is its owner's only (0600)";
}

namespace {

std::uint32_t be32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
std::string be32(std::uint32_t v) {
  std::string s(4, '\0');
  for (std::size_t i = 0; i < 4; ++i) s[i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  return s;
}
std::uint32_t fnv1a(const std::string& body) {
  std::uint32_t h = 2166136261U;
  for (const char c : body) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619U;
  }
  return h;
}
/// The XDR encoding of e (what the README's record carries after its two u32).
std::string xdr_of(const lab::Entry& e) {
  std::string buf(64 + e.key.size() + e.value.size(), '\0');
  kv_entry x = lab::to_xdr(e);
  XDR xdrs;
  xdrmem_create(&xdrs, buf.data(), static_cast<u_int>(buf.size()), XDR_ENCODE);
  EXPECT_TRUE(xdr_kv_entry(&xdrs, &x));
  buf.resize(xdr_getpos(&xdrs));
  XDR_DESTROY(&xdrs);
  return buf;
}

}  // namespace

GRADED_TEST(Hidden, LogRecordsFollowTheReadmeLayout, 2,
            "README §The replica — u32 length | u32 checksum | the kv_entry in XDR") {
  const std::string dir = grader::scratch() + "/store";
  const lab::Entry first = entry("key", 5, 2, "value");
  {
    lab::Store s(dir);
    EXPECT_TRUE(s.apply(first));
  }
  const std::string log = ipclab::read_file(dir + "/kv.log");
  const std::string body = xdr_of(first);
  ASSERT_EQ(log.size(), 8 + body.size()) << "one record: two u32, then the entry in XDR";
  EXPECT_EQ(be32(log, 0), body.size()) << "the length, big-endian";
  EXPECT_EQ(be32(log, 4), fnv1a(body)) << "the checksum: FNV-1a of the body, big-endian";
  EXPECT_EQ(log.substr(8), body);
  // A record written by another implementation of the layout replays here.
  const lab::Entry second = entry("other", 7, 3, "written by hand");
  const std::string body2 = xdr_of(second);
  {
    std::ofstream out(dir + "/kv.log", std::ios::app | std::ios::binary);
    out << be32(static_cast<std::uint32_t>(body2.size())) << be32(fnv1a(body2)) << body2;
  }
  {
    lab::Store s(dir);
    EXPECT_EQ(s.get("key"), first);
    EXPECT_EQ(s.get("other"), second);
  }
  // A torn tail is cut off, and the next record follows the last good one directly.
  const auto good = std::filesystem::file_size(dir + "/kv.log");
  {
    std::ofstream out(dir + "/kv.log", std::ios::app | std::ios::binary);
    out.write("\x00\x00\x00\x40torn", 8);
  }
  const lab::Entry third = entry("third", 1, 1, "after the tear");
  {
    lab::Store s(dir);
    EXPECT_TRUE(s.apply(third));
  }
  EXPECT_EQ(std::filesystem::file_size(dir + "/kv.log"), good + 8 + xdr_of(third).size());
  lab::Store s(dir);
  EXPECT_EQ(s.get("third"), third) << "the record written after the cut must replay";
  EXPECT_EQ(s.all().size(), 3U);
}

GRADED_TEST(Hidden, PausedPeerDelaysNothingAMajorityCanAnswer, 2,
            "README §The coordinator — once a majority answered") {
  Cluster c({.data = false, .peer_timeout_ms = 4000});
  lab::Connection conn({"localhost", c.port(0)}, 30'000ms);
  ASSERT_EQ(conn.put(1, 1, "k", true, "v1").status, KV_OK);
  c.pause(2);
  const auto timeout = c.peer_timeout();
  // A read needs a majority: node 1 and node 2 answer at once.
  ipclab::Stopwatch sw;
  const lab::GetReply r = conn.get("k");
  const double get_s = sw.elapsed_s();
  EXPECT_EQ(r.status, KV_OK);
  EXPECT_EQ(r.entry.value, "v1");
  EXPECT_LT(get_s * 1000, static_cast<double>(timeout.count()) / 2)
      << "a read waited for the paused node (peer timeout " << timeout.count() << " ms)";
  // A write's phase 1 needs a majority too; only its phase 2 waits for the paused node.
  sw.reset();
  const lab::PutReply w = conn.put(1, 2, "k", true, "v2");
  const double put_s = sw.elapsed_s();
  EXPECT_EQ(w.status, KV_OK);
  EXPECT_EQ(w.acks, 2U);
  EXPECT_LT(put_s * 1000, static_cast<double>(timeout.count()) * 1.5)
      << "a write waited for the paused node more than once (peer timeout " << timeout.count()
      << " ms)";
  c.resume(2);
}

GRADED_TEST(Hidden, ConnectionDescriptorsAndStore, 2,
            "README §The client — Connection(addr, timeout), store") {
  Cluster c({.nodes = 1, .data = false});
  const lab::Address node{"localhost", c.port(0)};
  auto ping = [&] { return lab::Connection(node, 5000ms).ping(); };
  EXPECT_TRUE(ping());  // the first connection may load what getaddrinfo keeps for good
  const auto before = ipclab::open_fds();
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(ping());
  EXPECT_EQ(ipclab::open_fds(), before) << "descriptors left open by 10 destroyed connections";
  // Nobody listens on a port just freed: refused, and the socket closed again.
  const int closed = lab::free_ports(1).front();
  auto failure = [](int port, std::chrono::milliseconds timeout) -> std::string {
    try {
      lab::Connection conn({"localhost", port}, timeout);
    } catch (const lab::NetworkError& e) {
      return e.what();
    }
    return "(connected)";
  };
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(failure(closed, 1000ms),
              fmt::format("cannot reach localhost:{}: Connection refused", closed));
  EXPECT_EQ(ipclab::open_fds(), before) << "a refused connection left its socket open";
  {
    // A listener whose accept queue is full drops new connections' SYNs: the timeout.
    const ipclab::Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener.get(), 0), 0);
    ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const ipclab::Fd queued(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(::connect(queued.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    pollfd in{listener.get(), POLLIN, 0};  // queued: the queue of one is full
    ASSERT_EQ(::poll(&in, 1, 5000), 1);
    const int port = ntohs(addr.sin_port);
    EXPECT_EQ(failure(port, 300ms),
              fmt::format("cannot reach localhost:{}: Connection timed out", port));
  }
  {
    lab::Connection conn(node, 5000ms);
    std::vector<int> fresh;
    for (int fd : ipclab::open_fds())
      if (std::find(before.begin(), before.end(), fd) == before.end()) fresh.push_back(fd);
    ASSERT_FALSE(fresh.empty());
    for (int fd : fresh)
      EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0) << "fd " << fd << " survives exec";
    // STORE says whether the replica kept the entry, and the version it holds now.
    const lab::Entry e = entry("k", 9, 4, "stored");
    EXPECT_EQ(conn.store(e), std::make_pair(true, e.version));
    EXPECT_EQ(conn.store(entry("k", 8, 4, "older")), std::make_pair(false, e.version));
    EXPECT_EQ(conn.local_get("k"), e);
  }
  {
    // The lowest free descriptor is 0 when stdin is closed: the socket may be fd 0.
    const ipclab::Fd saved(::dup(0));
    ASSERT_TRUE(saved.valid());
    ::close(0);
    bool answered = false;
    try {
      answered = ping();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "with stdin closed: " << e.what();
    }
    ::dup2(saved.get(), 0);
    EXPECT_TRUE(answered);
  }
}

GRADED_TEST(Hidden, DuplicateCacheKeepsTheLast100000Replies, 2,
            "README §The coordinator — put, the duplicate-request cache") {
  lab::Store store;  // in memory; a node without peers is a single server
  lab::Node node(lab::NodeConfig{}, store);
  const lab::PutReply first = node.put(1, 1, "k", true, "v");
  const lab::PutReply second = node.put(1, 2, "k", true, "v");
  EXPECT_EQ(first.version, (lab::Version{1, 1})) << "{highest counter + 1, this node}";
  EXPECT_EQ(second.version, (lab::Version{2, 1}));
  for (std::uint64_t r = 3; r <= 100'001; ++r) node.put(2, r, "x", true, "");
  // 100 001 requests: the first is forgotten, the second still remembered.
  EXPECT_EQ(node.put(1, 2, "k", true, "v").version, second.version) << "remembered: not run again";
  EXPECT_LT(second.version, node.put(1, 1, "k", true, "v").version) << "forgotten: it runs again";
}

namespace {
/// Node 3 (killed before) started again while nodes 1 and 2 are paused: it catches up from
/// nobody and stays behind. Nodes 1 and 2 are left paused.
void restart_node3_alone(Cluster& c) {
  c.pause(0);
  c.pause(1);
  ASSERT_TRUE(c.restart(2));
  ASSERT_TRUE(c.proc(2).wait_for_err("caught up from 0 of 2 peers", 20'000ms)) << c.proc(2).err();
}

/// k = v1 on every node, then v2 on nodes 1 and 2 while node 3 is down; node 3 restarted
/// alone (it stays on v1); nodes 1 and 2 left paused.
void leave_node3_on_v1(Cluster& c) {
  expect_ok(c.client(0, {"put", "k", "v1"}), "OK (replicated to 3 nodes)\n");
  c.kill(2);
  expect_ok(c.client(0, {"put", "k", "v2"}), "OK (replicated to 2 nodes)\n");
  restart_node3_alone(c);
}
}  // namespace

GRADED_TEST(Hidden, ReadWritesBackToAStalePeerBeforeAnswering, 2,
            "README §The coordinator — get: wait until a majority holds it") {
  Cluster c({.peer_timeout_ms = 500, .log = true});
  ASSERT_NO_FATAL_FAILURE(leave_node3_on_v1(c));
  c.resume(0);
  // Node 2 stays paused: node 1's majority is itself (v2) and node 3 (v1). Its answer
  // waits until node 3 stored v2 back: then two nodes hold what it returns.
  expect_ok(c.client(0, {"get", "k"}), "v2\n");
  expect_ok(c.client(2, {"get", "k", "--local"}), "v2\n");
  c.resume(1);
}

GRADED_TEST(Hidden, WriteIsStampedAboveTheCoordinatorsOwnVersion, 2,
            "README §The coordinator — put: the versions of a majority (this node included)") {
  Cluster c({.peer_timeout_ms = 500, .log = true});
  c.kill(2);
  expect_ok(c.client(1, {"put", "k", "v1"}), "OK (replicated to 2 nodes)\n");  // {1, node 2}
  ASSERT_NO_FATAL_FAILURE(restart_node3_alone(c));  // node 3 never hears of v1
  c.resume(0);
  // Node 2 stays paused: node 1's majority is itself (v1) and node 3 (never written). The
  // write must be stamped above v1, which only node 1 itself knows of.
  expect_ok(c.client(0, {"put", "k", "v2"}), "OK (replicated to 2 nodes)\n");
  expect_ok(c.client(0, {"get", "k"}), "v2\n");
  c.resume(1);
  expect_ok(c.client(1, {"get", "k"}), "v2\n");
}

// clnt_vc_create() made to fail once, for the test below; and every client handle it makes
// wrapped, so that a STORE to a chosen port fails unsent (a peer that dies between its
// LOCAL_GET and the STORE that follows), for the reads of a node in this process further
// below. This executable's clnt_vc_create is the one the lab's Connection calls; unarmed,
// it is libtirpc's.
namespace {
std::atomic<int> fail_next_clnt_create{0};

using ClntOps = std::remove_pointer_t<decltype(CLIENT::cl_ops)>;
struct FailingStores {
  std::mutex mu;
  std::map<const CLIENT*, int> port;  // each live handle's peer port
  std::set<int> ports;                // a STORE to these fails
  std::set<int> held;                 // a call to these waits until they are released
  std::size_t held_calls = 0;         // calls waiting there now
  std::condition_variable released;   // notified when a port is released
  const ClntOps* real = nullptr;      // libtirpc's table, one for every TCP handle
  ClntOps wrapped{};
};
FailingStores& failing_stores() {
  static FailingStores f;
  return f;
}

clnt_stat call_unless_failing(CLIENT* cl, rpcproc_t proc, xdrproc_t xargs, void* args,
                              xdrproc_t xres, void* res, timeval t) {
  auto& f = failing_stores();
  {
    std::unique_lock lock(f.mu);
    const auto it = f.port.find(cl);
    const int port = it == f.port.end() ? -1 : it->second;
    if (proc == STORE && f.ports.contains(port)) return RPC_CANTRECV;
    if (f.held.contains(port)) {
      ++f.held_calls;
      f.released.wait(lock, [&] { return !f.held.contains(port); });
      --f.held_calls;
    }
  }
  return f.real->cl_call(cl, proc, xargs, args, xres, res, t);
}

void destroy_wrapped(CLIENT* cl) {
  auto& f = failing_stores();
  {
    std::lock_guard lock(f.mu);
    f.port.erase(cl);
  }
  f.real->cl_destroy(cl);
}

int port_of(const netbuf* addr) {
  sockaddr_storage sa{};
  if (addr == nullptr || addr->buf == nullptr) return -1;
  std::memcpy(&sa, addr->buf, std::min<std::size_t>(addr->len, sizeof sa));
  if (sa.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(sa).sin_port);
  if (sa.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(sa).sin6_port);
  return -1;
}

/// While alive, every STORE this process sends to one of `ports` fails.
class StoresFail {
 public:
  explicit StoresFail(std::set<int> ports) {
    std::lock_guard lock(failing_stores().mu);
    failing_stores().ports = std::move(ports);
  }
  ~StoresFail() {
    std::lock_guard lock(failing_stores().mu);
    failing_stores().ports.clear();
  }
  StoresFail(const StoresFail&) = delete;
  StoresFail& operator=(const StoresFail&) = delete;
};

/// While alive, every call this process makes to `port` waits (a peer that hangs, but
/// one the test can count the calls of and release at once).
class CallsHeld {
 public:
  explicit CallsHeld(int port) : port_(port) {
    std::lock_guard lock(failing_stores().mu);
    failing_stores().held.insert(port_);
  }
  ~CallsHeld() { release(); }
  CallsHeld(const CallsHeld&) = delete;
  CallsHeld& operator=(const CallsHeld&) = delete;
  std::size_t waiting() const {
    std::lock_guard lock(failing_stores().mu);
    return failing_stores().held_calls;
  }
  void release() {
    std::lock_guard lock(failing_stores().mu);
    failing_stores().held.erase(port_);
    failing_stores().released.notify_all();
  }

 private:
  int port_;
};
}  // namespace

extern "C" CLIENT* clnt_vc_create(int fd, const netbuf* addr, rpcprog_t prog, rpcvers_t vers,
                                  u_int sendsz, u_int recvsz) {
  if (fail_next_clnt_create.exchange(0) != 0) {
    rpc_createerr.cf_stat = RPC_SYSTEMERROR;
    rpc_createerr.cf_error.re_errno = ENOMEM;
    return nullptr;
  }
  using Fn = CLIENT* (*)(int, const netbuf*, rpcprog_t, rpcvers_t, u_int, u_int);
  static const auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "clnt_vc_create"));
  CLIENT* cl = real(fd, addr, prog, vers, sendsz, recvsz);
  if (cl == nullptr) return nullptr;
  auto& f = failing_stores();
  std::lock_guard lock(f.mu);
  if (f.real == nullptr) {
    f.real = cl->cl_ops;
    f.wrapped = *cl->cl_ops;
    f.wrapped.cl_call = call_unless_failing;
    f.wrapped.cl_destroy = destroy_wrapped;
  }
  f.port[cl] = port_of(addr);
  cl->cl_ops = &f.wrapped;
  return cl;
}

GRADED_TEST(Hidden, FailedClientHandleClosesItsSocket, 1,
            "README §The client — Failure: NetworkError; the socket is closed again") {
  Cluster c({.nodes = 1, .data = false});
  const lab::Address node{"localhost", c.port(0)};
  EXPECT_TRUE(lab::Connection(node, 5000ms).ping());  // what getaddrinfo keeps for good
  const auto before = ipclab::open_fds();
  fail_next_clnt_create = 1;
  std::string what = "(connected)";
  try {
    lab::Connection conn(node, 5000ms);
  } catch (const lab::NetworkError& e) {
    what = e.what();
  }
  fail_next_clnt_create = 0;
  EXPECT_TRUE(what.starts_with(fmt::format("cannot reach localhost:{}: ", c.port(0)))) << what;
  EXPECT_EQ(ipclab::open_fds(), before)
      << "a connection whose client handle failed left its socket open";
  EXPECT_TRUE(lab::Connection(node, 5000ms).ping());
}

namespace {
/// True while thread `tid` of this process sleeps in futex(2): a condition variable's wait
/// (for the tests below: nothing else it runs sleeps there). A timed wait that a signal
/// interrupted (SIGCHLD: a paused node) sleeps on in restart_syscall(2).
bool in_futex_wait(long tid) {
  const std::string task = "/proc/self/task/" + std::to_string(tid);
  std::ifstream sys(task + "/syscall");
  long nr = -1;
  return sys >> nr && (nr == SYS_futex || nr == SYS_restart_syscall);
}
}  // namespace

namespace {
/// A node in this process, `id`, whose peers are every node of `c`, its replica in `dir`
/// (empty: in memory). Node and store live as long as the process: the node's calls to its
/// peers are detached threads, which may outlast the test.
lab::Node& node_in_process(std::uint32_t id, const Cluster& c, grader::ScaledMs peer_timeout,
                           const std::string& dir = {}) {
  struct Kept {
    Kept(const std::string& dir, lab::NodeConfig cfg) : store(dir), node(std::move(cfg), store) {}
    lab::Store store;
    lab::Node node;
  };
  static std::vector<std::unique_ptr<Kept>> kept;
  lab::NodeConfig cfg{id, {}, peer_timeout};
  for (std::size_t i = 0; i < c.size(); ++i) cfg.peers.push_back({"localhost", c.port(i)});
  kept.push_back(std::make_unique<Kept>(dir, std::move(cfg)));
  return kept.back()->node;
}

/// node.put(client_id, 1, key) on a thread of its own; joined when destroyed.
class PutThread {
 public:
  PutThread(lab::Node& node, std::uint64_t client_id, const std::string& key)
      : thread_([this, &node, client_id, key] {
          tid_ = ::syscall(SYS_gettid);
          try {
            reply_ = node.put(client_id, 1, key, true, "v");
          } catch (const std::exception&) {
            // the log refused the write: this run failed
          }
          done_ = true;
        }) {}
  ~PutThread() { thread_.join(); }
  PutThread(const PutThread&) = delete;
  PutThread& operator=(const PutThread&) = delete;
  /// Asleep in futex(2): waiting for its peers' answers or for another run of its request.
  bool waiting() const { return tid_ != 0 && in_futex_wait(tid_); }
  bool done() const { return done_; }
  /// What put returned (nothing if it threw); once done().
  const std::optional<lab::PutReply>& reply() const { return reply_; }

 private:
  std::atomic<long> tid_{0};
  std::atomic<bool> done_{false};
  std::optional<lab::PutReply> reply_;
  std::thread thread_;  // last: it starts once the rest is there
};

/// While alive, no file of this process may grow (RLIMIT_FSIZE 0, SIGXFSZ ignored): a log
/// refuses every write, so a put run by a node in this process fails with an exception.
class LogsRefused {
 public:
  LogsRefused() {
    ::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    const rlimit none{0, saved_.rlim_max};
    ::setrlimit(RLIMIT_FSIZE, &none);
  }
  ~LogsRefused() { ::setrlimit(RLIMIT_FSIZE, &saved_); }
  LogsRefused(const LogsRefused&) = delete;
  LogsRefused& operator=(const LogsRefused&) = delete;

 private:
  rlimit saved_{};
};
}  // namespace

GRADED_TEST(Hidden, RetryWaitingForARunThatFailsIsWoken, 2,
            "README §Pitfalls 4 — a retry waits for the first run; if that run fails, it runs") {
  Cluster c({.nodes = 2, .data = false});
  // This node's peers are the two nodes (paused: its first run waits in phase 1); its log
  // then refuses every write, so that run fails with an exception.
  lab::Node& node = node_in_process(3, c, grader::scaled(20s), grader::scratch() + "/store");
  c.pause(0);
  c.pause(1);
  const PutThread first(node, 5, "k");
  ASSERT_TRUE(grader::wait_until([&] { return first.waiting(); }, 10'000ms));
  const PutThread retry(node, 5, "k");  // the same request: it waits for the first run
  const bool waiting = grader::wait_until([&] { return retry.waiting(); }, 10'000ms);
  bool first_over = false;
  bool retry_over = false;
  {
    const LogsRefused refused;  // until it goes, neither can the test's report grow
    c.resume(0);                // phase 1 answered: the first run's own store fails
    first_over = grader::wait_until([&] { return first.done(); }, 20'000ms);
    retry_over = grader::wait_until([&] { return retry.done(); }, 20'000ms);
  }
  EXPECT_TRUE(first_over);
  EXPECT_TRUE(retry_over) << "a retry waiting for a run that failed was left waiting (it was "
                          << (waiting ? "" : "not ") << "seen waiting)";
  c.resume(1);
  if (!retry.done()) node.put(6, 1, "other", true, "v");  // a completed put wakes it at last
}

GRADED_TEST(Hidden, FailedRunWakesItsRetryWhileOtherRequestsRetriesWait, 2,
            "README §Pitfalls 4 — wake the retries waiting for it, however it ends") {
  Cluster c({.nodes = 2, .data = false});
  // Request y's first run waits in phase 2 for node 2 (paused) as long as the peer timeout:
  // longer than the test waits for request x.
  lab::Node& node = node_in_process(3, c, grader::scaled(30s), grader::scratch() + "/store");
  c.pause(1);
  const PutThread y_first(node, 6, "y");
  EXPECT_TRUE(grader::wait_until([&] { return node.local_get("y").present; }, 10'000ms));
  const PutThread y_retry(node, 6, "y");
  EXPECT_TRUE(grader::wait_until([&] { return y_retry.waiting(); }, 10'000ms));
  // Request x: its first run waits in phase 1 (both peers paused), then fails; its retry,
  // waiting for it meanwhile as y's retry does for y, must then run.
  c.pause(0);
  const PutThread x_first(node, 5, "x");
  EXPECT_TRUE(grader::wait_until([&] { return x_first.waiting(); }, 10'000ms));
  const PutThread x_retry(node, 5, "x");
  EXPECT_TRUE(grader::wait_until([&] { return x_retry.waiting(); }, 10'000ms));
  bool x_over = false;
  {
    const LogsRefused refused;  // until it goes, neither can the test's report grow
    c.resume(0);  // phase 1 answered: x's first run's own store fails, and so does its retry's
    x_over = grader::wait_until([&] { return x_first.done() && x_retry.done(); }, 10'000ms);
  }
  EXPECT_TRUE(x_over) << "the retry of a run that failed was left waiting while a retry of "
                         "another request waited too (x's first run "
                      << (x_first.done() ? "ended" : "still ran") << ", y's first run "
                      << (y_first.done() ? "ended" : "still ran") << ")";
  c.resume(1);  // y's first run completes, and its retry answers with its reply
  EXPECT_TRUE(grader::wait_until([&] { return y_first.done() && y_retry.done(); }, 20'000ms));
  ASSERT_TRUE(y_first.reply() && y_retry.reply());
  EXPECT_EQ(y_retry.reply()->version, y_first.reply()->version) << "a retry ran again";
}

GRADED_TEST(Hidden, ReadWhoseWriteBackFailsHasNoQuorum, 2,
            "README §The coordinator — get: wait until a majority holds it") {
  Cluster c({.peer_timeout_ms = 500, .log = true});
  ASSERT_NO_FATAL_FAILURE(leave_node3_on_v1(c));
  // Node 3 answers LOCAL_GET (v1), but the STORE of the write-back makes it write its log,
  // which may not grow any more: it dies of SIGXFSZ, and v2 is held by node 1 alone.
  const auto size = std::filesystem::file_size(c.data_dir(2) + "/kv.log");
  rlimit old{};
  ASSERT_EQ(::prlimit(c.proc(2).pid(), RLIMIT_FSIZE, nullptr, &old), 0);
  const rlimit full{static_cast<rlim_t>(size), old.rlim_max};
  ASSERT_EQ(::prlimit(c.proc(2).pid(), RLIMIT_FSIZE, &full, nullptr), 0);
  c.resume(0);
  // Node 2 stays paused: node 1's majority is itself (v2) and node 3 (v1), and v2 never
  // reaches a second node.
  expect_error(c.client(0, {"get", "k"}), 1, "error: no quorum");
  c.kill(2);
  c.resume(1);
}

GRADED_TEST(Hidden, ReadCountsTheReplicasThatAnsweredWithTheNewest, 2,
            "README §The coordinator — get: STORE it back to each that was behind") {
  Cluster c({.data = false, .log = true});
  for (std::size_t i = 0; i < 3; ++i)  // their PULLs over: nothing reaches them but the test
    ASSERT_TRUE(c.proc(i).wait_for_err("caught up from", 20'000ms)) << c.proc(i).err();
  // With this node, a cluster of four: a majority is three. Node 3 is paused, so a read's
  // majority is this node, node 1 and node 2.
  lab::Node& node = node_in_process(4, c, grader::scaled(5s));
  auto store_on = [&](std::size_t i, const lab::Entry& e) {
    EXPECT_TRUE(lab::Connection({"localhost", c.port(i)}, 5000ms).store(e).first);
  };
  const lab::Entry v1 = entry("k", 1, 1, "v1");
  const lab::Entry v2 = entry("k", 2, 2, "v2");
  store_on(0, v2);
  store_on(1, v1);
  node.store(v1);
  c.pause(2);
  {
    // Node 1 holds v2; this node and node 2 are behind, and node 2's STORE fails: v2 can
    // reach this node and node 1 only, two of four.
    const StoresFail fail({c.port(1)});
    const lab::GetReply r = node.get("k");
    EXPECT_EQ(r.status, KV_NO_QUORUM) << "v2 was held by two of four nodes";
  }
  store_on(1, v2);
  node.store(v2);
  {
    // Every replica of the majority answered with v2: a majority holds it already, and no
    // STORE is needed (each would fail).
    const StoresFail fail({c.port(0), c.port(1)});
    const lab::GetReply r = node.get("k");
    EXPECT_EQ(r.status, KV_OK) << "this node, node 1 and node 2 answered with v2, three of four";
    EXPECT_EQ(r.entry.value, "v2");
  }
  c.resume(2);
}

GRADED_TEST(Hidden, DuplicateCacheNeverForgetsARunInProgress, 1,
            "README §The coordinator — put: a request still running is never forgotten") {
  Cluster c({.nodes = 1, .data = false});
  // A node in this process whose one peer is node 1: a majority is both. Every call to
  // node 1 is held, so the first kMaxInFlight puts wait for it; from then on node 1 counts
  // as down at once, and each put is answered KV_NO_QUORUM without a call.
  lab::Node& node = node_in_process(2, c, grader::scaled(600s));
  CallsHeld held(c.port(0));
  std::vector<std::unique_ptr<PutThread>> running;
  for (std::uint64_t id = 100; id < 100 + lab::Node::kMaxInFlight; ++id)
    running.push_back(std::make_unique<PutThread>(node, id, "k"));
  ASSERT_TRUE(grader::wait_until(
      [&] { return held.waiting() == static_cast<std::size_t>(lab::Node::kMaxInFlight); },
      10'000ms))
      << "the first puts did not all call node 1";
  // 100 000 requests after them, all answered: the running ones are older than the last
  // 100 000 now, but still running, and a retry of one must wait for its run.
  for (std::uint64_t r = 1; r <= 100'000; ++r)
    ASSERT_EQ(node.put(1, r, "x", true, "").status, KV_NO_QUORUM) << "request " << r;
  const PutThread retry(node, 100, "k");  // the first of the running ones, again
  ASSERT_TRUE(grader::wait_until([&] { return retry.waiting() || retry.done(); }, 10'000ms));
  held.release();  // node 1 answers: every run completes
  ASSERT_TRUE(grader::wait_until(
      [&] {
        return retry.done() &&
               std::all_of(running.begin(), running.end(), [](const auto& p) { return p->done(); });
      },
      20'000ms));
  ASSERT_TRUE(running.front()->reply() && retry.reply());
  EXPECT_EQ(running.front()->reply()->status, KV_OK);
  EXPECT_EQ(retry.reply()->status, KV_OK)
      << "a retry of a request still running, older than the last 100 000, did not wait for "
         "its run";
  EXPECT_EQ(retry.reply()->version, running.front()->reply()->version)
      << "a request still running was forgotten: its retry ran it a second time";
}

GRADED_TEST(Hidden, CatchUpStoresEveryEntryOfEveryPeer, 1,
            "README §The coordinator — catch_up: PULL from each peer, store every entry") {
  Cluster c({.nodes = 1, .data = false});
  lab::Connection conn({"localhost", c.port(0)}, 5000ms);
  for (const char* k : {"a", "b", "c"}) EXPECT_TRUE(conn.store(entry(k, 1, 1, k)).first);
  EXPECT_EQ(conn.pull().size(), 3U) << "PULL: every entry the replica holds";
  lab::Store store;  // in memory: a node whose peers are that node and one that is down
  lab::Node node(
      lab::NodeConfig{2, {{"localhost", c.port(0)}, {"localhost", lab::free_ports(1).front()}}},
      store);
  EXPECT_EQ(node.catch_up(), 1U) << "peers that answered";
  EXPECT_EQ(store.all().size(), 3U);
  for (const char* k : {"a", "b", "c"}) EXPECT_EQ(store.get(k), entry(k, 1, 1, k));
}

// connect() made to complete at once, for the test below: POSIX lets a non-blocking
// connect succeed immediately (0) instead of EINPROGRESS; Linux on loopback never does.
namespace {
std::atomic<bool> connect_at_once{false};
}  // namespace

extern "C" int connect(int fd, const sockaddr* addr, socklen_t len) {
  using Fn = int (*)(int, const sockaddr*, socklen_t);
  static const auto real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "connect"));
  const int rc = real(fd, addr, len);
  if (rc == 0 || errno != EINPROGRESS || !connect_at_once) return rc;
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, 5000) != 1) return rc;
  int err = 0;
  socklen_t err_len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0 || err != 0) {
    errno = err;
    return -1;
  }
  return 0;
}

GRADED_TEST(Hidden, ConnectThatSucceedsAtOnce, 1,
            "README §The client — a non-blocking connect may also succeed at once") {
  Cluster c({.nodes = 1, .data = false});
  connect_at_once = true;
  bool answered = false;
  try {
    answered = lab::Connection({"localhost", c.port(0)}, 5000ms).ping();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "connect returned 0 at once: " << e.what();
  }
  connect_at_once = false;
  EXPECT_TRUE(answered);
}
