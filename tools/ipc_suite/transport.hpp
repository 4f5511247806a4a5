// ipc_suite: one transport interface over every mechanism the kit implements, so that one
// driver (run.cpp) measures and stress-tests them all the same way.
//
// The life of a link (run.cpp does this for every benchmark cell and every stress run):
//
//   supervisor                       side A (producer i)            side B (consumer)
//   link = adapter.setup(params)     (forked)                        (forked)
//     creates every named object     ep = link.open(kA, i)           ep = link.open(kB, 0)
//                                    ep.send(msg) ...                ep.recv(buf) ...
//   waits for both, or a signal      _exit                           _exit
//   link.reset(): removes them all (teardown; also after SIGINT/SIGTERM or a stall)
//
// Every message is one of lab 06's verified messages (message.hpp): sequence number,
// checksum, a body that depends on the sequence number. A link carries messages of exactly
// params.msg_size bytes; an endpoint never looks inside them (the driver verifies).
//
// Adding a mechanism is one file: a class deriving from Adapter,
// a make_*_adapter() function, its line in adapters.cpp and in meson.build.
#pragma once

#include <cstddef>      // std::size_t, std::byte
#include <memory>       // std::unique_ptr
#include <span>         // std::span
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

namespace ipclab::suite {

/// Which end of a link a process holds. A sends (the stream, the pings; in a stress run
/// every producer is an A), B receives (and echoes the pings back).
enum class Side { kA, kB };

/// What a mechanism supports.
struct Caps {
  std::size_t min_size = 16;         ///< smallest message (the 16-byte header)
  std::size_t max_size = 16 << 20;   ///< largest message it carries
  bool multi_producer = false;       ///< several A's into one B, each message kept whole
  bool cross_process = true;         ///< the two sides may be unrelated processes
  bool boundaries = true;            ///< keeps message boundaries (no framing needed)
  bool request_reply = false;        ///< B is a server the link runs: no B is forked; A's
                                     ///< recv() returns the reply to its last send()
  std::size_t max_stream_bytes = 0;  ///< a cap on the bytes of one stream (0: none),
                                     ///< for a mechanism that keeps every message (a file)
  std::string limit_source;          ///< where max_size comes from, for skip messages
  bool kernel_synchronized = true;   ///< the kernel keeps the messages and does the waiting
                                     ///< (false: a shared-memory protocol of the kit's own)
  bool cross_host = false;           ///< reaches another machine as it is
  /// For the report's trade-offs table, a few words each: how long the object and its
  /// data live, how the other side finds it, what a full or empty side does.
  struct TradeOffs {
    std::string persistence, naming, blocking;
  } trade_offs;
};

/// What the supervisor asks for.
struct LinkParams {
  std::size_t msg_size = 1024;
  int producers = 1;  ///< the number of A's (1 unless caps().multi_producer)
  int cpu_b = -1;     ///< B's CPU (-1: unpinned), for a link that runs B itself (a server)
};

/// One process's end of a link.
class Endpoint {
 public:
  Endpoint() = default;
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  virtual ~Endpoint() = default;

  /// Sends one message (msg_size bytes) to the other side; blocks while the link is full.
  virtual void send(std::span<const std::byte> msg) = 0;
  /// Receives the next message (fills buf, msg_size bytes); blocks while there is none.
  /// B of a multi-producer link receives from every producer, in arrival order.
  /// Throws OperationFailed when the other side is gone (end of file).
  virtual void recv(std::span<std::byte> buf) = 0;
};

/// The IPC objects of one link. The destructor is the teardown: it removes every named
/// object setup() created (it runs only in the supervisor; the sides leave with _exit).
class Link {
 public:
  Link() = default;
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  virtual ~Link() = default;

  /// In a forked side: its end. `index` is the producer's number (0 for B). May block until
  /// the other side opens too (a FIFO, an accept).
  virtual std::unique_ptr<Endpoint> open(Side side, int index) = 0;
};

class Adapter {
 public:
  Adapter() = default;
  Adapter(const Adapter&) = delete;
  Adapter& operator=(const Adapter&) = delete;
  virtual ~Adapter() = default;

  /// The name in tables, files and on the command line: [a-z0-9_]+.
  virtual std::string_view name() const = 0;
  /// One line: what it is, and which lab it comes from.
  virtual std::string_view description() const = 0;
  virtual Caps caps() const = 0;
  /// Empty when it can run on this machine; otherwise why not (a row says "skipped: ...").
  virtual std::string unavailable() const { return {}; }
  /// Creates the link's objects, named through ipclab::names (under a name unique to this
  /// process and call). If it fails halfway, what it created is removed before it throws.
  virtual std::unique_ptr<Link> setup(const LinkParams& params) = 0;
};

/// Every adapter, in table order (adapters.cpp).
std::vector<std::unique_ptr<Adapter>> all_adapters();

/// A base name unique to this process and call: "suite-<pid>-<n>-<what>", for
/// names::posix / names::path / names::sysv_key.
std::string object_name(std::string_view what);

// The adapters (one file each family): see adapters.cpp.
std::unique_ptr<Adapter> make_lab06_adapter(
    std::string_view name);  // pipe fifo posix_mq sysv_mq shm_sem
std::unique_ptr<Adapter> make_unix_stream_adapter();
std::unique_ptr<Adapter> make_unix_dgram_adapter();
std::unique_ptr<Adapter> make_socketpair_adapter();
std::unique_ptr<Adapter> make_tcp_adapter();
std::unique_ptr<Adapter> make_ring_adapter();
std::unique_ptr<Adapter> make_spsc_adapter();
std::unique_ptr<Adapter> make_sysv_shm_adapter();
std::unique_ptr<Adapter> make_mmap_file_adapter();
std::unique_ptr<Adapter> make_rpc_adapter();
std::unique_ptr<Adapter> make_hub_adapter(
    std::string_view backend);  // lab 20's backends: socket fifo mqueue shm pipe

}  // namespace ipclab::suite
