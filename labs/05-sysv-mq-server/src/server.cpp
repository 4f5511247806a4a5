// Lab 05 reference: the System V message-queue server (see sysv_server.hpp).
//
// One queue for everyone (Stevens UNP2 6.8): requests are mtype 1, a reply is mtype = the
// client's pid. What makes it a server you can leave running:
//
//   - Exactly one server per key. A live server holds the key's single-instance lock
//     (ipclab::InstanceLock: an fcntl lock on a lock file in the run directory); the
//     kernel drops the lock when that process dies, however it dies. So "queue exists,
//     lock free" means the queue is stale (its server was killed before IPC_RMID): remove
//     it and start clean. "Lock held" means hands off. A clean exit removes the lock file.
//   - The server never blocks on msgsnd. All requests and replies share one queue of
//     msg_qbytes (16 KiB by default). If it is full of requests and the server blocks
//     sending a reply, nothing ever drains the queue: the clients wait for their replies,
//     the server waits for room (the deadlock of UNP2 6.8). Replies are sent with
//     IPC_NOWAIT; those that do not fit wait in `pending`, and the server keeps taking
//     requests (which makes room) and retries.
//   - Orphans are collected. A client that dies before reading its reply leaves a message
//     of mtype = its pid that no one will ever read. The server remembers whom it sent
//     replies to; at least once a tick it asks kill(pid, 0) whether they still exist and
//     takes the replies of dead ones back out of the queue (msgrcv with that mtype).
//     Replies still pending for a dead client are dropped before they are sent.
//   - msgrcv has no timeout and SysV queues cannot be polled with a descriptor, so the
//     server blocks in msgrcv and an interval timer (SIGALRM every kTick, to a handler
//     that does nothing) interrupts it with EINTR. msgrcv is never restarted after a
//     handler, SA_RESTART or not (signal(7)): SIGINT/SIGTERM end it at once too. The
//     timer covers the one gap: a shutdown signal that lands after the loop looked at the
//     flag but before msgrcv went to sleep. It also wakes the idle server to collect
//     orphans. (ipclab::SysvMsgQueue::receive retries EINTR, so it cannot be used for this
//     wait: the loop below calls msgrcv itself.)
//   - msgrcv with MSG_NOERROR: without it a message longer than the buffer fails with
//     E2BIG and STAYS at the head of the queue, and the server would spin on it forever.

#include <signal.h>     // sigaction, kill
#include <sys/msg.h>    // msgrcv, MSG_NOERROR
#include <sys/time.h>   // setitimer
#include <sys/types.h>  // pid_t

#include <algorithm>      // std::min
#include <cerrno>         // errno
#include <chrono>         // std::chrono
#include <cstdio>         // stderr
#include <deque>          // std::deque
#include <optional>       // std::optional
#include <string>         // std::string
#include <thread>         // std::this_thread::sleep_for
#include <unordered_set>  // std::unordered_set
#include <utility>        // std::pair
#include <vector>         // std::vector

#include <fmt/core.h>  // fmt::format, fmt::print

#include "ipclab/clock.hpp"          // Clock
#include "ipclab/error.hpp"          // check_unix, throw_errno, OperationFailed
#include "ipclab/instance_lock.hpp"  // InstanceLock
#include "ipclab/sysv.hpp"           // SysvMsgQueue
#include "lab05/sysv_server.hpp"

