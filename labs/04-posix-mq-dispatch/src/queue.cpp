// Lab 04 reference: creating the queue (and saying which limit refused it), submitting a
// job with a timed send, unlinking.
//
// The limits on a POSIX message queue (mq_overview(7), ipc/mqueue.c):
//   - mq_maxmsg  <= /proc/sys/fs/mqueue/msg_max      (default 10)    } unless the process has
//   - mq_msgsize <= /proc/sys/fs/mqueue/msgsize_max  (default 8192)  } CAP_SYS_RESOURCE
//   - never above the hard ceilings HARD_MSGMAX = 65536 and HARD_MSGSIZEMAX = 16 MiB   EINVAL
//   - RLIMIT_MSGQUEUE (`ulimit -q`, 819200 bytes by default): the bytes of all of a user's
//     queues together, about maxmsg * (msgsize + per-message overhead), root included  EMFILE
//   - /proc/sys/fs/mqueue/queues_max queues in the system (root may pass)              ENOSPC
// mq_open reports only the errno, so create_queue() works out which limit it was.
#include <sys/resource.h>  // getrlimit, RLIMIT_MSGQUEUE
#include <unistd.h>        // unlink

#include <cerrno>  // errno

#include <fmt/core.h>  // fmt::format

#include "ipclab/clock.hpp"  // Deadline, now_ns
#include "ipclab/error.hpp"  // SysError, UsageError, OperationFailed
#include "lab04/dispatch.hpp"

