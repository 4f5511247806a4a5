// Lab 06, given: the benchmark harness. Plans the runs, forks the two sides of each run,
// supervises them, and collects their numbers. See include/lab06/bench.hpp for the method.
//
// Why a supervisor: the process that blocks on a channel cannot also notice that its peer
// died (a POSIX or SysV queue, a semaphore has no end of file), was interrupted, or
// stalled. So the parent never touches a channel: it creates the Transport, forks side A
// and side B (both single-threaded copies of this process, which run only the benchmark
// loop and leave with _exit), and waits on their pidfds, the shutdown self-pipe and a
// progress counter in shared memory. Whatever goes wrong, it kills both sides, reaps
// them, and destroys the Transport, which removes every named object.
#include <poll.h>       // poll
#include <sys/prctl.h>  // PR_SET_PDEATHSIG
#include <sys/wait.h>   // waitpid
#include <unistd.h>     // fork, _exit

#include <algorithm>  // std::min
#include <atomic>     // std::atomic
#include <csignal>    // SIGINT, SIGTERM, SIGKILL
#include <cstdio>     // stderr
#include <cstring>    // std::memcpy
#include <new>        // placement new
#include <stdexcept>  // std::runtime_error

#include <fmt/core.h>

#include "ipclab/bench.hpp"    // place, pin_this_thread
#include "ipclab/clock.hpp"    // now_ns, Stopwatch
#include "ipclab/error.hpp"    // UsageError, OperationFailed, NotImplemented, SysError
#include "ipclab/fd.hpp"       // Fd
#include "ipclab/process.hpp"  // WaitStatus, kill_and_reap, pidfd_open
#include "ipclab/shm.hpp"      // Mapping::anonymous_shared
#include "ipclab/signal.hpp"   // ShutdownSignals, ignore_sigpipe
#include "ipclab/stats.hpp"    // Histogram
#include "lab06/bench.hpp"
#include "lab06/payload.hpp"

namespace ipclab::lab06 {
namespace {

// ---- what the two sides share with the supervisor ---------------------------------------

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "progress counters live in shared memory: they must be lock-free (address-free)");

enum class Outcome : int { kOk = 0, kBadMessage, kFailed, kUsage, kSystem, kNotImplemented };

struct SideState {
  std::atomic<std::uint64_t> progress{0};  // messages moved; the supervisor's stall check reads it
  Outcome outcome = Outcome::kOk;
  char error[768] = {};
};

/// Placed in an anonymous shared mapping made before fork. Each field has one writer (a
/// side); the supervisor reads the results only after reaping the writer.
struct SharedRun {
  SideState side[2];
  std::int64_t stream_ns = 0;  // written by A
  Histogram rtt;               // written by A
};

// ---- the two sides ----------------------------------------------------------------------

/// A received message failed verification: the root cause whenever it happens.
class BadMessage : public OperationFailed {
 public:
  using OperationFailed::OperationFailed;
};

/// One side's message loop: sequence numbers per direction, verification, progress.
class Endpoint {
 public:
  Endpoint(Channel& ch, Mechanism m, Side side, std::size_t size, SideState& state)
      : ch_(ch),
        mech_(m),
        side_(side),
        out_(size),
        in_(size),
        state_(state),
        corrupt_(side == Side::kA ? bench::corrupt_hook() : -1) {}

  void send(const char* phase) {
    fill_message(out_, seq_out_);
    if (corrupt_ >= 0 && static_cast<std::uint64_t>(corrupt_) == seq_out_) {
      out_.back() ^= std::byte{0x10};  // one bit of the last body byte (or of the checksum)
      fmt::print(stderr, "ipc_benchmark: {}: test hook: corrupted {} message {}\n",
                 mechanism_name(mech_), phase, seq_out_);
    }
    ch_.send(out_);
    ++seq_out_;
    tick();
  }

  void recv(const char* phase) {
    ch_.recv(in_);
    if (const Verdict v = verify_message(in_, seq_in_); v != Verdict::kOk)
      throw BadMessage(
          fmt::format("{}: verification failed: message {} ({}, {}): {} (header says {})",
                      mechanism_name(mech_), seq_in_, side_ == Side::kA ? "B->A" : "A->B", phase,
                      verdict_text(v), message_sequence(in_)));
    ++seq_in_;
    tick();
  }

 private:
  void tick() { state_.progress.store(++moved_, std::memory_order_relaxed); }

