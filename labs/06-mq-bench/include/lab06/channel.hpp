// Lab 06 — six kernel IPC mechanisms behind one small interface, so that one benchmark
// (ipc_benchmark) can drive them all the same way and compare them fairly.
//
// A Transport is the set of IPC objects of one mechanism for one benchmark run. The
// supervisor process creates it (every named object: FIFOs, a socket path, message
// queues, a shared-memory object, semaphores) and removes it. Between the two, it forks
// two children; each calls open(Side) on its own copy and gets its end of a two-way
// Channel that carries fixed-size messages. You write the six transports (src/*.cpp) and
// message_limit(); the benchmark itself (given/, main/) is given.
#pragma once

#include <unistd.h>  // getpid

#include <array>        // std::array
#include <cstddef>      // std::size_t, std::byte
#include <memory>       // std::unique_ptr
#include <optional>     // std::optional
#include <span>         // std::span
#include <string>       // std::string
#include <string_view>  // std::string_view

#include <fmt/core.h>  // fmt::format for object_name

namespace ipclab::lab06 {

enum class Mechanism { kPipe, kFifo, kUds, kPosixMq, kSysvMq, kShmSem };

inline constexpr std::array<Mechanism, 6> kAllMechanisms = {Mechanism::kPipe,   Mechanism::kFifo,
                                                            Mechanism::kUds,    Mechanism::kPosixMq,
                                                            Mechanism::kSysvMq, Mechanism::kShmSem};

/// The command-line name: pipe, fifo, uds, posix_mq, sysv_mq, shm_sem.
constexpr std::string_view mechanism_name(Mechanism m) {
  switch (m) {
    case Mechanism::kPipe:
      return "pipe";
    case Mechanism::kFifo:
      return "fifo";
    case Mechanism::kUds:
      return "uds";
    case Mechanism::kPosixMq:
      return "posix_mq";
    case Mechanism::kSysvMq:
      return "sysv_mq";
    case Mechanism::kShmSem:
      return "shm_sem";
  }
  return "?";
}

constexpr std::optional<Mechanism> parse_mechanism(std::string_view name) {
  for (Mechanism m : kAllMechanisms)
    if (mechanism_name(m) == name) return m;
  return std::nullopt;
}

/// Which end of a channel a process holds. Side A sends the stream and starts every round
/// trip; side B receives the stream and answers. Both directions carry messages.
enum class Side { kA, kB };

/// The caps this benchmark sets where the kernel has none worth naming (README §Limits).
inline constexpr std::size_t kStreamMaxMessage = std::size_t{16} << 20;  // pipe, fifo, uds
inline constexpr std::size_t kShmSlots = 16;  // ring slots per direction (Stevens' NBUFF)
inline constexpr std::size_t kShmMaxMessage = std::size_t{1} << 20;  // 2 x 16 x 1 MiB in /dev/shm
/// POSIX queue depth: min(this, /proc/sys/fs/mqueue/msg_max).
inline constexpr long kPosixMqMaxDepth = 10;

/// The base name of an object this benchmark creates: "lab06-<pid>-<what>". The creator's
/// pid keeps two benchmarks in one namespace apart. Pass it to names::posix(), names::path()
/// or names::sysv_key().
inline std::string object_name(std::string_view what) {
  return fmt::format("lab06-{}-{}", ::getpid(), what);
}

/// One process's end of a two-way channel of fixed-size messages (msg_size bytes, the size
/// the transport was made with).
class Channel {
 public:
  Channel() = default;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  /// Closes this end. Never removes a named object: that is the Transport's job.
  virtual ~Channel() = default;

  /**
   * @brief Sends one message to the other side; blocks while the channel is full.
   * @param msg  exactly msg_size bytes
   * @throws ipclab::SysError when a system call fails (EPIPE: the other side is gone)
   */
  virtual void send(std::span<const std::byte> msg) = 0;

  /**
   * @brief Receives the next message from the other side; blocks while there is none.
   * @param buf  exactly msg_size bytes, filled completely on return
   * @throws ipclab::OperationFailed if the other side closed its end (end of file) or a
   *         message of another size arrived; ipclab::SysError when a system call fails
   */
  virtual void recv(std::span<std::byte> buf) = 0;
};

/// The IPC objects of one mechanism for one run, owned by the process that made them.
class Transport {
 public:
  Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  /// Removes every named object the constructor created and closes what it holds. Runs
  /// only in the creator (the children leave with _exit). Never throws.
  virtual ~Transport() = default;