namespace ipclab::lab05 {

/// Replies waiting for room beyond this many: the oldest is dropped (every client has at
/// most one request outstanding, so only a flood of forged requests gets here).
constexpr std::size_t kMaxPending = 1024;

struct Server::State {
  // Declared first, destroyed last: the lock outlives the queue it protects.
  std::optional<InstanceLock> lock;
  SysvMsgQueue queue{-1};
  bool removed = false;
  std::optional<StaleQueue> stale;
  std::deque<std::pair<pid_t, std::string>> pending;  // replies that did not fit yet
  std::unordered_set<pid_t> delivered;                // got a reply that may still sit in the queue
  ServeStats stats;
};

namespace {

/// Takes the live-server lock for `key` (<rundir>/sysv_server.<key in hex>.lock); throws
/// OperationFailed naming the holder if taken.
InstanceLock take_lock(key_t key) {
  const std::string name = fmt::format("sysv_server.{:08x}", static_cast<std::uint32_t>(key));
  try {
    return InstanceLock::acquire(name);
  } catch (const AlreadyRunning& e) {
    throw OperationFailed(fmt::format(
        "another sysv_server (pid {}) is serving key 0x{:08x}: it holds {}; its queue is "
        "left alone",
        e.pid(), static_cast<std::uint32_t>(key), InstanceLock::path_of(name)));
  }
}

/// kill(pid, 0): ESRCH means gone. EPERM means it exists (another user's process).
bool client_alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

extern "C" void on_tick(int /*sig*/) {}  // its only job: make msgrcv return EINTR

/// SIGALRM every kTick while it lives; the old handler and timer come back afterwards.
class TickTimer {
 public:
  TickTimer() {
    struct sigaction sa {};
    sa.sa_handler = on_tick;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // msgrcv fails with EINTR after any handler (signal(7))
    check_unix(::sigaction(SIGALRM, &sa, &old_action_), "sigaction(SIGALRM)");
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(kTick).count();
    itimerval every{};
    every.it_interval.tv_sec = us / 1'000'000;
    every.it_interval.tv_usec = us % 1'000'000;
    every.it_value = every.it_interval;
    if (::setitimer(ITIMER_REAL, &every, &old_timer_) < 0) {
      const int err = errno;
      ::sigaction(SIGALRM, &old_action_, nullptr);
      throw_error(err, "setitimer(ITIMER_REAL)");
    }
  }
  ~TickTimer() {
    // Disarm first: a SIGALRM already generated is delivered (to on_tick) when setitimer
    // returns, before the old disposition, perhaps SIG_DFL (terminate), is back.
    ::setitimer(ITIMER_REAL, &old_timer_, nullptr);
    ::sigaction(SIGALRM, &old_action_, nullptr);
  }
  TickTimer(const TickTimer&) = delete;
  TickTimer& operator=(const TickTimer&) = delete;

 private:
  struct sigaction old_action_ {};
  itimerval old_timer_{};
};

/// Sends what fits of the pending replies, oldest first; drops those whose client died.
void flush_pending(Server::State& s) {
  while (!s.pending.empty()) {
    auto& [pid, body] = s.pending.front();
    if (!client_alive(pid)) {
      ++s.stats.orphaned;
      fmt::print(stderr, "sysv_server: dropped a pending reply to pid {}: client gone\n", pid);
      s.pending.pop_front();
      continue;
    }
    if (!s.queue.send(pid, body, /*nowait=*/true)) return;  // still full: later
    s.delivered.insert(pid);
    s.pending.pop_front();
  }
}

/// Takes the replies of clients that died back out of the queue.
void collect_orphans(Server::State& s) {
  if (s.delivered.empty()) return;
  if (s.queue.count() == 0) {  // nothing waits in the queue, so no reply can be orphaned
    s.delivered.clear();
    return;
  }
  std::vector<char> buf(sizeof(long) + kMaxReplyBody);
  for (auto it = s.delivered.begin(); it != s.delivered.end();) {
    const pid_t pid = *it;
    if (client_alive(pid)) {
      ++it;
      continue;
    }
    // IPC_NOWAIT | MSG_NOERROR: never block, never stick on a message longer than buf.
    for (;;) {
      if (::msgrcv(s.queue.id(), buf.data(), kMaxReplyBody, pid, IPC_NOWAIT | MSG_NOERROR) >= 0) {
        ++s.stats.orphaned;
        fmt::print(stderr, "sysv_server: removed an unread reply to pid {}: client gone\n", pid);
      } else if (errno == ENOMSG) {
        break;  // all of them are out
      } else {  // IPC_NOWAIT never sleeps, so never EINTR: the queue is gone, or worse
        throw_errno("msgrcv(id {}, type {})", s.queue.id(), pid);
      }
    }
    it = s.delivered.erase(it);
  }
}

/// Answers one request body (as received, at most kMaxRequestBody + 1 bytes).
void handle(Server::State& s, std::string_view body) {
  auto req = body.size() <= kMaxRequestBody ? decode_request(body) : std::nullopt;
  if (!req || req->pid <= 1) {
    ++s.stats.malformed;
    fmt::print(stderr, "sysv_server: dropped a malformed request ({} bytes{})\n", body.size(),
               req ? fmt::format(", pid {}", req->pid) : std::string());
    return;
  }
  ++s.stats.served;
  std::string reply = encode_reply(req->nonce, process(req->payload));
  if (!s.pending.empty()) {  // others are waiting for room already: queue behind them
    if (s.pending.size() >= kMaxPending) {
      ++s.stats.orphaned;
      fmt::print(stderr, "sysv_server: too many replies waiting; dropped the one to pid {}\n",
                 s.pending.front().first);
      s.pending.pop_front();
    }
    s.pending.emplace_back(req->pid, std::move(reply));
    return;
  }
  if (!client_alive(req->pid)) {
    ++s.stats.orphaned;
    fmt::print(stderr, "sysv_server: dropped a reply to pid {}: client gone\n", req->pid);
    return;
  }
  if (s.queue.send(req->pid, reply, /*nowait=*/true))
    s.delivered.insert(req->pid);
  else
    s.pending.emplace_back(req->pid, std::move(reply));
}

}  // namespace

Server::Server(std::unique_ptr<State> state) : s_(std::move(state)) {}
Server::Server(Server&&) noexcept = default;

Server& Server::operator=(Server&& other) noexcept {
  if (this != &other) {
    if (s_) {
      try {
        remove();
      } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor-like path must not throw
      }
    }
    s_ = std::move(other.s_);
  }
  return *this;
}

