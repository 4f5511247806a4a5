// Lab 04 reference: the scheduling rule (see dispatch.hpp and README, "The rule").
//
// Strict priority alone lets a steady stream of high-priority jobs starve a low one for
// ever. The aging rule bounds that: once a job has waited longer than `aging`, only jobs
// older than it can still go first, so newer jobs, whatever their priority, cannot delay
// it any more. Ordering aged jobs by age (not by priority) is what makes the bound hold.
#include "ipclab/error.hpp"  // UsageError
#include "lab04/dispatch.hpp"

namespace ipclab::lab04 {

std::size_t pick_next(std::span<const Job> pending, std::int64_t now_ns,
                      std::chrono::milliseconds aging) {
  if (pending.empty()) throw UsageError("pick_next: no pending job");
  const std::int64_t aging_ns = std::chrono::nanoseconds(aging).count();
  std::size_t best = 0;                      // highest priority, then smallest id
  std::size_t oldest_aged = pending.size();  // smallest id among aged jobs; size() = none
  for (std::size_t i = 0; i < pending.size(); ++i) {
    const Job& j = pending[i];
    if (aging_ns > 0 && now_ns - j.submit_ns > aging_ns &&
        (oldest_aged == pending.size() || j.id < pending[oldest_aged].id))
      oldest_aged = i;
    const Job& b = pending[best];
    if (j.priority > b.priority || (j.priority == b.priority && j.id < b.id)) best = i;
  }
  return oldest_aged != pending.size() ? oldest_aged : best;
}

}  // namespace ipclab::lab04
