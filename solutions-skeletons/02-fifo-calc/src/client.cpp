// Lab 02: one client call. Read the contract in include/lab02/calc.hpp (call) and the
// README's "Client" section before you start.
#include "ipclab/error.hpp"  // ipclab::UsageError, ipclab::SysError, ipclab::NotImplemented
#include "lab02/calc.hpp"

namespace ipclab::lab02 {

Reply call([[maybe_unused]] std::string_view expression, [[maybe_unused]] const CallOptions& opts) {
  // TODO(lab02):
  //  1. encode the request first (a bad one touches no FIFO);
  //  2. mkfifo your reply FIFO, mode 0600 (replace a stale one; anything else at that path
  //     is an error, left alone) and open it for reading so that the open does not block,
  //     *before* the server can try to answer;
  //  3. open the server's FIFO for writing without blocking; no FIFO or no reader means
  //     "not there yet": retry with a growing pause until the deadline (ServerNotRunning);
  //  4. send the request with one write(2); a full server FIFO (EAGAIN) means: wait for
  //     room, then write again;
  //  5. poll your FIFO for the reply line until the deadline (NoReply); a read that fails
  //     with EINTR or EAGAIN means: poll again;
  // Watch opts.cancel_fd in every wait (Interrupted), open every descriptor with O_CLOEXEC,
  // and remove your FIFO on every way out: an object whose destructor unlinks it does that.
  throw NotImplemented("TODO(lab02): implement call() in src/client.cpp");
}

}  // namespace ipclab::lab02
