// Sun RPC over loopback: lab 16's calc_server (run from the build) and its Calculator client
// over TCP, version 1's ADD. A call carries two ints, so a message is the 16-byte header
// alone: ADD(low 32 bits of the sequence number, low 32 bits of the checksum); the reply
// must be their sum, from which recv() rebuilds the message for the driver to verify (a
// wrong answer is a bad checksum). Several producers are several clients.
#include <sched.h>   // sched_setaffinity
#include <unistd.h>  // access

#include <array>    // std::array
#include <csignal>  // SIGTERM, kill
#include <cstring>  // std::memcpy
#include <string>   // std::string

#include "ipclab/clock.hpp"    // Deadline
#include "ipclab/error.hpp"    // OperationFailed
#include "ipclab/fd.hpp"       // make_pipe
#include "ipclab/io.hpp"       // read_full
#include "ipclab/names.hpp"    // names::rpc_program
#include "ipclab/process.hpp"  // spawn, wait_for, kill_and_reap
#include "ipclab/rpc.hpp"      // rpcbind_running, hex
#include "lab16/calc.hpp"
#include "transport.hpp"

#ifndef IPC_SUITE_CALC_SERVER
#error "the build defines IPC_SUITE_CALC_SERVER: the path of lab 16's calc_server"
#endif

namespace ipclab::suite {
namespace {

constexpr std::size_t kRpcMessage = 16;  // the header: sequence number and checksum

std::uint32_t low32(std::span<const std::byte> msg, std::size_t at) {
  std::uint32_t w = 0;
  std::memcpy(&w, msg.data() + at, sizeof w);
  return w;
}

class RpcEndpoint final : public Endpoint {
 public:
  explicit RpcEndpoint(std::uint32_t prog)
      : calc_(lab16::ClientOptions{"localhost", prog, CALC_VERS, lab16::Proto::kTcp,
                                   std::chrono::milliseconds(5000)}) {}
  void send(std::span<const std::byte> msg) override {
    std::memcpy(last_.data(), msg.data(), kRpcMessage);
    const std::uint32_t a = low32(msg, 0), b = low32(msg, 8);
    const lab16::Answer ans = calc_.call(lab16::Op::kAdd, static_cast<int>(a), static_cast<int>(b));
    // The checksum's low word as the server's sum gives it back (version 1 wraps).
    const std::uint32_t back = static_cast<std::uint32_t>(ans.value) - a;
    std::memcpy(last_.data() + 8, &back, sizeof back);
  }
  void recv(std::span<std::byte> buf) override {
    std::memcpy(buf.data(), last_.data(), kRpcMessage);
  }

 private:
  lab16::Calculator calc_;
  std::array<std::byte, kRpcMessage> last_{};
};

class RpcLink final : public Link {
 public:
  RpcLink(std::uint32_t prog, int cpu) : prog_(prog) {
    Pipe out = make_pipe();
    SpawnOptions opts;
    opts.stdout_fd = out.write.get();
    opts.parent_death_signal = SIGTERM;  // it unregisters on SIGTERM
    pid_ = spawn({IPC_SUITE_CALC_SERVER, "--prog", rpc::hex(prog), "--proto", "tcp", "--vers", "1"},
                 opts);
    out.write.reset();
    if (cpu >= 0) {  // the server is side B: it runs where B would
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      ::sched_setaffinity(pid_, sizeof set, &set);
    }
    // Ready once it says it registered ("Registered with portmapper: ...").
    char c = 0;
    std::string line;
    while (read_full(out.read.get(), &c, 1) == 1 && c != '\n') line += c;
    if (line.rfind("Registered", 0) != 0) {
      const WaitStatus st = kill_and_reap(pid_);
      throw OperationFailed(fmt::format("calc_server did not register ({})", st.describe()));
    }
  }
  ~RpcLink() override {
    ::kill(pid_, SIGTERM);
    if (!wait_for(pid_, Deadline(std::chrono::seconds(5)))) kill_and_reap(pid_);
  }
  std::unique_ptr<Endpoint> open(Side side, int) override {
    if (side == Side::kB) throw std::logic_error("rpc: B is calc_server itself");
    return std::make_unique<RpcEndpoint>(prog_);
  }

 private:
  std::uint32_t prog_;
  pid_t pid_ = -1;
};

class RpcAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "sun_rpc"; }
  std::string_view description() const override {
    return "Sun RPC over TCP loopback: lab 16's calc_server, ADD calls (8 bytes each way)";
  }
  Caps caps() const override {
    Caps c;
    c.min_size = c.max_size = kRpcMessage;
    c.limit_source = "calc.x: a call carries two 32-bit ints";
    c.multi_producer = true;
    c.request_reply = true;
    c.cross_host = true;
    c.trade_offs = {"the server process; its registration in rpcbind",
                    "a program number, mapped to a port by rpcbind",
                    "each call waits for its reply (timeout, retries over UDP)"};
    return c;
  }
  std::string unavailable() const override {
    if (::access(IPC_SUITE_CALC_SERVER, X_OK) != 0)
      return fmt::format("{} is not built", IPC_SUITE_CALC_SERVER);
    if (!rpc::rpcbind_running()) return "rpcbind is not running (start it: rpcbind)";
    return {};
  }
  std::unique_ptr<Link> setup(const LinkParams& p) override {
    return std::make_unique<RpcLink>(names::rpc_program(), p.cpu_b);
  }
};

}  // namespace

std::unique_ptr<Adapter> make_rpc_adapter() { return std::make_unique<RpcAdapter>(); }

}  // namespace ipclab::suite
