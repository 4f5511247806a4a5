// Lab 04: the dispatcher's event loop. Read the contract in include/lab04/dispatch.hpp
// (run_dispatcher) and README §The design, and do the thinking exercise first.
#include "ipclab/error.hpp"   // ipclab::UsageError, ipclab::NotImplemented
#include "ipclab/signal.hpp"  // ipclab::ShutdownSignals
#include "lab04/dispatch.hpp"

namespace ipclab::lab04 {

int run_dispatcher([[maybe_unused]] const DispatcherOptions& opts) {
  // TODO(lab04): the state you need: ShutdownSignals (first), the queue (create_queue),
  // the jobs taken from the queue and not started, the running jobs (pid + pidfd + id).
  // Print the ready line, then loop:
  //  1. if no shutdown was asked and a worker is free:
  //       (notify) arm mq_notify if it is not armed — before draining;
  //       drain the queue (timed receives with a deadline already passed) into pending;
  //       while a worker is free: start pending[pick_next(...)] with spawn({"/bin/sh",
  //       "-c", cmd}) — print `Dispatcher: Processing job ...` and fflush first;
  //       send the jobs you did not start back into the queue (their own priority).
  //  2. after SIGTERM/SIGINT: start nothing new; when no job runs any more, return 0.
  //  3. poll(2): the shutdown fd, one pidfd per running job, and only when a worker is
  //     free the queue descriptor (or, with notify, a signalfd for the notification
  //     signal: only a siginfo with ssi_code SI_MESGQ uses the registration up).
  //     Reap finished jobs (try_wait) and print `Dispatcher: Finished job K: ...`.
  throw NotImplemented("TODO(lab04): implement run_dispatcher() in src/dispatcher.cpp");
}

}  // namespace ipclab::lab04
