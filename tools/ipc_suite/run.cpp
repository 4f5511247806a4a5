// The driver: see run.hpp. Messages are lab 06's (payload.hpp): a sequence number, a checksum
// seeded with it, a body that depends on it. Here the sequence number also says who sent it
// and whether it is the sender's last:
//
//   bit 63      last message of this stream (the receiver stops after it)
//   bits 40-47  producer number (stress runs; 0 in a benchmark)
//   bits 0-39   the producer's message number: 0, 1, 2, ...
#include <poll.h>       // poll
#include <sys/prctl.h>  // prctl, PR_SET_PDEATHSIG
#include <unistd.h>     // fork, _exit

#include <algorithm>  // std::min
#include <atomic>     // std::atomic
#include <csignal>    // signal, SIGKILL
#include <cstdio>     // std::snprintf
#include <cstring>    // std::strncpy
#include <optional>   // std::optional

#include <fmt/core.h>

#include "ipclab/clock.hpp"    // now_ns, Deadline
#include "ipclab/process.hpp"  // pidfd_open, try_wait, kill_and_reap, WaitStatus
#include "ipclab/shm.hpp"      // Mapping
#include "ipclab/signal.hpp"   // ShutdownSignals
#include "ipclab/stats.hpp"    // Histogram
#include "lab06/payload.hpp"   // fill_message, verify_message, message_sequence
#include "run.hpp"

namespace ipclab::suite {
namespace {

constexpr std::uint64_t kLast = std::uint64_t{1} << 63;
constexpr int kProducerShift = 40;
constexpr std::uint64_t kNumberMask = (std::uint64_t{1} << kProducerShift) - 1;
constexpr int kMaxProducers = 64;
/// A run in which no side makes progress this long has stalled.
constexpr std::int64_t kStallNs = 15'000'000'000;

std::uint64_t make_seq(int producer, std::uint64_t n) {
  return static_cast<std::uint64_t>(producer) << kProducerShift | n;
}

/// What the forked sides tell the supervisor: written by them, read after they exit (and
/// the progress counters while they run, to notice a stall).
struct Control {
  struct alignas(64) Progress {
    std::atomic<std::uint64_t> count{0};
  };
  std::array<Progress, kMaxProducers + 1> progress;  // [0..producers): A's; [kMaxProducers]: B
  std::array<std::array<char, 480>, kMaxProducers + 1> error{};
  // the benchmark's numbers (A)
  double msgs_per_s = 0, bytes_per_s = 0, p50_ns = 0, p99_ns = 0;
  std::uint64_t verified_a = 0, verified_b = 0;
  // stress: per producer, messages sent; the consumer's next expected number
  std::array<std::uint64_t, kMaxProducers> sent{};
  std::array<std::atomic<std::uint64_t>, kMaxProducers> next{};
};

/// Damages one message on purpose (bench::corrupt_hook, IPCLAB_BENCH_CORRUPT=N): the N-th
/// message producer 0 sends (warm-up included) leaves with one bit flipped, after it was
/// filled, so only the receiver's check can notice.
class Sender {
 public:
  Sender(Endpoint& ep, int producer, std::size_t size)
      : ep_(ep), msg_(size), corrupt_(producer == 0 ? bench::corrupt_hook() : -1) {}
  std::span<const std::byte> send(std::uint64_t seq) {
    lab06::fill_message(msg_, seq);
    if (static_cast<std::int64_t>(count_++) == corrupt_)
      msg_[msg_.size() > lab06::kHeaderSize ? lab06::kHeaderSize : 8] ^= std::byte{0x10};
    ep_.send(msg_);
    return msg_;
  }
  std::vector<std::byte>& buffer() { return msg_; }

