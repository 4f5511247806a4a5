// myipcbench [--iterations N] [--message-size B] [--runs N] [--format table|json|csv] —
// each backend measured through the hub, end to end: a publisher process, the hub, a
// subscriber process. Throughput from a one-way stream (the publisher keeps at most a
// window of messages ahead of the subscriber, so nothing is dropped), latency from
// ping-pong through the hub (one way = round trip / 2). Every message carries a sequence
// number and a checksum the receiver verifies: a wrong, lost or reordered message stops
// the benchmark with exit status 1.
#include <sched.h>     // sched_yield
#include <sys/wait.h>  // waitpid
#include <unistd.h>    // fork, _exit

#include <algorithm>  // std::sort, std::min
#include <atomic>     // std::atomic
#include <cstdint>    // std::uint64_t
#include <cstring>    // std::memcpy, std::strncpy
#include <new>        // placement new
#include <optional>   // std::optional
#include <string>     // std::string
#include <vector>     // std::vector

#include "ipclab/bench.hpp"    // bench::Report, corrupt_hook
#include "ipclab/json.hpp"     // json_number
#include "ipclab/main.hpp"     // run_main, CLI11
#include "ipclab/names.hpp"    // names::set_ns, set_rundir
#include "ipclab/process.hpp"  // wait_for
#include "ipclab/shm.hpp"      // Mapping
#include "ipclab/signal.hpp"   // ignore_sigpipe
#include "lab20/client.hpp"
#include "lab20/hub.hpp"

using namespace std::chrono_literals;
namespace lab = ipclab::lab20;

namespace {

constexpr std::uint64_t kWindow = 1024;      // messages the publisher may be ahead
constexpr std::size_t kHubQueue = 4096;      // > kWindow: the hub never drops here
constexpr std::uint64_t kRoundTrips = 2000;  // latency samples (at most --iterations)

/// What the processes of one measurement share (an anonymous shared mapping).
struct Shared {
  std::atomic<std::uint64_t> received{0};
  std::atomic<int> sub_ready{0};
  std::atomic<std::int64_t> t_start{0}, t_end{0};
  double avg_ns = 0, p50_ns = 0, p99_ns = 0;
  char error[512] = {};
};

std::uint64_t checksum(const std::string& m) {  // 64-bit words after the 16-byte head
  std::uint64_t sum = 0x9e37'79b9'7f4a'7c15ULL;
  std::size_t i = 16;
  for (; i + 8 <= m.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, m.data() + i, 8);
    sum = (sum ^ w) * 0x100'0000'01b3ULL;
  }
  for (; i < m.size(); ++i) sum = (sum ^ static_cast<unsigned char>(m[i])) * 0x100'0000'01b3ULL;
  return sum;
}

void fill(std::string& m, std::uint64_t seq) {
  std::memcpy(m.data(), &seq, 8);
  for (std::size_t i = 16; i < m.size(); i += 8) {
    const std::uint64_t w = seq * 0x9e37'79b9ULL + i;
    std::memcpy(m.data() + i, &w, std::min<std::size_t>(8, m.size() - i));
  }
  const std::uint64_t sum = checksum(m);
  std::memcpy(m.data() + 8, &sum, 8);
  if (static_cast<std::int64_t>(seq) == ipclab::bench::corrupt_hook()) m.back() ^= 0x5a;
}

void verify(const std::string& m, std::size_t size, std::uint64_t want) {
  std::uint64_t seq = 0, sum = 0;
  if (m.size() != size)
    throw ipclab::OperationFailed(
        fmt::format("message {}: {} bytes, expected {}", want, m.size(), size));
  std::memcpy(&seq, m.data(), 8);
  std::memcpy(&sum, m.data() + 8, 8);
  if (seq != want)
    throw ipclab::OperationFailed(fmt::format("message {} arrived as number {}", want, seq));
  if (sum != checksum(m))
    throw ipclab::OperationFailed(fmt::format("message {}: checksum mismatch", want));
}

struct Params {
  std::uint64_t iterations = 1'000'000;
  std::size_t size = 1024;
};