  Channel& ch_;
  Mechanism mech_;
  Side side_;
  std::vector<std::byte> out_, in_;
  SideState& state_;
  std::uint64_t seq_out_ = 0, seq_in_ = 0, moved_ = 0;
  // The A->B message IPCLAB_BENCH_CORRUPT corrupts, or -1. A->B numbers count the warm-up
  // messages first, then the stream, then the round trips.
  std::int64_t corrupt_;
};

/// The protocol. Every message, control messages included, is a full verified message.
///   B -> A  ready                      (both ends open and running)
///   A -> B  warm-up stream; B -> A ack
///   A -> B  timed stream;   B -> A ack (A's clock stops here)
///   A <-> B warm-up round trips, then timed round trips (A times each)
void side_a(Channel& ch, Mechanism m, const Params& p, std::uint64_t round_trips,
            SharedRun& shared) {
  Endpoint e(ch, m, Side::kA, p.msg_size, shared.side[0]);
  e.recv("ready");
  for (std::uint64_t i = 0; i < p.warmup; ++i) e.send("warm-up");
  e.recv("ack");
  const std::int64_t t0 = now_ns();
  for (std::uint64_t i = 0; i < p.iterations; ++i) e.send("stream");
  e.recv("ack");
  shared.stream_ns = now_ns() - t0;
  for (std::uint64_t i = 0; i < p.warmup; ++i) {
    e.send("warm-up round trip");
    e.recv("warm-up round trip");
  }
  for (std::uint64_t i = 0; i < round_trips; ++i) {
    const std::int64_t t = now_ns();
    e.send("round trip");
    e.recv("round trip");
    shared.rtt.record(now_ns() - t);
  }
}

void side_b(Channel& ch, Mechanism m, const Params& p, std::uint64_t round_trips,
            SharedRun& shared) {
  Endpoint e(ch, m, Side::kB, p.msg_size, shared.side[1]);
  e.send("ready");
  for (std::uint64_t i = 0; i < p.warmup; ++i) e.recv("warm-up");
  e.send("ack");
  for (std::uint64_t i = 0; i < p.iterations; ++i) e.recv("stream");
  e.send("ack");
  for (std::uint64_t i = 0; i < p.warmup + round_trips; ++i) {
    e.recv("round trip");
    e.send("round trip");
  }
}

void record_error(SideState& s, Outcome o, const std::string& what) {
  s.outcome = o;
  const std::size_t n = std::min(what.size(), sizeof s.error - 1);
  std::memcpy(s.error, what.data(), n);
  s.error[n] = '\0';
}

/// The child's whole life: it never returns, and leaves with _exit so that no destructor
/// of the parent's objects (the Transport!) runs in it.
[[noreturn]] void child_main(Transport& t, Side side, Mechanism m, const Params& p,
                             const Plan& plan, SharedRun& shared, pid_t supervisor) {
  SideState& state = shared.side[side == Side::kA ? 0 : 1];
  const char* who = side == Side::kA ? "side A" : "side B";
  try {
    // Die with the supervisor; take SIGINT/SIGTERM's default action (the supervisor
    // cleans up); see EPIPE rather than die of SIGPIPE.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != supervisor) ::_exit(1);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGINT, &dfl, nullptr);
    ::sigaction(SIGTERM, &dfl, nullptr);
    ignore_sigpipe();
    if (!plan.cpus.empty()) bench::pin_this_thread(plan.cpus[side == Side::kA ? 0 : 1]);
    auto ch = t.open(side);
    if (!ch) throw NotImplemented("Transport::open returned no channel");
    if (side == Side::kA)
      side_a(*ch, m, p, plan.round_trips, shared);
    else
      side_b(*ch, m, p, plan.round_trips, shared);
    ch.reset();
    ::_exit(0);
  } catch (const BadMessage& e) {
    record_error(state, Outcome::kBadMessage, e.what());
  } catch (const OperationFailed& e) {
    record_error(state, Outcome::kFailed, e.what());
  } catch (const UsageError& e) {
    record_error(state, Outcome::kUsage,
                 fmt::format("{}: {}: {}", mechanism_name(m), who, e.what()));
  } catch (const NotImplemented& e) {
    record_error(state, Outcome::kNotImplemented,
                 fmt::format("{}: {}: {}", mechanism_name(m), who, e.what()));
  } catch (const std::exception& e) {
    record_error(state, Outcome::kSystem,
                 fmt::format("{}: {}: {}", mechanism_name(m), who, e.what()));
  } catch (...) {
    record_error(state, Outcome::kSystem,
                 fmt::format("{}: {}: unknown exception", mechanism_name(m), who));
  }
  ::_exit(1);
}

// ---- the supervisor ---------------------------------------------------------------------

/// A forked side, killed and reaped by the destructor unless already reaped.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { kill(); }
  void start(pid_t pid) {
    pid_ = pid;
    // A pidfd becomes readable when the process exits: poll it with everything else.
    pidfd_ = pidfd_open(pid);
    if (!pidfd_.valid()) throw_errno("pidfd_open({}) (Linux 5.3 or later is needed)", pid);
  }
  bool running() const { return pid_ > 0 && !status_; }
  int pidfd() const { return pidfd_.get(); }
  /// Gives a side that is ending anyway (its peer is gone) up to `timeout` to exit by itself.
  void await_exit(std::chrono::milliseconds timeout) {
    if (!running()) return;
    pollfd fd{pidfd_.get(), POLLIN, 0};
    const Deadline deadline(timeout);
    while (!deadline.expired() && ::poll(&fd, 1, deadline.poll_ms()) < 0 && errno == EINTR) {
    }
    if ((fd.revents & POLLIN) != 0) reap();
  }
  const WaitStatus& reap() {
    status_ = wait_for(pid_);
    pidfd_.reset();
    return *status_;
  }
  void kill() noexcept {
    if (running()) {
      status_ = kill_and_reap(pid_);
      pidfd_.reset();
    }
  }

