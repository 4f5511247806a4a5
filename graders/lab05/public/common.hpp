// Shared by lab 05's public and hidden tests: starting sysv_server and waiting until it is
// ready, running clients, looking at queues by id (msgctl and `ipcs -q`), and playing the
// server or a client by hand with raw messages.
#pragma once

#include <signal.h>   // SIGTERM, SIGSTOP, SIGCONT
#include <sys/ipc.h>  // IPC_STAT, IPC_SET, IPC_RMID, ftok
#include <sys/msg.h>  // msgctl, msqid_ds

#include <optional>  // std::optional
#include <random>    // std::mt19937_64
#include <string>    // std::string
#include <vector>    // std::vector

#include "grader/grader.hpp"
#include "ipclab/process.hpp"  // spawn, wait_for
#include "ipclab/sysv.hpp"     // SysvMsgQueue
#include "lab05/sysv_server.hpp"

using namespace std::chrono_literals;

namespace lab05_test {

namespace lab = ipclab::lab05;

/// --timeout for a client that should be answered: generous, and stretched like every
/// deadline under sanitizers. A correct run never waits for it.
inline std::string ok_timeout() { return std::to_string(grader::scaled(20'000ms).count()); }

/// The queue id in sysv_server's ready lines ("Server starting, key=0x..., msqid=N", then
/// "Waiting for requests (msgtyp=1)..."), or -1.
inline int ready_id(const std::string& out) {
  const auto at = out.find("msqid=");
  if (at == std::string::npos || out.find("Waiting for requests", at) == std::string::npos)
    return -1;
  return std::atoi(out.c_str() + at + 6);
}

/// msqid_ds of a queue by id; nullopt if it does not exist (any more).
inline std::optional<msqid_ds> queue_stat(int id) {
  msqid_ds ds{};
  if (id < 0 || ::msgctl(id, IPC_STAT, &ds) < 0) return std::nullopt;
  return ds;
}
inline bool queue_exists(int id) { return queue_stat(id).has_value(); }
/// Messages in the queue, -1 if it is gone.
inline long queue_count(int id) {
  const auto ds = queue_stat(id);
  return ds ? static_cast<long>(ds->msg_qnum) : -1;
}

/// Lowers the queue's capacity (msg_qbytes): the owner may shrink it without privileges,
/// so "the queue is full" happens after a few messages on any machine.
inline void set_qbytes(int id, std::size_t bytes) {
  msqid_ds ds{};
  ASSERT_EQ(::msgctl(id, IPC_STAT, &ds), 0) << "msgctl(IPC_STAT) on queue id " << id;
  ds.msg_qbytes = bytes;
  ASSERT_EQ(::msgctl(id, IPC_SET, &ds), 0) << "msgctl(IPC_SET msg_qbytes) on queue id " << id;
}

/// The pid of a process that has exited and been reaped: a client that is gone.
inline pid_t dead_pid() {
  const pid_t pid = ipclab::spawn({"true"});
  ipclab::wait_for(pid);
  return pid;
}

/// A running sysv_server. ready() waits for its ready line and learns its queue id.
struct Server {
  grader::Process p;
  int id = -1;
  explicit Server(std::vector<std::string> args = {}) : p(argv(std::move(args))) {}
  /// Stops it as an administrator would (SIGTERM), and removes its queue if it did not:
  /// only the Shutdown tests judge IPC_RMID, the others would be failed by the leak guard.
  ~Server() {
    if (p.running()) {
      p.signal(SIGCONT);  // in case a test left it stopped
      p.signal(SIGTERM);
      p.wait(2'000ms);  // a correct server exits in ~kTick; this only bounds a broken one
    }
    p.kill();
    if (id >= 0) ::msgctl(id, IPC_RMID, nullptr);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  static std::vector<std::string> argv(std::vector<std::string> args) {
    args.insert(args.begin(), "sysv_server");
    return args;
  }
  /// SIGSTOP, and wait until it is stopped: it takes nothing out of the queue until cont().
  ::testing::AssertionResult stop() {
    p.signal(SIGSTOP);
    if (grader::wait_until([&] { return ipclab::process_state(p.pid()) == 'T'; }))
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "sysv_server (pid " << p.pid() << ") did not stop";
  }
  void cont() { p.signal(SIGCONT); }
  ::testing::AssertionResult ready() {
    grader::wait_until([&] { return ready_id(p.out()) >= 0 || !p.running(); }, 10'000ms);
    id = ready_id(p.out());
    if (id >= 0 && queue_exists(id)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "sysv_server did not get ready (expected the lines `Server starting, key=0x..., "
              "msqid=N` and `Waiting for requests (msgtyp=1)...` on stdout and queue N to "
              "exist):\n"
           << p.finish(1'000ms).describe();
  }
};

/// Plays a client that is alive when its reply is sent: a forged request from `client`'s
/// pid, and a wait until the server's reply is the only message in the queue.
inline ::testing::AssertionResult reply_delivered_to(const Server& srv,
                                                     const grader::Process& client) {
  ipclab::SysvMsgQueue(srv.id).send(lab::kRequestType,
                                    lab::encode_request(client.pid(), 9, "NEVER READ"));
  if (grader::wait_until([&] {
        const auto ds = queue_stat(srv.id);
        return ds && ds->msg_qnum == 1 && ds->msg_lspid == srv.p.pid();  // the reply is in
      }))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "the server did not reply to a live client (pid " << client.pid() << ")";
}

/// Fills queue `id` to its last byte with requests from `pid` (a live client that never
/// reads): bodies of 1000 bytes, the last one what is left.
inline ::testing::AssertionResult fill_with_requests_of(int id, pid_t pid) {
  const auto ds = queue_stat(id);
  if (!ds) return ::testing::AssertionFailure() << "queue id " << id << " vanished";
  ipclab::SysvMsgQueue q(id);
  std::size_t room = ds->msg_qbytes - ds->msg_cbytes;
  for (std::uint32_t n = 0; room > 0; ++n) {
    std::size_t body = room;
    if (body > 1000) body = room - 1000 >= sizeof(lab::RequestHeader) ? 1000 : room - 16;
    const std::string pad(body - sizeof(lab::RequestHeader), 'f');
    if (!q.send(lab::kRequestType, lab::encode_request(pid, n, pad), true))
      return ::testing::AssertionFailure() << "could not fill the queue";
    room -= body;
  }
  return ::testing::AssertionSuccess();
}

/// Runs sysv_client; `timeout_ms` is its --timeout ("" = ok_timeout()).
inline grader::RunResult client(const std::string& payload, std::vector<std::string> extra = {},
                                std::string timeout_ms = "") {
  std::vector<std::string> argv = {"sysv_client", payload, "--timeout",
                                   timeout_ms.empty() ? ok_timeout() : timeout_ms};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return grader::run(argv, {.timeout = 30'000ms});
}

/// sysv_client in the background (to start many at once, or to kill one mid-wait).
inline grader::Process client_process(const std::string& payload,
                                      const std::string& timeout_ms = "") {
  return grader::Process(
      {"sysv_client", payload, "--timeout", timeout_ms.empty() ? ok_timeout() : timeout_ms});
}

/// EXPECT that stderr starts with `prefix` (e.g. "error: server not running").
inline void expect_err_starts(const grader::RunResult& r, const std::string& prefix,
                              std::source_location where = std::source_location::current()) {
  if (r.err.rfind(prefix, 0) == 0) return;
  ADD_FAILURE_AT(where.file_name(), static_cast<int>(where.line()))
      << "stderr should start with `" << prefix << "`\n"
      << r.describe();
}

/// EXPECT that sysv_client printed the course guide's transcript, ending in `Response:
/// RESPONSE`: its request goes as mtype 1, its reply comes as mtype = its pid.
inline void expect_response(const grader::RunResult& r, const std::string& response,
                            std::source_location where = std::source_location::current()) {
  grader::expect_output(r,
                        fmt::format("Sending to server (msgtyp={})\nWaiting for response "
                                    "(msgtyp={})\nResponse: {}\n",
                                    lab::kRequestType, r.pid, response),
                        where);
}
/// EXPECT that sysv_client printed the server's answer to `payload` (see expect_response).
inline void expect_reply(const grader::RunResult& r, const std::string& payload,
                         std::source_location where = std::source_location::current()) {
  expect_response(r, payload + std::string(lab::kSuffix), where);
}

/// The test playing the server: a queue on the default key that nobody else reads.
/// Removed when the test ends, if still there.
struct RawQueue {
  ipclab::SysvMsgQueue q;
  RawQueue() : q(ipclab::SysvMsgQueue::create(lab::default_key())) {}
  ~RawQueue() {
    try {
      q.remove();
    } catch (const std::exception&) {  // a destructor: the leak guard reports what is left
    }
  }
  RawQueue(const RawQueue&) = delete;
  RawQueue& operator=(const RawQueue&) = delete;
};

/// A payload unique to client i of a run: printable, with blanks and punctuation.
inline std::string payload_for(int i, std::mt19937_64& rng, std::size_t max_len = 120) {
  static constexpr char kChars[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;!?-+=#%&()[]{}";
  std::string s = fmt::format("client{}-", i);
  const std::size_t len = rng() % max_len;
  for (std::size_t k = 0; k < len; ++k) s += kChars[rng() % (sizeof kChars - 1)];
  return s;
}

}  // namespace lab05_test