/// Runs `body` in a forked process; its exception's text lands in shared->error.
pid_t fork_side(Shared* shared, const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid < 0) ipclab::throw_errno("fork");
  if (pid > 0) return pid;
  int rc = 0;
  try {
    body();
  } catch (const std::exception& e) {  // the parent reports it, once
    std::strncpy(shared->error, e.what(), sizeof shared->error - 1);
    rc = 1;
  }
  (void)std::fflush(nullptr);
  ::_exit(rc);
}

void subscriber(lab::HubClient& c, Shared* sh, const Params& p) {
  c.subscribe("bench", ipclab::Deadline(30s));
  c.subscribe("ping", ipclab::Deadline(30s));
  sh->sub_ready.store(1, std::memory_order_release);
  for (std::uint64_t i = 0; i < p.iterations; ++i) {
    auto f = c.next(ipclab::Deadline(60s));
    if (!f) throw ipclab::OperationFailed(fmt::format("message {} never came", i));
    verify(f->payload, p.size, i);
    sh->received.store(i + 1, std::memory_order_release);
  }
  sh->t_end.store(ipclab::now_ns(), std::memory_order_release);
  for (std::uint64_t j = 0; j < std::min(p.iterations, kRoundTrips); ++j) {
    auto f = c.next(ipclab::Deadline(60s));
    if (!f) throw ipclab::OperationFailed(fmt::format("ping {} never came", j));
    c.publish_async("pong", f->payload);
  }
  while (c.async_pending() > 0) c.next(ipclab::Deadline(10ms));
}

void publisher(lab::HubClient& c, Shared* sh, const Params& p) {
  c.subscribe("pong", ipclab::Deadline(30s));
  const ipclab::Deadline ready(60s);
  while (sh->sub_ready.load(std::memory_order_acquire) == 0) {
    if (ready.expired()) throw ipclab::OperationFailed("the subscriber never subscribed");
    ::sched_yield();
  }
  std::string msg(p.size, '\0');
  sh->t_start.store(ipclab::now_ns(), std::memory_order_release);
  for (std::uint64_t i = 0; i < p.iterations; ++i) {
    const ipclab::Deadline stuck(60s);
    while (i - sh->received.load(std::memory_order_acquire) >= kWindow) {
      c.next(ipclab::Deadline(0ms));  // takes the ACKs that came
      if (stuck.expired()) throw ipclab::OperationFailed("the subscriber stopped receiving");
      ::sched_yield();
    }
    fill(msg, i);
    c.publish_async("bench", msg);
    // Take the ACKs as they come: a client that leaves thousands unread is dropped.
    if ((i & 63) == 63) c.next(ipclab::Deadline(0ms));
    while (c.async_pending() > kWindow) c.next(ipclab::Deadline(1ms));
  }
  const ipclab::Deadline all(60s);
  while (sh->received.load(std::memory_order_acquire) < p.iterations) {
    c.next(ipclab::Deadline(1ms));
    if (all.expired()) throw ipclab::OperationFailed("not every message arrived");
  }
  while (c.async_pending() > 0) c.next(ipclab::Deadline(10ms));
  std::vector<double> rtt;
  for (std::uint64_t j = 0; j < std::min(p.iterations, kRoundTrips); ++j) {
    fill(msg, j);
    const std::int64_t t = ipclab::now_ns();
    c.publish_async("ping", msg);
    auto f = c.next(ipclab::Deadline(60s));
    if (!f) throw ipclab::OperationFailed(fmt::format("pong {} never came", j));
    rtt.push_back(static_cast<double>(ipclab::now_ns() - t) / 2);
    verify(f->payload, p.size, j);
  }
  std::sort(rtt.begin(), rtt.end());
  double sum = 0;
  for (const double r : rtt) sum += r;
  sh->avg_ns = sum / static_cast<double>(rtt.size());
  sh->p50_ns = rtt[rtt.size() / 2];
  sh->p99_ns = rtt[std::min(rtt.size() - 1, rtt.size() * 99 / 100)];
}

struct Row {
  double msgs_per_s = 0, bytes_per_s = 0, avg_ns = 0, p50_ns = 0, p99_ns = 0;
};