 private:
  pid_t pid_ = -1;
  Fd pidfd_;
  std::optional<WaitStatus> status_;
};

[[noreturn]] void throw_interrupted(const ShutdownSignals& shutdown) {
  throw OperationFailed(fmt::format(
      "interrupted by {}: stopped before the end, every IPC object removed, nothing reported",
      shutdown.signal() == SIGTERM ? "SIGTERM" : "SIGINT"));
}

/// Rethrows what a side reported, with the exception type that gives its exit code.
[[noreturn]] void throw_side_error(const SideState& s, Mechanism m, const char* who,
                                   const WaitStatus& st) {
  const std::string text = s.error;
  switch (s.outcome) {
    case Outcome::kBadMessage:
    case Outcome::kFailed:
      throw OperationFailed(text);
    case Outcome::kUsage:
      throw UsageError(text);
    case Outcome::kNotImplemented:
      throw NotImplemented(text);
    case Outcome::kSystem:
      throw std::runtime_error(text);
    case Outcome::kOk:
      break;
  }
  throw std::runtime_error(
      fmt::format("{}: {} {} without reporting why", mechanism_name(m), who, st.describe()));
}

struct RunNumbers {
  double msgs_per_s = 0;
  double rtt_avg_ns = 0, rtt_p50_ns = 0, rtt_p99_ns = 0;
};

RunNumbers run_once(Mechanism m, const Params& p, const Plan& plan,
                    const ShutdownSignals& shutdown) {
  Mapping mem = Mapping::anonymous_shared(sizeof(SharedRun));
  auto* shared = new (mem.data()) SharedRun{};
  // Order of destruction matters: the children die (members of `kids`, declared after the
  // transport) before the transport removes the objects they use.
  std::unique_ptr<Transport> transport = make_transport(m, p.msg_size);
  if (!transport) throw NotImplemented(fmt::format("{}: no transport", mechanism_name(m)));
  Child kids[2];
  const pid_t self = ::getpid();
  for (int i = 0; i < 2; ++i) {
    (void)std::fflush(nullptr);  // nothing buffered may be written twice by a child
    const pid_t pid = check_unix(::fork(), "fork");
    if (pid == 0) child_main(*transport, i == 0 ? Side::kA : Side::kB, m, p, plan, *shared, self);
    kids[i].start(pid);
  }

  const char* who[2] = {"side A", "side B"};
  std::uint64_t last[2] = {0, 0};
  Stopwatch since_progress;
  while (kids[0].running() || kids[1].running()) {
    pollfd fds[3] = {
        {kids[0].pidfd(), POLLIN, 0}, {kids[1].pidfd(), POLLIN, 0}, {shutdown.fd(), POLLIN, 0}};
    const int rc = ::poll(fds, 3, 100);
    if (rc < 0 && errno != EINTR) throw_errno("poll");
    if (shutdown.requested()) throw_interrupted(shutdown);  // ~Child kills, ~Transport removes
    for (int i = 0; i < 2; ++i) {
      if (!kids[i].running() || rc <= 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
      const WaitStatus st = kids[i].reap();
      if (st.exited() && st.exit_code() == 0) continue;
      // The first side to die is not always the culprit: a side that finds a bad message
      // exits, and its peer then sees end of file (or EPIPE) and exits too, possibly first
      // to be noticed. A verification failure is the root cause whichever side has it.
      if (shared->side[i].outcome != Outcome::kBadMessage) kids[1 - i].await_exit(1000ms);
      kids[1 - i].kill();
      if (shared->side[1 - i].outcome == Outcome::kBadMessage)
        throw_side_error(shared->side[1 - i], m, who[1 - i], st);
      // Ctrl-C reaches the whole process group: a side killed by it means "interrupted".
      if (st.signaled() && (st.signal() == SIGINT || st.signal() == SIGTERM))
        throw OperationFailed(
            fmt::format("interrupted by {}: every IPC object removed, nothing "
                        "reported",
                        st.signal() == SIGINT ? "SIGINT" : "SIGTERM"));
      throw_side_error(shared->side[i], m, who[i], st);
    }
    bool moved = false;
    for (int i = 0; i < 2; ++i) {
      const std::uint64_t now = shared->side[i].progress.load(std::memory_order_relaxed);
      moved = moved || now != last[i];
      last[i] = now;
    }
    if (moved) since_progress.reset();
    if (since_progress.elapsed_ns() > p.stall_timeout.count() * 1'000'000) {
      kids[0].kill();
      kids[1].kill();
      throw OperationFailed(fmt::format(
          "{}: no progress for {:.1f} s (side A moved {} messages, side B {}): a message was "
          "lost or a side is blocked forever",
          mechanism_name(m), static_cast<double>(p.stall_timeout.count()) / 1000, last[0],
          last[1]));
    }
  }

  RunNumbers r;
  r.msgs_per_s = shared->stream_ns > 0 ? static_cast<double>(p.iterations) * 1e9 /
                                             static_cast<double>(shared->stream_ns)
                                       : 0;
  r.rtt_avg_ns = shared->rtt.mean();
  r.rtt_p50_ns = static_cast<double>(shared->rtt.percentile(50));
  r.rtt_p99_ns = static_cast<double>(shared->rtt.percentile(99));
  shared->~SharedRun();
  return r;
}

}  // namespace