 private:
  Endpoint& ep_;
  std::vector<std::byte> msg_;
  std::int64_t corrupt_;
  std::uint64_t count_ = 0;
};

/// The receiver's check of a stream from `producers` producers: each producer's numbers
/// must arrive in order, none missing, none twice, every checksum right.
class Verifier {
 public:
  Verifier(std::string what, int producers, Control* ctl = nullptr)
      : what_(std::move(what)), next_(static_cast<std::size_t>(producers), 0), ctl_(ctl) {}
  /// True when this was its producer's last message.
  bool check(std::span<const std::byte> msg) {
    const std::uint64_t seq = lab06::message_sequence(msg);
    const lab06::Verdict v = lab06::verify_message(msg, seq);
    if (v != lab06::Verdict::kOk)
      fail("message {} (as its header says) is corrupted: {}", describe(seq),
           lab06::verdict_text(v));
    const auto p = static_cast<std::size_t>((seq & ~kLast) >> kProducerShift);
    const std::uint64_t n = seq & kNumberMask;
    if (p >= next_.size()) fail("message {} is corrupted: no producer {}", describe(seq), p);
    if (n < next_[p]) fail("message {} is duplicated (expected {} next)", describe(seq), next_[p]);
    if (n > next_[p])
      fail("message {} is lost ({} arrived in its place)",
           describe(make_seq(static_cast<int>(p), next_[p])), describe(seq));
    ++next_[p];
    ++verified_;
    if (ctl_ != nullptr) ctl_->next[p].store(next_[p], std::memory_order_relaxed);
    return (seq & kLast) != 0;
  }
  std::uint64_t verified() const { return verified_; }
  std::uint64_t next(std::size_t p) const { return next_[p]; }

 private:
  std::string describe(std::uint64_t seq) const {
    if (next_.size() == 1) return fmt::format("{}", seq & kNumberMask);
    return fmt::format("{} of producer {}", seq & kNumberMask, (seq & ~kLast) >> kProducerShift);
  }
  template <typename... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) const {
    throw OperationFailed(what_ + ": " + fmt::format(f, std::forward<Args>(args)...));
  }
  std::string what_;
  std::vector<std::uint64_t> next_;
  Control* ctl_;
  std::uint64_t verified_ = 0;
};

void record_error(Control& ctl, int slot, const char* what) {
  auto& buf = ctl.error[static_cast<std::size_t>(slot)];
  (void)std::snprintf(buf.data(), buf.size(), "%s", what);
}

/// Forks a side: it runs body() and leaves with _exit (0, or 1 after writing its error into
/// the control block): it never returns into the caller, never runs the link's destructor.
template <typename Body>
pid_t fork_side(Control& ctl, int slot, int cpu, Body&& body) {
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid > 0) return pid;
  int rc = 0;
  try {
    (void)::signal(SIGINT, SIG_DFL);
    (void)::signal(SIGTERM, SIG_DFL);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    bench::pin_this_thread(cpu);
    body();
  } catch (const std::exception& e) {
    record_error(ctl, slot, e.what());
    rc = 1;
  }
  ::_exit(rc);
}