  /**
   * @brief Called once in each child, after fork: this side's end of the channel.
   *
   * May block until the other side opens too (a FIFO open, accept). Closes, in this
   * process, whatever belongs only to the other side (a pipe end it does not use).
   */
  virtual std::unique_ptr<Channel> open(Side side) = 0;
};

/**
 * @brief The transports. Each creates its objects, exclusively, named through
 * object_name() and ipclab::names (so a test's namespace holds them and tools/ipc-clean
 * finds leftovers). If creation fails halfway, what was created is removed before the
 * exception leaves. Every descriptor a transport opens, in its constructor or in open(),
 * is close-on-exec (O_CLOEXEC, SOCK_CLOEXEC, accept4(..., SOCK_CLOEXEC)).
 *
 * @param msg_size  the size of every message, kMinMessageSize..message_limit(m).bytes
 * @throws ipclab::SysError when an object cannot be created
 *
 * TODO(lab06): implement pipe, fifo and uds in src/stream_channels.cpp, posix_mq and sysv_mq
 * in src/queue_channels.cpp, shm_sem in src/shm_channel.cpp.
 */
std::unique_ptr<Transport> make_pipe_transport(std::size_t msg_size);  ///< two pipes
/// Two FIFOs, fifo-ab and fifo-ba (mkfifo, mode 0600).
std::unique_ptr<Transport> make_fifo_transport(std::size_t msg_size);
/// A listening Unix stream socket at names::path(...); B accepts, A connects. A path
/// longer than 107 bytes (sun_path holds 108 with its NUL) throws ipclab::UsageError
/// naming 107.
std::unique_ptr<Transport> make_uds_transport(std::size_t msg_size);
/// Two POSIX queues (A->B, B->A), mq_msgsize = msg_size.
std::unique_ptr<Transport> make_posix_mq_transport(std::size_t msg_size);
/// One System V queue; mtype 1 carries A->B, mtype 2 carries B->A. The destructor removes
/// the queue and its key file (names::sysv_key_file).
std::unique_ptr<Transport> make_sysv_mq_transport(std::size_t msg_size);
/// A POSIX shared-memory object with one ring of kShmSlots slots per direction (ring A->B
/// the first half, ring B->A the second), and four named semaphores (empty and full slots
/// of each ring), as Stevens' producer-consumer. open() throws ipclab::OperationFailed,
/// naming both sizes, if the object does not have the size the rings need.
std::unique_ptr<Transport> make_shm_sem_transport(std::size_t msg_size);

inline std::unique_ptr<Transport> make_transport(Mechanism m, std::size_t msg_size) {
  switch (m) {
    case Mechanism::kPipe:
      return make_pipe_transport(msg_size);
    case Mechanism::kFifo:
      return make_fifo_transport(msg_size);
    case Mechanism::kUds:
      return make_uds_transport(msg_size);
    case Mechanism::kPosixMq:
      return make_posix_mq_transport(msg_size);
    case Mechanism::kSysvMq:
      return make_sysv_mq_transport(msg_size);
    case Mechanism::kShmSem:
      return make_shm_sem_transport(msg_size);
  }
  return nullptr;
}

/// The largest message a mechanism carries, and where that number comes from.
struct MessageLimit {
  std::size_t bytes = 0;
  std::string source;  ///< e.g. "/proc/sys/fs/mqueue/msgsize_max"
};

/**
 * @brief The largest msg_size mechanism `m` accepts on this machine.
 *
 * posix_mq: /proc/sys/fs/mqueue/msgsize_max (for everyone, root included: README §Limits).
 * sysv_mq: the smaller of /proc/sys/kernel/msgmax (one message) and msgmnb (a whole queue:
 * a bigger message could never be sent). pipe, fifo, uds: kStreamMaxMessage; shm_sem:
 * kShmMaxMessage, with source naming this benchmark's cap. The files are read at each call;
 * an unreadable one means the Linux default (8192 for msgsize_max and msgmax, 16384 for
 * msgmnb). When msgmax and msgmnb are equal, source names msgmax.
 *
 * TODO(lab06): implement in src/limits.cpp.
 */
MessageLimit message_limit(Mechanism m);

}  // namespace ipclab::lab06
