// Lab 01: running cmd1 | cmd2 | ... | cmdN. Read the contract in
// include/lab01/pipeline.hpp (run_pipeline) and the README before you start.
#include "lab01/pipeline.hpp"
#include "ipclab/error.hpp"  // ipclab::UsageError, ipclab::SysError, ipclab::NotImplemented

namespace ipclab::lab01 {

PipelineResult run_pipeline([[maybe_unused]] const std::vector<Command>& commands,
                            [[maybe_unused]] const Options& opts) {
  // TODO(lab01): for each command i:
  //  1. unless it is the last, make a pipe for its output (pipe2 with O_CLOEXEC: the
  //     caller's other threads may start programs at any moment);
  //  2. fork; in the child: reset SIGPIPE to SIG_DFL, dup2 the input onto 0 and the
  //     output onto 1, close every descriptor from 3 up (close_range, or a loop if it
  //     fails), execvp — and if execvp returns, write `mypipe: NAME: command not found`
  //     (a name without '/' not in PATH) or `mypipe: NAME: <strerror>` with write(2) in
  //     a loop (it may write less), and _exit(127) for ENOENT, 126 for other errors;
  //  3. in the parent: close the ends the child now owns *before* the next fork.
  // If pipe2 or fork fails: close every end you hold, waitpid the stages already
  // started, then throw. Then waitpid every stage (in order, retrying on EINTR) and
  // compute the pipeline's status: the last stage's, or with opts.pipefail the
  // rightmost non-zero one.
  // Draw the descriptor table of every process first (README, "Thinking exercise").
  throw NotImplemented("TODO(lab01): implement run_pipeline() in src/pipeline.cpp");
}

}  // namespace ipclab::lab01