/// Waits for every side. On the first failure, a stall or a shutdown signal, kills the rest;
/// returns the first error (empty: all exited 0). Every child is reaped before it returns.
std::string supervise(Control& ctl, std::vector<pid_t> pids, std::vector<int> slots,
                      const ShutdownSignals& shutdown, int* signal_seen) {
  std::vector<Fd> pidfds;
  pidfds.reserve(pids.size());
  for (pid_t p : pids) pidfds.push_back(pidfd_open(p));
  std::vector<bool> done(pids.size(), false);
  std::string error;
  std::uint64_t last_sum = 0;
  std::int64_t last_move = now_ns();
  auto kill_rest = [&] {
    for (std::size_t i = 0; i < pids.size(); ++i)
      if (!done[i]) {
        kill_and_reap(pids[i]);
        done[i] = true;
      }
  };
  for (;;) {
    std::size_t running = 0;
    for (std::size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      if (auto st = try_wait(pids[i])) {
        done[i] = true;
        if (!st->exited() || st->exit_code() != 0) {
          const char* what = ctl.error[static_cast<std::size_t>(slots[i])].data();
          if (error.empty()) error = *what != '\0' ? std::string(what) : st->describe();
        }
      } else {
        ++running;
      }
    }
    if (running == 0) return error;
    if (!error.empty()) {
      kill_rest();
      return error;
    }
    if (shutdown.requested()) {
      kill_rest();
      *signal_seen = shutdown.signal();
      return "interrupted";
    }
    std::uint64_t sum = 0;
    for (const auto& p : ctl.progress) sum += p.count.load(std::memory_order_relaxed);
    if (sum != last_sum) {
      last_sum = sum;
      last_move = now_ns();
    } else if (now_ns() - last_move > kStallNs) {
      kill_rest();
      return "stalled: no message moved for 15 s";
    }
    std::vector<pollfd> polls;
    polls.push_back({shutdown.fd(), POLLIN, 0});
    for (std::size_t i = 0; i < pids.size(); ++i)
      if (!done[i] && pidfds[i].valid()) polls.push_back({pidfds[i].get(), POLLIN, 0});
    // Without pidfds (old kernels) this falls back to looking every 20 ms.
    ::poll(polls.data(), polls.size(), polls.size() > 1 ? 500 : 20);
  }
}

Mapping control_block() {
  Mapping map = Mapping::anonymous_shared(sizeof(Control));
  new (map.data()) Control{};
  return map;
}

[[noreturn]] void throw_interrupted(int sig) {
  throw Interrupted(fmt::format("interrupted by {}", sig == SIGINT ? "SIGINT" : "SIGTERM"));
}

/// Side A of a benchmark cell: the stream, then the ping-pong.
void side_a(Endpoint& ep, Control& ctl, const Caps& caps, std::size_t size, const Timing& t,
            const std::string& what) {
  Sender out(ep, 0, size);
  std::vector<std::byte> in(size);
  auto& progress = ctl.progress[0].count;
  std::uint64_t seq = 0, verified = 0;
  // A request-reply link answers every message: the answer is checked as an echo.
  auto echo_check = [&](std::uint64_t sent) {
    ep.recv(in);
    const lab06::Verdict v = lab06::verify_message(in, sent);
    if (v != lab06::Verdict::kOk)
      throw OperationFailed(fmt::format("{}: the reply to message {} is wrong: {}", what,
                                        sent & kNumberMask, lab06::verdict_text(v)));
    ++verified;
  };
  auto send = [&](std::uint64_t s) {
    out.send(s);
    if (caps.request_reply) echo_check(s);
    progress.store(seq, std::memory_order_relaxed);
  };
  for (std::uint64_t i = 0; i < t.warmup; ++i) send(seq++);
  // The stream: one way, as fast as it goes, for stream_s (a file-backed link: capped).
  std::uint64_t max_n = t.max_stream;
  if (caps.max_stream_bytes != 0)
    max_n = std::min<std::uint64_t>(max_n, caps.max_stream_bytes / size);
  max_n = std::max<std::uint64_t>(max_n, 2);
  const std::int64_t t0 = now_ns(), stop = t0 + static_cast<std::int64_t>(t.stream_s * 1e9);
  std::uint64_t n = 0;
  for (bool last = false; !last; ++n) {  // the clock read every 16 messages: it is not free
    last = n + 1 >= max_n || (n % 16 == 15 && now_ns() >= stop);
    send(seq++ | (last ? kLast : 0));
  }
  if (!caps.request_reply) {  // B's acknowledgement: it has checked every message
    ep.recv(in);
    const lab06::Verdict v = lab06::verify_message(in, 0);
    if (v != lab06::Verdict::kOk)
      throw OperationFailed(
          fmt::format("{}: B's acknowledgement is wrong: {}", what, lab06::verdict_text(v)));
  }
  const double secs = static_cast<double>(now_ns() - t0) / 1e9;
  ctl.msgs_per_s = static_cast<double>(n) / secs;
  ctl.bytes_per_s = ctl.msgs_per_s * static_cast<double>(size);
  // Ping-pong: B echoes each message; t.warmup untimed round trips, then at least
  // t.min_round_trips timed ones, for pingpong_s.
  Histogram rtt;
  std::int64_t pp_stop = 0;
  for (std::uint64_t pings = 0, timed = 0;; ++pings) {
    if (pings == t.warmup) pp_stop = now_ns() + static_cast<std::int64_t>(t.pingpong_s * 1e9);
    const bool last = pings >= t.warmup && timed + 1 >= t.min_round_trips &&
                      (timed + 1 >= t.max_round_trips || now_ns() >= pp_stop);
    const std::uint64_t s = seq++ | (last ? kLast : 0);
    const std::int64_t start = now_ns();
    out.send(s);
    ep.recv(in);
    const std::int64_t took = now_ns() - start;
    const lab06::Verdict v = lab06::verify_message(in, s);
    if (v != lab06::Verdict::kOk)
      throw OperationFailed(fmt::format("{}: the echo of message {} is wrong: {}", what,
                                        s & kNumberMask, lab06::verdict_text(v)));
    ++verified;
    if (pings >= t.warmup) {
      rtt.record(took);
      ++timed;
    }
    progress.store(seq, std::memory_order_relaxed);
    if (last) break;
  }
  ctl.p50_ns = static_cast<double>(rtt.percentile(50));
  ctl.p99_ns = static_cast<double>(rtt.percentile(99));
  ctl.verified_a = verified;
}