/// One measurement of `backend`: a hub, a subscriber and a publisher, each a process.
Row measure(lab::Backend backend, const Params& p) {
  ipclab::Mapping map = ipclab::Mapping::anonymous_shared(sizeof(Shared));
  auto* sh = new (map.data()) Shared{};
  // The pipe backend: the hub is given one pipe pair per client, as --spawn would.
  ipclab::Pipe sub_down, sub_up, pub_down, pub_up;
  const bool pipes = backend == lab::Backend::kPipe;
  if (pipes) {
    sub_down = ipclab::make_pipe();
    sub_up = ipclab::make_pipe();
    pub_down = ipclab::make_pipe();
    pub_up = ipclab::make_pipe();
  }
  ipclab::Pipe stop = ipclab::make_pipe();
  const pid_t hub = fork_side(sh, [&] {
    lab::HubOptions o;
    o.banner = false;
    o.queue_limit = kHubQueue;
    if (pipes) {
      o.pipe_clients.emplace_back(std::move(sub_up.read), std::move(sub_down.write));
      o.pipe_clients.emplace_back(std::move(pub_up.read), std::move(pub_down.write));
      sub_up.write.reset();
      sub_down.read.reset();
      pub_up.write.reset();
      pub_down.read.reset();
    }
    stop.write.reset();
    lab::run_hub(o, stop.read.get());
  });
  auto connect = [&](ipclab::Pipe& down, ipclab::Pipe& up) {
    if (!pipes) return lab::HubClient::connect(backend, ipclab::Deadline(30s));
    return lab::HubClient::over_fds(std::move(down.read), std::move(up.write),
                                    ipclab::Deadline(30s));
  };
  const pid_t sub = fork_side(sh, [&] {
    auto c = connect(sub_down, sub_up);
    subscriber(c, sh, p);
  });
  const pid_t pub = fork_side(sh, [&] {
    auto c = connect(pub_down, pub_up);
    publisher(c, sh, p);
  });
  for (auto* pp : {&sub_down, &sub_up, &pub_down, &pub_up}) {
    pp->read.reset();
    pp->write.reset();
  }
  // The first side to fail ends the measurement: its peer would wait for it in vain.
  std::optional<ipclab::WaitStatus> pub_st, sub_st;
  while (!pub_st || !sub_st) {
    if (!pub_st) pub_st = ipclab::try_wait(pub);
    if (!sub_st) sub_st = ipclab::try_wait(sub);
    if ((pub_st && pub_st->exit_code() != 0) || (sub_st && sub_st->exit_code() != 0)) {
      if (!pub_st) pub_st = ipclab::kill_and_reap(pub);
      if (!sub_st) sub_st = ipclab::kill_and_reap(sub);
      break;
    }
    ipclab::sleep_ns(1'000'000);
  }
  stop.write.reset();  // end of file on the stop pipe: the hub stops and cleans up
  ipclab::wait_for(hub);
  if (pub_st->exit_code() != 0 || sub_st->exit_code() != 0)
    throw ipclab::OperationFailed(fmt::format("{} backend: {}", lab::backend_name(backend),
                                              sh->error[0] != 0 ? sh->error : "a side failed"));
  const double secs = static_cast<double>(sh->t_end - sh->t_start) / 1e9;
  Row r;
  r.msgs_per_s = static_cast<double>(p.iterations) / secs;
  r.bytes_per_s = r.msgs_per_s * static_cast<double>(p.size);
  r.avg_ns = sh->avg_ns;
  r.p50_ns = sh->p50_ns;
  r.p99_ns = sh->p99_ns;
  return r;
}

std::string rate(double bytes_per_s) {
  return bytes_per_s >= 1e9 ? fmt::format("{:.2f} GB/s", bytes_per_s / 1e9)
                            : fmt::format("{:.1f} MB/s", bytes_per_s / 1e6);
}
std::string micros(double ns) { return fmt::format("{:.1f} us", ns / 1e3); }

