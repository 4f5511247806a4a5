// calc_client "5 + 3" — asks calc_server to compute one expression; prints `Result: 8`.
// Exit: 0 ok; 1 division by zero or overflow; 2 bad input (malformed, too long, bad
// option); 3 no server (within --timeout) or no reply. On SIGINT/SIGTERM it removes its
// FIFO, then dies of that signal.
#include <signal.h>  // raise

#include <cmath>     // std::llround
#include <optional>  // std::optional
#include <string>    // std::string
#include <vector>    // std::vector

#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/signal.hpp"  // ShutdownSignals
#include "lab02/calc.hpp"

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "calc_client: ask calc_server to compute one operation on 64-bit integers.\n"
      "  calc_client \"5 + 3\"   prints   Result: 8      (operators: + - * / %)\n"
      "Words are joined with spaces: calc_client 5 + 3 works too (quote * from the shell)."};
  std::vector<std::string> words;
  double timeout = 2.0;
  app.add_option("--timeout", timeout,
                 "seconds to wait in all: for the server to be there, and for its reply")
      ->transform(ipclab::cli::seconds(1ms, 24h));
  app.add_option("expression", words, "the expression, e.g. \"5 + 3\"")->required();

  return ipclab::run_main(app, argc, argv, [&] {
    namespace lab = ipclab::lab02;
    std::string expression;
    for (const auto& w : words) expression += (expression.empty() ? "" : " ") + w;
    lab::parse_expression(expression);  // malformed input is exit 2, server or not

    std::optional<ipclab::ShutdownSignals> signals(std::in_place);
    lab::CallOptions opts;
    opts.timeout = std::chrono::milliseconds(std::llround(timeout * 1000));
    opts.cancel_fd = signals->fd();
    lab::Reply reply;
    try {
      reply = lab::call(expression, opts);
    } catch (const lab::Interrupted&) {
      // call() has removed the FIFO. Die of the signal, as an interrupted program should
      // (the shell then sees 128 + signal and stops a loop, say).
      const int sig = signals->signal();
      signals.reset();     // back to the default action
      (void)::raise(sig);  // the default action: the process ends here
      return 128 + sig;
    }
    switch (reply.status) {
      case lab::Status::kOk:
        fmt::print("Result: {}\n", reply.value);
        return ipclab::kExitOk;
      case lab::Status::kMalformed:
        throw ipclab::UsageError(reply.message.empty() ? "malformed expression" : reply.message);
      case lab::Status::kDivisionByZero:
        throw ipclab::OperationFailed("division by zero");
      default:
        throw ipclab::OperationFailed(reply.message.empty() ? "overflow" : reply.message);
    }
  });
}