namespace ipclab::lab04 {
namespace {

constexpr long kHardMsgMax = 65536;          // HARD_MSGMAX (Linux >= 3.5)
constexpr long kHardMsgSizeMax = 16L << 20;  // HARD_MSGSIZEMAX: 16 MiB

/// Why mq_open(O_CREAT) with these attributes failed with `err`, naming the limit.
std::string limit_reason(int err, const QueueAttrs& a) {
  const long msg_max = PosixMq::limit_msg_max();
  const long msgsize_max = PosixMq::limit_msgsize_max();
  switch (err) {
    case EINVAL:
      if (a.msg_size > kHardMsgSizeMax)
        return fmt::format(
            "msg-size {} is above msgsize_max: no process may pass the kernel's hard ceiling "
            "of {} bytes (HARD_MSGSIZEMAX), and without CAP_SYS_RESOURCE the limit is "
            "/proc/sys/fs/mqueue/msgsize_max = {}",
            a.msg_size, kHardMsgSizeMax, msgsize_max);
      if (a.max_msgs > kHardMsgMax)
        return fmt::format(
            "max-msgs {} is above msg_max: no process may pass the kernel's hard ceiling of "
            "{} messages (HARD_MSGMAX), and without CAP_SYS_RESOURCE the limit is "
            "/proc/sys/fs/mqueue/msg_max = {}",
            a.max_msgs, kHardMsgMax, msg_max);
      if (a.msg_size > msgsize_max)
        return fmt::format(
            "msg-size {} is above msgsize_max = {} (/proc/sys/fs/mqueue/msgsize_max; only a "
            "process with CAP_SYS_RESOURCE may pass it)",
            a.msg_size, msgsize_max);
      if (a.max_msgs > msg_max)
        return fmt::format(
            "max-msgs {} is above msg_max = {} (/proc/sys/fs/mqueue/msg_max; only a process "
            "with CAP_SYS_RESOURCE may pass it)",
            a.max_msgs, msg_max);
      return "the kernel refused the attributes";
    case EMFILE: {
      rlimit rl{};
      ::getrlimit(RLIMIT_MSGQUEUE, &rl);
      const auto limit = static_cast<unsigned long long>(rl.rlim_cur);
      const auto bytes =
          static_cast<unsigned long long>(a.max_msgs) * static_cast<unsigned long long>(a.msg_size);
      // The kernel adds a per-message overhead: at bytes == limit the queue cannot fit either.
      if (rl.rlim_cur != RLIM_INFINITY && bytes >= limit)
        return fmt::format(
            "the queue needs more than max-msgs x msg-size = {} bytes, above "
            "RLIMIT_MSGQUEUE (ulimit -q) = {} bytes for all of this user's queues together",
            bytes, limit);
      return fmt::format(
          "RLIMIT_MSGQUEUE (ulimit -q) = {} bytes for all of this user's queues together is "
          "used up by other queues (or the process ran out of descriptors, RLIMIT_NOFILE)",
          limit);
    }
    case ENOSPC:
      return fmt::format(
          "queues_max = {} (/proc/sys/fs/mqueue/queues_max): too many queues (only a process "
          "with CAP_SYS_RESOURCE may pass it)",
          PosixMq::limit_queues_max());
    default:
      return "mq_open failed";
  }
}

PosixMq open_existing(const std::string& name, int flags) {
  try {
    return PosixMq::open(name, flags);
  } catch (const SysError& e) {
    if (e.err() == ENOENT)
      throw OperationFailed(fmt::format("no queue {} (start job_dispatcher first)", name));
    throw;
  }
}

}  // namespace

PosixMq create_queue(const std::string& queue, const QueueAttrs& attrs) {
  if (attrs.max_msgs <= 0) throw UsageError(fmt::format("max-msgs {} must be > 0", attrs.max_msgs));
  if (attrs.msg_size <= static_cast<long>(kHeaderSize))
    throw UsageError(fmt::format("msg-size {} must be above the {}-byte job header", attrs.msg_size,
                                 kHeaderSize));
  const std::string name = queue_posix_name(queue);
  try {
    return PosixMq::create(name, attrs.max_msgs, attrs.msg_size, O_RDWR, /*exclusive=*/false);
  } catch (const SysError& e) {
    const int err = e.err();
    if (err != EINVAL && err != EMFILE && err != ENOSPC) throw;
    throw SysError(err,
                   fmt::format("cannot create queue {} with max-msgs {}, msg-size {}: {}", name,
                               attrs.max_msgs, attrs.msg_size, limit_reason(err, attrs)));
  }
}

std::uint64_t submit_job(const SubmitRequest& req) {
  if (req.priority < 0 || req.priority > static_cast<long>(kMaxPriority))
    throw UsageError(
        fmt::format("priority {} is outside 0..{} (POSIX guarantees only 32 message priorities)",
                    req.priority, kMaxPriority));
  if (req.cmd.empty()) throw UsageError("empty command");
  if (req.timeout.count() < 0) throw UsageError("the timeout must not be negative");

  const std::string name = queue_posix_name(req.queue);
  PosixMq mq = open_existing(name, O_WRONLY);
  const long msg_size = mq.attr().mq_msgsize;
  if (kHeaderSize + req.cmd.size() > static_cast<std::size_t>(msg_size))
    throw UsageError(fmt::format(
        "command of {} bytes is too long: a message of {} holds {} bytes, {} of them header",
        req.cmd.size(), name, msg_size, kHeaderSize));

  Job job;
  job.id = next_job_id(queue_counter_path(req.queue));
  job.priority = static_cast<unsigned>(req.priority);
  job.submit_ns = now_ns();
  job.cmd = req.cmd;
  // The MQ priority is the job's: the kernel keeps the queue in priority order, FIFO
  // within a priority. mq_timedsend blocks while the queue is full: that is backpressure.
  if (!mq.send(encode_job(job), job.priority, Deadline(req.timeout)))
    throw OperationFailed(fmt::format("queue full: {} still held {} jobs after {} ms", name,
                                      mq.attr().mq_curmsgs, req.timeout.count()));
  return job.id;
}

bool unlink_queue(const std::string& queue) {
  const bool existed = PosixMq::unlink(queue_posix_name(queue));
  const std::string counter = queue_counter_path(queue);
  if (::unlink(counter.c_str()) < 0 && errno != ENOENT) throw_errno("unlink(\"{}\")", counter);
  return existed;
}

}  // namespace ipclab::lab04
