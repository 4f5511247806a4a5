// Lab 05 public grader: one System V queue, many clients, replies routed by mtype = pid;
// stale queues, shutdown, timeouts, limits and orphaned replies.
#include <signal.h>  // SIGINT, SIGTERM
#include <string.h>  // sigabbrev_np
#include <unistd.h>  // access, getpid

#include <algorithm>  // std::ranges::count

#include "common.hpp"

GRADER_LAB("lab05", "System V message-queue server");

using grader::expect_exit;
using grader::expect_output;
using lab05_test::client;
using lab05_test::client_process;
using lab05_test::expect_reply;
using lab05_test::expect_response;
using lab05_test::queue_count;
using lab05_test::queue_exists;
using lab05_test::RawQueue;
using lab05_test::Server;
namespace lab = ipclab::lab05;

namespace {

/// The queue `id` is gone: msgctl says so, and `ipcs -q` does not list it.
void expect_queue_gone(int id, const char* when) {
  EXPECT_FALSE(queue_exists(id)) << "queue id " << id << " still exists " << when
                                 << " (msgctl(IPC_STAT) succeeds): IPC_RMID was not done";
  EXPECT_EQ(std::ranges::count(grader::ipcs_ids('q'), id), 0)
      << "`ipcs -q` still lists queue id " << id << " " << when;
}

/// The server exits 0 within a few seconds of `sig` and leaves no queue behind.
void expect_signal_removes_queue(Server& srv, int sig) {
  srv.p.signal(sig);
  auto r = srv.p.finish(5'000ms);
  grader::expect_finished(r);
  expect_exit(r, 0);
  expect_queue_gone(srv.id, fmt::format("after {}", sigabbrev_np(sig)).c_str());
}

}  // namespace

// ---- the basics -------------------------------------------------------------------------

GRADED_TEST(Basic, HelloProcessed, 2) {
  Server srv;
  ASSERT_TRUE(srv.ready());
  auto r = client("HELLO");
  expect_response(r, "HELLO_PROCESSED");
  expect_exit(r, 0);
}

GRADED_TEST(Basic, QueueIsReadableAndWritableByItsOwnerOnly, 1,
            "README §The API you implement — IPC_CREAT | IPC_EXCL, mode 0600") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  const auto ds = lab05_test::queue_stat(srv.id);
  ASSERT_TRUE(ds.has_value()) << "queue id " << srv.id << " vanished";
  EXPECT_EQ(ds->msg_perm.mode & 07777, 0600U) << fmt::format(
      "the queue's mode is {:04o}; it should be 0600 (msgget(key, IPC_CREAT | "
      "IPC_EXCL | 0600)): others must not read the replies",
      ds->msg_perm.mode & 07777);
}

