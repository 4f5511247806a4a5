// Lab 04: creating the queue (and naming the limit that refused it), submitting a job,
// unlinking. Read the contract in include/lab04/dispatch.hpp and README §Limits.
#include "ipclab/error.hpp"  // ipclab::UsageError, ipclab::OperationFailed, NotImplemented
#include "lab04/dispatch.hpp"

namespace ipclab::lab04 {

PosixMq create_queue([[maybe_unused]] const std::string& queue,
                     [[maybe_unused]] const QueueAttrs& attrs) {
  // TODO(lab04): check the attributes (UsageError), then PosixMq::create(name, max_msgs,
  // msg_size, O_RDWR, /*exclusive=*/false). If it throws SysError with EINVAL, EMFILE or
  // ENOSPC, throw a new SysError (same errno) whose message says which limit was hit and
  // its value: msgsize_max / msg_max (and the hard ceilings 16777216 / 65536),
  // RLIMIT_MSGQUEUE (above it only if max_msgs * msg_size is; else used up by other
  // queues, or out of descriptors), queues_max. PosixMq::limit_msg_max(),
  // limit_msgsize_max() and limit_queues_max() read /proc/sys/fs/mqueue for you.
  throw NotImplemented("TODO(lab04): implement create_queue() in src/queue.cpp");
}

std::uint64_t submit_job([[maybe_unused]] const SubmitRequest& req) {
  // TODO(lab04): validate (priority 0..31, non-empty command: UsageError), open the queue
  // O_WRONLY (missing: OperationFailed "no queue ..."), check the message fits mq_msgsize,
  // take an id (next_job_id), stamp now_ns(), and send with the job's priority and a
  // Deadline(req.timeout). A send that times out is OperationFailed("queue full ...").
  throw NotImplemented("TODO(lab04): implement submit_job() in src/queue.cpp");
}

bool unlink_queue([[maybe_unused]] const std::string& queue) {
  // TODO(lab04): PosixMq::unlink the queue, and remove its counter file.
  throw NotImplemented("TODO(lab04): implement unlink_queue() in src/queue.cpp");
}

}  // namespace ipclab::lab04
