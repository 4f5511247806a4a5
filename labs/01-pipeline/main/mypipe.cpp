// mypipe "cmd1 args" "cmd2 args" ... — runs cmd1 | cmd2 | ... like a shell.
// Exit status: the last command's (or with --pipefail the last failing one's), as bash.
#include <cstdio>  // stderr
#include <string>  // std::string
#include <vector>  // std::vector

#include "ipclab/main.hpp"  // run_main, CLI11
#include "lab01/pipeline.hpp"

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "mypipe: run a shell pipeline.\n"
      "  mypipe \"ls -l\" \"grep cpp\" \"wc -l\"   is   ls -l | grep cpp | wc -l\n"
      "Each argument is one command; words split on blanks, with '...' and \"...\" quoting."};
  std::vector<std::string> commands;
  bool pipefail = false;
  app.add_flag("--pipefail", pipefail,
               "status is the last non-zero stage status (as bash's set -o pipefail)");
  app.add_option("command", commands, "one command of the pipeline, quoted")->required();
  app.positionals_at_end(false);

  return ipclab::run_main(app, argc, argv, [&] {
    std::vector<ipclab::lab01::Command> pipeline;
    for (const auto& c : commands) {
      auto words = ipclab::lab01::split_words(c);
      if (words.empty()) throw ipclab::UsageError(fmt::format("empty command \"{}\"", c));
      pipeline.push_back({std::move(words)});
    }
    ipclab::lab01::Options opts;
    opts.pipefail = pipefail;
    return ipclab::lab01::run_pipeline(pipeline, opts).exit_code;
  });
}
