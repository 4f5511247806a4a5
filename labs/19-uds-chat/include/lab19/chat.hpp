// Lab 19 — a chat server on a Unix-domain socket that no client can block or kill: one
// thread, non-blocking sockets, one poll(2) loop, newline-delimited UTF-8, a bounded output
// buffer per client. You write the framing (src/framing.cpp), the server (src/server.cpp)
// and the client (src/client.cpp); the programs in main/ are given.
//
// The protocol (README §Protocol): every line ends in '\n'. From a client, a line is a
// message for all the others, or a command:
//   /name NEW   rename (NEW: 1-32 of A-Z a-z 0-9 _ -)     /who   list who is here
//   /quit       leave                                       //text  sends "/text" literally
// From the server, a line is one of
//   [NAME] TEXT      a message from NAME            (never sent back to NAME)
//   * ...            a notice:
//       * welcome NAME (uid U, pid P); commands: /name NEW, /who, /quit   (to a newcomer)
//       * NAME joined | * NAME left | * NAME dropped (not reading) | * OLD is now NEW
//       * you are now NEW | * bye | * server shutting down
//       * who: NAME(uid=U,pid=P) NAME(uid=U,pid=P) ...       (everyone, in order of arrival)
//   ! error: ...     an error about your last line or your connection:
//       line too long (max N bytes) | line is not valid UTF-8 | name NEW is taken |
//       bad name (use 1-32 of A-Z a-z 0-9 _ -) | unknown command /X (...) |
//       uid U is not allowed
// A newcomer is named guestN. Empty lines are ignored.
#pragma once

#include <sys/types.h>  // uid_t

#include <cstddef>      // std::size_t
#include <cstdio>       // FILE
#include <deque>        // std::deque
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view

namespace ipclab::lab19 {

/// The longest line a client may send, in bytes, not counting the '\n'.
inline constexpr std::size_t kMaxLine = 4096;
/// The default cap on bytes waiting to be written to one client (its output buffer).
inline constexpr std::size_t kDefaultMaxPending = std::size_t{64} * 1024;

/// True if `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above
/// U+10FFFF, no truncated sequence). TODO(lab19): implement in src/framing.cpp.
bool valid_utf8(std::string_view s);

/// True if `name` is a valid chat name: 1 to 32 characters of A-Z a-z 0-9 _ -.
/// TODO(lab19): implement in src/framing.cpp.
bool valid_name(std::string_view name);

/// One line cut from a byte stream.
struct Line {
  std::string text;       ///< without the '\n'; empty when too_long
  bool too_long = false;  ///< the line passed the limit: its bytes were discarded
};

/**
 * @brief Cuts a byte stream into '\n'-terminated lines, holding at most `max_line` bytes of
 * an unfinished line.
 *
 * A line of more than `max_line` bytes (not counting '\n') is reported once, as
 * {"", too_long = true}, as soon as the limit is passed — not when its '\n' finally
 * comes — and every byte up to and including its '\n' is discarded. So memory stays
 * bounded whatever the peer sends. Bytes after the last '\n' are an unfinished line: they
 * wait in the reader for more input (pending() counts them) and are simply dropped with
 * the reader if the peer goes away mid-line.
 *
 * TODO(lab19): implement in src/framing.cpp.
 */
class LineReader {
 public:
  explicit LineReader(std::size_t max_line = kMaxLine) : max_line_(max_line) {}
  /// Appends bytes as read from the peer; complete lines become available to next().
  void feed(std::string_view data);
  /// The next complete (or too-long) line, oldest first; nullopt if there is none yet.
  std::optional<Line> next();
  /// Bytes of the unfinished line held (0 while discarding a too-long line).
  std::size_t pending() const;

