// Lab 05 — a System V message-queue server for many clients, after Stevens UNP2 6.8: ONE
// queue; requests carry mtype 1, and each reply carries mtype = the client's pid, so every
// client reads only its own replies. You write the server (src/server.cpp) and the client
// call (src/client.cpp); the wire format below and the programs in main/ are given.
#pragma once

#include <sys/types.h>  // key_t, pid_t

#include <chrono>       // std::chrono::milliseconds
#include <cstddef>      // std::size_t
#include <cstdint>      // std::int32_t, std::uint32_t, std::uint64_t
#include <cstring>      // std::memcpy
#include <functional>   // std::function
#include <memory>       // std::unique_ptr
#include <optional>     // std::optional
#include <stdexcept>    // std::runtime_error
#include <string>       // std::string
#include <string_view>  // std::string_view

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // ipclab::UsageError
#include "ipclab/names.hpp"  // ipclab::names::sysv_key

namespace ipclab::lab05 {

// ---- the protocol (given) --------------------------------------------------------------

/// Requests carry this mtype. No client can have it as its pid: pid 1 is init.
inline constexpr long kRequestType = 1;
/// The largest request payload, in bytes. A reply is the payload plus kSuffix, so both
/// directions stay far below the kernel's per-message limit MSGMAX (8192 bytes by default,
/// /proc/sys/kernel/msgmax), and a default queue (MSGMNB 16384 bytes) holds several.
inline constexpr std::size_t kMaxPayload = 4096;
/// What the server appends: "HELLO" -> "HELLO_PROCESSED".
inline constexpr std::string_view kSuffix = "_PROCESSED";
/// The name behind the default key: ftok(<rundir>/sysv_server.key, 'I').
inline constexpr std::string_view kKeyName = "sysv_server";

/// A request's body (the mtext after mtype 1): this header, then the payload bytes.
/// Host byte order: both ends run on one machine.
struct RequestHeader {
  std::int32_t pid;     // the client's pid: the mtype of the reply
  std::uint32_t nonce;  // echoed in the reply, so a client can tell its reply from a stale one
};
/// A reply's body (the mtext after mtype = pid): this header, then the reply payload.
struct ReplyHeader {
  std::uint32_t nonce;  // the request's nonce
};

inline constexpr std::size_t kMaxRequestBody = sizeof(RequestHeader) + kMaxPayload;
inline constexpr std::size_t kMaxReplyBody = sizeof(ReplyHeader) + kMaxPayload + kSuffix.size();

struct Request {
  pid_t pid = 0;
  std::uint32_t nonce = 0;
  std::string payload;
};

struct Reply {
  std::uint32_t nonce = 0;
  std::string payload;
};

inline std::string encode_request(pid_t pid, std::uint32_t nonce, std::string_view payload) {
  const RequestHeader h{static_cast<std::int32_t>(pid), nonce};
  std::string body(sizeof h, '\0');
  std::memcpy(body.data(), &h, sizeof h);
  body.append(payload);
  return body;
}

/// nullopt if the body is too short to hold a header.
inline std::optional<Request> decode_request(std::string_view body) {
  if (body.size() < sizeof(RequestHeader)) return std::nullopt;
  RequestHeader h{};
  std::memcpy(&h, body.data(), sizeof h);
  return Request{h.pid, h.nonce, std::string(body.substr(sizeof h))};
}

inline std::string encode_reply(std::uint32_t nonce, std::string_view payload) {
  const ReplyHeader h{nonce};
  std::string body(sizeof h, '\0');
  std::memcpy(body.data(), &h, sizeof h);
  body.append(payload);
  return body;
}

inline std::optional<Reply> decode_reply(std::string_view body) {
  if (body.size() < sizeof(ReplyHeader)) return std::nullopt;
  ReplyHeader h{};
  std::memcpy(&h, body.data(), sizeof h);
  return Reply{h.nonce, std::string(body.substr(sizeof h))};
}

/// The service itself: "HELLO" -> "HELLO_PROCESSED".
inline std::string process(std::string_view payload) {
  return std::string(payload) + std::string(kSuffix);
}

/// The key both programs use unless --key says otherwise.
inline key_t default_key() { return names::sysv_key(kKeyName); }

/// Parses a --key value: decimal or 0x-hex, not 0 (IPC_PRIVATE), at most 32 bits.
inline key_t parse_key(const std::string& text) {
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &used, 0);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || text[0] == '-' || v == 0 || v > 0xffffffffULL)
    throw UsageError(fmt::format("--key {}: give a non-zero 32-bit key, e.g. 0x51a0c0de", text));
  return static_cast<key_t>(static_cast<std::uint32_t>(v));
}

