// Lab 19 reference: ipc_demo's verified parent↔child exchange (see demo.hpp, run_demo).
//
// The protocol over a Channel: parent → child  header {size, checksum}, `size` bytes,
// then one "go" byte sent only after the writer has printed its line; child → parent its
// own checksum of what it received. The "go" byte is what makes the two processes' lines
// come out in a fixed order.
#include <signal.h>  // kill, SIGKILL
#include <unistd.h>  // fork, _exit

#include <cstdint>  // std::uint64_t
#include <vector>   // std::vector

#include <fmt/core.h>  // fmt::print

#include "ipclab/error.hpp"    // UsageError, throw_errno
#include "ipclab/process.hpp"  // wait_for
#include "lab19/channel.hpp"
#include "lab19/demo.hpp"

namespace ipclab::lab19 {
namespace {

struct Header {
  std::uint64_t size;
  std::uint64_t sum;
};

/// The child's side; returns its exit status.
int reader(Channel& ch, std::FILE* out) {
  Header h{};
  ch.recv(&h, sizeof h);
  if (h.size == 0 || h.size > static_cast<std::uint64_t>(kMaxDemoSize))
    throw_error(EPROTO, "reader: bad size {} in header", h.size);
  std::vector<std::byte> data(h.size);
  ch.recv(data.data(), data.size());
  const std::uint64_t sum = checksum(data);
  char go = 0;
  ch.recv(&go, 1);  // the writer has printed its line
  if (sum == h.sum)
    fmt::print(out, "reader: checksum OK\n");
  else
    fmt::print(out, "reader: checksum mismatch (expected {:#018x}, got {:#018x})\n", h.sum, sum);
  (void)std::fflush(out);
  ch.send(&sum, sizeof sum);
  return sum == h.sum ? 0 : 1;
}

}  // namespace

int run_demo(Mechanism m, std::int64_t size, std::uint64_t seed, std::FILE* out) {
  if (size <= 0) throw UsageError("size must be > 0");
  if (size > kMaxDemoSize) throw UsageError(fmt::format("size must be <= {}", kMaxDemoSize));
  std::vector<std::byte> data(static_cast<std::size_t>(size));
  fill_payload(data, seed);
  const Header h{data.size(), checksum(data)};

  Channel ch = Channel::make(m);
  (void)std::fflush(out);  // or the child would inherit (and print again) what is buffered
  (void)std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    int status = 1;
    try {
      ch.become_child();
      status = reader(ch, out);
    } catch (const std::exception& e) {
      fmt::print(stderr, "error: {}\n", e.what());
    }
    (void)std::fflush(out);
    (void)std::fflush(stderr);
    ::_exit(status);  // never return into the caller's code in the child
  }
  try {
    ch.become_parent();
    ch.send(&h, sizeof h);
    ch.send(data.data(), data.size());
    fmt::print(out, "writer: wrote {} bytes\n", data.size());
    (void)std::fflush(out);
    const char go = 'G';
    ch.send(&go, 1);
    std::uint64_t theirs = 0;
    ch.recv(&theirs, sizeof theirs);
    const WaitStatus st = wait_for(pid);
    if (theirs != h.sum) {
      fmt::print(stderr,
                 "error: the reader's checksum {:#018x} differs from the writer's {:#018x}\n",
                 theirs, h.sum);
      return 1;
    }
    if (st.exit_code() != 0) {
      fmt::print(stderr, "error: the reader {}\n", st.describe());
      return 1;
    }
    return 0;
  } catch (...) {
    ::kill(pid, SIGKILL);  // it may be blocked on a semaphore that will never be posted
    (void)wait_for(pid);
    throw;
  }
}

}  // namespace ipclab::lab19
