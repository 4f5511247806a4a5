// Lab 13's test hook (given, not a student file): the grader makes one worker die or stall
// (shm_image_filter --test-kill-worker / --test-stall-worker) to check that the master
// notices a dead worker and really waits for every band.
#include <signal.h>  // raise, SIGKILL
#include <time.h>    // nanosleep

#include "lab13/parallel.hpp"

namespace ipclab::lab13 {

void test_hook_before_band(const ParallelOptions& opts, int index) {
  if (index == opts.hooks.kill_worker) (void)::raise(SIGKILL);
  if (index == opts.hooks.stall_worker && opts.hooks.stall.count() > 0) {
    const auto ms = opts.hooks.stall.count();
    timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1'000'000};
    while (::nanosleep(&ts, &ts) != 0) {  // EINTR: sleep the rest
    }
  }
}

}  // namespace ipclab::lab13
