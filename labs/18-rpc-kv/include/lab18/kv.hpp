// Lab 18 — a replicated key-value store over Sun RPC (Stevens UNP2 ch. 16; XDR, RFC 4506;
// the quorum protocol is Attiya, Bar-Noy and Dolev's "ABD", multi-writer form): three
// nodes (or any number) on TCP ports of their own, each keeping a full replica of the data
// in an fsync'd append-only log. A write is stamped with a per-key version and stored by a
// majority before it is acknowledged; a read asks a majority, returns the newest version
// and writes it back to the replicas that were behind. A node that restarts catches up
// from its peers. Same-host clients may read hot keys from a shared-memory cache.
//
// You write the replica (src/store.cpp: the versioned map, the log, its replay), the
// coordinator (src/node.cpp: quorum writes and reads, the write-back, retried request ids,
// catch-up) and the client side (src/client.cpp: a client handle to host:port and the
// calls). Given (given/, main/): the threaded RPC server that decodes calls and runs your
// coordinator, the conversions between these types and rpcgen's, the shared-memory cache,
// and the programs kv_server and kv_client. kv.x and rpcgen's output are given.
#pragma once

#include <chrono>              // std::chrono::milliseconds
#include <condition_variable>  // std::condition_variable
#include <cstddef>             // std::size_t
#include <cstdint>             // std::uint32_t, std::uint64_t
#include <deque>               // std::deque
#include <functional>          // std::function
#include <map>                 // std::map
#include <memory>              // std::unique_ptr
#include <mutex>               // std::mutex
#include <optional>            // std::optional
#include <stdexcept>           // std::runtime_error
#include <string>              // std::string
#include <string_view>         // std::string_view
#include <utility>             // std::pair
#include <vector>              // std::vector

#include "ipclab/fd.hpp"  // ipclab::Fd

#include "kv.h"  // rpcgen's output (build directory): kv_entry, kv_put_args, the stubs

namespace ipclab::lab18 {

// ---- versions and entries (given) ----------------------------------------------------------

/// The version of one key's value: compared by counter, then by the id of the node that
/// took the write. {0, 0} is "never written".
struct Version {
  std::uint64_t counter = 0;
  std::uint32_t node = 0;
  // NOLINTNEXTLINE(modernize-use-nullptr): a defaulted <=> compares with the literal 0
  friend auto operator<=>(const Version&, const Version&) = default;
};

/// One key's value as a replica holds it. present = false: deleted (a tombstone, which has
/// a version like any write) or never written (version {0, 0}).
struct Entry {
  std::string key;
  Version version;
  bool present = false;
  std::string value;
  friend bool operator==(const Entry&, const Entry&) = default;
};

/// "host:port" of a node.
struct Address {
  std::string host;
  int port = 0;
  std::string str() const { return host + ":" + std::to_string(port); }
};
/// "localhost:9001" → {localhost, 9001}; UsageError for anything else (the port goes
/// through ipclab::parse_integer, 1 to 65535).
Address parse_address(std::string_view text);
/// "localhost:9002,localhost:9003" → two addresses (empty text: none).
std::vector<Address> parse_addresses(std::string_view text);
/// n distinct free TCP ports on loopback: each bound to port 0 and read back, all held
/// until the last is chosen, then released for servers to take (another process may take
/// one first: a server that then fails with EADDRINUSE is started again on new ones).
std::vector<int> free_ports(std::size_t n);

// Between these types and rpcgen's (given/wire.cpp). The XDR structs a to_xdr fills point
// into `e`'s strings: keep `e` alive and unchanged while they are in use.
kv_entry to_xdr(const Entry& e);
Entry from_xdr(const kv_entry& e);
kv_version to_xdr(Version v);
Version from_xdr(kv_version v);

// ---- the replica (src/store.cpp) -----------------------------------------------------------

/**
 * @brief One node's copy of the data: a map from key to its newest Entry and, with a data
 * directory, an append-only log of every entry it stored (DIR/kv.log), fsync'd before
 * apply() returns. Thread-safe.
 *
 * The log is the truth: the map is rebuilt from it when the node starts, so a node killed
 * with -9 restarts holding everything it acknowledged. A record is its length, a checksum
 * and the entry; a record cut short by a crash (the last one, never fsync'd, so never
 * acknowledged) is dropped at replay, and the file truncated there before appending.
 */
class Store {
 public:
  /// dir empty: in memory only (a restart forgets everything). Else creates dir if needed
  /// and replays DIR/kv.log. Throws SysError when the log cannot be opened or written.
  /// TODO(lab18): implement in src/store.cpp.
  explicit Store(std::string dir = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// The entry of `key`: {key, {0, 0}, false, ""} if this replica never saw it.
  /// TODO(lab18): implement in src/store.cpp.
  Entry get(const std::string& key) const;

  /// Keeps `e` if its version is newer than the replica's (appending it to the log and
  /// fsync'ing before the map changes); an older or equal version changes nothing.
  /// Returns true if stored.
  /// TODO(lab18): implement in src/store.cpp.
  bool apply(const Entry& e);

  /// Every entry (catch-up: what PULL sends), in key order.
  /// TODO(lab18): implement in src/store.cpp.
  std::vector<Entry> all() const;

  /// The log's path ("" in memory).
  std::string log_path() const;

 private:
  std::string dir_;
  ipclab::Fd log_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> map_;
};

// ---- a client handle to one node (src/client.cpp) -----------------------------------------

/// No answer: the node is down, or hung, or not a kv_server. Exit 3 in kv_client.
class NetworkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What a PUT or DEL came back with (KV_OK, or KV_NO_QUORUM with how many answered).
struct PutReply {
  kv_status status = KV_NO_QUORUM;
  unsigned acks = 0;
  unsigned nodes = 0;
  Version version;
};

/// What a GET came back with.
struct GetReply {
  kv_status status = KV_NO_QUORUM;
  unsigned acks = 0;
  unsigned nodes = 0;
  Entry entry;
};

/**
 * @brief An RPC client handle to the kv_server at `addr`, over TCP straight to its port
 * (clnt_tli_create or clnt_vc_create on the address: no rpcbind), with `timeout` for the
 * connection and each call (CLSET_TIMEOUT). Not thread-safe: one caller at a time.
 *
 * A call that fails throws NetworkError naming the address and clnt_sperror's text; the
 * handle is then broken (destroy it, make a new one: TCP has no retries of its own).
 */
class Connection {
 public:
  /// @throws NetworkError when the node cannot be reached.
  /// TODO(lab18): implement in src/client.cpp.
  Connection(const Address& addr, std::chrono::milliseconds timeout);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// PUT (present = true) or DEL (present = false) with the client's ids.
  /// TODO(lab18): implement in src/client.cpp (each one: the stub, the failure, the
  /// conversion from rpcgen's result, xdr_free of what XDR allocated).
  PutReply put(std::uint64_t client_id, std::uint64_t request_id, const std::string& key,
               bool present, const std::string& value);
  GetReply get(const std::string& key);
  /// The peer procedures.
  Entry local_get(const std::string& key);
  /// STORE: {stored, the replica's version now}.
  std::pair<bool, Version> store(const Entry& e);
  std::vector<Entry> pull();
  /// The null procedure: true if the node answers.
  bool ping();

