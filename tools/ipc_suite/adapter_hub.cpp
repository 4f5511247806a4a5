// The lab 20 hub, one row per backend (socket, fifo, mqueue, shm, pipe): every message goes
// publisher -> hub -> subscriber, three processes, through lab 20's HubClient. A sends by
// publishing on "suite.ab", B subscribes to it and answers on "suite.ba" (the
// acknowledgement, the echoes), to which every A subscribes.
//
// Each link has a hub of its own in a namespace of its own (object_name(), with its run
// directory under this one's), so nothing a user runs is disturbed and ipc-clean finds what
// a crash left. The socket, fifo, mqueue and shm rows run the built myipchub; the pipe
// backend's clients are children the hub holds pipes to (--spawn), which the driver's
// forked sides cannot be, so that row runs lab 20's run_hub in a forked process given one
// pipe pair per side (HubOptions::pipe_clients, as myipcbench does).
//
// The hub drops a message for a subscriber whose queue is full (lab 20 README, Pitfalls 9),
// so the sides keep an end-to-end window: a sender waits while kWindow messages it sent in
// its direction are not yet received (counters in an anonymous shared mapping), and the
// hub's queue (kHubQueue) holds more than a window from every producer.
#include <sched.h>      // sched_yield
#include <sys/prctl.h>  // prctl, PR_SET_PDEATHSIG
#include <unistd.h>     // fork, _exit, access, unlink, rmdir

#include <array>       // std::array
#include <atomic>      // std::atomic
#include <csignal>     // SIGTERM, kill
#include <cstring>     // std::memcpy
#include <deque>       // std::deque
#include <functional>  // std::function
#include <new>         // placement new
#include <string>      // std::string
#include <utility>     // std::pair
#include <vector>      // std::vector

#include "ipclab/clock.hpp"    // Deadline
#include "ipclab/error.hpp"    // OperationFailed, throw_errno
#include "ipclab/fd.hpp"       // make_pipe
#include "ipclab/io.hpp"       // read_full, write_full
#include "ipclab/names.hpp"    // names::set_ns, set_rundir, rundir
#include "ipclab/process.hpp"  // spawn, wait_for, kill_and_reap
#include "ipclab/shm.hpp"      // Mapping
#include "lab20/client.hpp"    // HubClient, Backend
#include "lab20/frame.hpp"     // kMaxPayload
#include "lab20/hub.hpp"       // run_hub, for the pipe backend
#include "transport.hpp"

#ifndef IPC_SUITE_MYIPCHUB
#error "the build defines IPC_SUITE_MYIPCHUB: the path of lab 20's myipchub"
#endif

namespace ipclab::suite {
namespace {

namespace lab = ipclab::lab20;
using namespace std::chrono_literals;

constexpr std::uint64_t kWindow = 1024;  // messages a direction may have in flight
constexpr int kHubQueue = 8192;          // > kWindow + every producer's overshoot
constexpr auto kWait = 30s;              // for the hub, the other side, a message
constexpr std::string_view kAtoB = "suite.ab", kBtoA = "suite.ba";

/// What the sides of one link share: per direction (0: A to B, 1: B to A) the messages
/// sent and received, and who has subscribed.
struct Shared {
  std::array<std::atomic<std::uint64_t>, 2> sent{}, received{};
  std::atomic<int> a_subscribed{0}, b_subscribed{0};
};

void wait_until(const std::function<bool()>& cond, std::string_view what) {
  const Deadline deadline(kWait);
  while (!cond()) {
    if (deadline.expired()) throw OperationFailed(fmt::format("hub: {}", what));
    ::sched_yield();
  }
}

class HubEndpoint final : public Endpoint {
 public:
  HubEndpoint(lab::HubClient client, Shared* sh, Side side, int producers)
      : c_(std::move(client)), sh_(sh), out_(side == Side::kA ? 0 : 1), producers_(producers) {}

  /// Takes every ACK still due before the side leaves: a socket closed with unread data
  /// resets the connection, and the hub could lose the frames it had not yet read.
  ~HubEndpoint() override {
    try {
      const Deadline deadline(kWait);
      while (c_.async_pending() > 0 && !deadline.expired()) take(Deadline(10ms));
    } catch (const std::exception&) {  // the hub is gone: nothing left to wait for
    }
  }
  HubEndpoint(const HubEndpoint&) = delete;
  HubEndpoint& operator=(const HubEndpoint&) = delete;

