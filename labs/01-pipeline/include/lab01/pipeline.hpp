// Lab 01 — a shell pipeline executor: cmd1 | cmd2 | ... | cmdN with pipe, fork, dup2 and
// execvp. You write split_words() (src/parse.cpp) and run_pipeline() (src/pipeline.cpp);
// the mypipe program (main/mypipe.cpp) is given.
#pragma once

#include <sys/types.h>  // pid_t

#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "ipclab/process.hpp"  // ipclab::WaitStatus

namespace ipclab::lab01 {

/// One stage of a pipeline: the program and its arguments (argv[0] is searched in PATH).
struct Command {
  std::vector<std::string> argv;
};

struct Options {
  /// Like bash's `set -o pipefail`: the pipeline's status is that of the last (rightmost)
  /// stage that failed, or 0 if all succeeded.
  bool pipefail = false;
  /// The descriptor the first stage reads (its stdin) and the one the last stage writes
  /// (its stdout). Defaults: this process's own stdin and stdout.
  int stdin_fd = 0;
  int stdout_fd = 1;
};

struct StageResult {
  pid_t pid = -1;
  ipclab::WaitStatus status;  // as waitpid reported it
  int exit_code = 0;          // the shell's view: exit status, or 128 + signal number
};

struct PipelineResult {
  std::vector<StageResult> stages;  // one per command, in order
  int exit_code = 0;                // the pipeline's status (see Options::pipefail)
};

/// The status mypipe and bash give a stage that cannot be executed.
inline constexpr int kNotFound = 127;       // no such program
inline constexpr int kNotExecutable = 126;  // found, but exec failed (e.g. permission)

/**
 * @brief Splits one command string into words, like a shell without expansions.
 *
 * Words are separated by blanks (spaces and tabs). '...' quotes everything literally;
 * "..." quotes everything except a backslash before " \ $ or `, which escapes it; outside
 * quotes a backslash escapes the next character. Quoted parts join the word they touch
 * (a'b c'd is one word: "ab cd"), and '' or "" alone is an empty word. No globbing, no
 * variables, no operators: | ; & < > are ordinary characters.
 *
 * @param line  one command, e.g. `grep -c "a b"`
 * @return      the words; empty if the line holds only blanks
 * @throws ipclab::UsageError on an unterminated quote or a trailing backslash
 *
 * TODO(lab01): implement in src/parse.cpp.
 */
std::vector<std::string> split_words(std::string_view line);

/**
 * @brief Runs commands[0] | commands[1] | ... and waits for every stage.
 *
 * Stage i reads from stage i-1 through a pipe (the first reads opts.stdin_fd) and writes
 * to stage i+1 (the last writes opts.stdout_fd); stderr is shared. Each stage starts with
 * exactly descriptors 0, 1 and 2 open and SIGPIPE at its default action, so a stage whose
 * reader exits early ends (killed by SIGPIPE) instead of hanging. A stage that cannot be
 * executed prints `mypipe: NAME: command not found` (status 127) or
 * `mypipe: NAME: <strerror>` (status 126) on stderr and exits; the rest of the pipeline
 * still runs. On return every stage has been waited for (no zombies) and this process
 * holds no descriptor it did not hold before.
 *
 * @param commands  one or more commands, each with a non-empty argv
 * @param opts      pipefail and the outer descriptors
 * @return          each stage's pid and status, and the pipeline's status
 * @throws ipclab::UsageError if commands is empty or a command has an empty argv
 * @throws ipclab::SysError if pipe(2) or fork(2) fails (children already started are
 *         waited for first)
 *
 * TODO(lab01): implement in src/pipeline.cpp.
 */
PipelineResult run_pipeline(const std::vector<Command>& commands, const Options& opts = {});

}  // namespace ipclab::lab01