  const Address& address() const { return addr_; }

 private:
  Address addr_;
  CLIENT* clnt_ = nullptr;
};

// ---- the coordinator (src/node.cpp) --------------------------------------------------------

struct NodeConfig {
  std::uint32_t id = 1;
  std::vector<Address> peers;  ///< every other node of the cluster
  /// A peer that has not answered within this is counted as down for that request.
  std::chrono::milliseconds peer_timeout{1000};
};

/// The shared-memory cache's side the node sees (given/cache.cpp implements it).
class ReadCache;

/**
 * @brief One node: its replica, its peers, and the two quorum operations. The RPC server
 * (given) calls these from a thread per connection, so they run concurrently: a node that
 * waits for its peers answers them meanwhile.
 *
 * The cluster has peers.size() + 1 nodes; a majority is half of them plus one, and this
 * node counts as one when its own replica answers.
 */
class Node {
 public:
  Node(NodeConfig cfg, Store& store, ReadCache* cache = nullptr);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  std::size_t nodes() const { return cfg_.peers.size() + 1; }
  std::size_t majority() const { return nodes() / 2 + 1; }

  /**
   * @brief A write (present = false: a delete), ABD's two phases:
   *   1. ask every replica (this one and the peers, in parallel) for its version of the
   *      key; with fewer than a majority answering, KV_NO_QUORUM and nothing is written;
   *   2. stamp the write {highest counter seen + 1, this node's id} — above every counter
   *      this node stamped before, so that two writes it coordinates at once never share a
   *      version — store it here and send
   *      it (STORE) to every peer in parallel; KV_OK once a majority holds it (a replica
   *      that answers with a version at least as new counts), after every peer answered or
   *      the peer timeout passed, with acks = how many hold it.
   * A request id seen before (client_id, request_id) is answered with the first reply,
   * never executed again; a retry that arrives while the first is running waits for it.
   * The node remembers the last 100 000 requests: an older one is forgotten, and runs again
   * (but never one still running: its retry waits for it, however many requests came since).
   * TODO(lab18): implement in src/node.cpp.
   */
  PutReply put(std::uint64_t client_id, std::uint64_t request_id, const std::string& key,
               bool present, const std::string& value);

  /**
   * @brief A read: ask every replica in parallel; once a majority answered, take the
   * highest version among them, write it back (STORE) to each of those that was behind and
   * wait until a majority holds it (one that answered with that version holds it already:
   * it counts, and is sent no STORE); then KV_OK with that entry. Fewer than a majority:
   * KV_NO_QUORUM. Fills the read cache with what it returns.
   * TODO(lab18): implement in src/node.cpp.
   */
  GetReply get(const std::string& key);