/// The client's error when nobody answers: no queue, the queue was removed while it
/// waited, the queue stayed full, or no reply came in time. Exit code 3.
class ServerNotRunning : public std::runtime_error {
 public:
  explicit ServerNotRunning(const std::string& why)
      : std::runtime_error("server not running: " + why) {}
};

// ---- the server (you write it, in src/server.cpp) --------------------------------------

/// What start() found: a queue that no live server owned.
struct StaleQueue {
  int id = -1;
  std::size_t messages = 0;  // how many messages it still held
};

struct ServeStats {
  std::uint64_t served = 0;     // replies sent (or queued to send)
  std::uint64_t malformed = 0;  // requests dropped: too short, too long, or a bad pid
  std::uint64_t orphaned = 0;   // replies dropped because their client had died
};

/// How often serve() wakes up when nothing arrives, to look at stop() and collect orphans.
inline constexpr std::chrono::milliseconds kTick{100};

class Server {
 public:
  /**
   * @brief Becomes THE server for `key`: takes the live-server lock, purges a stale queue,
   *        creates a fresh one.
   *
   * The lock is the single-instance lock ipclab::InstanceLock::acquire(
   * "sysv_server.<key in 8 hex digits>"), an fcntl lock on the file
   * <rundir>/sysv_server.<key in hex>.lock, held for the Server's lifetime (the kernel
   * drops it when the process dies, even by SIGKILL; a clean end removes the file). If
   * another process holds it, a live server owns the key: leave its queue alone and throw.
   * Holding the lock, a queue that already exists for `key` is stale (its server died
   * without IPC_RMID): remove it, remember its id and message count (stale()), and create
   * a new queue (IPC_CREAT | IPC_EXCL, mode 0600).
   *
   * @throws ipclab::OperationFailed if a live server holds the lock (message names its pid)
   * @throws ipclab::SysError if a system call fails
   *
   * TODO(lab05): implement in src/server.cpp.
   */
  static Server start(key_t key);

  /// Moving hands the queue and the lock over; move assignment first removes the queue
  /// (and releases the lock) the target held, as its destructor would.
  Server(Server&&) noexcept;
  Server& operator=(Server&&) noexcept;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  /// Removes the queue (as remove()) and releases the lock (removing its file). Never
  /// throws.
  ~Server();

  /// The queue's id (msqid).
  int queue_id() const;
  /// The stale queue start() removed, if there was one.
  std::optional<StaleQueue> stale() const;

  /**
   * @brief Serves requests until stop() returns true; returns within about kTick of that.
   *
   * Receives mtype kRequestType (1) and answers each valid request with
   * encode_reply(nonce, process(payload)) as mtype = the request's pid. A request shorter
   * than RequestHeader, longer than kMaxRequestBody, or naming a pid <= 1 is dropped and
   * counted (a reply of mtype 1 would come back as a request). serve() never blocks on a
   * full queue: replies that do not fit wait in the server until they do. Replies whose
   * client has died are dropped, and once a client that got a reply has died, every message
   * of its mtype (its replies, whatever their length) is taken back out of the queue (at
   * least once a kTick), so the queue cannot fill with orphans. SIGINT/SIGTERM
   * (ipclab::ShutdownSignals) must make it return promptly.
   *
   * @param stop  polled between messages and after every interruption
   * @throws ipclab::SysError if the queue vanishes under it (removed by someone else) or a
   *         system call fails
   *
   * TODO(lab05): implement in src/server.cpp.
   */
  ServeStats serve(const std::function<bool()>& stop);

  /// IPC_RMID on the queue; false if it was already gone. Idempotent.
  bool remove();

  /// The server's state, defined in src/server.cpp: yours to design. (Public only so that
  /// helper functions there can name it; nothing outside that file can use it.)
  struct State;

 private:
  explicit Server(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

// ---- the client (you write it, in src/client.cpp) --------------------------------------

/**
 * @brief Sends `payload` to the server at `key` and returns its reply payload.
 *
 * Waits up to `timeout` in all: for the queue to exist (the server may be starting), for
 * room in a full queue, and for the reply (mtype = getpid(), with this request's nonce;
 * a reply with another nonce is stale, left over from an earlier call or an earlier
 * process with this pid: discard it and keep waiting). Never blocks longer than
 * `timeout`; if the queue is removed while waiting (or replaced by a new server's queue
 * under the same key), fails at once. One call at a time
 * per process: replies are addressed to the pid, not to a thread.
 *
 * @throws ipclab::UsageError if payload is longer than kMaxPayload (before any IPC)
 * @throws ServerNotRunning on no queue, queue removed, queue full or no reply in time
 * @throws ipclab::SysError on any other system-call failure
 *
 * TODO(lab05): implement in src/client.cpp.
 */
std::string call(key_t key, std::string_view payload, std::chrono::milliseconds timeout);

}  // namespace ipclab::lab05
