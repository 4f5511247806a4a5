// POSIX message queues.
//
// Linux limits for unprivileged users (see mq_overview(7)): at most msg_max (default 10)
// messages of msgsize_max (default 8192) bytes per queue, read from /proc/sys/fs/mqueue.
// create() names the limit in its error when the requested attributes exceed it.
#pragma once

#include <fcntl.h>   // O_RDWR, O_RDONLY, O_WRONLY
#include <mqueue.h>  // mqd_t, mq_attr

#include <cstddef>      // std::size_t
#include <optional>     // std::optional
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::exchange

#include "ipclab/clock.hpp"  // Deadline

namespace ipclab {

struct MqMessage {
  std::string data;
  unsigned priority = 0;
};

class PosixMq {
 public:
  /// Creates (or with exclusive=false opens-or-creates) a queue with the given attributes,
  /// recording the name for ipc-clean. Throws SysError naming the limit on EINVAL.
  static PosixMq create(const std::string& name, long max_msgs, long msg_size, int flags = O_RDWR,
                        bool exclusive = true, int mode = 0600);
  /// Opens an existing queue (flags: O_RDONLY, O_WRONLY, O_RDWR, optionally O_NONBLOCK).
  static PosixMq open(const std::string& name, int flags = O_RDWR);
  /// mq_unlink; returns false if it did not exist.
  static bool unlink(const std::string& name);
  /// The system limits from /proc/sys/fs/mqueue (msg_max, msgsize_max, queues_max), or
  /// their defaults where the file cannot be read.
  static long limit_msg_max();
  static long limit_msgsize_max();
  static long limit_queues_max();

  PosixMq(PosixMq&& o) noexcept : name_(std::move(o.name_)), mq_(std::exchange(o.mq_, -1)) {}
  PosixMq& operator=(PosixMq&& o) noexcept;
  PosixMq(const PosixMq&) = delete;
  PosixMq& operator=(const PosixMq&) = delete;
  ~PosixMq();

  void send(std::string_view data, unsigned priority = 0);
  /// Timed send: false if the queue stayed full until the deadline.
  bool send(std::string_view data, unsigned priority, const Deadline& deadline);
  MqMessage receive();
  /// Timed receive: nullopt if the queue stayed empty until the deadline.
  std::optional<MqMessage> receive(const Deadline& deadline);
  mq_attr attr() const;
  const std::string& name() const { return name_; }
  mqd_t native() const { return mq_; }

 private:
  PosixMq(std::string name, mqd_t mq) : name_(std::move(name)), mq_(mq) {}
  std::string name_;
  mqd_t mq_ = -1;
};

}  // namespace ipclab
