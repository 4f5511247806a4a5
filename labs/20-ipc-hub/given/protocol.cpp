// Lab 20, given: the names of things — frame types, backends, and every IPC name the hub
// and its clients use (all through ipclab::names, so tools/ipc-clean finds leftovers).
#include <cerrno>  // ECONNRESET

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // SysError, UsageError
#include "ipclab/names.hpp"  // names::path, names::posix
#include "lab20/client.hpp"
#include "lab20/frame.hpp"

namespace ipclab::lab20 {

std::string_view type_name(Type type) {
  switch (type) {
    case Type::kConnect:
      return "CONNECT";
    case Type::kSubscribe:
      return "SUBSCRIBE";
    case Type::kUnsubscribe:
      return "UNSUBSCRIBE";
    case Type::kPublish:
      return "PUBLISH";
    case Type::kData:
      return "DATA";
    case Type::kAck:
      return "ACK";
    case Type::kError:
      return "ERROR";
    case Type::kStats:
      return "STATS";
  }
  return "?";
}

Backend parse_backend(std::string_view name) {
  for (const Backend b : kBackends)
    if (backend_name(b) == name) return b;
  throw UsageError(fmt::format("unknown backend '{}' (pipe, fifo, socket, mqueue or shm)", name));
}

std::string_view backend_name(Backend b) {
  switch (b) {
    case Backend::kPipe:
      return "pipe";
    case Backend::kFifo:
      return "fifo";
    case Backend::kSocket:
      return "socket";
    case Backend::kMqueue:
      return "mqueue";
    case Backend::kShm:
      return "shm";
  }
  return "?";
}

std::string_view backend_title(Backend b) {
  switch (b) {
    case Backend::kPipe:
      return "pipe";
    case Backend::kFifo:
      return "named pipe";
    case Backend::kSocket:
      return "UNIX socket";
    case Backend::kMqueue:
      return "message queue";
    case Backend::kShm:
      return "shared memory";
  }
  return "?";
}

std::string hub_socket_path() { return names::path("hub.sock"); }
std::string hub_fifo_path() { return names::path("hub.fifo"); }
std::string hub_mq_name() { return names::posix("hub.mq"); }
std::string client_fifo_path(pid_t pid, bool up) {
  return names::path(fmt::format("hub.{}.{}", pid, up ? "up" : "down"));
}
std::string client_mq_name(pid_t pid, bool up) {
  return names::posix(fmt::format("hub.{}.{}", pid, up ? "up" : "down"));
}
std::string client_shm_name(int id) { return names::posix(fmt::format("hub.ring.{}", id)); }

void hub_gone(std::string_view how) {
  throw SysError(ECONNRESET, fmt::format("lost the hub: {} (did myipchub exit?)", how));
}

}  // namespace ipclab::lab20
