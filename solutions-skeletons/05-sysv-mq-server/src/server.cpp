// Lab 05: the System V message-queue server. Read the contract in
// include/lab05/sysv_server.hpp (Server) and the README before you start.
#include "ipclab/error.hpp"  // ipclab::OperationFailed, ipclab::SysError, ipclab::NotImplemented
#include "lab05/sysv_server.hpp"

namespace ipclab::lab05 {

struct Server::State {
  // TODO(lab05): add the state you need: the queue (ipclab::SysvMsgQueue), the key's
  // single-instance lock (ipclab::InstanceLock), what start() found, the replies that did
  // not fit yet, whom you sent replies to, the counters...
};

Server::Server(std::unique_ptr<State> state) : s_(std::move(state)) {}
Server::Server(Server&&) noexcept = default;
Server& Server::operator=(Server&&) noexcept = default;  // TODO(lab05): remove the old queue
Server::~Server() = default;  // TODO(lab05): remove the queue (never throw from here)

Server Server::start([[maybe_unused]] key_t key) {
  // TODO(lab05):
  //  1. take the key's single-instance lock, ipclab::InstanceLock::acquire with the name
  //     "sysv_server.<key in 8 hex digits>" (ipclab/instance_lock.hpp); if another process
  //     holds it (ipclab::AlreadyRunning, whose pid() is that process), throw
  //     OperationFailed naming that process;
  //  2. holding the lock, a queue that exists for `key` is stale: remember its id and
  //     message count, IPC_RMID it;
  //  3. create a fresh queue (IPC_CREAT | IPC_EXCL, 0600).
  throw NotImplemented("TODO(lab05): implement Server::start() in src/server.cpp");
}

int Server::queue_id() const {
  throw NotImplemented("TODO(lab05): implement Server::queue_id() in src/server.cpp");
}

std::optional<StaleQueue> Server::stale() const {
  throw NotImplemented("TODO(lab05): implement Server::stale() in src/server.cpp");
}

bool Server::remove() {
  throw NotImplemented("TODO(lab05): implement Server::remove() in src/server.cpp");
}

ServeStats Server::serve([[maybe_unused]] const std::function<bool()>& stop) {
  // TODO(lab05): loop until stop():
  //  - receive a request: msgrcv type kRequestType with MSG_NOERROR (why? README §Pitfalls);
  //    msgrcv has no timeout: arrange to be interrupted (EINTR) at least every kTick;
  //  - validate it (size, pid > 1) and answer with encode_reply(nonce, process(payload))
  //    as mtype = pid — with IPC_NOWAIT: never block on a full queue; keep what did not
  //    fit and retry;
  //  - drop replies to clients that died (kill(pid, 0)), and take the replies already
  //    sent to dead clients back out of the queue.
  throw NotImplemented("TODO(lab05): implement Server::serve() in src/server.cpp");
}

}  // namespace ipclab::lab05
