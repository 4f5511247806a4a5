// Lab 04 — a priority job dispatcher on a POSIX message queue. `submit_job` sends a job
// (id, priority, submit time, command) into the queue; `job_dispatcher` runs the jobs with
// /bin/sh, highest priority first, FIFO within a priority, with an aging rule that bounds
// starvation. You write the files in src/: job.cpp (the message format and job ids),
// queue.cpp (creating, opening, submitting, unlinking), policy.cpp (which job runs next)
// and dispatcher.cpp (the event loop). The two programs in main/ are given.
#pragma once

#include <chrono>       // std::chrono::milliseconds
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t, std::int64_t
#include <optional>     // std::optional
#include <span>         // std::span
#include <string>       // std::string
#include <string_view>  // std::string_view

#include "ipclab/mq.hpp"     // ipclab::PosixMq
#include "ipclab/names.hpp"  // ipclab::names::posix, ipclab::names::path

namespace ipclab::lab04 {

/// Job priorities are 0..31: POSIX guarantees at least 32 message priorities
/// (MQ_PRIO_MAX >= 32; Linux has 32768), so 0..31 works on every system. 31 is the highest.
inline constexpr unsigned kMaxPriority = 31;

/// The queue's attributes when job_dispatcher creates it: Linux's defaults and ceilings for
/// unprivileged processes (/proc/sys/fs/mqueue/msg_max = 10, msgsize_max = 8192).
inline constexpr long kDefaultMaxMsgs = 10;
inline constexpr long kDefaultMsgSize = 8192;

/// The default queue name (`--queue`), made into "/ipclab.<ns>.jobs" by ipclab::names.
inline constexpr const char* kDefaultQueue = "jobs";

/// A job as it travels through the queue.
struct Job {
  std::uint64_t id = 0;        ///< unique, increasing in the order ids were handed out
  unsigned priority = 0;       ///< 0..kMaxPriority; also the message's MQ priority
  std::int64_t submit_ns = 0;  ///< CLOCK_MONOTONIC (ipclab::now_ns()) when the id was taken
  std::string cmd;             ///< run with /bin/sh -c
  bool operator==(const Job&) const = default;
};

/// Size of the fixed header that precedes the command in every message:
/// magic (u32), priority (u32), id (u64), submit_ns (i64), in host byte order.
inline constexpr std::size_t kHeaderSize = 24;
/// The first four bytes of every job message ("JOB1" read as a little-endian u32).
inline constexpr std::uint32_t kJobMagic = 0x31424f4a;

// ---- src/job.cpp ------------------------------------------------------------------------

/**
 * @brief The bytes of one message: the 24-byte header, then the command (no terminator).
 * TODO(lab04): implement in src/job.cpp.
 */
std::string encode_job(const Job& job);

/**
 * @brief Decodes a message made by encode_job.
 * @return the job, or std::nullopt if the bytes are not a job message (shorter than the
 *         header, wrong magic, priority above kMaxPriority): the dispatcher drops those.
 * TODO(lab04): implement in src/job.cpp.
 */
std::optional<Job> decode_job(std::string_view bytes);

/**
 * @brief Hands out the next job id from a counter file: 1, 2, 3, ...
 *
 * The file holds the last id handed out, in decimal (missing or empty: 0). Any number of
 * processes may call this at once: the read-increment-write happens under an fcntl(2)
 * write lock on the file (F_SETLKW), so every caller gets a different id, and ids grow in
 * the order callers got the lock.
 *
 * @param counter_path  a regular file, created (mode 0600) if missing
 * @throws ipclab::SysError if the file cannot be opened, locked, read or written
 * TODO(lab04): implement in src/job.cpp.
 */
std::uint64_t next_job_id(const std::string& counter_path);

// ---- src/queue.cpp ----------------------------------------------------------------------

/// "/ipclab.<ns>.<queue>": the POSIX name of a queue (ipclab::names::posix).
inline std::string queue_posix_name(const std::string& queue) { return names::posix(queue); }
/// "<rundir>/<queue>.ids": the job-id counter file of a queue (ipclab::names::path).
inline std::string queue_counter_path(const std::string& queue) {
  return names::path(queue + ".ids");
}

struct QueueAttrs {
  long max_msgs = kDefaultMaxMsgs;  ///< mq_maxmsg: how many jobs the queue holds
  long msg_size = kDefaultMsgSize;  ///< mq_msgsize: header + the longest command
};

/**
 * @brief Opens the queue for the dispatcher (O_RDWR), creating it with `attrs` if missing.
 *
 * An existing queue is opened as it is (its jobs stay; its attributes win over `attrs`).
 * If the kernel refuses the attributes, the error names the limit that was hit and its
 * value: msg_max or msgsize_max (/proc/sys/fs/mqueue; a process with CAP_SYS_RESOURCE
 * may pass them, but never the kernel's hard ceilings of 65536 messages and 16 MiB per
 * message), RLIMIT_MSGQUEUE (`ulimit -q`, bytes per user, EMFILE), or queues_max (ENOSPC).
 *
 * @throws ipclab::UsageError if an attribute is not positive, or msg_size cannot hold the
 *         header and at least one byte of command
 * @throws ipclab::SysError (errno kept) whose message names the limit, as above
 * TODO(lab04): implement in src/queue.cpp.
 */
PosixMq create_queue(const std::string& queue, const QueueAttrs& attrs);

struct SubmitRequest {
  std::string queue = kDefaultQueue;
  long priority = 0;  ///< a long, so that -1 and 99 arrive here and are rejected
  std::string cmd;
  std::chrono::milliseconds timeout{5000};  ///< how long to wait while the queue is full
};

/**
 * @brief Sends one job: validates, takes an id, and sends with mq_timedsend.
 *
 * The message's MQ priority is the job's priority. If the queue stays full for
 * req.timeout, gives up.
 *
 * @return the job's id
 * @throws ipclab::UsageError if the priority is outside 0..kMaxPriority, the command is
 *         empty, or the message would be longer than the queue's mq_msgsize (checked before
 *         an id is taken)
 * @throws ipclab::OperationFailed "queue full ..." if the queue stayed full until the
 *         timeout; "no queue ..." if the queue does not exist (start job_dispatcher first)
 * TODO(lab04): implement in src/queue.cpp.
 */
std::uint64_t submit_job(const SubmitRequest& req);

/**
 * @brief Removes the queue (mq_unlink) and its id counter file.
 * @return false if the queue did not exist
 * TODO(lab04): implement in src/queue.cpp.
 */
bool unlink_queue(const std::string& queue);

// ---- src/policy.cpp ---------------------------------------------------------------------

/**
 * @brief Which pending job starts next: the scheduling rule (README, "The rule").
 *
 * A job is *aged* when aging > 0 and it has waited longer than `aging`:
 * now_ns - submit_ns > aging. Then:
 *   1. if any job is aged, the aged job with the smallest id (the oldest) goes first;
 *   2. otherwise the job with the highest priority, and among those the smallest id.
 * aging == 0 turns aging off (strict priority).
 *
 * @param pending  the jobs waiting (not empty); their order in the span does not matter
 * @return the index in `pending` of the job to start
 * @throws ipclab::UsageError if pending is empty
 * TODO(lab04): implement in src/policy.cpp.
 */
std::size_t pick_next(std::span<const Job> pending, std::int64_t now_ns,
                      std::chrono::milliseconds aging);

// ---- src/dispatcher.cpp -----------------------------------------------------------------

struct DispatcherOptions {
  std::string queue = kDefaultQueue;
  int workers = 1;                        ///< jobs run at the same time
  std::chrono::milliseconds aging{5000};  ///< 0: no aging
  bool notify = false;                    ///< wait with mq_notify instead of poll(2)
  QueueAttrs attrs;                       ///< used only when the queue is created
};

/**
 * @brief The dispatcher: runs jobs from the queue until SIGINT or SIGTERM.
 *
 * Prints on stdout (line-buffered, flushed before each job starts):
 *   `Dispatcher running, queue: QUEUE` once, then
 *   `Dispatcher: ready on QUEUE (M x S bytes, N workers, aging A ms, poll|notify)` once
 *   `Dispatcher: Processing job K (priority P): CMD` before job K starts
 *   `Dispatcher: Finished job K: exited with status S` (or `killed by signal ...`)
 * Each job runs as `/bin/sh -c CMD`, with the dispatcher's stdout and stderr.
 *
 * Contract (README, "The design"):
 *  - Every decision is taken over every job in the queue at that moment: the dispatcher
 *    receives the whole queue, starts pick_next() while a worker is free, and sends the
 *    jobs it did not start back into the queue (with their own priority, id and submit
 *    time). So the queue stays the store of the waiting jobs, and backpressure works.
 *  - Waiting for work: poll(2) on the queue descriptor (Linux), or with notify, mq_notify
 *    (SIGEV_SIGNAL), re-armed every time *before* the queue is drained again.
 *  - SIGINT/SIGTERM: start nothing new; jobs not started stay in (or go back to) the queue;
 *    running jobs finish; then return 0. A job that cannot go back (a full queue) is run
 *    rather than lost.
 *
 * @return the exit status for the program (0 after a clean shutdown)
 * @throws ipclab::SysError / ipclab::OperationFailed on queue errors (see create_queue)
 * TODO(lab04): implement in src/dispatcher.cpp.
 */
int run_dispatcher(const DispatcherOptions& opts);

}  // namespace ipclab::lab04
