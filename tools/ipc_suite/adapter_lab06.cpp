// pipe, FIFO, POSIX MQ, SysV MQ and shm + semaphores: lab 06's transports, which already
// carry fixed-size messages both ways between two forked processes.
//
// Several producers: each producer process opens side A of the same transport. A pipe or
// FIFO write of at most PIPE_BUF bytes is atomic, and a message queue keeps every message
// whole, so their messages never mix; lab 06's shm ring keeps its slot index in each
// process's private memory, so it has exactly one producer.
#include <climits>  // PIPE_BUF

#include "ipclab/error.hpp"   // UsageError
#include "lab06/channel.hpp"  // lab06::Transport, Channel, message_limit
#include "lab06/payload.hpp"  // kMinMessageSize
#include "transport.hpp"

namespace ipclab::suite {
namespace {

class Lab06Endpoint final : public Endpoint {
 public:
  explicit Lab06Endpoint(std::unique_ptr<lab06::Channel> ch) : ch_(std::move(ch)) {}
  void send(std::span<const std::byte> msg) override { ch_->send(msg); }
  void recv(std::span<std::byte> buf) override { ch_->recv(buf); }

 private:
  std::unique_ptr<lab06::Channel> ch_;
};

class Lab06Link final : public Link {
 public:
  explicit Lab06Link(std::unique_ptr<lab06::Transport> t) : t_(std::move(t)) {}
  std::unique_ptr<Endpoint> open(Side side, int /*index*/) override {
    return std::make_unique<Lab06Endpoint>(
        t_->open(side == Side::kA ? lab06::Side::kA : lab06::Side::kB));
  }

 private:
  std::unique_ptr<lab06::Transport> t_;  // its destructor removes the objects
};

class Lab06Adapter final : public Adapter {
 public:
  explicit Lab06Adapter(lab06::Mechanism m) : m_(m) {}
  std::string_view name() const override { return lab06::mechanism_name(m_); }
  std::string_view description() const override {
    switch (m_) {
      case lab06::Mechanism::kPipe:
        return "two pipes (lab 06)";
      case lab06::Mechanism::kFifo:
        return "two FIFOs in the run directory (lab 06)";
      case lab06::Mechanism::kPosixMq:
        return "two POSIX message queues (lab 06)";
      case lab06::Mechanism::kSysvMq:
        return "one System V message queue, mtype per direction (lab 06)";
      default:
        return "POSIX shm rings + named semaphores, Stevens' producer-consumer (lab 06)";
    }
  }
  Caps caps() const override {
    const lab06::MessageLimit limit = lab06::message_limit(m_);
    Caps c;
    c.min_size = lab06::kMinMessageSize;
    c.max_size = limit.bytes;
    c.limit_source = limit.source;
    c.multi_producer = m_ != lab06::Mechanism::kShmSem;
    c.boundaries = m_ != lab06::Mechanism::kPipe && m_ != lab06::Mechanism::kFifo;
    switch (m_) {
      case lab06::Mechanism::kPipe:
        c.trade_offs = {"the process: gone with its last descriptor", "none: inherited across fork",
                        "read/write block; O_NONBLOCK + poll"};
        break;
      case lab06::Mechanism::kFifo:
        c.trade_offs = {"the name stays in the filesystem; data only while open", "a path (mkfifo)",
                        "open, read and write block; O_NONBLOCK + poll"};
        break;
      case lab06::Mechanism::kPosixMq:
        c.trade_offs = {"the kernel: until mq_unlink or reboot", "/name (mq_open)",
                        "blocks when full/empty; mq_timed*, mq_notify, poll on Linux"};
        break;
      case lab06::Mechanism::kSysvMq:
        c.trade_offs = {"the kernel: until IPC_RMID or reboot", "a key (ftok of a path)",
                        "blocks when full/empty; IPC_NOWAIT, no poll"};
        break;
      default:
        c.kernel_synchronized = false;
        c.trade_offs = {"the kernel: until shm_unlink / sem_unlink or reboot",
                        "/name (shm_open, sem_open)", "sem_wait blocks per message"};
        break;
    }
    return c;
  }
  std::unique_ptr<Link> setup(const LinkParams& p) override {
    const bool byte_stream = m_ == lab06::Mechanism::kPipe || m_ == lab06::Mechanism::kFifo;
    if (p.producers > 1 && byte_stream && p.msg_size > PIPE_BUF)
      throw UsageError(
          fmt::format("{} keeps several producers' messages apart only up to "
                      "PIPE_BUF ({} bytes); got {}",
                      name(), PIPE_BUF, p.msg_size));
    return std::make_unique<Lab06Link>(lab06::make_transport(m_, p.msg_size));
  }

 private:
  lab06::Mechanism m_;
};

}  // namespace

std::unique_ptr<Adapter> make_lab06_adapter(std::string_view name) {
  const auto m = lab06::parse_mechanism(name);
  if (!m) throw UsageError(fmt::format("lab 06 has no mechanism '{}'", name));
  return std::make_unique<Lab06Adapter>(*m);
}

}  // namespace ipclab::suite
