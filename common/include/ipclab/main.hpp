// The one place that maps outcomes to exit codes. Include only from a program's main file
// (it pulls in CLI11):
//
//   int main(int argc, char** argv) {
//     CLI::App app{"mypipe: run a shell pipeline"};
//     ... app.add_option(...) ...
//     return ipclab::run_main(app, argc, argv, [&] { return run(...); });
//   }
//
// Exit codes: 0 ok (or what the body returns), 1 OperationFailed, 2 usage (CLI11
// validation errors and UsageError), 3 SysError, NotImplemented and anything else.
// Errors print `error: <what>` on stderr; --help prints help and exits 0. An empty
// `--opt=` is a usage error before CLI11 sees it (CLI11 would take the next argument as
// the value). Numeric options take their validators from ipclab/cli_options.hpp
// (included here): `->transform(ipclab::cli::seconds(1ms, 24h))`.
#pragma once

#include <cstdio>       // stderr
#include <exception>    // std::exception
#include <string_view>  // std::string_view
#include <utility>      // std::forward

#include <fmt/core.h>   // fmt::print
#include <CLI/CLI.hpp>  // CLI::App, CLI::ParseError

#include "ipclab/cli_numbers.hpp"  // refuse_empty_values
#include "ipclab/cli_options.hpp"  // ipclab::cli validators, for the main files
#include "ipclab/error.hpp"        // SysError, UsageError, OperationFailed, NotImplemented

namespace ipclab {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitSystem = 3;

/// Runs body() and maps what it throws to an exit code (see above). Usable without CLI11.
template <typename Body>
int run_guarded(Body&& body) {
  try {
    return std::forward<Body>(body)();
  } catch (const UsageError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return kExitUsage;
  } catch (const OperationFailed& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return kExitFailed;
  } catch (const NotImplemented& e) {
    fmt::print(stderr, "error: not implemented: {}\n", e.what());
    return kExitSystem;
  } catch (const SysError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return kExitSystem;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return kExitSystem;
  }
}

/// Parses the command line with `app`, then runs body() under run_guarded.
template <typename Body>
int run_main(CLI::App& app, int argc, char** argv, Body&& body) {
  try {
    refuse_empty_values(argc, argv);
    app.parse(argc, argv);
  } catch (const UsageError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    fmt::print(stderr, "Run with --help for more information.\n");
    return kExitUsage;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // prints help, returns 0
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    fmt::print(stderr, "Run with --help for more information.\n");
    return kExitUsage;
  }
  return run_guarded(std::forward<Body>(body));
}

}  // namespace ipclab
