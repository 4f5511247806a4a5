#include "ipclab/mq.hpp"

#include <fstream>  // std::ifstream

#include "ipclab/error.hpp"  // throw_errno
#include "ipclab/names.hpp"  // names::record_mqueue

namespace ipclab {
namespace {
long read_limit(const char* file, long fallback) {
  std::ifstream in(std::string("/proc/sys/fs/mqueue/") + file);
  long v = 0;
  return (in >> v) ? v : fallback;
}
}  // namespace

long PosixMq::limit_msg_max() { return read_limit("msg_max", 10); }
long PosixMq::limit_msgsize_max() { return read_limit("msgsize_max", 8192); }
long PosixMq::limit_queues_max() { return read_limit("queues_max", 256); }

PosixMq PosixMq::create(const std::string& name, long max_msgs, long msg_size, int flags,
                        bool exclusive, int mode) {
  mq_attr attr{};
  attr.mq_maxmsg = max_msgs;
  attr.mq_msgsize = msg_size;
  const mqd_t q =
      ::mq_open(name.c_str(), flags | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : 0), mode, &attr);
  if (q == static_cast<mqd_t>(-1)) {
    if (errno == EINVAL)
      throw_errno(
          "mq_open(\"{}\", maxmsg={}, msgsize={}) exceeds a limit (msg_max={}, "
          "msgsize_max={} in /proc/sys/fs/mqueue)",
          name, max_msgs, msg_size, limit_msg_max(), limit_msgsize_max());
    throw_errno("mq_open(\"{}\", O_CREAT)", name);
  }
  PosixMq mq(name, q);
  try {
    names::record_mqueue(name);  // only a fallback for ipc-clean: never fail the create
  } catch (const std::exception&) {
  }
  return mq;
}

PosixMq PosixMq::open(const std::string& name, int flags) {
  const mqd_t q = ::mq_open(name.c_str(), flags | O_CLOEXEC);
  if (q == static_cast<mqd_t>(-1)) throw_errno("mq_open(\"{}\")", name);
  return PosixMq(name, q);
}

bool PosixMq::unlink(const std::string& name) {
  if (::mq_unlink(name.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw_errno("mq_unlink(\"{}\")", name);
}

PosixMq& PosixMq::operator=(PosixMq&& o) noexcept {
  if (this != &o) {
    if (mq_ != static_cast<mqd_t>(-1)) ::mq_close(mq_);
    name_ = std::move(o.name_);
    mq_ = std::exchange(o.mq_, -1);
  }
  return *this;
}

PosixMq::~PosixMq() {
  if (mq_ != static_cast<mqd_t>(-1)) ::mq_close(mq_);
}

void PosixMq::send(std::string_view data, unsigned priority) {
  if (retry_eintr(::mq_send, mq_, data.data(), data.size(), priority) < 0)
    throw_errno("mq_send(\"{}\", {} bytes)", name_, data.size());
}

bool PosixMq::send(std::string_view data, unsigned priority, const Deadline& deadline) {
  for (;;) {
    const timespec abs = deadline.realtime_abs();
    if (::mq_timedsend(mq_, data.data(), data.size(), priority, &abs) == 0) return true;
    if (errno == ETIMEDOUT) return false;
    if (errno != EINTR) throw_errno("mq_timedsend(\"{}\", {} bytes)", name_, data.size());
  }
}

MqMessage PosixMq::receive() {
  MqMessage m;
  m.data.resize(static_cast<std::size_t>(attr().mq_msgsize));
  const ssize_t n = retry_eintr(::mq_receive, mq_, m.data.data(), m.data.size(), &m.priority);
  if (n < 0) throw_errno("mq_receive(\"{}\")", name_);
  m.data.resize(static_cast<std::size_t>(n));
  return m;
}

std::optional<MqMessage> PosixMq::receive(const Deadline& deadline) {
  MqMessage m;
  m.data.resize(static_cast<std::size_t>(attr().mq_msgsize));
  for (;;) {
    const timespec abs = deadline.realtime_abs();
    const ssize_t n = ::mq_timedreceive(mq_, m.data.data(), m.data.size(), &m.priority, &abs);
    if (n >= 0) {
      m.data.resize(static_cast<std::size_t>(n));
      return m;
    }
    if (errno == ETIMEDOUT) return std::nullopt;
    if (errno != EINTR) throw_errno("mq_timedreceive(\"{}\")", name_);
  }
}

mq_attr PosixMq::attr() const {
  mq_attr a{};
  if (::mq_getattr(mq_, &a) < 0) throw_errno("mq_getattr(\"{}\")", name_);
  return a;
}

}  // namespace ipclab