  void send(std::span<const std::byte> msg) override {
    if (out_ == 1 && !b_may_send_) {  // every A hears B only once subscribed to kBtoA
      wait_until([&] { return sh_->a_subscribed.load() >= producers_; },
                 "a producer never subscribed");
      b_may_send_ = true;
    }
    auto& sent = sh_->sent[out_];
    auto& received = sh_->received[out_];
    if (sent.load() - received.load() >= kWindow)
      wait_until(
          [&] {
            take(Deadline(0ms));  // the ACKs that came meanwhile
            return sent.load() - received.load() < kWindow;
          },
          "the other side stopped receiving");
    sent.fetch_add(1);
    c_.publish_async(out_ == 0 ? kAtoB : kBtoA,
                     std::string_view(reinterpret_cast<const char*>(msg.data()), msg.size()));
    // Take the ACKs as they come: a client that leaves thousands unread is dropped.
    if ((++published_ & 63) == 0) take(Deadline(0ms));
    while (c_.async_pending() > kWindow) take(Deadline(1ms));
  }

  void recv(std::span<std::byte> buf) override {
    const Deadline deadline(kWait);
    while (inbox_.empty()) {
      take(deadline);
      if (inbox_.empty() && deadline.expired())
        throw OperationFailed(fmt::format("hub: no message for {} s", kWait.count()));
    }
    const std::string m = std::move(inbox_.front());
    inbox_.pop_front();
    if (m.size() != buf.size())
      throw OperationFailed(
          fmt::format("hub: a {}-byte message where {} were expected", m.size(), buf.size()));
    std::memcpy(buf.data(), m.data(), m.size());
    sh_->received[1 - out_].fetch_add(1);
  }

 private:
  /// The next DATA frame into the inbox (ACKs are counted by the client), until `d`.
  void take(const Deadline& d) {
    if (auto f = c_.next(d)) inbox_.push_back(std::move(f->payload));
  }

  lab::HubClient c_;
  Shared* sh_;
  int out_;  // the direction this side sends in
  int producers_;
  bool b_may_send_ = false;
  std::uint64_t published_ = 0;
  std::deque<std::string> inbox_;  // DATA that came while send() waited
};

class HubLink final : public Link {
 public:
  HubLink(lab::Backend backend, int producers)
      : backend_(backend),
        producers_(producers),
        ns_(object_name("hub")),
        dir_(names::rundir() + "/" + ns_),
        map_(Mapping::anonymous_shared(sizeof(Shared))),
        sh_(new (map_.data()) Shared{}) {
    if (backend_ == lab::Backend::kPipe)
      fork_hub();
    else
      spawn_hub();
  }

  ~HubLink() override {
    if (stop_.write) {
      (void)::write(stop_.write.get(), "x", 1);
    } else {
      ::kill(pid_, SIGTERM);  // myipchub removes its objects on SIGTERM
    }
    if (!wait_for(pid_, Deadline(5s))) kill_and_reap(pid_);
    // The hub removed its names; the record of its queues and its folder go here.
    ::unlink((dir_ + "/.mqueues").c_str());
    ::rmdir(dir_.c_str());
  }

  std::unique_ptr<Endpoint> open(Side side, int index) override {
    names::set_ns(ns_);  // in a forked side: the hub's namespace
    names::set_rundir(dir_);
    const Deadline deadline(kWait);
    auto client = [&] {
      if (backend_ != lab::Backend::kPipe) return lab::HubClient::connect(backend_, deadline);
      auto& [down, up] = pipes_.at(static_cast<std::size_t>(side == Side::kB ? producers_ : index));
      return lab::HubClient::over_fds(std::move(down.read), std::move(up.write), deadline);
    }();
    if (side == Side::kB) {
      client.subscribe(kAtoB, deadline);
      sh_->b_subscribed.store(1);
    } else {
      client.subscribe(kBtoA, deadline);
      sh_->a_subscribed.fetch_add(1);
      wait_until([&] { return sh_->b_subscribed.load() != 0; }, "the consumer never subscribed");
    }
    return std::make_unique<HubEndpoint>(std::move(client), sh_, side, producers_);
  }