GRADED_TEST(Basic, ClientStartedBeforeServerIsServed, 2,
            "README §Pitfalls 7 — the client waits for the queue to appear, under its timeout") {
  auto c = client_process("EARLY");
  // The client has made the key file and is sleeping between msgget attempts: no queue yet.
  const std::string key_file = ipclab::names::sysv_key_file(lab::kKeyName);
  ASSERT_TRUE(grader::wait_until([&] {
    return !c.running() ||
           (::access(key_file.c_str(), F_OK) == 0 && ipclab::process_state(c.pid()) == 'S');
  })) << "sysv_client never got to waiting for the server";
  ASSERT_TRUE(c.running()) << "sysv_client gave up at once although its --timeout is "
                           << lab05_test::ok_timeout() << " ms:\n"
                           << c.finish().describe();
  Server srv;
  ASSERT_TRUE(srv.ready());
  auto r = c.finish(20'000ms);
  expect_reply(r, "EARLY");
  expect_exit(r, 0);
}

// ---- the protocol: mtype 1 in, mtype = pid out ------------------------------------------

GRADED_TEST(Protocol, ClientSendsType1WithItsPid, 3,
            "README §The protocol — request mtype 1, the pid in the body; reply mtype = that pid") {
  RawQueue q;  // the test is the server
  auto c = client_process("PING");
  std::optional<std::pair<long, std::string>> msg;
  ASSERT_TRUE(grader::wait_until([&] {
    msg = q.q.receive(0, 65536, /*nowait=*/true);  // any type: we check it is 1
    return msg.has_value() || !c.running();
  })) << "no request arrived in the queue";
  ASSERT_TRUE(msg) << "sysv_client exited without sending a request:\n" << c.finish().describe();
  EXPECT_EQ(msg->first, lab::kRequestType) << "the request's mtype";
  const auto req = lab::decode_request(msg->second);
  ASSERT_TRUE(req) << "the request body (" << msg->second.size()
                   << " bytes) is shorter than RequestHeader";
  EXPECT_EQ(req->pid, c.pid()) << "RequestHeader::pid must be the client's pid";
  EXPECT_EQ(req->payload, "PING");
  // The reply travels as mtype = pid and carries the request's nonce; the client prints
  // whatever payload it holds.
  q.q.send(req->pid, lab::encode_reply(req->nonce, "PONG from the test"));
  auto r = c.finish(10'000ms);
  expect_response(r, "PONG from the test");
  expect_exit(r, 0);
}

GRADED_TEST(Protocol, ServerRepliesToThePidInTheBody, 3,
            "README §The protocol — the reply's mtype is the pid written in the request") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  // A live process that is not the sender: the reply must go to the pid in the body.
  grader::Process bystander({"sleep", "300"});
  ipclab::SysvMsgQueue q(srv.id);
  q.send(lab::kRequestType, lab::encode_request(bystander.pid(), 4242, "ABC"));
  std::optional<std::pair<long, std::string>> msg;
  ASSERT_TRUE(grader::wait_until([&] {
    msg = q.receive(bystander.pid(), 65536, /*nowait=*/true);
    return msg.has_value();
  })) << "no reply of mtype "
      << bystander.pid() << " (the pid in the request) arrived";
  const auto reply = lab::decode_reply(msg->second);
  ASSERT_TRUE(reply) << "reply body too short for ReplyHeader";
  EXPECT_EQ(reply->nonce, 4242u) << "the reply must echo the request's nonce";
  EXPECT_EQ(reply->payload, "ABC_PROCESSED");
  EXPECT_FALSE(q.receive(::getpid(), 65536, /*nowait=*/true))
      << "a reply went to the sender's pid (msg_lspid), not to the pid in the body";
}

// ---- many clients at once ---------------------------------------------------------------

GRADED_TEST(Concurrency, FiftyClientsEachGetTheirOwnReply, 8,
            "README §Pitfalls 1 — a client reads only mtype == its own pid") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  grader::repeat(3, [&](int, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::string> payloads;
    std::vector<grader::Process> clients;
    for (int i = 0; i < 50; ++i) {
      payloads.push_back(lab05_test::payload_for(i, rng));
      clients.push_back(client_process(payloads.back()));
    }
    for (int i = 0; i < 50; ++i) {
      auto r = clients[static_cast<std::size_t>(i)].finish(30'000ms);
      expect_reply(r, payloads[static_cast<std::size_t>(i)]);
      expect_exit(r, 0);
      if (::testing::Test::HasFailure()) return;
    }
    EXPECT_TRUE(grader::wait_until([&] { return queue_count(srv.id) == 0; }))
        << queue_count(srv.id) << " messages left in the queue after every client was served";
  });
}

// ---- a stale queue, a live server -------------------------------------------------------

GRADED_TEST(Stale, StaleQueuePurgedOnStart, 4,
            "README §Pitfalls 3 — a queue with no live server is stale: IPC_RMID and recreate") {
  RawQueue old;  // what a killed server leaves: a queue with messages nobody will read
  old.q.send(lab::kRequestType, lab::encode_request(lab05_test::dead_pid(), 1, "OLD REQUEST"));
  old.q.send(4242, lab::encode_reply(7, "OLD REPLY"));
  Server srv;
  ASSERT_TRUE(srv.ready());
  EXPECT_TRUE(srv.p.wait_for_err(fmt::format("removed stale queue (id {}", old.q.id())))
      << "sysv_server should say `sysv_server: removed stale queue (id " << old.q.id()
      << ", 2 messages)` on stderr; its stderr:\n"
      << srv.p.err();
  EXPECT_NE(srv.id, old.q.id()) << "the server kept the stale queue instead of a new one";
  EXPECT_FALSE(queue_exists(old.q.id())) << "the stale queue id " << old.q.id() << " still exists";
  auto r = client("AFTER STALE");
  expect_reply(r, "AFTER STALE");
}

GRADED_TEST(Stale, RestartAfterKill9, 3,
            "README §Pitfalls 3 — kill -9 skips IPC_RMID: the next server must clean up") {
  Server first;
  ASSERT_TRUE(first.ready());
  expect_reply(client("ONE"), "ONE");
  first.p.kill();  // SIGKILL: no handler runs, the queue stays
  ASSERT_TRUE(queue_exists(first.id)) << "the killed server's queue should outlive it";
  Server second;
  ASSERT_TRUE(second.ready());
  EXPECT_TRUE(second.p.wait_for_err(fmt::format("removed stale queue (id {}", first.id)))
      << "stderr:\n"
      << second.p.err();
  EXPECT_FALSE(queue_exists(first.id))
      << "the killed server's queue id " << first.id << " still exists";
  auto r = client("TWO");
  expect_reply(r, "TWO");
  expect_exit(r, 0);
}

GRADED_TEST(Stale, LiveServerIsNotHijacked, 3,
            "README §Pitfalls 4 — tell a live server from a dead one (the lock file)") {
  Server live;
  ASSERT_TRUE(live.ready());
  auto second = grader::run({"sysv_server"}, {.timeout = 5'000ms});
  grader::expect_finished(second);
  expect_exit(second, 1);
  lab05_test::expect_err_starts(second, "error: ");
  EXPECT_NE(second.err.find(std::to_string(live.p.pid())), std::string::npos)
      << "the error should name the running server's pid (" << live.p.pid() << ")\n"
      << second.describe();
  EXPECT_TRUE(queue_exists(live.id)) << "the second server removed the live server's queue";
  EXPECT_TRUE(live.p.running()) << "the first server died";
  if (::testing::Test::HasFailure()) return;  // no server left to answer
  auto r = client("STILL HERE");
  expect_reply(r, "STILL HERE");
}

// ---- shutdown ---------------------------------------------------------------------------

GRADED_TEST(Shutdown, SigtermRemovesQueue, 3,
            "README §Pitfalls 5 — return to the loop on EINTR; a tick closes the gap") {
  grader::repeat(3, [&](int i, std::uint64_t) {
    Server srv;
    ASSERT_TRUE(srv.ready());
    if (i > 0) expect_reply(client(fmt::format("T{}", i)), fmt::format("T{}", i));
    expect_signal_removes_queue(srv, SIGTERM);
  });
}

GRADED_TEST(Shutdown, SigintRemovesQueue, 3,
            "README §Pitfalls 5 — return to the loop on EINTR; a tick closes the gap") {
  grader::repeat(3, [&](int i, std::uint64_t) {
    Server srv;
    ASSERT_TRUE(srv.ready());
    if (i > 0) expect_reply(client(fmt::format("I{}", i)), fmt::format("I{}", i));
    expect_signal_removes_queue(srv, SIGINT);
  });
}

// ---- timeouts ---------------------------------------------------------------------------

GRADED_TEST(Timeout, ClientWithNoServerExits3, 3,
            "README §Pitfalls 7 — msgrcv has no timeout: poll with IPC_NOWAIT or use a timer") {
  // No queue at all.
  auto none = client("ANYONE", {}, "400");
  grader::expect_finished(none);
  expect_exit(none, 3);
  lab05_test::expect_err_starts(none, "error: server not running");
  EXPECT_GE(none.seconds, 0.35) << "it should keep trying for its --timeout (400 ms)\n"
                                << none.describe();
  // A queue, but its server is gone (killed): nobody answers.
  RawQueue orphan;
  auto gone = client("ANYONE", {}, "400");
  grader::expect_finished(gone);
  expect_exit(gone, 3);
  lab05_test::expect_err_starts(gone, "error: server not running");
  EXPECT_GE(gone.seconds, 0.35) << gone.describe();
}

GRADED_TEST(Timeout, QueueRemovedWhileWaitingFailsPromptly, 3,
            "README §Pitfalls 7 — EIDRM/EINVAL: the queue is gone, stop waiting") {
  RawQueue q;
  auto c = client_process("WAITING", "600000");  // ten minutes: it must not need them
  ASSERT_TRUE(grader::wait_until([&] { return queue_count(q.q.id()) == 1 || !c.running(); }))
      << "the request never arrived";
  ASSERT_TRUE(c.running()) << c.finish().describe();
  q.q.remove();  // what the server does on SIGTERM
  auto r = c.finish(5'000ms);
  grader::expect_finished(r);
  expect_exit(r, 3);
  lab05_test::expect_err_starts(r, "error: server not running");
}

GRADED_TEST(Timeout, QueueReplacedWhileWaitingFailsPromptly, 2,
            "README §The API you implement — the queue replaced: the server shut down") {
  auto old_queue = std::make_unique<RawQueue>();
  const int old_id = old_queue->q.id();
  auto c = client_process("WAITING", "600000");  // ten minutes: it must not need them
  ASSERT_TRUE(grader::wait_until([&] { return queue_count(old_id) == 1 || !c.running(); }))
      << "the request never arrived";
  ASSERT_TRUE(c.running()) << c.finish().describe();
  // Stopped, the client cannot look between the removal and the new queue: when it looks
  // again, the key names a queue with another id, and its own id is invalid (EINVAL).
  c.signal(SIGSTOP);
  ASSERT_TRUE(grader::wait_until([&] { return ipclab::process_state(c.pid()) == 'T'; }))
      << "the client did not stop";
  old_queue.reset();     // IPC_RMID: what the old server does on SIGTERM
  RawQueue replacement;  // and a new server's queue under the same key
  ASSERT_NE(replacement.q.id(), old_id);
  c.signal(SIGCONT);
  auto r = c.finish(5'000ms);
  grader::expect_finished(r);
  expect_exit(r, 3);
  lab05_test::expect_err_starts(r, "error: server not running");
  EXPECT_EQ(queue_count(replacement.q.id()), 0)
      << "the client wrote into the new server's queue, or read from it";
}

// ---- limits -----------------------------------------------------------------------------

GRADED_TEST(Limits, OversizeRequestIsExit2, 3, "README §The protocol — kMaxPayload") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  const std::string max(lab::kMaxPayload, 'm');
  auto ok = client(max);
  expect_reply(ok, max);
  expect_exit(ok, 0);
  auto big = client(std::string(lab::kMaxPayload + 1, 'x'));
  expect_exit(big, 2);
  lab05_test::expect_err_starts(big, "error: ");
  EXPECT_EQ(queue_count(srv.id), 0) << "the oversize request reached the queue";
  EXPECT_TRUE(srv.p.running());
}

// ---- clients that die -------------------------------------------------------------------

GRADED_TEST(Robustness, KilledClientDoesNotWedgeServer, 4,
            "README §Pitfalls 2 — never block on msgsnd; drop replies to dead clients") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  ASSERT_TRUE(srv.stop());  // hold the server so the client is surely waiting when it dies
  auto victim = client_process("DOOMED", "600000");
  ASSERT_TRUE(grader::wait_until([&] {
    const auto ds = lab05_test::queue_stat(srv.id);
    return (ds && ds->msg_lspid == victim.pid()) || !victim.running();
  })) << "the client's request never reached the queue";
  victim.kill();  // SIGKILL and reap: its pid no longer exists
  srv.cont();
  std::mt19937_64 rng(grader::seed());
  std::vector<std::string> payloads;
  std::vector<grader::Process> clients;
  for (int i = 0; i < 10; ++i) {
    payloads.push_back(lab05_test::payload_for(i, rng));
    clients.push_back(client_process(payloads.back()));
  }
  for (std::size_t i = 0; i < clients.size(); ++i) {
    auto r = clients[i].finish(30'000ms);
    expect_reply(r, payloads[i]);
  }
  EXPECT_TRUE(grader::wait_until([&] { return queue_count(srv.id) == 0; }))
      << queue_count(srv.id) << " messages stay in the queue (a reply to the dead client?)";
  EXPECT_TRUE(srv.p.running());
}

GRADED_TEST(Robustness, FullQueueDoesNotDeadlock, 5,
            "README §Pitfalls 2 — a blocking msgsnd of a reply into a full queue deadlocks") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  ASSERT_NO_FATAL_FAILURE(lab05_test::set_qbytes(srv.id, 4096));
  ASSERT_TRUE(srv.stop());
  // Client A's small request first; then requests from a live client that never reads
  // fill the queue to the last byte. When the server takes A out, A's reply (15 bytes)
  // does not fit in the room A leaves (9 bytes): only taking more requests out makes room.
  auto a = client_process("A", std::to_string(grader::scaled(10'000ms).count()));
  ASSERT_TRUE(grader::wait_until([&] {
    const auto ds = lab05_test::queue_stat(srv.id);
    return (ds && ds->msg_lspid == a.pid()) || !a.running();
  })) << "client A's request never reached the queue";
  grader::Process silent({"sleep", "300"});
  ASSERT_TRUE(lab05_test::fill_with_requests_of(srv.id, silent.pid()));
  srv.cont();
  auto r = a.finish(30'000ms);
  expect_reply(r, "A");
  expect_exit(r, 0);
  if (::testing::Test::HasFailure()) return;  // the server is wedged: the rest would wait too
  silent.kill();  // its replies become orphans: collected, the queue drains
  EXPECT_TRUE(grader::wait_until([&] { return queue_count(srv.id) == 0; }))
      << queue_count(srv.id) << " messages stay in the queue";
  expect_reply(client("AFTER"), "AFTER");
}

GRADED_TEST(Robustness, OrphanedReplyIsCollected, 4,
            "README §Pitfalls 2 — collect replies whose client died (kill(pid, 0))") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  // A "client" that is alive when its reply is sent, and dies without reading it.
  grader::Process doomed({"sleep", "300"});
  ASSERT_TRUE(lab05_test::reply_delivered_to(srv, doomed));
  doomed.kill();
  EXPECT_TRUE(grader::wait_until([&] { return queue_count(srv.id) == 0; }))
      << "the reply to pid " << doomed.pid()
      << " (now dead) is still in the queue: nobody will ever read it";
  expect_reply(client("NEXT"), "NEXT");
}

// ---- the command line -------------------------------------------------------------------

GRADED_TEST(Usage, KeyOptionOverridesTheKeyFile, 2, "README §Programs") {
  // Another key through the naming layer, so a queue left on it is one the leak guard and
  // tools/ipc-clean see (a key of our own making would be nobody's to find).
  const key_t key = ipclab::names::sysv_key("other");
  ASSERT_NE(key, lab::default_key());
  const std::string hex = fmt::format("0x{:08x}", static_cast<unsigned>(key));
  Server srv({"--key", hex});
  ASSERT_TRUE(srv.ready());
  EXPECT_EQ(::msgget(key, 0), srv.id) << "the server's queue is not on --key " << hex;
  auto r = client("KEYED", {"--key", hex});
  expect_reply(r, "KEYED");
  expect_exit(client("DEFAULT KEY", {}, "200"), 3);  // nobody on the default key
  expect_signal_removes_queue(srv, SIGTERM);
  if (const int left = ::msgget(key, 0); left >= 0) ::msgctl(left, IPC_RMID, nullptr);
  expect_exit(client("X", {"--key", "nonsense"}), 2);
  expect_exit(client("X", {"--key", "0"}), 2);
  expect_exit(grader::run({"sysv_server", "--key", "nonsense"}), 2);
  expect_exit(client("X", {}, "0"), 2);
}
