// Sun RPC in graders: starting rpcbind, skipping without it, the per-test program number,
// and the leak guard's check of rpcbind's table (grader/rpc.hpp).
#include "grader/rpc.hpp"

#include <unistd.h>  // geteuid, access

#include <set>  // std::set

#include <fmt/core.h>  // fmt::format

#include "grader/grader.hpp"  // run, wait_until
#include "ipclab/names.hpp"   // names::rpc_program
#include "ipclab/rpc.hpp"     // rpc::mappings_of, rpc::unset, rpc::rpcbind_running

namespace grader {
namespace {

bool g_uses_rpcbind = false;

std::string find_rpcbind() {
  for (const char* p : {"/usr/sbin/rpcbind", "/sbin/rpcbind", "/usr/bin/rpcbind"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

}  // namespace

int use_rpcbind() {
  g_uses_rpcbind = true;
  return 0;
}

std::optional<std::string> rpcbind_missing() {
  if (ipclab::rpc::rpcbind_running()) return std::nullopt;
  if (find_rpcbind().empty())
    return "rpcbind is not installed: as root, apt-get install rpcbind, then run `rpcbind -w`";
  return "rpcbind is not running: start it as root with `rpcbind -w`, then run the grader again";
}

std::uint32_t rpc_prog() { return ipclab::names::rpc_program(); }
std::string rpc_prog_arg() { return ipclab::rpc::hex(rpc_prog()); }

RpcServer::RpcServer(const std::string& program, const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {program, "--prog", rpc_prog_arg()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  proc_.emplace(argv);
}

RpcServer::~RpcServer() {
  if (!proc_->exited()) stop(SIGTERM);
}

bool RpcServer::started(const std::string& line) {
  if (proc_->wait_for_output(line, 10'000ms)) return true;
  ADD_FAILURE() << proc_->argv().front() << " did not print its registration within 10 s\n"
                << "  expected: " << line << "\n  stdout: " << excerpt(proc_->out())
                << "\n  stderr: " << excerpt(proc_->err());
  return false;
}

std::optional<ipclab::WaitStatus> RpcServer::stop(int sig) {
  proc_->signal(sig);
  return proc_->wait(10'000ms);
}

RunResult rpc_client(const std::string& program, std::vector<std::string> args, int timeout_ms) {
  std::vector<std::string> argv = {program, "localhost"};
  argv.insert(argv.end(), args.begin(), args.end());
  for (const std::string& s : {std::string("--prog"), rpc_prog_arg(), std::string("--timeout"),
                               std::to_string(timeout_ms)})
    argv.push_back(s);
  RunOptions opts;
  opts.timeout = ms(timeout_ms * 3 + 10'000);
  return run(argv, opts);
}

void start_rpcbind_if_needed() {
  if (!g_uses_rpcbind || ::geteuid() != 0 || ipclab::rpc::rpcbind_running()) return;
  const std::string bin = find_rpcbind();
  if (bin.empty()) return;  // the tests skip, naming the package
  // rpcbind -w daemonizes: its first process exits once the daemon runs. -w: warm start
  // (reads the registrations of an earlier rpcbind, if it saved any).
  RunOptions opts;
  opts.timeout = 10'000ms;
  const auto r = run({bin, "-w"}, opts);
  if (r.exit_code() != 0 ||
      !wait_until([] { return ipclab::rpc::rpcbind_running(std::chrono::milliseconds(200)); }))
    fmt::print(stderr, "grader: could not start rpcbind:\n{}", r.describe());
  else
    fmt::print("grader: started rpcbind (`{} -w`): it was not running\n", bin);
}

std::string remove_leaked_registrations(const std::string& ns) {
  if (!g_uses_rpcbind) return "";
  const std::uint32_t prog = ipclab::names::rpc_program(ns);
  std::string lines;
  std::set<std::uint32_t> versions;
  for (const auto& m : ipclab::rpc::mappings_of(prog)) {
    lines += "    rpcbind " + ipclab::rpc::describe(m) + "\n";
    versions.insert(m.vers);
  }
  for (std::uint32_t v : versions) ipclab::rpc::unset(prog, v);
  return lines;
}

}  // namespace grader
