// Lab 06: the message-queue transports: POSIX (mq_overview(7)) and System V (msgop(2)).
// Contract: include/lab06/channel.hpp. A queue keeps message boundaries: one send is one
// receive, so no loop is needed, but the receive buffer must be big enough for the largest
// message the queue allows (README §Pitfalls 3).
#include <mqueue.h>   // mq_receive
#include <sys/msg.h>  // msgsnd, msgrcv
#include <unistd.h>   // unlink

#include <algorithm>  // std::min
#include <cstring>    // std::memcpy
#include <vector>     // std::vector

#include "ipclab/error.hpp"  // check_unix, retry_eintr, OperationFailed
#include "ipclab/mq.hpp"     // PosixMq
#include "ipclab/names.hpp"  // names::posix, names::sysv_key
#include "ipclab/sysv.hpp"   // SysvMsgQueue
#include "lab06/channel.hpp"

namespace ipclab::lab06 {
namespace {

// ---- POSIX message queues -------------------------------------------------------------

class PosixMqChannel final : public Channel {
 public:
  PosixMqChannel(PosixMq out, PosixMq in) : out_(std::move(out)), in_(std::move(in)) {}

  void send(std::span<const std::byte> msg) override {
    out_.send({reinterpret_cast<const char*>(msg.data()), msg.size()});
  }

  void recv(std::span<std::byte> buf) override {
    // PosixMq::receive() allocates a string and asks mq_getattr for every message: in a
    // benchmark that is measured too. Receive straight into the caller's buffer instead;
    // it holds exactly mq_msgsize bytes, which mq_receive requires (EMSGSIZE otherwise).
    const ssize_t n =
        check_unix(retry_eintr(::mq_receive, in_.native(), reinterpret_cast<char*>(buf.data()),
                               buf.size(), nullptr),
                   "mq_receive(\"{}\")", in_.name());
    if (static_cast<std::size_t>(n) != buf.size())
      throw OperationFailed(fmt::format("posix_mq: received {} bytes, expected {}", n, buf.size()));
  }

 private:
  PosixMq out_, in_;
};

class PosixMqTransport final : public Transport {
 public:
  explicit PosixMqTransport(std::size_t msg_size)
      : ab_(names::posix(object_name("mq-ab"))), ba_(names::posix(object_name("mq-ba"))) {
    const long depth = std::min(kPosixMqMaxDepth, PosixMq::limit_msg_max());
    const auto size = static_cast<long>(msg_size);
    // The creator's descriptors close at once: the names are what the children open.
    PosixMq::create(ab_, depth, size);
    try {
      PosixMq::create(ba_, depth, size);
    } catch (...) {
      PosixMq::unlink(ab_);  // the constructor fails: no destructor will remove it
      throw;
    }
  }
  ~PosixMqTransport() override {
    ::mq_unlink(ab_.c_str());  // not PosixMq::unlink: a destructor must not throw
    ::mq_unlink(ba_.c_str());
  }

  std::unique_ptr<Channel> open(Side side) override {
    if (side == Side::kA)
      return std::make_unique<PosixMqChannel>(PosixMq::open(ab_, O_WRONLY),
                                              PosixMq::open(ba_, O_RDONLY));
    return std::make_unique<PosixMqChannel>(PosixMq::open(ba_, O_WRONLY),
                                            PosixMq::open(ab_, O_RDONLY));
  }

 private:
  std::string ab_, ba_;
};

// ---- System V message queue -----------------------------------------------------------

// One queue carries both directions, told apart by mtype (Stevens UNP2 6.8, multiplexing).
constexpr long kTypeAtoB = 1;
constexpr long kTypeBtoA = 2;

class SysvMqChannel final : public Channel {
 public:
  SysvMqChannel(int id, long out_type, long in_type, std::size_t msg_size)
      : id_(id),
        out_type_(out_type),
        in_type_(in_type),
        out_(sizeof(long) + msg_size),
        in_(sizeof(long) + msg_size) {
    // struct msgbuf is { long mtype; char mtext[]; }: the type sits before the bytes.
    std::memcpy(out_.data(), &out_type_, sizeof(long));
  }

  void send(std::span<const std::byte> msg) override {
    std::memcpy(out_.data() + sizeof(long), msg.data(), msg.size());
    // msgsz counts mtext only, never the mtype in front of it.
    check_unix(retry_eintr(::msgsnd, id_, out_.data(), msg.size(), 0),
               "msgsnd(id {}, type {}, {} bytes)", id_, out_type_, msg.size());
  }

  void recv(std::span<std::byte> buf) override {
    // Only messages of our type: the queue also holds the ones we sent the other way.
    const ssize_t n = check_unix(retry_eintr(::msgrcv, id_, in_.data(), buf.size(), in_type_, 0),
                                 "msgrcv(id {}, type {})", id_, in_type_);
    if (static_cast<std::size_t>(n) != buf.size())
      throw OperationFailed(fmt::format("sysv_mq: received {} bytes, expected {}", n, buf.size()));
    std::memcpy(buf.data(), in_.data() + sizeof(long), buf.size());
  }

 private:
  int id_;
  long out_type_, in_type_;
  std::vector<char> out_, in_;  // kept for the whole run: no allocation per message
};

class SysvMqTransport final : public Transport {
 public:
  explicit SysvMqTransport(std::size_t msg_size)
      : name_(object_name("msq")), key_(names::sysv_key(name_)), msg_size_(msg_size) {
    try {
      id_ = SysvMsgQueue::create(key_).id();
    } catch (...) {
      ::unlink(names::sysv_key_file(name_).c_str());
      throw;
    }
  }
  ~SysvMqTransport() override {
    ::msgctl(id_, IPC_RMID, nullptr);  // a SysV queue lives until IPC_RMID, even after exit
    ::unlink(names::sysv_key_file(name_).c_str());
  }

  std::unique_ptr<Channel> open(Side side) override {
    // Open by key, as an unrelated process would.
    const auto q = SysvMsgQueue::open(key_);
    if (!q)
      throw OperationFailed(
          fmt::format("sysv_mq: no queue with key 0x{:x}", static_cast<unsigned>(key_)));
    return side == Side::kA
               ? std::make_unique<SysvMqChannel>(q->id(), kTypeAtoB, kTypeBtoA, msg_size_)
               : std::make_unique<SysvMqChannel>(q->id(), kTypeBtoA, kTypeAtoB, msg_size_);
  }

 private:
  std::string name_;
  key_t key_;
  std::size_t msg_size_;
  int id_ = -1;
};

}  // namespace

std::unique_ptr<Transport> make_posix_mq_transport(std::size_t msg_size) {
  return std::make_unique<PosixMqTransport>(msg_size);
}

std::unique_ptr<Transport> make_sysv_mq_transport(std::size_t msg_size) {
  return std::make_unique<SysvMqTransport>(msg_size);
}

}  // namespace ipclab::lab06
