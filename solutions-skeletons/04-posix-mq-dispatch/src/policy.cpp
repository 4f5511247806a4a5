// Lab 04: which job runs next. Read the contract in include/lab04/dispatch.hpp
// (pick_next) and README §The rule before you start.
#include "ipclab/error.hpp"  // ipclab::UsageError, ipclab::NotImplemented
#include "lab04/dispatch.hpp"

namespace ipclab::lab04 {

std::size_t pick_next([[maybe_unused]] std::span<const Job> pending,
                      [[maybe_unused]] std::int64_t now_ns,
                      [[maybe_unused]] std::chrono::milliseconds aging) {
  // TODO(lab04): one pass over `pending`, keeping two candidates:
  //  - the aged job (aging > 0 and now_ns - submit_ns > aging) with the smallest id;
  //  - the job with the highest priority, smallest id among equals.
  // Return the first if there is one, else the second.
  throw NotImplemented("TODO(lab04): implement pick_next() in src/policy.cpp");
}

}  // namespace ipclab::lab04