Server::~Server() {
  if (!s_) return;
  try {
    remove();
  } catch (...) {  // NOLINT(bugprone-empty-catch): destructors never throw
  }
}

Server Server::start(key_t key) {
  auto s = std::make_unique<State>();
  s->lock = take_lock(key);
  if (auto old = SysvMsgQueue::open(key)) {
    std::size_t messages = 0;
    try {
      messages = old->count();
    } catch (const SysError&) {  // it may vanish between msgget and msgctl: then count 0
    }
    if (old->remove()) s->stale = StaleQueue{old->id(), messages};
  }
  s->queue = SysvMsgQueue::create(key, 0600);
  return Server(std::move(s));
}

int Server::queue_id() const { return s_->queue.id(); }
std::optional<StaleQueue> Server::stale() const { return s_->stale; }

bool Server::remove() {
  if (s_->removed) return false;
  s_->removed = true;
  return s_->queue.remove();
}

ServeStats Server::serve(const std::function<bool()>& stop) {
  State& s = *s_;
  TickTimer tick;
  // One byte more than the largest valid body: a longer message arrives truncated to this
  // size (MSG_NOERROR) and is recognised as too long.
  constexpr std::size_t kCap = kMaxRequestBody + 1;
  std::vector<char> buf(sizeof(long) + kCap);
  auto last_collect = Clock::now();
  auto idle = std::chrono::microseconds(100);
  while (!stop()) {
    flush_pending(s);
    if (Clock::now() - last_collect >= kTick) {
      collect_orphans(s);
      last_collect = Clock::now();
    }
    // With replies pending, do not sleep in msgrcv: room for them appears when clients
    // read, which does not wake a receiver of mtype 1.
    const int flags = MSG_NOERROR | (s.pending.empty() ? 0 : IPC_NOWAIT);
    const ssize_t n = ::msgrcv(s.queue.id(), buf.data(), kCap, kRequestType, flags);
    if (n < 0) {
      if (errno == EINTR) continue;  // a tick or a shutdown signal: look at stop()
      if (errno == ENOMSG) {         // IPC_NOWAIT and no request: back off a little
        std::this_thread::sleep_for(idle);
        idle = std::min(idle * 2, std::chrono::microseconds(5'000));
        continue;
      }
      throw_errno("msgrcv(id {}, type {})", s.queue.id(), kRequestType);  // EIDRM: removed
    }
    idle = std::chrono::microseconds(100);
    handle(s, std::string_view(buf.data() + sizeof(long), static_cast<std::size_t>(n)));
  }
  return s.stats;
}

}  // namespace ipclab::lab05
