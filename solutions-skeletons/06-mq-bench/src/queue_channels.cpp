// Lab 06: the message-queue transports: POSIX and System V. Read the contract in
// include/lab06/channel.hpp and the README before you start.
#include "ipclab/error.hpp"  // ipclab::NotImplemented, check_unix, retry_eintr
#include "ipclab/mq.hpp"     // PosixMq
#include "ipclab/names.hpp"  // names::posix, names::sysv_key
#include "ipclab/sysv.hpp"   // SysvMsgQueue
#include "lab06/channel.hpp"

namespace ipclab::lab06 {

// TODO(lab06):
//  - posix_mq: two queues (A->B, B->A) created with mq_msgsize = msg_size and a depth of
//    min(kPosixMqMaxDepth, PosixMq::limit_msg_max()); each side opens them by name, one
//    O_WRONLY and one O_RDONLY. Receive with mq_receive into the caller's buffer
//    (PosixMq::receive allocates per message). The destructor mq_unlinks both.
//  - sysv_mq: one queue (SysvMsgQueue::create(names::sysv_key(...))); mtype 1 carries
//    A->B and 2 carries B->A. Keep one msgbuf-shaped buffer per direction (a long, then
//    the bytes) for the whole run; msgsnd/msgrcv count only the bytes after the long.
//    The destructor removes the queue (IPC_RMID) and the key file; so does a constructor
//    that fails (names::sysv_key made the key file).

std::unique_ptr<Transport> make_posix_mq_transport([[maybe_unused]] std::size_t msg_size) {
  throw NotImplemented(
      "TODO(lab06): implement make_posix_mq_transport() in src/queue_channels.cpp");
}

std::unique_ptr<Transport> make_sysv_mq_transport([[maybe_unused]] std::size_t msg_size) {
  throw NotImplemented("TODO(lab06): implement make_sysv_mq_transport() in src/queue_channels.cpp");
}

}  // namespace ipclab::lab06
