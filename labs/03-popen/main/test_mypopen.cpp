// test_mypopen — the three classic popen demos, run with your mypopen()/mypclose(), in the
// course guide's words (Testing ..., Read/Wrote, mypclose returned: N, PASS):
//   1. read:   mypopen("ls", "r") (or "ls -- DIR"), print what it reads on one line;
//   2. write:  mypopen("cat", "w"), write "Hello from parent" and N numbered lines, which
//              cat prints on our stdout;
//   3. status: mypopen("exit CODE", "r"), print the status mypclose returns.
// Exit status: 0 if ls and cat exit 0; 1 if one of them does not.
#include <cstdio>  // stdout, std::fflush
#include <string>  // std::string

#include "ipclab/main.hpp"     // run_main, CLI11
#include "ipclab/process.hpp"  // shell_quote, WaitStatus
#include "lab03/popen.hpp"     // Popen

namespace {

using ipclab::lab03::Popen;

/// What each demo prints after mypclose: `mypclose returned: N` (the exit status), or
/// `mypclose returned: killed by signal N (...)`.
std::string status_line(const ipclab::WaitStatus& st) {
  return fmt::format("mypclose returned: {}",
                     st.exited() ? std::to_string(st.exit_code()) : st.describe());
}

/// `text` with its newlines (and backslashes) shown as \n (and \\): on one line.
std::string one_line(const std::string& text) {
  std::string out;
  for (const char c : text) out += c == '\n' ? "\\n" : c == '\\' ? "\\\\" : std::string(1, c);
  return out;
}

/// Our stdout is a stdio buffer; the child writes to the same file directly. Flush before
/// the child starts and before we print again, or the lines come out of order.
void flush_stdout() { std::fflush(stdout); }  // NOLINT(cert-err33-c): nothing to do about it

void header(const std::string& command, const char* mode) {
  fmt::print("Testing mypopen(\"{}\", \"{}\")...\n", command, mode);
  flush_stdout();
}

/// The status line, then PASS if the command exited 0 (else FAIL).
void verdict(const ipclab::WaitStatus& st) {
  fmt::print("{}\n{}\n", status_line(st), st.raw() == 0 ? "PASS" : "FAIL");
}

ipclab::WaitStatus demo_read(const std::string& dir) {
  // The directory is quoted for the shell: mypopen runs a shell command line. The
  // default (the current directory) is the course guide's plain `ls`.
  const std::string command = dir == "." ? "ls" : ipclab::shell_quote({"ls", "--", dir});
  header(command, "r");
  Popen ls(command, "r");
  fmt::print("Read: {}\n", one_line(ls.read_all()));
  const auto st = ls.close();
  verdict(st);
  return st;
}

ipclab::WaitStatus demo_write(int lines) {
  header("cat", "w");
  std::string text = "Hello from parent\n";
  for (int i = 1; i <= lines; ++i) text += fmt::format("line {}\n", i);
  // Said before cat starts: what cat prints (on our stdout) comes after this line.
  fmt::print("Wrote: \"{}\"\n", one_line(text));
  flush_stdout();
  Popen cat("cat", "w");
  cat.write(text);
  const auto st = cat.close();  // cat has printed everything once it has exited
  verdict(st);
  return st;
}

void demo_status(int code) {
  const std::string command = fmt::format("exit {}", code);
  header(command, "r");
  Popen sh(command, "r");
  const auto st = sh.close();
  fmt::print("{}\n", status_line(st));
  if (st.exited() && st.exit_code() == code)
    fmt::print("PASS (exit status preserved)\n");
  else
    fmt::print("FAIL (expected exit status {})\n", code);
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "test_mypopen: read `ls DIR` through mypopen(\"...\", \"r\"), write lines through\n"
      "mypopen(\"cat\", \"w\"), and show the status mypclose returns for `exit CODE`."};
  std::string dir = ".";
  int lines = 0;
  int code = 42;
  app.add_option("--dir", dir, "directory to list with ls")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  app.add_option("--lines", lines,
                 "numbered lines to write through cat after \"Hello from parent\"")
      ->transform(ipclab::cli::count(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--exit-code", code, "status of the third command")
      ->transform(ipclab::cli::integer(0, 255))
      ->capture_default_str();

  return ipclab::run_main(app, argc, argv, [&] {
    const auto ls = demo_read(dir);
    const auto cat = demo_write(lines);
    demo_status(code);
    if (ls.raw() != 0) throw ipclab::OperationFailed(fmt::format("ls {}", ls.describe()));
    if (cat.raw() != 0) throw ipclab::OperationFailed(fmt::format("cat {}", cat.describe()));
    return 0;
  });
}
