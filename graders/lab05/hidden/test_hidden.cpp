// Lab 05 hidden grader: a full queue, a flood of orphans, stale replies, malformed requests.
#include <signal.h>  // kill

#include <cerrno>    // EPERM
#include <optional>  // std::optional

#include "../public/common.hpp"

using grader::expect_exit;
using lab05_test::client_process;
using lab05_test::expect_reply;
using lab05_test::expect_response;
using lab05_test::queue_count;
using lab05_test::queue_exists;
using lab05_test::RawQueue;
using lab05_test::Server;
namespace lab = ipclab::lab05;

GRADED_TEST(Hidden, LargeConcurrentRequestsInASmallQueue, 3,
            "README §Pitfalls 2 — a blocking msgsnd of a reply into a full queue deadlocks") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  ASSERT_NO_FATAL_FAILURE(
      lab05_test::set_qbytes(srv.id, 1024));  // room for three 300-byte requests
  grader::repeat(2, [&](int, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::string> payloads;
    std::vector<grader::Process> clients;
    for (int i = 0; i < 30; ++i) {
      std::string p = lab05_test::payload_for(i, rng, 50);
      p.resize(300, static_cast<char>('a' + i % 26));
      payloads.push_back(p);
      clients.push_back(client_process(p, std::to_string(grader::scaled(15'000ms).count())));
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
      auto r = clients[i].finish(30'000ms);
      expect_reply(r, payloads[i]);
      if (::testing::Test::HasFailure()) return;
    }
  });
  EXPECT_TRUE(srv.p.running());
}

GRADED_TEST(Hidden, ClientKeepsTryingToSendIntoAFullQueue, 2,
            "README §The API you implement — retry the request while the queue is full") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  ASSERT_NO_FATAL_FAILURE(lab05_test::set_qbytes(srv.id, 4096));
  ASSERT_TRUE(srv.stop());
  // Requests of a live client that never reads fill the queue to the last byte.
  grader::Process silent({"sleep", "300"});
  ASSERT_TRUE(lab05_test::fill_with_requests_of(srv.id, silent.pid()));
  ipclab::SysvMsgQueue q(srv.id);
  ASSERT_EQ(lab05_test::queue_stat(srv.id)->msg_cbytes, 4096U);
  auto c = client_process("PATIENT", std::to_string(grader::scaled(10'000ms).count()));
  // Asleep: it found the queue full and is waiting to try again (the queue exists, so a
  // failed send is the only reason to sleep before its request is in).
  ASSERT_TRUE(grader::wait_until([&] {
    return ipclab::process_state(c.pid()) == 'S' || !c.running();
  })) << "the client never waited";
  ASSERT_TRUE(c.running()) << c.finish().describe();
  ASSERT_TRUE(q.receive(lab::kRequestType, 65536, true)) << "the queue lost its requests";
  srv.cont();
  auto r = c.finish(30'000ms);
  expect_reply(r, "PATIENT");
  silent.kill();  // its replies become orphans, collected by the server
}

GRADED_TEST(Hidden, OrphanFloodDoesNotFillQueue, 3,
            "README §Pitfalls 2 — replies to dead clients must not pile up") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  ASSERT_NO_FATAL_FAILURE(lab05_test::set_qbytes(srv.id, 4096));  // six 600-byte replies fill it
  ipclab::SysvMsgQueue q(srv.id);
  const pid_t gone = lab05_test::dead_pid();
  for (int i = 0; i < 40; ++i) {
    const auto body =
        lab::encode_request(gone, static_cast<std::uint32_t>(i), std::string(600, 'o'));
    ASSERT_TRUE(grader::wait_until([&] { return q.send(lab::kRequestType, body, true); }))
        << "request " << i << " from a dead client found no room: the queue is full ("
        << queue_count(srv.id) << " messages)";
  }
  EXPECT_TRUE(grader::wait_until([&] { return queue_count(srv.id) == 0; }))
      << queue_count(srv.id) << " messages left: replies to a dead client fill the queue";
  auto r = lab05_test::client("AFTER THE FLOOD");
  expect_reply(r, "AFTER THE FLOOD");
}

GRADED_TEST(Hidden, EveryMessageToADeadClientIsCollected, 2,
            "README §Pitfalls 2 — take every message of a dead client's type back out") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  grader::Process doomed({"sleep", "300"});  // alive when its reply is sent
  ASSERT_TRUE(lab05_test::reply_delivered_to(srv, doomed));
  ipclab::SysvMsgQueue(srv.id).send(doomed.pid(),
                                    "");  // and an empty message of the same type: msgrcv returns 0
  doomed.kill();
  EXPECT_TRUE(grader::wait_until([&] { return queue_count(srv.id) == 0; }))
      << queue_count(srv.id) << " messages of type " << doomed.pid()
      << " (a dead client's) are still in the queue: the reply and an empty message were "
         "sent to it, and msgrcv returns 0 for the empty one";
  EXPECT_TRUE(srv.p.running()) << srv.p.finish(1'000ms).describe();
}

GRADED_TEST(Hidden, StaleReplyWithWrongNonceIgnored, 3,
            "README §Pitfalls 6 — a reply to your pid may be an old one: check the nonce") {
  RawQueue q;
  auto c = client_process("MINE");
  std::optional<std::pair<long, std::string>> msg;
  ASSERT_TRUE(grader::wait_until([&] {
    msg = q.q.receive(lab::kRequestType, 65536, true);
    return msg.has_value() || !c.running();
  }));
  ASSERT_TRUE(msg) << c.finish().describe();
  const auto req = lab::decode_request(msg->second);
  ASSERT_TRUE(req);
  q.q.send(req->pid, lab::encode_reply(req->nonce + 1, "STALE"));  // for an earlier request
  q.q.send(req->pid, lab::encode_reply(req->nonce, "FRESH"));
  auto r = c.finish(10'000ms);
  expect_response(r, "FRESH");
  expect_exit(r, 0);
}

GRADED_TEST(Hidden, LateReplyToSameProcessIgnored, 2,
            "README §Pitfalls 6 — a late reply to an earlier call must not answer this one") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  ASSERT_TRUE(srv.stop());
  EXPECT_THROW(lab::call(lab::default_key(), "first", 300ms), lab::ServerNotRunning);
  srv.cont();
  // The server now answers "first" to this (live) process: a reply nobody waits for.
  ASSERT_TRUE(grader::wait_until([&] { return queue_count(srv.id) == 1; }))
      << "expected the late reply to sit in the queue";
  EXPECT_EQ(lab::call(lab::default_key(), "second", grader::scaled(10'000ms)), "second_PROCESSED");
  EXPECT_EQ(lab::call(lab::default_key(), "third", grader::scaled(10'000ms)), "third_PROCESSED");
}

GRADED_TEST(Hidden, MalformedRequestsAreDropped, 3,
            "README §Pitfalls 8 — MSG_NOERROR, and never answer as mtype 1") {
  Server srv;
  ASSERT_TRUE(srv.ready());
  ipclab::SysvMsgQueue q(srv.id);
  q.send(lab::kRequestType, "");
  q.send(lab::kRequestType, "abc");
  q.send(lab::kRequestType, lab::encode_request(1, 5, "pid 1 is init"));
  q.send(lab::kRequestType, lab::encode_request(0, 5, "pid 0"));
  q.send(lab::kRequestType, lab::encode_request(-7, 5, "negative"));
  q.send(lab::kRequestType, lab::encode_request(::getpid(), 5, std::string(6000, 'x')));
  auto r = lab05_test::client("AFTER JUNK");
  expect_reply(r, "AFTER JUNK");
  EXPECT_TRUE(grader::wait_until([&] { return queue_count(srv.id) == 0; }))
      << queue_count(srv.id) << " messages left after malformed requests";
  EXPECT_FALSE(q.receive(::getpid(), 65536, true)) << "the oversize request was answered";
  // Pid 2 is the smallest a client can have (kthreadd outside a pid namespace, a process
  // like any other inside one): only pids <= 1 are malformed.
  if (::kill(2, 0) == 0 || errno == EPERM) {
    q.send(lab::kRequestType, lab::encode_request(2, 9, "pid 2"));
    std::optional<std::pair<long, std::string>> reply;
    EXPECT_TRUE(grader::wait_until([&] { return (reply = q.receive(2, 65536, true)).has_value(); }))
        << "a request from pid 2 was not answered: only pids <= 1 are malformed";
  }
  EXPECT_TRUE(srv.p.running()) << srv.p.err();
}

GRADED_TEST(Hidden, MoveAssignedServerRemovesTheQueueItHeld, 2,
            "README §The API you implement — a Server owns its queue, like a unique_ptr") {
  const key_t first_key = ipclab::names::sysv_key("first");
  const key_t second_key = ipclab::names::sysv_key("second");
  int second_id = -1;
  {
    auto held = lab::Server::start(first_key);
    auto moved = lab::Server::start(second_key);
    const int first_id = held.queue_id();
    second_id = moved.queue_id();
    held = std::move(moved);
    EXPECT_FALSE(queue_exists(first_id))
        << "after `held = std::move(moved)`, the queue `held` owned before (id " << first_id
        << ") still exists: move assignment must remove it, as the destructor would";
    EXPECT_EQ(held.queue_id(), second_id) << "`held` should own the moved server's queue";
    EXPECT_TRUE(queue_exists(second_id)) << "the moved server's queue was removed";
  }
  EXPECT_FALSE(queue_exists(second_id)) << "the queue outlived the Server that owned it";
}
