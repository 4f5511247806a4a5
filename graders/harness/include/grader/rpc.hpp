// Sun RPC in graders (labs 16-18): rpcbind is part of a test's environment, and a program
// registered with it is an IPC object like the others.
//
//   GRADER_USES_RPCBIND();                  // once per grader, next to GRADER_LAB
//   GRADED_TEST(Calc, Adds, 2, "...") {
//     GRADER_REQUIRE_RPCBIND();             // skipped, with how to start it, when absent
//     grader::Process server({"calc_server", "--prog", grader::rpc_prog_arg()});
//
// rpcbind running: the tests run. Not running and the grader runs as root: the driver
// starts it (`rpcbind -w`) before the first test. Otherwise every test is skipped with one
// line saying how to start it (a skip is never a pass: tools/grade shows it).
//
// Each test registers only its own program number (rpc_prog(): names::rpc_program() of
// the test's namespace, in the transient range), so tests share one rpcbind in parallel;
// after the test the driver removes and names any registration of that number still
// there, and fails the test.
#pragma once

#include <signal.h>  // SIGTERM

#include <cstdint>   // std::uint32_t
#include <optional>  // std::optional
#include <string>    // std::string
#include <vector>    // std::vector

#include <gtest/gtest.h>  // GTEST_SKIP

#include "grader/grader.hpp"  // Process, RunResult

namespace grader {

/// Declares that this grader's tests use rpcbind (GRADER_USES_RPCBIND). Returns a dummy.
int use_rpcbind();
/// Why RPC tests cannot run here, or nullopt when rpcbind answers.
std::optional<std::string> rpcbind_missing();
/// This test's program number, and the same as a --prog argument ("0x4a3b5c6d").
std::uint32_t rpc_prog();
std::string rpc_prog_arg();

/// An RPC lab's server on this test's program number: `program --prog <rpc_prog_arg()>
/// extra...`. A test that failed half-way stops it the way a user would (SIGTERM, in the
/// destructor), so the leak guard reports only what the server itself failed to remove.
class RpcServer {
 public:
  RpcServer(const std::string& program, const std::vector<std::string>& extra);
  RpcServer(const RpcServer&) = delete;
  RpcServer& operator=(const RpcServer&) = delete;
  ~RpcServer();
  /// True once its stdout holds `line` (what it prints when registered); else adds a
  /// failure with its output.
  bool started(const std::string& line);
  Process& proc() { return *proc_; }
  /// SIGTERM (or another signal), then the exit status within 10 s.
  std::optional<ipclab::WaitStatus> stop(int sig = SIGTERM);

 private:
  std::optional<Process> proc_;
};

/// Runs an RPC lab's client: `program localhost args... --prog <rpc_prog_arg()> --timeout
/// <timeout_ms>`, killed if it takes three times its own timeout and 10 s more.
RunResult rpc_client(const std::string& program, std::vector<std::string> args, int timeout_ms);

// For the driver (graders/harness/src/driver.cpp):
/// In a grader that uses rpcbind, run as root, with rpcbind not running: starts it and
/// waits until it answers. Called once, before the tests (and before the driver becomes a
/// child subreaper, so the daemon is not one of its children).
void start_rpcbind_if_needed();
/// The leak guard's RPC part: removes every rpcbind registration of namespace `ns`'s
/// program number and returns one line per registration ("    rpcbind program ..."), or
/// "" when there was none (or the grader does not use rpcbind).
std::string remove_leaked_registrations(const std::string& ns);

}  // namespace grader

#define GRADER_USES_RPCBIND() \
  [[maybe_unused]] static const int grader_rpcbind_registration = ::grader::use_rpcbind()

#define GRADER_REQUIRE_RPCBIND()                          \
  do {                                                    \
    if (auto grader_why_ = ::grader::rpcbind_missing()) { \
      GTEST_SKIP() << *grader_why_;                       \
    }                                                     \
  } while (0)
