// Lab 19: the chat server. Read the contract in include/lab19/chat.hpp (run_server) and
// the README (§Server, §Pitfalls) before you start: draw the loop first.
#include <poll.h>        // poll
#include <sys/socket.h>  // accept4, recv

#include "ipclab/error.hpp"  // SysError, NotImplemented
#include "lab19/chat.hpp"
#include "lab19/unix.hpp"

namespace ipclab::lab19 {

void run_server([[maybe_unused]] const ServerOptions& opts, [[maybe_unused]] int stop_fd) {
  // TODO(lab19):
  //  - listen_unix(opts.socket_path) and log `chat_server: listening on PATH` (flush);
  //  - per client: its socket (non-blocking), peer credentials, name (guest1, guest2,
  //    ..., skipping a taken name), a LineReader and an OutBuffer(opts.max_pending), and a
  //    state (active / leaving / gone);
  //  - loop: poll stop_fd, the listener, and every client (POLLIN while active, POLLOUT
  //    while its buffer is not empty); accept everything pending (check allow_uid, send
  //    the welcome, tell the others; out of descriptors, EMFILE: README Hint 3); read once
  //    from each readable client and handle its complete lines; flush; close the clients
  //    that are gone or have left and been flushed — after the loop over clients, never
  //    inside it;
  //  - send_to(client, line): push into its OutBuffer; if that fails, drop the client and
  //    tell the others `* NAME dropped (not reading)`;
  //  - when stop_fd is readable: say goodbye, close everything, unlink the socket file.
  throw NotImplemented("TODO(lab19): implement run_server() in src/server.cpp");
}

}  // namespace ipclab::lab19
