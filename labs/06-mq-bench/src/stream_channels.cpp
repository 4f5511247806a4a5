// Lab 06: the byte-stream transports: pipe, FIFO, Unix stream socket. Contract:
// include/lab06/channel.hpp. A byte stream has no message boundaries: a read may return
// part of a message (README §Pitfalls 1), so both ends move whole messages with the
// *_full loops.
#include <sys/socket.h>  // socket, bind, listen, accept4, connect
#include <sys/stat.h>    // mkfifo
#include <sys/un.h>      // sockaddr_un

#include <fcntl.h>   // open
#include <unistd.h>  // unlink

#include <cstring>  // std::memcpy

#include "ipclab/error.hpp"  // check_unix, retry_eintr, OperationFailed, UsageError
#include "ipclab/fd.hpp"     // Fd, make_pipe
#include "ipclab/io.hpp"     // read_full, write_full
#include "ipclab/names.hpp"  // names::path
#include "lab06/channel.hpp"

namespace ipclab::lab06 {
namespace {

/// One end of a two-way byte stream: a descriptor to write, one to read (the same one
/// for a socket).
class StreamChannel final : public Channel {
 public:
  StreamChannel(Fd out, Fd in, const char* what)
      : out_(std::move(out)), in_(std::move(in)), what_(what) {}

  void send(std::span<const std::byte> msg) override {
    write_full(out_.valid() ? out_.get() : in_.get(), msg.data(), msg.size());
  }

  void recv(std::span<std::byte> buf) override {
    const std::size_t n = read_full(in_.get(), buf.data(), buf.size());
    if (n != buf.size())
      throw OperationFailed(
          fmt::format("{}: the other side closed its end (end of file after {} "
                      "of {} bytes)",
                      what_, n, buf.size()));
  }

 private:
  Fd out_;  // invalid for a socket: in_ carries both directions
  Fd in_;
  const char* what_;
};

// ---- pipe -----------------------------------------------------------------------------

class PipeTransport final : public Transport {
 public:
  PipeTransport() : ab_(make_pipe()), ba_(make_pipe()) {}

  std::unique_ptr<Channel> open(Side side) override {
    // Keep this side's two ends; close the other side's two in this process, so that
    // each pipe has exactly one writer and one reader between the two children.
    if (side == Side::kA) {  // A writes ab and reads ba
      ab_.read.reset();
      ba_.write.reset();
      return std::make_unique<StreamChannel>(std::move(ab_.write), std::move(ba_.read), "pipe");
    }
    ab_.write.reset();
    ba_.read.reset();
    return std::make_unique<StreamChannel>(std::move(ba_.write), std::move(ab_.read), "pipe");
  }

 private:
  Pipe ab_;  // A writes, B reads
  Pipe ba_;  // B writes, A reads
};

// ---- FIFO -----------------------------------------------------------------------------

class FifoTransport final : public Transport {
 public:
  FifoTransport()
      : ab_(names::path(object_name("fifo-ab"))), ba_(names::path(object_name("fifo-ba"))) {
    check_unix(::mkfifo(ab_.c_str(), 0600), "mkfifo(\"{}\")", ab_);
    if (::mkfifo(ba_.c_str(), 0600) < 0) {
      const int err = errno;
      ::unlink(ab_.c_str());  // the constructor fails: no destructor will remove it
      throw_error(err, "mkfifo(\"{}\")", ba_);
    }
  }
  ~FifoTransport() override {
    ::unlink(ab_.c_str());
    ::unlink(ba_.c_str());
  }

  std::unique_ptr<Channel> open(Side side) override {
    // An open for reading blocks until a writer opens, and the other way round. Both
    // sides open A->B first, then B->A, so the opens pair up and neither waits forever.
    if (side == Side::kA) {
      Fd out = open_path(ab_, O_WRONLY);
      Fd in = open_path(ba_, O_RDONLY);
      return std::make_unique<StreamChannel>(std::move(out), std::move(in), "fifo");
    }
    Fd in = open_path(ab_, O_RDONLY);
    Fd out = open_path(ba_, O_WRONLY);
    return std::make_unique<StreamChannel>(std::move(out), std::move(in), "fifo");
  }

 private:
  static Fd open_path(const std::string& path, int flags) {
    return Fd(
        check_unix(retry_eintr(::open, path.c_str(), flags | O_CLOEXEC), "open(\"{}\")", path));
  }
  std::string ab_, ba_;
};

// ---- Unix stream socket ---------------------------------------------------------------

class UdsTransport final : public Transport {
 public:
  UdsTransport() : path_(names::path(object_name("uds"))) {
    if (path_.size() >= sizeof(sockaddr_un::sun_path))
      throw UsageError(
          fmt::format("socket path \"{}\" is longer than {} bytes: set IPCLAB_RUNDIR "
                      "to a shorter directory",
                      path_, sizeof(sockaddr_un::sun_path) - 1));
    listener_ = Fd(check_unix(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket(AF_UNIX)"));
    const sockaddr_un addr = address();
    check_unix(::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr),
               "bind(\"{}\")", path_);
    if (::listen(listener_.get(), 1) < 0) {
      const int err = errno;
      ::unlink(path_.c_str());
      throw_error(err, "listen(\"{}\")", path_);
    }
  }
  ~UdsTransport() override { ::unlink(path_.c_str()); }

  std::unique_ptr<Channel> open(Side side) override {
    Fd listener = std::move(listener_);  // closed in this process when open returns
    if (side == Side::kB) {
      Fd conn(check_unix(retry_eintr(::accept4, listener.get(), nullptr, nullptr, SOCK_CLOEXEC),
                         "accept(\"{}\")", path_));
      return std::make_unique<StreamChannel>(Fd(), std::move(conn), "uds");
    }
    listener.reset();
    Fd conn(check_unix(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket(AF_UNIX)"));
    const sockaddr_un addr = address();
    // The listener already exists (made before fork), so connect queues at once.
    check_unix(retry_eintr(::connect, conn.get(), reinterpret_cast<const sockaddr*>(&addr),
                           socklen_t{sizeof addr}),
               "connect(\"{}\")", path_);
    return std::make_unique<StreamChannel>(Fd(), std::move(conn), "uds");
  }

 private:
  sockaddr_un address() const {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    return addr;
  }
  std::string path_;
  Fd listener_;
};

}  // namespace

std::unique_ptr<Transport> make_pipe_transport([[maybe_unused]] std::size_t msg_size) {
  return std::make_unique<PipeTransport>();
}

std::unique_ptr<Transport> make_fifo_transport([[maybe_unused]] std::size_t msg_size) {
  return std::make_unique<FifoTransport>();
}

std::unique_ptr<Transport> make_uds_transport([[maybe_unused]] std::size_t msg_size) {
  return std::make_unique<UdsTransport>();
}

}  // namespace ipclab::lab06