/// Side B: checks the stream, acknowledges it, then echoes the pings.
void side_b(Endpoint& ep, Control& ctl, std::size_t size, const std::string& what) {
  Verifier check(what, 1);
  std::vector<std::byte> in(size);
  auto& progress = ctl.progress[kMaxProducers].count;
  for (bool last = false; !last;) {
    ep.recv(in);
    last = check.check(in);
    progress.store(check.verified(), std::memory_order_relaxed);
  }
  Sender ack(ep, 1, size);  // producer 1: the hook damages A's messages only
  ack.send(0);
  for (bool last = false; !last;) {
    ep.recv(in);
    last = check.check(in);
    ep.send(in);
    progress.store(check.verified(), std::memory_order_relaxed);
  }
  ctl.verified_b = check.verified();
}

}  // namespace

CellResult run_cell(Adapter& adapter, std::size_t msg_size, const Timing& timing,
                    const bench::Placement& place, const ShutdownSignals& shutdown) {
  const Caps caps = adapter.caps();
  const std::string what = fmt::format("{} at {} bytes", adapter.name(), msg_size);
  Mapping map = control_block();
  Control& ctl = *map.as<Control>();
  std::string error;
  int sig = 0;
  {
    const int cpu_a = place.cpus.empty() ? -1 : place.cpus[0];
    const int cpu_b = place.cpus.empty() ? -1 : place.cpus[1];
    const std::unique_ptr<Link> link = adapter.setup(LinkParams{msg_size, 1, cpu_b});
    std::vector<pid_t> pids;
    std::vector<int> slots;
    try {
      if (!caps.request_reply) {
        pids.push_back(fork_side(ctl, kMaxProducers, cpu_b,
                                 [&] { side_b(*link->open(Side::kB, 0), ctl, msg_size, what); }));
        slots.push_back(kMaxProducers);
      }
      pids.push_back(fork_side(ctl, 0, cpu_a, [&] {
        side_a(*link->open(Side::kA, 0), ctl, caps, msg_size, timing, what);
      }));
      slots.push_back(0);
    } catch (...) {
      for (pid_t p : pids) kill_and_reap(p);
      throw;
    }
    error = supervise(ctl, pids, slots, shutdown, &sig);
  }  // the link's teardown, whatever happened
  if (sig != 0) throw_interrupted(sig);
  if (!error.empty()) {
    if (error.rfind(what, 0) == 0) throw OperationFailed(error);
    throw OperationFailed(fmt::format("{}: {}", what, error));
  }
  return CellResult{ctl.msgs_per_s, ctl.bytes_per_s, ctl.p50_ns, ctl.p99_ns,
                    ctl.verified_a + ctl.verified_b};
}

