// shm_ring_producer --name=NAME [--capacity=64KiB] [--count=N] [--min-size=A] [--max-size=B]
//                   [--seed=S] [--stdin] [--timeout=SECONDS]
// Creates the ring, sends messages, closes it, waits until the consumers have taken every
// message, removes the ring. Generated messages carry a sequence number and a checksum
// (payload.hpp), sizes uniform in [min, max] from the seed; with --stdin each input line
// is one message instead. The ring is removed on every exit path, SIGINT/SIGTERM included.
#include <cstdio>    // stdin, stderr
#include <cstring>   // std::memcpy
#include <iostream>  // std::cin
#include <string>    // std::string, std::getline
#include <vector>    // std::vector

#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/signal.hpp"  // ShutdownSignals
#include "lab12/payload.hpp"
#include "lab12/shm_ring.hpp"

using namespace std::chrono_literals;

namespace {

using ipclab::Deadline;
using ipclab::lab12::ShmRing;

/// Removes the ring when the producer leaves, however it leaves.
struct RemoveOnExit {
  std::string name;
  explicit RemoveOnExit(std::string n) : name(std::move(n)) {}
  RemoveOnExit(const RemoveOnExit&) = delete;
  RemoveOnExit& operator=(const RemoveOnExit&) = delete;
  ~RemoveOnExit() { ShmRing::remove(name); }
};

/// Runs `step(slice)` in 100 ms slices until it succeeds; a signal stops it between slices
/// (the waits inside the ring sleep in the kernel, so a slice costs no CPU).
template <typename Step>
void in_slices(const ipclab::ShutdownSignals& shutdown, double timeout_s, const char* what,
               Step step) {
  const Deadline overall(std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000)));
  for (;;) {
    if (shutdown.requested())
      throw ipclab::OperationFailed(
          fmt::format("interrupted by {}: the ring was removed",
                      shutdown.signal() == SIGTERM ? "SIGTERM" : "SIGINT"));
    if (step(Deadline(std::min<ipclab::Clock::duration>(100ms, overall.remaining())))) return;
    if (overall.expired())
      throw ipclab::OperationFailed(
          fmt::format("timed out after {} s waiting for {}", timeout_s, what));
  }
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "shm_ring_producer: create a shared-memory ring, send messages, close it, wait until\n"
      "the consumers took them all, remove it. Messages are generated (sequence number +\n"
      "checksum, random sizes from --seed) or, with --stdin, one per input line."};
  std::string name = "ring";
  std::size_t capacity = std::size_t{64} * 1024, min_size = 16, max_size = 1024;
  std::uint64_t count = 1000, seed = 1;
  bool from_stdin = false;
  double timeout_s = 10;
  app.add_option("--name", name, "the ring's name (its shm object is /ipclab.<ns>.<name>)")
      ->capture_default_str();
  app.add_option("--capacity", capacity, "data area in bytes, a power of two (64KiB, 1MB)")
      ->capture_default_str()
      ->transform(ipclab::cli::size(ipclab::lab12::kMinCapacity, ipclab::lab12::kMaxCapacity));
  app.add_option("--count", count, "generated messages to send")
      ->capture_default_str()
      ->transform(ipclab::cli::count(0, 1'000'000'000'000));
  app.add_option("--min-size", min_size, "smallest generated message (>= 16)")
      ->capture_default_str()
      ->transform(ipclab::cli::size(16, std::uint64_t{1} << 29));
  app.add_option("--max-size", max_size, "largest generated message (<= capacity/2 - 8)")
      ->capture_default_str()
      ->transform(ipclab::cli::size(16, std::uint64_t{1} << 29));
  app.add_option("--seed", seed, "seed of the generated sizes")
      ->capture_default_str()
      ->transform(ipclab::cli::count(0, UINT64_MAX));
  app.add_flag("--stdin", from_stdin, "send each line of standard input as one message");
  app.add_option("--timeout", timeout_s,
                 "seconds to wait for room in a full ring, or for the consumers to drain it")
      ->capture_default_str()
      ->transform(ipclab::cli::seconds(1ms, 24h));

  return ipclab::run_main(app, argc, argv, [&] {
    if (min_size > max_size)
      throw ipclab::UsageError(
          fmt::format("--min-size {} is above --max-size {}", min_size, max_size));
    ipclab::ShutdownSignals shutdown;  // before create: a signal never leaves the ring behind
    ShmRing ring = ShmRing::create(name, capacity);
    const RemoveOnExit remove_on_exit(name);
    if (!from_stdin && max_size > ring.max_message())
      throw ipclab::UsageError(
          fmt::format("--max-size {} is above this ring's limit {}", max_size, ring.max_message()));

    std::uint64_t sent = 0, bytes = 0;
    auto send = [&](std::size_t size, auto&& fill) {
      in_slices(shutdown, timeout_s, "room in the ring (is a consumer running?)",
                [&](const Deadline& d) {
                  auto slot = ring.reserve(size, d);
                  if (!slot) return false;
                  fill(*slot);
                  ring.commit();
                  return true;
                });
      ++sent;
      bytes += size;
    };
    if (from_stdin) {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (line.size() > ring.max_message())
          throw ipclab::UsageError(fmt::format("line {} has {} bytes; this ring takes at most {}",
                                               sent + 1, line.size(), ring.max_message()));
        send(line.size(),
             [&](std::span<std::byte> s) { std::memcpy(s.data(), line.data(), line.size()); });
      }
    } else {
      for (std::uint64_t seq = 0; seq < count; ++seq)
        send(ipclab::lab12::message_size(seed, seq, min_size, max_size),
             [&](std::span<std::byte> s) { ipclab::lab12::fill_message(s, seq); });
    }
    ring.close();
    in_slices(shutdown, timeout_s, "the consumers to take every message",
              [&](const Deadline& d) { return ring.wait_drained(d); });
    fmt::print("shm_ring_producer: sent {} messages, {} bytes\n", sent, bytes);
    return ipclab::kExitOk;
  });
}
