// Lab 05 reference: the client's call (see sysv_server.hpp).
//
// msgrcv has no timeout. The two ways to bound a wait on a SysV queue:
//   (a) block in msgrcv and let a timer signal (alarm, setitimer) interrupt it with EINTR;
//   (b) poll with IPC_NOWAIT and sleep between tries, backing off.
// The server uses (a): it waits forever and must answer at once. The client uses (b): its
// wait is short and bounded, and a library function should not take over the process's
// SIGALRM (the caller may use it) or leave the race of a timer firing just before msgrcv
// blocks (then it blocks forever, unless the timer repeats). The backoff starts at 100 us
// and doubles to 2 ms, so a reply is picked up at most ~2 ms late and a removed queue
// (msgrcv fails: EIDRM or EINVAL) is noticed as fast; a waiting client costs ~500 cheap
// system calls a second.
//
// Every wait here is under the one deadline: for the queue to appear, for room in a full
// queue (msgsnd with IPC_NOWAIT; a blocking msgsnd could wait forever on a dead server's
// full queue), and for the reply.
#include <unistd.h>  // getpid

#include <algorithm>  // std::min
#include <atomic>     // std::atomic
#include <cerrno>     // EIDRM, EINVAL
#include <random>     // std::random_device
#include <thread>     // std::this_thread::sleep_for

#include <fmt/core.h>  // fmt::format

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/error.hpp"  // UsageError, SysError
#include "ipclab/sysv.hpp"   // SysvMsgQueue
#include "lab05/sysv_server.hpp"

namespace ipclab::lab05 {
namespace {

/// Sleeps 100 us, 200 us, ... up to 2 ms, never past the deadline.
class Backoff {
 public:
  explicit Backoff(const Deadline& deadline) : deadline_(deadline) {}
  void sleep() {
    std::this_thread::sleep_for(std::min<Clock::duration>(pause_, deadline_.remaining()));
    pause_ = std::min(pause_ * 2, std::chrono::microseconds(2'000));
  }
  void reset() { pause_ = std::chrono::microseconds(100); }

 private:
  const Deadline& deadline_;
  std::chrono::microseconds pause_{100};
};

/// A different nonce for every call; random at first, so a new process with a recycled pid
/// does not accept the replies addressed to the old one.
std::uint32_t next_nonce() {
  static std::atomic<std::uint32_t> next{std::random_device{}()};
  return next.fetch_add(1, std::memory_order_relaxed);
}

/// True if the queue we hold an id of is gone (removed, or replaced by a new one).
bool queue_gone(key_t key, int id) {
  const auto now = SysvMsgQueue::open(key);
  return !now || now->id() != id;
}

}  // namespace

std::string call(key_t key, std::string_view payload, std::chrono::milliseconds timeout) {
  if (payload.size() > kMaxPayload)
    throw UsageError(
        fmt::format("request is {} bytes; the limit is {} bytes", payload.size(), kMaxPayload));
  const Deadline deadline(timeout);
  Backoff backoff(deadline);
  const auto key_hex = static_cast<std::uint32_t>(key);

  // 1. The queue: the server may still be starting.
  auto queue = SysvMsgQueue::open(key);
  while (!queue) {
    if (deadline.expired())
      throw ServerNotRunning(
          fmt::format("no message queue with key 0x{:08x} after {} ms", key_hex, timeout.count()));
    backoff.sleep();
    queue = SysvMsgQueue::open(key);
  }

  const pid_t pid = ::getpid();
  const std::uint32_t nonce = next_nonce();
  const std::string body = encode_request(pid, nonce, payload);
  try {
    // 2. The request, mtype 1. A full queue: wait for room, under the deadline.
    backoff.reset();
    while (!queue->send(kRequestType, body, /*nowait=*/true)) {
      if (deadline.expired())
        throw ServerNotRunning(
            fmt::format("queue id {} stayed full for {} ms", queue->id(), timeout.count()));
      backoff.sleep();
    }
    // 3. The reply: mtype = our pid, and our nonce.
    backoff.reset();
    for (;;) {
      if (auto msg = queue->receive(pid, kMaxReplyBody, /*nowait=*/true)) {
        const auto reply = decode_reply(msg->second);
        if (reply && reply->nonce == nonce) return reply->payload;
        continue;  // stale: addressed to this pid for an earlier request; keep waiting
      }
      if (deadline.expired())
        throw ServerNotRunning(
            fmt::format("no reply within {} ms (queue id {})", timeout.count(), queue->id()));
      backoff.sleep();
    }
  } catch (const SysError&) {
    // The queue was removed (EINVAL: the id is no longer valid; EIDRM: removed while the
    // kernel looked at it) or replaced by a new server's: whatever the errno, the server we
    // wrote to has shut down. Any other failure is reported as it is.
    if (queue_gone(key, queue->id()))
      throw ServerNotRunning(
          fmt::format("queue id {} was removed while waiting (the server shut down)", queue->id()));
    throw;
  }
}

}  // namespace ipclab::lab05
