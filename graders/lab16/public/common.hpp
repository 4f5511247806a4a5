// Shared by lab 16's public and hidden tests: a calc_server on this test's own program
// number (grader::rpc_prog(), from the test's namespace), stopped with SIGTERM so that it
// removes its registrations; calc_client runs; what rpcbind holds for the number.
#pragma once

#include <signal.h>  // SIGTERM, SIGKILL

#include <algorithm>  // std::sort
#include <set>        // std::set
#include <string>     // std::string
#include <utility>    // std::pair
#include <vector>     // std::vector

#include "grader/grader.hpp"
#include "grader/rpc.hpp"  // GRADER_REQUIRE_RPCBIND, rpc_prog
#include "ipclab/rpc.hpp"  // rpc::mappings_of, rpc::unset
#include "lab16/calc.hpp"

using namespace std::chrono_literals;

namespace lab16_test {

namespace lab = ipclab::lab16;

/// (version, netid) pairs rpcbind holds for this test's program number, sorted.
inline std::vector<std::pair<std::uint32_t, std::string>> registrations() {
  std::vector<std::pair<std::uint32_t, std::string>> out;
  for (const auto& m : ipclab::rpc::mappings_of(grader::rpc_prog()))
    if (m.netid == "tcp" || m.netid == "udp") out.emplace_back(m.vers, m.netid);
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string registrations_text() {
  std::string s;
  for (const auto& m : ipclab::rpc::mappings_of(grader::rpc_prog()))
    s += ipclab::rpc::describe(m) + "\n";
  return s.empty() ? "(none)\n" : s;
}

/// What a server on both transports serving both versions registers.
inline std::vector<std::pair<std::uint32_t, std::string>> all_four() {
  return {{1, "tcp"}, {1, "udp"}, {2, "tcp"}, {2, "udp"}};
}

/// The lines calc_server prints once registered, for these versions.
inline std::string registered_lines(const std::vector<int>& versions) {
  std::string s;
  for (int v : versions)
    s += fmt::format("Registered with portmapper: program {}, version {}\n", grader::rpc_prog_arg(),
                     v);
  return s;
}

/// calc_server --prog <this test's number> extra...; started() waits for its lines.
class Server : public grader::RpcServer {
 public:
  explicit Server(std::vector<std::string> extra = {}, std::vector<int> versions = {1, 2})
      : grader::RpcServer("calc_server", extra), versions_(std::move(versions)) {}
  /// True once it printed its registration lines; else adds a failure with its output.
  bool started() {
    const std::string want = registered_lines(versions_);
    return grader::RpcServer::started(want.substr(want.rfind("Registered")));
  }

 private:
  std::vector<int> versions_;
};

/// calc_client localhost args... --prog <this test's number> --timeout <ms>.
inline grader::RunResult client(std::vector<std::string> args, int timeout_ms = 5000) {
  return grader::rpc_client("calc_client", std::move(args), timeout_ms);
}

/// EXPECT a successful call printing `Result: <value>`.
inline void expect_result(const grader::RunResult& r, long long value,
                          std::source_location where = std::source_location::current()) {
  grader::expect_exit(r, 0, where);
  grader::expect_output(r, fmt::format("Result: {}\n", value), where);
}

/// EXPECT exit `code`, stderr beginning with `prefix`, nothing on stdout.
using grader::expect_error;

/// Removes what a server killed with -9 left at this test's number (the test's own
/// cleanup: the leak guard fails a test that leaves a registration behind).
inline void unset_all() {
  ipclab::rpc::unset(grader::rpc_prog(), 1);
  ipclab::rpc::unset(grader::rpc_prog(), 2);
}

}  // namespace lab16_test
