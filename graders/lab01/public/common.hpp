// Shared by lab 01's public and hidden tests: running a pipeline in-process with files
// for stdin and stdout (files never fill up, so a wrong solution cannot deadlock the test).
#pragma once

#include <fcntl.h>   // open
#include <unistd.h>  // lseek

#include <string>  // std::string
#include <vector>  // std::vector

#include "grader/grader.hpp"
#include "ipclab/error.hpp"  // ipclab::UsageError
#include "ipclab/fd.hpp"
#include "ipclab/io.hpp"
#include "lab01/pipeline.hpp"

using namespace std::chrono_literals;

namespace lab01_test {

namespace lab = ipclab::lab01;

inline std::vector<lab::Command> commands(std::initializer_list<std::vector<std::string>> list) {
  std::vector<lab::Command> out;
  for (const auto& argv : list) out.push_back({argv});
  return out;
}

struct InProcess {
  lab::PipelineResult result;
  std::string out;
};

/// Runs the pipeline in this process with `input` as the first stage's stdin.
inline InProcess run_in_process(const std::vector<lab::Command>& cmds,
                                const std::string& input = {}, bool pipefail = false) {
  static int n = 0;
  const std::string base = grader::scratch() + "/inproc" + std::to_string(++n);
  ipclab::Fd in(::open((base + ".in").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ipclab::Fd out(::open((base + ".out").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ipclab::write_full(in.get(), input);
  ::lseek(in.get(), 0, SEEK_SET);
  lab::Options opts;
  opts.pipefail = pipefail;
  opts.stdin_fd = in.get();
  opts.stdout_fd = out.get();
  InProcess r;
  r.result = lab::run_pipeline(cmds, opts);
  ::lseek(out.get(), 0, SEEK_SET);
  r.out = ipclab::read_all(out.get());
  return r;
}

/// The pipeline as a shell would write it, for messages.
inline std::string shell_text(const std::vector<lab::Command>& cmds) {
  std::string s;
  for (const auto& c : cmds) s += (s.empty() ? "" : " | ") + ipclab::shell_quote(c.argv);
  return s;
}

}  // namespace lab01_test
