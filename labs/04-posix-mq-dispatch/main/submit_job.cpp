// submit_job --priority=P --cmd="..." [--queue NAME] [--timeout MS]
// Puts one job into the dispatcher's queue; prints `Job K queued (priority P)`.
#include "ipclab/main.hpp"  // run_main, CLI11
#include "lab04/dispatch.hpp"

namespace lab04 = ipclab::lab04;

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "submit_job: queue a shell command for job_dispatcher.\n"
      "  submit_job --priority=5 --cmd=\"echo hello\"\n"
      "Waits up to --timeout while the queue is full, then fails with `queue full` (exit 1)."};
  lab04::SubmitRequest req;
  long long timeout_ms = req.timeout.count();
  app.add_option("--priority", req.priority, "0 (lowest) to 31 (highest)")
      ->required()
      ->transform(ipclab::cli::integer(0, 31));
  app.add_option("--cmd", req.cmd, "the command, run with /bin/sh -c")->required();
  app.add_option("--queue", req.queue, "queue name: the POSIX queue is /ipclab.<ns>.NAME")
      ->capture_default_str();
  app.add_option("--timeout", timeout_ms, "milliseconds to wait while the queue is full")
      ->transform(ipclab::cli::milliseconds(0ms, 24h))
      ->capture_default_str();

  return ipclab::run_main(app, argc, argv, [&] {
    req.timeout = std::chrono::milliseconds(timeout_ms);
    const auto id = lab04::submit_job(req);
    fmt::print("Job {} queued (priority {})\n", id, req.priority);
    return 0;
  });
}
