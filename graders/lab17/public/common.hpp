// Shared by lab 17's public and hidden tests: a calc_server_auth on this test's own program
// number (grader::rpc_prog()), stopped with SIGTERM so that it removes its registrations;
// calc_client_auth runs; the uid the tests run as (root in CI, a user elsewhere: policies
// are given explicitly so that the tests mean the same either way).
#pragma once

#include <signal.h>  // SIGTERM
#include <unistd.h>  // geteuid, getegid

#include <optional>  // std::optional
#include <string>    // std::string
#include <vector>    // std::vector

#include "grader/grader.hpp"
#include "grader/rpc.hpp"  // GRADER_REQUIRE_RPCBIND, rpc_prog
#include "ipclab/rpc.hpp"  // rpc::mappings_of, rpc::unset
#include "lab17/calc_auth.hpp"

using namespace std::chrono_literals;

namespace lab17_test {

namespace lab = ipclab::lab17;

/// The uid and gid this grader (and the clients it starts) runs as.
inline std::string my_uid() { return std::to_string(::geteuid()); }
inline std::string my_gid() { return std::to_string(::getegid()); }
/// A uid that is not ours (9999, or 9998 if we are 9999).
inline std::string other_uid() { return ::geteuid() == 9999 ? "9998" : "9999"; }

/// The local transport's socket in this test's run directory.
inline std::string socket_path() { return grader::rundir() + "/calc_auth.sock"; }

inline std::string using_sys(const std::string& uid, const std::string& gid) {
  return "Using AUTH_SYS (uid=" + uid + ", gid=" + gid + ")\n";
}

inline const char* kAuthFailed = "AUTH failed: RPC: Authentication error\n";

/// calc_server_auth --auth=sys --prog <this test's number> extra...
class Server : public grader::RpcServer {
 public:
  explicit Server(std::vector<std::string> extra = {})
      : grader::RpcServer("calc_server_auth", with_auth(std::move(extra))) {}
  /// True once it printed `Registered with rpcbind (AUTH_SYS)`; else a failure.
  bool started() { return grader::RpcServer::started("Registered with rpcbind (AUTH_SYS)\n"); }
  /// Waits until its log (stderr) holds `text`.
  bool logged(const std::string& text) { return proc().wait_for_err(text, 5'000ms); }

 private:
  static std::vector<std::string> with_auth(std::vector<std::string> extra) {
    extra.insert(extra.begin(), "--auth=sys");
    return extra;
  }
};

/// calc_client_auth localhost args... --prog <this test's number> --timeout <ms>.
inline grader::RunResult client(std::vector<std::string> args, int timeout_ms = 5000) {
  return grader::rpc_client("calc_client_auth", std::move(args), timeout_ms);
}

/// EXPECT exit 0 and exactly `Using AUTH_SYS (uid=U, gid=G)` (or `Using AUTH_NONE`) then
/// `<label>: <value>`.
inline void expect_answer(const grader::RunResult& r, const std::string& using_line,
                          const std::string& answer,
                          std::source_location where = std::source_location::current()) {
  grader::expect_exit(r, 0, where);
  grader::expect_output(r, using_line + answer + "\n", where);
}

/// EXPECT the refusal: exit 1, stderr exactly the AUTH failed line, nothing on stdout.
inline void expect_refused(const grader::RunResult& r,
                           std::source_location where = std::source_location::current()) {
  grader::expect_exit(r, 1, where);
  EXPECT_EQ(r.err, kAuthFailed) << where.file_name() << ":" << where.line() << "\n" << r.describe();
  EXPECT_EQ(r.out, "") << r.describe();
}

/// EXPECT exit `code`, stderr beginning with `prefix`, nothing on stdout.
using grader::expect_error;

/// accumulate AMOUNT with these ids, over `extra` (--proto udp, --local PATH, ...).
inline grader::RunResult accumulate(int client_id, int request_id, int amount,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"accumulate",   std::to_string(amount),
                                   "--client-id",  std::to_string(client_id),
                                   "--request-id", std::to_string(request_id)};
  args.insert(args.end(), extra.begin(), extra.end());
  return client(args);
}

/// Removes what a server killed with -9 left at this test's number.
inline void unset_all() { ipclab::rpc::unset(grader::rpc_prog(), CALC_AUTH_VERS); }

}  // namespace lab17_test