 private:
  // The state (given, since this header is shared): the unfinished line, whether the
  // rest of a too-long line is being discarded, and the lines ready for next().
  std::size_t max_line_;
  std::string partial_;
  bool discarding_ = false;
  std::deque<Line> ready_;
};

/**
 * @brief The bytes waiting to be written to one peer, at most `cap` of them.
 *
 * push() refuses (returns false, appends nothing) a chunk that would take the buffer past
 * its cap: the caller decides what to do with a peer that does not read (the server
 * drops it). flush() writes what the socket accepts *now* and never blocks.
 *
 * TODO(lab19): implement in src/framing.cpp.
 */
class OutBuffer {
 public:
  explicit OutBuffer(std::size_t cap = kDefaultMaxPending) : cap_(cap) {}
  /// Appends all of `data`, or nothing and returns false if size() + data.size() > cap.
  /// The storage stays within a small multiple of cap however long the client lags behind
  /// without catching up: the written front is reclaimed (README §Pitfalls 2).
  bool push(std::string_view data);
  /// Bytes still to write.
  std::size_t size() const;
  bool empty() const { return size() == 0; }
  /**
   * Writes as much as the socket takes without blocking: send(2) with MSG_DONTWAIT and
   * MSG_NOSIGNAL (a vanished peer must give EPIPE, never SIGPIPE), repeated until the
   * buffer is empty or the socket is full (EAGAIN). Retries EINTR.
   * @return 0 if all went or the socket is full for now; otherwise the errno that ended
   *         the connection (EPIPE, ECONNRESET, ...), leaving the unsent bytes in place.
   */
  int flush(int sock);

 private:
  // The state (given): the bytes, and how many of them were already written.
  std::size_t cap_;
  std::string buf_;
  std::size_t head_ = 0;  // bytes of buf_ already written
};

struct ServerOptions {
  std::string socket_path;                       ///< where to listen (see listen_unix)
  std::optional<uid_t> allow_uid;                ///< if set, only this uid may connect
  std::size_t max_pending = kDefaultMaxPending;  ///< output buffer cap per client
  std::size_t max_line = kMaxLine;               ///< longest accepted input line
  std::FILE* log = nullptr;                      ///< one line per event (nullptr: stdout), flushed
};

/**
 * @brief Runs the chat server until `stop_fd` becomes readable (the given program passes
 * the ShutdownSignals self-pipe), then closes every connection, removes the socket file
 * and returns. One thread, every socket non-blocking, one poll(2) (or epoll) loop.
 *
 * Guarantees (README §Protocol and §Server):
 *  - each line from a client goes to every *other* client as `[NAME] TEXT`, exactly once,
 *    and the lines of one sender arrive in the order it sent them;
 *  - a client that stops reading is dropped once its output buffer (opts.max_pending)
 *    would overflow, and the others get `* NAME dropped (not reading)`; nothing a client
 *    does or fails to do ever blocks the loop;
 *  - a client that disconnects mid-line: its unfinished line is discarded, never sent;
 *  - a line longer than opts.max_line: `! error: line too long (max N bytes)` to that
 *    client, the line is discarded, the connection stays;
 *  - the peer's uid and pid come from SO_PEERCRED at accept; with opts.allow_uid another
 *    uid gets `! error: uid U is not allowed` and is closed;
 *  - no write to a vanished client raises SIGPIPE, whatever the process's disposition.
 * Logs `chat_server: listening on PATH` once ready, then a line per event, to opts.log.
 *
 * @throws as listen_unix (before anything is served); ipclab::SysError if poll fails
 *
 * TODO(lab19): implement in src/server.cpp.
 */
void run_server(const ServerOptions& opts, int stop_fd);

struct ClientOptions {
  std::string socket_path;
  std::string name;  ///< if not empty, sent first as `/name NAME`
  double connect_timeout_s = 5.0;
  int in_fd = 0;   ///< lines to send (the given program: stdin)
  int out_fd = 1;  ///< where the server's lines go (stdout)
};

/**
 * @brief The chat client: connects (connect_unix, retrying until the timeout), sends
 * `/name NAME` if a name was given, then copies in_fd → socket and socket → out_fd with
 * poll(2), whichever is ready, until the server closes the connection. At EOF on in_fd it
 * half-closes the socket (shutdown SHUT_WR: the server sees the client leave) and keeps
 * copying the server's lines until the server closes.
 * @return 0 once the server has closed the connection
 * @throws ipclab::SysError if it cannot connect by the timeout, or on I/O errors
 *
 * TODO(lab19): implement in src/client.cpp.
 */
int run_client(const ClientOptions& opts);

}  // namespace ipclab::lab19