StressResult run_stress(Adapter& adapter, int producers, double seconds, std::size_t msg_size,
                        const ShutdownSignals& shutdown) {
  const Caps caps = adapter.caps();
  const std::string what = fmt::format("stress {}", adapter.name());
  Mapping map = control_block();
  Control& ctl = *map.as<Control>();
  const std::int64_t stop = now_ns() + static_cast<std::int64_t>(seconds * 1e9);
  std::string error;
  int sig = 0;
  std::uint64_t verified = 0;
  {
    const std::unique_ptr<Link> link = adapter.setup(LinkParams{msg_size, producers});
    std::vector<pid_t> pids;
    std::vector<int> slots;
    try {
      if (!caps.request_reply) {
        pids.push_back(fork_side(ctl, kMaxProducers, -1, [&] {
          const auto ep = link->open(Side::kB, 0);
          Verifier check(what, producers, &ctl);
          std::vector<std::byte> in(msg_size);
          for (int finished = 0; finished < producers;) {
            ep->recv(in);
            finished += check.check(in) ? 1 : 0;
            ctl.progress[kMaxProducers].count.store(check.verified(), std::memory_order_relaxed);
          }
        }));
        slots.push_back(kMaxProducers);
      }
      for (int i = 0; i < producers; ++i) {
        pids.push_back(fork_side(ctl, i, -1, [&, i] {
          const auto ep = link->open(Side::kA, i);
          Sender out(*ep, i, msg_size);
          std::vector<std::byte> in(msg_size);
          auto& progress = ctl.progress[static_cast<std::size_t>(i)].count;
          std::uint64_t n = 0;
          for (bool last = false; !last; ++n) {
            last = now_ns() >= stop;
            const std::uint64_t seq = make_seq(i, n) | (last ? kLast : 0);
            out.send(seq);
            if (caps.request_reply) {  // the answer, checked as an echo
              ep->recv(in);
              const lab06::Verdict v = lab06::verify_message(in, seq);
              if (v != lab06::Verdict::kOk)
                throw OperationFailed(
                    fmt::format("{}: the reply to message {} of producer {} is "
                                "wrong: {}",
                                what, n, i, lab06::verdict_text(v)));
            }
            progress.store(n + 1, std::memory_order_relaxed);
          }
          ctl.sent[static_cast<std::size_t>(i)] = n;
        }));
        slots.push_back(i);
      }
    } catch (...) {
      for (pid_t p : pids) kill_and_reap(p);
      throw;
    }
    error = supervise(ctl, pids, slots, shutdown, &sig);
  }
  if (sig != 0) throw_interrupted(sig);
  StressResult r;
  r.producers = producers;
  for (int i = 0; i < producers; ++i) {
    const auto sent = ctl.sent[static_cast<std::size_t>(i)];
    r.sent.push_back(sent);
    verified += caps.request_reply ? sent : ctl.next[static_cast<std::size_t>(i)].load();
  }
  if (error.rfind("stalled", 0) == 0) {
    // The consumer waits for a message that never came: name the first one missing.
    for (int i = 0; i < producers; ++i) {
      const auto next = ctl.next[static_cast<std::size_t>(i)].load();
      if (next < ctl.progress[static_cast<std::size_t>(i)].count.load()) {
        error = fmt::format("message {} of producer {} is lost (the consumer waited 15 s for it)",
                            next, i);
        break;
      }
    }
  }
  if (!error.empty()) {
    if (error.rfind(what, 0) == 0) throw OperationFailed(error);
    throw OperationFailed(fmt::format("{}: {}", what, error));
  }
  r.verified = verified;
  return r;
}

}  // namespace ipclab::suite