  /// LOCAL_GET, STORE and PULL: this replica only (STORE invalidates the cache's entry).
  /// TODO(lab18): implement in src/node.cpp.
  Entry local_get(const std::string& key);
  std::pair<bool, Version> store(const Entry& e);
  std::vector<Entry> pull();

  /**
   * @brief Catch-up after a (re)start: PULL from each peer and apply every entry newer than
   * this replica's. Returns how many peers answered.
   * TODO(lab18): implement in src/node.cpp.
   */
  std::size_t catch_up();

  /**
   * @brief One call to peer i (0-based, in cfg.peers order) on a pooled connection: an idle
   * one, else a new one. A reused connection that turns out broken (the peer restarted) is
   * replaced once; a failed one is destroyed. At most kMaxInFlight calls wait on one peer:
   * beyond, the peer counts as down at once (a hung peer must not pile up threads).
   * @throws NetworkError
   * Given (given/peers.cpp): use it for every call to a peer.
   */
  void with_peer(std::size_t i, const std::function<void(Connection&)>& call);
  static constexpr int kMaxInFlight = 8;

  const NodeConfig& config() const { return cfg_; }

 private:
  NodeConfig cfg_;
  Store& store_;
  ReadCache* cache_;
  std::mutex pool_mu_;
  std::vector<std::vector<std::unique_ptr<Connection>>> pool_;  // idle connections per peer
  std::vector<int> in_flight_;                                  // calls waiting per peer
  // The duplicate-request cache: replies by (client id, request id), oldest out first.
  std::mutex drc_mu_;
  std::condition_variable drc_cv_;
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::optional<PutReply>> drc_;
  std::deque<std::pair<std::uint64_t, std::uint64_t>> drc_order_;
  // The last counter this node stamped: two writes it coordinates at once must not get the
  // same version (same counter, same node id) with different values.
  std::mutex stamp_mu_;
  std::uint64_t last_counter_ = 0;
};

// ---- the shared-memory read cache (given/cache.cpp) ----------------------------------------

/**
 * @brief Hot keys of one node, in a POSIX shared-memory table (names::posix("kv-cache.
 * <port>")) guarded by a named semaphore (names::posix("kv-cache.<port>.lock")) used as a
 * process-shared mutex. The node fills it with what its reads return and invalidates a key
 * on every write it sees; a kv_client on the same host reads it without any RPC (--cached).
 *
 * What it gives up: a node that missed a write (it was partitioned, or slow) still holds
 * the old value, so a cached read is not linearizable (README, the consistency model).
 */
class ReadCache {
 public:
  static constexpr std::size_t kSlots = 1024;
  static constexpr std::size_t kMaxKey = 255;
  static constexpr std::size_t kMaxValue = 1024;  ///< larger values are not cached

  /// The node's side: creates the table for its port (replacing one a killed node left).
  static std::unique_ptr<ReadCache> create(int port);
  /// A client's side: opens the node's table, or nullptr if there is none.
  static std::unique_ptr<ReadCache> open(int port);
  /// Removes the table and its semaphore (SIGTERM, or what a killed node left). True if
  /// something was there.
  static bool remove(int port);
  ~ReadCache();
  ReadCache(const ReadCache&) = delete;
  ReadCache& operator=(const ReadCache&) = delete;

  /// The value of `key` if cached (present or deleted); nullopt on a miss.
  std::optional<Entry> lookup(const std::string& key);
  /// Caches `e` (what a read returned) unless `store` holds a newer version by now: read
  /// under the lock, so a write stored meanwhile (whose invalidate() waits for the lock)
  /// is never overwritten by the older value.
  void fill(const Entry& e, const Store& store);
  /// Drops `key` (a write the node saw).
  void invalidate(const std::string& key);

 private:
  struct Impl;
  explicit ReadCache(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- the server (given/server.cpp) ---------------------------------------------------------

/**
 * @brief Serves KV_PROG on a TCP port (no rpcbind: clients and peers call the port): one
 * thread per connection decodes each call (xdr_callmsg and rpcgen's XDR routines over an
 * xdrrec stream), runs it on `node` and sends the reply. TI-RPC's own server loop is
 * single-threaded, and a node that waits for its peers must answer them meanwhile.
 */
class TcpServer {
 public:
  /// Binds 0.0.0.0:port (SO_REUSEADDR) and listens. Throws SysError (EADDRINUSE...).
  explicit TcpServer(int port);
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;
  /// Accepts and serves `node` until `stop_fd` is readable. The connections' threads are
  /// not waited for: kv_server ends with _exit once it has cleaned up.
  void run(Node& node, int stop_fd);

 private:
  int listen_fd_ = -1;
};

}  // namespace ipclab::lab18
