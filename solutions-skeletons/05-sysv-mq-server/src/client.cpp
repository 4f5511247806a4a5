// Lab 05: the client's call. Read the contract in include/lab05/sysv_server.hpp (call) and
// the README before you start.
#include "ipclab/error.hpp"  // ipclab::UsageError, ipclab::SysError, ipclab::NotImplemented
#include "lab05/sysv_server.hpp"

namespace ipclab::lab05 {

std::string call([[maybe_unused]] key_t key, [[maybe_unused]] std::string_view payload,
                 [[maybe_unused]] std::chrono::milliseconds timeout) {
  // TODO(lab05): under ONE deadline of `timeout`:
  //  1. reject a payload longer than kMaxPayload (UsageError) before any IPC;
  //  2. find the queue (SysvMsgQueue::open), retrying until the deadline;
  //  3. send encode_request(getpid(), a fresh nonce, payload) as mtype kRequestType,
  //     without blocking on a full queue;
  //  4. wait for mtype getpid() with your nonce, never blocking past the deadline (msgrcv
  //     has no timeout: README "The core question"); discard replies with another nonce;
  //  5. no queue / removed queue (EIDRM, EINVAL) / still full / no reply: ServerNotRunning.
  throw NotImplemented("TODO(lab05): implement call() in src/client.cpp");
}

}  // namespace ipclab::lab05
