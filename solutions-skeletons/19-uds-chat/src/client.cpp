// Lab 19: the chat client. Read the contract in include/lab19/chat.hpp (run_client).
#include <poll.h>        // poll
#include <sys/socket.h>  // recv, send, shutdown

#include "ipclab/error.hpp"  // throw_errno, NotImplemented
#include "lab19/chat.hpp"
#include "lab19/unix.hpp"

namespace ipclab::lab19 {

int run_client([[maybe_unused]] const ClientOptions& opts) {
  // TODO(lab19): connect_unix with the timeout; send `/name NAME` if a name was given;
  // then poll the socket and opts.in_fd together (sleeping in poll: no timeout): socket
  // data -> opts.out_fd; input -> socket (send with MSG_NOSIGNAL); at end of input
  // shutdown(SHUT_WR) and stop polling the input (a send that fails with EPIPE or
  // ECONNRESET, the server gone, ends the sending the same way); when the server closes
  // (recv returns 0, or ECONNRESET) return 0.
  throw NotImplemented("TODO(lab19): implement run_client() in src/client.cpp");
}

}  // namespace ipclab::lab19