 private:
  /// myipchub in the link's namespace; ready once its banner says it listens.
  void spawn_hub() {
    Pipe out = make_pipe();
    SpawnOptions opts;
    opts.stdout_fd = out.write.get();
    opts.env = {"IPCLAB_NS=" + ns_, "IPCLAB_RUNDIR=" + dir_};
    opts.parent_death_signal = SIGTERM;
    pid_ = spawn({IPC_SUITE_MYIPCHUB, "--queue", std::to_string(kHubQueue)}, opts);
    out.write.reset();
    std::string line;
    for (char c = 0; line != "Listening for connections...";) {
      line.clear();
      while (read_full(out.read.get(), &c, 1) == 1 && c != '\n') line += c;
      if (c != '\n') {  // end of file before the banner's last line
        const WaitStatus st = kill_and_reap(pid_);
        throw OperationFailed(fmt::format("myipchub did not start ({})", st.describe()));
      }
      c = 0;
    }
  }

  /// The pipe backend: run_hub in a child holding one pipe pair per side.
  void fork_hub() {
    for (int i = 0; i <= producers_; ++i) pipes_.emplace_back(make_pipe(), make_pipe());
    stop_ = make_pipe();
    pid_ = ::fork();
    if (pid_ < 0) throw_errno("fork");
    if (pid_ == 0) {
      int rc = 0;
      try {
        (void)::prctl(PR_SET_PDEATHSIG, SIGTERM);
        names::set_ns(ns_);
        names::set_rundir(dir_);
        lab::HubOptions o;
        o.banner = false;
        o.queue_limit = kHubQueue;
        for (auto& [down, up] : pipes_)
          o.pipe_clients.emplace_back(std::move(up.read), std::move(down.write));
        stop_.write.reset();
        lab::run_hub(o, stop_.read.get());
      } catch (const std::exception& e) {
        fmt::print(stderr, "ipc_suite: the pipe backend's hub: {}\n", e.what());
        rc = 1;
      }
      ::_exit(rc);
    }
    for (auto& [down, up] : pipes_) {  // the sides keep the client ends
      up.read.reset();
      down.write.reset();
    }
  }

  lab::Backend backend_;
  int producers_;
  std::string ns_, dir_;
  Mapping map_;
  Shared* sh_;
  pid_t pid_ = -1;
  Pipe stop_;                                 // the pipe backend's: a byte stops the hub
  std::vector<std::pair<Pipe, Pipe>> pipes_;  // the pipe backend's: {down, up} per side
};

class HubAdapter final : public Adapter {
 public:
  explicit HubAdapter(lab::Backend backend)
      : backend_(backend),
        name_(fmt::format("hub_{}", lab::backend_name(backend))),
        description_(fmt::format(
            "lab 20's hub over {}: publisher -> {} -> subscriber, a window of {} messages",
            lab::backend_title(backend),
            backend == lab::Backend::kPipe ? "run_hub (pipes it holds)" : "myipchub", kWindow)) {}
  std::string_view name() const override { return name_; }
  std::string_view description() const override { return description_; }
  Caps caps() const override {
    Caps c;
    c.max_size = lab::kMaxPayload;
    c.limit_source = "lab 20: kMaxPayload, a frame's payload";
    c.multi_producer = true;
    c.kernel_synchronized = backend_ != lab::Backend::kShm;
    c.trade_offs = {"the hub process: its channels live while it runs",
                    "a channel name, through the hub's well-known names",
                    "the hub queues for a slow subscriber, then drops (so: a window)"};
    return c;
  }
  std::string unavailable() const override {
    if (backend_ != lab::Backend::kPipe && ::access(IPC_SUITE_MYIPCHUB, X_OK) != 0)
      return fmt::format("{} is not built", IPC_SUITE_MYIPCHUB);
    return {};
  }
  std::unique_ptr<Link> setup(const LinkParams& p) override {
    return std::make_unique<HubLink>(backend_, p.producers);
  }

 private:
  lab::Backend backend_;
  std::string name_, description_;
};

}  // namespace

std::unique_ptr<Adapter> make_hub_adapter(std::string_view backend) {
  return std::make_unique<HubAdapter>(lab::parse_backend(backend));
}

}  // namespace ipclab::suite