Plan make_plan(const Params& p) {
  Plan plan;
  if (p.msg_size < kMinMessageSize)
    throw UsageError(fmt::format(
        "--msg-size {} is below the minimum {} (every message carries an 8-byte sequence "
        "number and an 8-byte checksum)",
        p.msg_size, kMinMessageSize));
  const std::vector<Mechanism> wanted =
      p.mechanisms.empty() ? std::vector<Mechanism>(kAllMechanisms.begin(), kAllMechanisms.end())
                           : p.mechanisms;
  std::string limits;
  for (Mechanism m : wanted) {
    const MessageLimit lim = message_limit(m);
    if (p.msg_size <= lim.bytes) {
      plan.run.push_back(m);
      continue;
    }
    const std::string why = fmt::format("--msg-size {} exceeds {} limit {} ({})", p.msg_size,
                                        mechanism_name(m), lim.bytes, lim.source);
    if (p.mechanisms_explicit) throw UsageError(why);
    plan.skipped.push_back({m, why});
    limits += fmt::format("{}{} {}", limits.empty() ? "" : ", ", mechanism_name(m), lim.bytes);
  }
  if (plan.run.empty())
    throw UsageError(
        fmt::format("--msg-size {} exceeds the limit of every mechanism ({})", p.msg_size, limits));
  plan.round_trips =
      p.round_trips != 0 ? p.round_trips : std::min<std::uint64_t>(p.iterations, 10000);

  bench::Placement placement = bench::place(p.pin);
  plan.cpus = std::move(placement.cpus);
  plan.pin_text = std::move(placement.text);
  return plan;
}

Report run_benchmark(const Params& p, const Plan& plan, const ShutdownSignals& shutdown) {
  Report report;
  report.params = p;
  report.plan = plan;
  const std::vector<Mechanism> order =
      p.mechanisms.empty() ? std::vector<Mechanism>(kAllMechanisms.begin(), kAllMechanisms.end())
                           : p.mechanisms;
  for (Mechanism m : order) {
    MechanismRuns r{m, {}, {}, {}, {}, {}};
    for (const auto& s : plan.skipped)
      if (s.mech == m) r.skipped = s.reason;
    report.results.push_back(std::move(r));
  }
  report.baseline = plan.run.front();
  for (Mechanism m : plan.run)
    if (m == Mechanism::kPipe) report.baseline = m;

  const std::size_t n = plan.run.size();
  for (int round = 0; round < p.runs; ++round) {
    // Interleaved: every mechanism once per round, the starting one turning each round.
    for (std::size_t k = 0; k < n; ++k) {
      const Mechanism m = plan.run[(k + static_cast<std::size_t>(round)) % n];
      if (shutdown.requested()) throw_interrupted(shutdown);
      if (p.progress)
        fmt::print(stderr, "\rround {}/{}: {:<10}", round + 1, p.runs, mechanism_name(m));
      const RunNumbers num = run_once(m, p, plan, shutdown);
      for (auto& r : report.results) {
        if (r.mech != m) continue;
        r.msgs_per_s.push_back(num.msgs_per_s);
        r.rtt_avg_ns.push_back(num.rtt_avg_ns);
        r.rtt_p50_ns.push_back(num.rtt_p50_ns);
        r.rtt_p99_ns.push_back(num.rtt_p99_ns);
      }
    }
  }
  if (p.progress) fmt::print(stderr, "\r{:40}\r", "");
  return report;
}

}  // namespace ipclab::lab06
