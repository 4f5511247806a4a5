// job_dispatcher [--queue NAME] [--workers N] [--aging-ms MS] [--notify] [--unlink]
// Runs the jobs submit_job puts into a POSIX message queue, highest priority first.
#include <cstdio>  // stdout, setvbuf

#include "ipclab/instance_lock.hpp"  // InstanceLock
#include "ipclab/main.hpp"           // run_main, CLI11
#include "lab04/dispatch.hpp"

namespace lab04 = ipclab::lab04;

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  using namespace std::chrono_literals;
  CLI::App app{
      "job_dispatcher: run jobs from a POSIX message queue with /bin/sh, highest priority\n"
      "first, FIFO within a priority; a job that waited longer than --aging-ms goes before\n"
      "newer jobs. SIGTERM/SIGINT: running jobs finish, waiting jobs stay in the queue."};
  lab04::DispatcherOptions opts;
  long long aging_ms = opts.aging.count();
  bool unlink = false;
  app.add_option("--queue", opts.queue, "queue name: the POSIX queue is /ipclab.<ns>.NAME")
      ->capture_default_str();
  app.add_option("--workers", opts.workers, "jobs run at the same time")
      ->transform(ipclab::cli::count(1, 256))
      ->capture_default_str();
  app.add_option("--aging-ms", aging_ms,
                 "a job waiting longer than this goes before newer jobs (0: no aging)")
      ->transform(ipclab::cli::milliseconds(0ms, 24h))
      ->capture_default_str();
  app.add_flag("--notify", opts.notify, "wait for jobs with mq_notify instead of poll(2)");
  app.add_flag("--unlink", unlink, "remove the queue and its job counter, then exit");
  app.add_option("--max-msgs", opts.attrs.max_msgs, "mq_maxmsg when the queue is created")
      ->transform(ipclab::cli::count(1, 1'000'000'000))
      ->capture_default_str();
  app.add_option("--msg-size", opts.attrs.msg_size, "mq_msgsize when the queue is created")
      ->transform(ipclab::cli::size(1, std::uint64_t{1} << 30))
      ->capture_default_str();

  return ipclab::run_main(app, argc, argv, [&] {
    (void)std::setvbuf(stdout, nullptr, _IOLBF,
                       0);  // one line at a time, also into files and pipes
    // One live dispatcher per queue: serving and --unlink both hold the queue's
    // single-instance lock, <rundir>/<queue>.dispatcher.lock. A second dispatcher on the
    // queue, or --unlink of a live dispatcher's queue, is refused with exit 1.
    const auto lock = ipclab::InstanceLock::acquire(opts.queue + ".dispatcher");
    if (unlink) {
      const std::string name = lab04::queue_posix_name(opts.queue);
      if (!lab04::unlink_queue(opts.queue))
        throw ipclab::OperationFailed(fmt::format("no queue {}", name));
      fmt::print("Queue {} unlinked\n", name);
      return 0;
    }
    opts.aging = std::chrono::milliseconds(aging_ms);
    return lab04::run_dispatcher(opts);
  });
}
