// Lab 06: the byte-stream transports: pipe, FIFO, Unix stream socket. Read the contract in
// include/lab06/channel.hpp and the README before you start.
#include "ipclab/error.hpp"  // ipclab::NotImplemented, check_unix, OperationFailed
#include "ipclab/fd.hpp"     // Fd, make_pipe
#include "ipclab/io.hpp"     // read_full, write_full
#include "ipclab/names.hpp"  // names::path
#include "lab06/channel.hpp"

namespace ipclab::lab06 {

// TODO(lab06): a Channel class over two descriptors (one to write, one to read; a socket
// uses one for both). send: write_full. recv: read_full, and throw OperationFailed when it
// returns fewer bytes than a message (end of file). Then one Transport class a mechanism:
//  - pipe: two pipes made in the constructor; open(side) keeps this side's two ends and
//    closes the other two.
//  - fifo: mkfifo two paths (names::path(object_name("fifo-ab")), ...), mode 0600; open()
//    opens them in an order that cannot deadlock; the destructor unlinks both.
//  - uds: socket + bind + listen in the constructor (a path longer than 107 bytes is a
//    UsageError naming 107; a failed listen unlinks the bound path); side B accepts, side A
//    connects; the destructor unlinks the path.
// Every descriptor you open is close-on-exec: O_CLOEXEC, SOCK_CLOEXEC, accept4.

std::unique_ptr<Transport> make_pipe_transport([[maybe_unused]] std::size_t msg_size) {
  throw NotImplemented("TODO(lab06): implement make_pipe_transport() in src/stream_channels.cpp");
}

std::unique_ptr<Transport> make_fifo_transport([[maybe_unused]] std::size_t msg_size) {
  throw NotImplemented("TODO(lab06): implement make_fifo_transport() in src/stream_channels.cpp");
}

std::unique_ptr<Transport> make_uds_transport([[maybe_unused]] std::size_t msg_size) {
  throw NotImplemented("TODO(lab06): implement make_uds_transport() in src/stream_channels.cpp");
}

}  // namespace ipclab::lab06
