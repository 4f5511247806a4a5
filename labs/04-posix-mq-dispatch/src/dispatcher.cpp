// Lab 04 reference: the dispatcher's event loop (see dispatch.hpp and README, "The design").
//
// The problem: the aging rule needs the ages of *all* waiting jobs, but a message queue
// cannot be peeked: mq_receive hands out only the highest-priority message. And SIGTERM
// must leave the waiting jobs in the queue for the next dispatcher.
//
// The design: the queue is the store of the waiting jobs; the dispatcher borrows them only
// for the moment of a decision. When a worker is free it
//   1. (notify mode) re-arms mq_notify, *before* draining, so a message that arrives after
//      the last receive still raises a notification;
//   2. drains the queue into `pending_` (non-blocking receives until it is empty);
//   3. starts pick_next(pending_) while a worker is free;
//   4. sends the jobs it did not start back into the queue with their own priority (the
//      message still carries id and submit time, so nothing about a job changes).
// So every decision sees every waiting job (the aging bound holds), and between decisions
// the waiting jobs sit in the queue (backpressure works, SIGTERM leaves them there, and a
// restarted dispatcher finds them). While every worker is busy the queue is not touched.
//
// A job stays in `pending_` only if it could not go back: a submitter blocked in
// mq_timedsend took the free slot first. Such jobs take part in the next decision; at
// shutdown the ones that still do not fit are run rather than lost.
//
// At least once: every job started is in the journal (lab04/journal.hpp) until it has been
// reaped, and runs in a process group of its own that dies with the dispatcher; the next
// dispatcher kills what is left of those groups and runs their jobs again.
//
// Waiting: one poll(2) over the shutdown self-pipe, a pidfd per running job and, when a
// worker is free, either the queue descriptor itself (an mqd_t is a descriptor on Linux)
// or a signalfd that receives mq_notify's signal.
#include <mqueue.h>        // mq_notify
#include <poll.h>          // poll
#include <signal.h>        // sigevent, SIGUSR1, pthread_sigmask
#include <sys/signalfd.h>  // signalfd
#include <unistd.h>        // read

#include <algorithm>  // std::sort
#include <cstdio>     // stdout, std::fflush
#include <vector>     // std::vector

#include <fmt/core.h>  // fmt::print

#include "ipclab/clock.hpp"    // Deadline, now_ns
#include "ipclab/error.hpp"    // check_unix, check_posix, OperationFailed
#include "ipclab/fd.hpp"       // Fd
#include "ipclab/process.hpp"  // spawn, try_wait, pidfd_open
#include "ipclab/signal.hpp"   // ShutdownSignals
#include "lab04/dispatch.hpp"
#include "lab04/journal.hpp"

namespace ipclab::lab04 {
namespace {

constexpr int kNotifySignal = SIGUSR1;  // what mq_notify sends (SIGEV_SIGNAL)
/// The most jobs held in memory during a decision. Draining stops there, so a flood of
/// blocked submitters (each receive lets one of them in) cannot keep the drain going.
constexpr std::size_t kMaxPending = 256;

/// A deadline already reached: a timed send/receive that would block returns at once.
Deadline right_now() { return Deadline(std::chrono::milliseconds(0)); }

struct Running {
  pid_t pid;
  Fd pidfd;  // readable when the job exits; invalid on kernels without pidfd_open
  std::uint64_t id;
};

class Dispatcher {
 public:
  explicit Dispatcher(const DispatcherOptions& opts)
      : opts_(opts), mq_(create_queue(opts.queue, opts.attrs)), journal_(opts.queue) {}

  int run() {
    if (opts_.notify) setup_notify_signal();
    // Jobs a killed dispatcher left running: they take part in the first decision.
    for (Job& job : journal_.recover()) {
      say("Dispatcher: job {} was running when its dispatcher died: it runs again\n", job.id);
      pending_.push_back(std::move(job));
    }
    const mq_attr a = mq_.attr();
    if (a.mq_maxmsg != opts_.attrs.max_msgs || a.mq_msgsize != opts_.attrs.msg_size)
      fmt::print(stderr,
                 "Dispatcher: note: {} already exists with max-msgs {}, msg-size {}; "
                 "--max-msgs/--msg-size apply only when the queue is created\n",
                 mq_.name(), a.mq_maxmsg, a.mq_msgsize);
    say("Dispatcher running, queue: {}\n", mq_.name());  // the course guide's line
    say("Dispatcher: ready on {} ({} x {} bytes, {} waiting, {} worker{}, aging {} ms, {})\n",
        mq_.name(), a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs, opts_.workers,
        opts_.workers == 1 ? "" : "s", opts_.aging.count(), opts_.notify ? "notify" : "poll");
    bool stopping = false;
    for (;;) {
      if (!stopping && shutdown_.requested()) {
        stopping = true;
        begin_shutdown();
      }
      if (!stopping && free_worker()) {
        if (opts_.notify) arm_notify();  // before draining: see the file comment
        drain();
        dispatch();
        put_back();
      } else if (stopping) {
        dispatch();  // only jobs that could not go back into a full queue
      }
      if (stopping && running_.empty() && pending_.empty()) break;
      wait_for_event(stopping);
    }
    say("Dispatcher: stopped, {} jobs left in {}\n", mq_.attr().mq_curmsgs, mq_.name());
    return 0;
  }

 private:
  template <typename... Args>
  static void say(fmt::format_string<Args...> f, Args&&... args) {
    fmt::print(stdout, f, std::forward<Args>(args)...);
    (void)std::fflush(stdout);  // before a job starts and writes to the same stdout
  }

