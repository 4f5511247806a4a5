// Lab 02: the iterative FIFO server. Read the contract in include/lab02/calc.hpp
// (open_reply_fifo, send_reply, run_server) and the README's "Server" section before you
// start; draw who opens which FIFO end, in which order, and what each open waits for.
#include "ipclab/error.hpp"  // ipclab::SysError, ipclab::NotImplemented
#include "lab02/calc.hpp"

namespace ipclab::lab02 {

Fd open_reply_fifo([[maybe_unused]] std::string_view client_id) {
  // TODO(lab02): open client_fifo_path(client_id) for writing so that it can never block.
  // "The client is gone" (no FIFO, or nobody reading it) is an invalid Fd, not an error.
  throw NotImplemented("TODO(lab02): implement open_reply_fifo() in src/server.cpp");
}

bool send_reply([[maybe_unused]] int fd, [[maybe_unused]] const Reply& reply) {
  // TODO(lab02): one write(2) of encode_reply(reply). EPIPE and EAGAIN mean "not
  // delivered" (return false); make sure EPIPE cannot kill the process.
  throw NotImplemented("TODO(lab02): implement send_reply() in src/server.cpp");
}

ServerStats run_server([[maybe_unused]] const ServerOptions& opts) {
  // TODO(lab02):
  //  1. make sure no other server is alive here (the single-instance lock,
  //     ipclab::InstanceLock::acquire(kServerLockName) from ipclab/instance_lock.hpp, that
  //     you hold until you return); if one is, throw AlreadyRunning and touch nothing;
  //  2. replace a FIFO left at server_fifo_path() by a killed server, mkfifo a new one
  //     (mode 0600);
  //  3. open it so that this open cannot block and later reads never see end-of-file
  //     (every descriptor here and in open_reply_fifo with O_CLOEXEC);
  //  4. call opts.on_ready, then poll the FIFO and opts.stop_fd; split what you read into
  //     lines, answer each with compute() through open_reply_fifo + send_reply (a read
  //     that fails with EINTR or EAGAIN after poll is no error: poll again);
  //  5. on the way out (stop_fd readable, or an exception) remove the FIFO, then let go of
  //     the lock. Owning each resource with an object makes every way out do it.
  throw NotImplemented("TODO(lab02): implement run_server() in src/server.cpp");
}

}  // namespace ipclab::lab02
