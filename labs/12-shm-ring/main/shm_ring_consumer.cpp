// shm_ring_consumer --name=NAME [--text | --print-seq] [--count=N] [--timeout=SECONDS]
// Opens the ring (waiting for it to appear), takes messages until the producer closes it
// (or --count are taken), verifies generated messages (checksum, payload.hpp), and prints
// a summary on stderr. Several consumers may share a ring: each message goes to one.
#include <cstdio>    // stdout, stderr
#include <optional>  // std::optional
#include <string>    // std::string

#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/signal.hpp"  // ShutdownSignals
#include "lab12/payload.hpp"
#include "lab12/shm_ring.hpp"

using namespace std::chrono_literals;
using ipclab::Deadline;
using ipclab::lab12::ShmRing;

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "shm_ring_consumer: take messages from a shared-memory ring until its producer closes\n"
      "it. Waits for the ring to appear. Generated messages are verified (sequence number +\n"
      "checksum); --text prints messages sent with shm_ring_producer --stdin as lines."};
  std::string name = "ring";
  bool text = false, print_seq = false;
  std::uint64_t count = 0;
  double timeout_s = 10;
  app.add_option("--name", name, "the ring's name")->capture_default_str();
  auto* text_opt = app.add_flag("--text", text, "messages are text: print each as a line");
  app.add_flag("--print-seq", print_seq,
               "print the sequence number of each verified generated message, one a line")
      ->excludes(text_opt);
  app.add_option("--count", count, "stop after this many messages (0: until closed)")
      ->capture_default_str()
      ->transform(ipclab::cli::count(0, 1'000'000'000'000));
  app.add_option("--timeout", timeout_s,
                 "seconds to wait for the ring to appear, and for each message")
      ->capture_default_str()
      ->transform(ipclab::cli::seconds(1ms, 24h));

  return ipclab::run_main(app, argc, argv, [&] {
    ipclab::ShutdownSignals shutdown;
    const auto timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
    auto interrupted = [&] {
      return ipclab::OperationFailed(
          fmt::format("interrupted by {}", shutdown.signal() == SIGTERM ? "SIGTERM" : "SIGINT"));
    };
    // Wait for the ring in slices, so that a signal is noticed.
    std::optional<ShmRing> ring;
    const Deadline appear(timeout);
    while (!ring) {
      if (shutdown.requested()) throw interrupted();
      try {
        ring.emplace(ShmRing::open(
            name, Deadline(std::min<ipclab::Clock::duration>(100ms, appear.remaining()))));
      } catch (const ipclab::OperationFailed&) {
        if (appear.expired())
          throw ipclab::OperationFailed(fmt::format(
              "ring {} did not appear within {} s (is the producer running?)", name, timeout_s));
      }
    }

    std::uint64_t got = 0, bytes = 0;
    std::string out;
    while (count == 0 || got < count) {
      std::span<const std::byte> msg;
      const Deadline each(timeout);
      ShmRing::Status st = ShmRing::Status::kTimeout;
      while (st == ShmRing::Status::kTimeout) {
        if (shutdown.requested()) throw interrupted();
        st = ring->peek(msg, Deadline(std::min<ipclab::Clock::duration>(100ms, each.remaining())));
        if (st == ShmRing::Status::kTimeout && each.expired())
          throw ipclab::OperationFailed(fmt::format(
              "no message for {} s after {} messages (is the producer alive?)", timeout_s, got));
      }
      if (st == ShmRing::Status::kClosed) break;
      if (text) {
        out.append(reinterpret_cast<const char*>(msg.data()), msg.size());
        out += '\n';
      } else {
        const std::uint64_t seq = ipclab::lab12::message_sequence(msg);
        const auto why = ipclab::lab12::check_message(msg, seq);
        if (!why.empty()) {
          const std::size_t size = msg.size();
          ring->release();
          throw ipclab::OperationFailed(
              fmt::format("message {} ({} bytes, after {} good ones): {}", seq, size, got, why));
        }
        if (print_seq) out += fmt::format("{}\n", seq);
      }
      ++got;
      bytes += msg.size();
      ring->release();
      if (out.size() >= std::size_t{64} * 1024) {
        fmt::print("{}", out);
        out.clear();
      }
    }
    fmt::print("{}", out);
    (void)std::fflush(stdout);
    fmt::print(stderr, "shm_ring_consumer: received {} messages, {} bytes\n", got, bytes);
    return ipclab::kExitOk;
  });
}