  bool free_worker() const { return running_.size() < static_cast<std::size_t>(opts_.workers); }

  void setup_notify_signal() {
    // Blocked, so that it is never delivered as a signal (its default action would kill
    // us): it is read from the signalfd instead. spawn() unblocks it in the jobs.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, kNotifySignal);
    check_posix(::pthread_sigmask(SIG_BLOCK, &set, nullptr), "pthread_sigmask");
    notify_fd_ = Fd(check_unix(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK), "signalfd"));
  }

  /// Registers for one notification. mq_notify is one-shot: the kernel drops the
  /// registration when it sends the signal, so it is re-armed after every notification.
  void arm_notify() {
    if (armed_) return;
    sigevent sev{};
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = kNotifySignal;
    if (::mq_notify(mq_.native(), &sev) < 0) {
      if (errno == EBUSY)
        throw OperationFailed(
            fmt::format("another process is registered with mq_notify on {} (a second dispatcher?)",
                        mq_.name()));
      throw_errno("mq_notify(\"{}\")", mq_.name());
    }
    armed_ = true;
  }

  /// Reads the signalfd empty; a notification (SI_MESGQ) means the registration is gone.
  void consume_notifications() {
    signalfd_siginfo si{};
    while (::read(notify_fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si))
      if (si.ssi_signo == static_cast<unsigned>(kNotifySignal) && si.ssi_code == SI_MESGQ)
        armed_ = false;
  }

  void drain() {
    while (pending_.size() < kMaxPending) {
      auto m = mq_.receive(right_now());
      if (!m) return;  // empty
      if (auto job = decode_job(m->data))
        pending_.push_back(std::move(*job));
      else
        fmt::print(stderr, "Dispatcher: dropped a message that is not a job ({} bytes)\n",
                   m->data.size());
    }
  }

  void dispatch() {
    while (free_worker() && !pending_.empty()) {
      const std::size_t i = pick_next(pending_, now_ns(), opts_.aging);
      Job job = std::move(pending_[i]);
      pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
      start(job);
    }
  }

  /// Sends the jobs not started back, oldest first (so the queue stays FIFO within each
  /// priority); keeps those that find the queue full.
  void put_back() {
    std::sort(pending_.begin(), pending_.end(),
              [](const Job& a, const Job& b) { return a.id < b.id; });
    std::vector<Job> kept;
    for (auto& job : pending_)
      if (!mq_.send(encode_job(job), job.priority, right_now())) kept.push_back(std::move(job));
    pending_ = std::move(kept);
  }

  void start(const Job& job) {
    say("Dispatcher: Processing job {} (priority {}): {}\n", job.id, job.priority, job.cmd);
    journal_.begin(job);  // before it starts: a kill -9 from here on cannot lose it
    SpawnOptions so;
    so.new_process_group = true;       // the next dispatcher can kill what is left of it
    so.parent_death_signal = SIGKILL;  // and it does not outlive us unseen
    const pid_t pid = spawn({"/bin/sh", "-c", job.cmd}, so);
    journal_.started(job.id, pid);
    running_.push_back({pid, pidfd_open(pid), job.id});
  }

  void reap_finished() {
    for (auto it = running_.begin(); it != running_.end();) {
      if (auto status = try_wait(it->pid)) {
        say("Dispatcher: Finished job {}: {}\n", it->id, status->describe());
        journal_.end(it->id);
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void begin_shutdown() {
    put_back();
    say("Dispatcher: stopping ({}): {} jobs left in {}, waiting for {} running\n",
        shutdown_.signal() == SIGINT ? "SIGINT" : "SIGTERM", mq_.attr().mq_curmsgs, mq_.name(),
        running_.size());
    if (!pending_.empty())
      fmt::print(stderr,
                 "Dispatcher: the queue is full; running {} jobs that cannot go back into it\n",
                 pending_.size());
  }

  void wait_for_event(bool stopping) {
    std::vector<pollfd> fds;
    if (!stopping) fds.push_back({shutdown_.fd(), POLLIN, 0});
    if (!stopping && free_worker())
      fds.push_back({opts_.notify ? notify_fd_.get() : mq_.native(), POLLIN, 0});
    bool all_pidfds = true;
    for (const auto& r : running_) {
      if (r.pidfd.valid())
        fds.push_back({r.pidfd.get(), POLLIN, 0});
      else
        all_pidfds = false;
    }
    // Without pidfds (old kernels), look at the jobs every 50 ms.
    if (::poll(fds.data(), fds.size(), all_pidfds ? -1 : 50) < 0 && errno != EINTR)
      throw_errno("poll");
    if (opts_.notify) consume_notifications();
    reap_finished();
  }

  ShutdownSignals shutdown_;  // first: a signal during set-up is not lost
  DispatcherOptions opts_;
  PosixMq mq_;
  JobJournal journal_;        // the jobs started and not yet reaped
  std::vector<Job> pending_;  // taken from the queue, not started, not (yet) put back
  std::vector<Running> running_;
  Fd notify_fd_;        // signalfd for kNotifySignal (notify mode)
  bool armed_ = false;  // a notification is registered and not yet delivered
};

}  // namespace

int run_dispatcher(const DispatcherOptions& opts) {
  if (opts.workers < 1) throw UsageError("workers must be at least 1");
  if (opts.aging.count() < 0) throw UsageError("aging must not be negative");
  Dispatcher d(opts);
  return d.run();
}

}  // namespace ipclab::lab04
