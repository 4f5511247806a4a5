// Lab 20: the client side of the five backends. Read include/lab20/client.hpp and the
// README (§Backends, §Pitfalls 2, 3, 4 and 6) before you start.
#include "lab20/client.hpp"
#include "ipclab/error.hpp"  // NotImplemented

namespace ipclab::lab20 {

HubClient::HubClient(std::unique_ptr<Transport> t, Backend b) : t_(std::move(t)), backend_(b) {}
HubClient::HubClient(HubClient&&) noexcept = default;
HubClient& HubClient::operator=(HubClient&&) noexcept = default;
HubClient::~HubClient() = default;

HubClient HubClient::connect([[maybe_unused]] Backend backend,
                             [[maybe_unused]] const Deadline& deadline) {
  // TODO(lab20): a Transport per backend (write the classes in this file):
  //  - socket: connect_unix(hub_socket_path()), CONNECT "socket PID", wait for the ACK;
  //  - fifo: mkfifo your own up/down FIFOs, open them without blocking (down O_RDONLY |
  //    O_NONBLOCK, up O_RDWR), write CONNECT "fifo PID" on hub_fifo_path(), wait for the ACK
  //    on down; ENXIO on the request FIFO: no hub reads it;
  //  - mqueue: create your up/down queues (small: RLIMIT_MSGQUEUE), CONNECT on hub_mq_name();
  //    an MQ has no end of file: watch the hub's pid (from its ACK) while you wait;
  //  - shm: CONNECT "shm PID" on the socket; the ACK comes with the ring object's fd
  //    (recv_fd); frames then go through the rings, wake-up bytes through the socket.
  throw NotImplemented("TODO(lab20): implement HubClient::connect() in src/client.cpp");
}

HubClient HubClient::over_fds([[maybe_unused]] Fd in, [[maybe_unused]] Fd out,
                              [[maybe_unused]] const Deadline& deadline) {
  throw NotImplemented("TODO(lab20): implement HubClient::over_fds() in src/client.cpp");
}

void HubClient::handshake([[maybe_unused]] const Deadline& deadline) {
  throw NotImplemented("TODO(lab20): implement HubClient::handshake() in src/client.cpp");
}

std::string HubClient::await_reply([[maybe_unused]] const Deadline& deadline) {
  // TODO(lab20): read frames until the answer: keep DATA in inbox_, count the ACKs of
  // earlier publish_async calls, throw OperationFailed for an ERROR.
  throw NotImplemented("TODO(lab20): implement HubClient::await_reply() in src/client.cpp");
}

void HubClient::subscribe([[maybe_unused]] std::string_view channel,
                          [[maybe_unused]] const Deadline& deadline) {
  throw NotImplemented("TODO(lab20): implement HubClient::subscribe() in src/client.cpp");
}

void HubClient::unsubscribe([[maybe_unused]] std::string_view channel,
                            [[maybe_unused]] const Deadline& deadline) {
  throw NotImplemented("TODO(lab20): implement HubClient::unsubscribe() in src/client.cpp");
}

std::size_t HubClient::publish([[maybe_unused]] std::string_view channel,
                               [[maybe_unused]] std::string_view payload,
                               [[maybe_unused]] const Deadline& deadline) {
  throw NotImplemented("TODO(lab20): implement HubClient::publish() in src/client.cpp");
}

void HubClient::publish_async([[maybe_unused]] std::string_view channel,
                              [[maybe_unused]] std::string_view payload) {
  throw NotImplemented("TODO(lab20): implement HubClient::publish_async() in src/client.cpp");
}

std::optional<Frame> HubClient::next([[maybe_unused]] const Deadline& deadline) {
  throw NotImplemented("TODO(lab20): implement HubClient::next() in src/client.cpp");
}

std::string HubClient::stats([[maybe_unused]] const Deadline& deadline) {
  throw NotImplemented("TODO(lab20): implement HubClient::stats() in src/client.cpp");
}

}  // namespace ipclab::lab20