struct Contender {
  lab::Backend backend;
  const char* title;
};
constexpr Contender kContenders[] = {{lab::Backend::kShm, "Shared Memory"},
                                     {lab::Backend::kSocket, "UNIX Socket"},
                                     {lab::Backend::kMqueue, "POSIX MQueue"},
                                     {lab::Backend::kFifo, "Named Pipe (FIFO)"},
                                     {lab::Backend::kPipe, "Anonymous Pipe"}};

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "myipcbench: each backend of the hub measured end to end (publisher -> myipchub ->\n"
      "subscriber, three processes): throughput of a one-way stream, one-way latency\n"
      "(ping-pong / 2: avg, p50, p99). Every message verified (sequence and checksum)."};
  Params p;
  int runs = 1;
  std::string format = "table";
  app.add_option("--iterations", p.iterations, "messages per stream (default 1M)")
      ->transform(ipclab::cli::count(1, 1'000'000'000'000));
  app.add_option("--message-size", p.size, "bytes per message (16..4096, default 1 KiB)")
      ->transform(ipclab::cli::size(16, lab::kMaxPayload));
  app.add_option("--runs", runs, "rounds, the backends interleaved; medians (default 1)")
      ->transform(ipclab::cli::count(1, 100));
  app.add_option("--format", format, "table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}));

  return ipclab::run_main(app, argc, argv, [&] {
    ipclab::ignore_sigpipe();
    // A namespace of its own: a hub the user runs is never disturbed.
    const std::string ns = fmt::format("{}-bench{}", ipclab::names::ns().substr(0, 40), ::getpid());
    const std::string dir = ipclab::names::rundir_base() + "/" + ns;
    ipclab::names::set_ns(ns);
    ipclab::names::set_rundir(dir);
    struct RemoveDir {  // every hub removed its names; the record of them and the folder go
      std::string dir;
      ~RemoveDir() {
        ::unlink((dir + "/.mqueues").c_str());
        ::rmdir(dir.c_str());
      }
    } remove_dir{dir};
    ipclab::bench::Report report("myipcbench");
    report.param("iterations", ipclab::json_number(static_cast<double>(p.iterations)));
    report.param("message_size", ipclab::json_number(static_cast<double>(p.size)));
    report.ops_label = "msg/s";
    std::vector<ipclab::bench::Result*> results;
    std::vector<std::vector<Row>> rows(std::size(kContenders));
    for (const auto& c : kContenders) report.add(std::string(lab::backend_name(c.backend)));
    ipclab::bench::interleave(runs, std::size(kContenders), [&](int, std::size_t i) {
      const Row r = measure(kContenders[i].backend, p);
      rows[i].push_back(r);
      report.at(lab::backend_name(kContenders[i].backend))
          .record(r.msgs_per_s, r.bytes_per_s, r.p50_ns, r.p99_ns);
    });
    report.ratio("shm", "socket");
    if (format != "table") {
      fmt::print("{}", ipclab::bench::format(report, ipclab::bench::parse_format(format)));
      return 0;
    }
    const std::string size =
        p.size % 1024 == 0 ? fmt::format("{}KB", p.size / 1024) : fmt::format("{} bytes", p.size);
    fmt::print("IPC Mechanism Benchmark ({} messages, {} each)\n", p.iterations, size);
    fmt::print("{:<18} {:<15} {:<15} {:<10} {:<10}\n", "Mechanism", "Throughput", "Latency (avg)",
               "p50", "p99");
    std::size_t fastest = 0, quickest = 0;
    std::vector<ipclab::bench::Summary> sum;
    for (std::size_t i = 0; i < std::size(kContenders); ++i) {
      sum.push_back(ipclab::bench::summarize(report.at(lab::backend_name(kContenders[i].backend))));
      double avg = 0;
      for (const Row& r : rows[i]) avg += r.avg_ns / static_cast<double>(rows[i].size());
      fmt::print("{:<18} {:<15} {:<15} {:<10} {:<10}\n", kContenders[i].title,
                 rate(sum[i].bytes_per_s), micros(avg), micros(sum[i].p50_ns),
                 micros(sum[i].p99_ns));
      if (sum[i].bytes_per_s > sum[fastest].bytes_per_s) fastest = i;
      if (sum[i].p50_ns < sum[quickest].p50_ns) quickest = i;
    }
    const double ratio = ipclab::bench::ratio(report.at("shm"), report.at("socket"));
    fmt::print("Same run: shared memory / UNIX socket = {:.2f}x (target >= 5x)\n", ratio);
    fmt::print("Recommendation:\n");
    fmt::print("  High throughput: Use {} ({})\n", kContenders[fastest].title,
               rate(sum[fastest].bytes_per_s));
    fmt::print("  Low latency: Use {} (p50 {})\n", kContenders[quickest].title,
               micros(sum[quickest].p50_ns));
    fmt::print("  Simplicity: Use UNIX sockets\n");
    fmt::print("  Message boundaries: Use POSIX message queues\n");
    return 0;
  });
}
