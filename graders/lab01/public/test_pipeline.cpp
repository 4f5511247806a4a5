// Lab 01 public grader: what mypipe and run_pipeline must do, checked against bash.
#include <signal.h>  // SIGPIPE

#include <algorithm>  // std::sort
#include <set>        // std::set

#include "common.hpp"
#include "ipclab/error.hpp"    // UsageError
#include "ipclab/process.hpp"  // child_pids, process_comm, process_state

namespace lab = ipclab::lab01;

GRADER_LAB("lab01", "Shell pipeline executor");

using grader::bash;
using grader::expect_exit;
using grader::expect_output;
using grader::run;
using lab::split_words;
using lab01_test::commands;
using lab01_test::run_in_process;
using Words = std::vector<std::string>;

// ---- words ------------------------------------------------------------------------------

GRADED_TEST(Parse, SplitsOnBlanks, 1, "README §Words") {
  EXPECT_EQ(split_words("ls -l /tmp"), (Words{"ls", "-l", "/tmp"}));
  EXPECT_EQ(split_words("  wc\t -l  "), (Words{"wc", "-l"}));
  EXPECT_EQ(split_words("   "), Words{});
}

GRADED_TEST(Parse, QuotesAndEscapes, 2, "README §Words — quotes join the word they touch") {
  EXPECT_EQ(split_words("grep 'a b'"), (Words{"grep", "a b"}));
  EXPECT_EQ(split_words("echo \"x  y\" z"), (Words{"echo", "x  y", "z"}));
  EXPECT_EQ(split_words("printf '%s|' a'b c'd"), (Words{"printf", "%s|", "ab cd"}));
  EXPECT_EQ(split_words("echo '' \"\""), (Words{"echo", "", ""}));
  EXPECT_EQ(split_words(R"(echo a\ b "q\"q")"), (Words{"echo", "a b", "q\"q"}));
  EXPECT_THROW(split_words("echo 'open"), ipclab::UsageError);
  EXPECT_THROW(split_words("echo \"open"), ipclab::UsageError);
}

GRADED_TEST(Parse, BackslashInsideDoubleQuotes, 1,
            "README §Words — inside \"...\", a backslash escapes only \" \\ $ and `") {
  EXPECT_EQ(split_words(R"("a\`b")"), Words{"a`b"});
  EXPECT_EQ(split_words(R"("a\$b")"), Words{"a$b"});
  EXPECT_EQ(split_words(R"("a\\b")"), Words{"a\\b"});
  EXPECT_EQ(split_words(R"("a\"b")"), Words{"a\"b"});
  EXPECT_EQ(split_words(R"("a\nb")"), Words{"a\\nb"}) << "a backslash before n is kept";
  EXPECT_EQ(split_words(R"("end\\")"), Words{"end\\"});
  EXPECT_THROW(split_words(R"("a\")"), ipclab::UsageError) << "the quote is escaped: unterminated";
}

// ---- output identical to bash -----------------------------------------------------------

GRADED_TEST(Pipeline, SingleCommandMatchesBash, 1) {
  auto r = run({"mypipe", "echo hello   'big  world'"});
  expect_output(r, bash("echo hello   'big  world'").out);
  expect_exit(r, 0);
}

GRADED_TEST(Pipeline, TwoStagesMatchBash, 3,
            "README §Pitfalls 1 — the parent must close its pipe ends") {
  auto r = run({"mypipe", "seq 1 300", "grep 7"});
  expect_output(r, bash("seq 1 300 | grep 7").out);
  expect_exit(r, 0);
}

GRADED_TEST(Pipeline, ThreeStagesMatchBash, 3) {
  auto r = run({"mypipe", "seq 1 2000", "grep 3", "wc -l"});
  expect_output(r, bash("seq 1 2000 | grep 3 | wc -l").out);
  auto q = run({"mypipe", "printf '%s\\n' 'b b' a 'c c'", "sort -r", "tr a-z A-Z"});
  expect_output(q, bash("printf '%s\\n' 'b b' a 'c c' | sort -r | tr a-z A-Z").out);
}

GRADED_TEST(Pipeline, TenStagesMatchBash, 3, "README §Pitfalls 1 — every stage must see EOF") {
  std::vector<std::string> argv = {"mypipe", "seq 1 20000"};
  std::string script = "seq 1 20000";
  for (int i = 0; i < 7; ++i) {
    argv.push_back("cat");
    script += " | cat";
  }
  argv.push_back("tac");
  argv.push_back("sha256sum");
  script += " | tac | sha256sum";
  ASSERT_EQ(argv.size(), 11u);  // mypipe + 10 stages
  auto r = run(argv);
  expect_output(r, bash(script).out);
  expect_exit(r, 0);
}

GRADED_TEST(Pipeline, OneMiBThroughThreeStagesUnchanged, 3,
            "README §Pitfalls 3 — stages run at the same time; a pipe holds only 64 KiB") {
  std::string input(1 << 20, '\0');
  std::uint64_t x = grader::seed() | 1;
  for (auto& c : input) {  // xorshift: every byte value, NULs included
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  auto r = run({"mypipe", "cat", "cat", "cat"}, {.input = input});
  grader::expect_finished(r);
  EXPECT_EQ(r.out.size(), input.size()) << r.describe();
  EXPECT_TRUE(r.out == input) << "the bytes that came out differ from the bytes that went in\n"
                              << r.describe();
  expect_exit(r, 0);
}

// ---- descriptor hygiene and reaping -----------------------------------------------------

GRADED_TEST(Hygiene, StagesHoldOnlyStdFds, 4,
            "README §Pitfalls 2 — a pipe end left open in a child (close 3 and up before exec)") {
  // Three cats wait on our stdin pipe, so we can look at them while they run.
  grader::Process p({"mypipe", "cat", "cat", "cat"});
  std::vector<pid_t> stages;
  ASSERT_TRUE(grader::wait_until([&] {
    if (!p.running()) return true;  // reported below, without waiting out the deadline
    stages = ipclab::child_pids(p.pid());
    if (stages.size() != 3) return false;
    for (pid_t s : stages)
      if (ipclab::process_comm(s) != "cat") return false;  // not yet exec'd
    return true;
  })) << "expected 3 running `cat` stages under mypipe (pid "
      << p.pid() << "), found " << stages.size();
  ASSERT_TRUE(p.running()) << "mypipe exited while its stages should still be waiting for input:\n"
                           << p.finish().describe();
  for (pid_t s : stages) {
    // Right after exec, cat itself may still hold a locale file it is loading: wait for
    // the stage to settle (blocked reading stdin) before judging its table.
    std::vector<std::string> extra;
    grader::wait_until(
        [&] {
          extra = grader::extra_fds(s);
          return extra.empty();
        },
        2'000ms);
    EXPECT_TRUE(extra.empty()) << "stage pid " << s << " holds descriptors beyond 0,1,2:\n    "
                               << fmt::format("{}", fmt::join(extra, "\n    "));
  }
  // The wiring: each stage's stdout is the next stage's stdin (the same pipe).
  std::sort(stages.begin(), stages.end());  // forked in order, so pids ascend
  std::set<std::string> pipes;
  for (std::size_t i = 0; i + 1 < stages.size(); ++i) {
    const auto out = ipclab::fd_target(stages[i], 1), in = ipclab::fd_target(stages[i + 1], 0);
    EXPECT_EQ(out, in) << "stage " << i + 1 << "'s stdout is not stage " << i + 2 << "'s stdin";
    EXPECT_EQ(out.rfind("pipe:", 0), 0u) << "stage " << i + 1 << " stdout is " << out;
    pipes.insert(out);
  }
  EXPECT_EQ(pipes.size(), 2u) << "expected two distinct pipes between three stages";
  // mypipe closes its last pipe end just after the last fork, possibly after that stage's
  // exec: wait for it, with a deadline.
  std::vector<std::string> parent_extra;
  grader::wait_until(
      [&] {
        parent_extra = grader::extra_fds(p.pid());
        return parent_extra.empty();
      },
      2'000ms);
  EXPECT_TRUE(parent_extra.empty())
      << "mypipe itself still holds descriptors beyond 0,1,2 while its stages run "
         "(a pipe end the parent never closed keeps a reader from seeing EOF):\n    "
      << fmt::format("{}", fmt::join(parent_extra, "\n    "));
  p.write("line through three cats\n");
  auto r = p.finish(5'000ms);
  grader::expect_finished(r);
  EXPECT_EQ(r.out, "line through three cats\n") << r.describe();
}

GRADED_TEST(Hygiene, NoZombiesAfterReturn, 3, "README §Pitfalls 4 — waitpid every stage") {
  auto r = run_in_process(commands({{"true"}, {"sh", "-c", "sleep 0.05; exit 3"}, {"false"}}));
  ASSERT_EQ(r.result.stages.size(), 3u);
  for (const auto& s : r.result.stages) {
    const char state = ipclab::process_state(s.pid);
    EXPECT_EQ(state, 0) << "stage pid " << s.pid
                        << " still exists after run_pipeline returned (state '" << state
                        << "'): it was not waited for";
  }
  EXPECT_TRUE(grader::zombie_children().empty()) << "zombie children left behind";
  EXPECT_EQ(r.result.stages[1].exit_code, 3);
}

GRADED_TEST(Hygiene, CallerDescriptorsUnchanged, 2,
            "README §Pitfalls 1 — close both ends in the parent") {
  const auto before = ipclab::open_fds();
  run_in_process(commands({{"echo", "x"}, {"cat"}, {"cat"}, {"wc", "-c"}}));
  const auto after = ipclab::open_fds();
  EXPECT_EQ(before, after) << "run_pipeline left descriptors open in the calling process:\n    "
                           << fmt::format("{}", fmt::join(grader::extra_fds(), "\n    "));
}

// ---- errors -----------------------------------------------------------------------------

GRADED_TEST(Errors, CommandNotFoundIs127, 3, "README §Pitfalls 5 — a failed exec must _exit(127)") {
  auto r = run({"mypipe", "ipclab_no_such_cmd --flag"});
  expect_exit(r, 127);
  EXPECT_NE(r.err.find("mypipe: ipclab_no_such_cmd: command not found"), std::string::npos)
      << r.describe();
  // In the middle of a pipeline: the rest still runs and ends, as in bash.
  auto m = run({"mypipe", "echo hi", "ipclab_no_such_cmd", "wc -c"});
  grader::expect_finished(m);
  expect_output(m, bash("echo hi | ipclab_no_such_cmd 2>/dev/null | wc -c").out);
  expect_exit(m, 0);
}

GRADED_TEST(Errors, EarlyExitStageEndsUpstream, 3,
            "README §Pitfalls 1 and 6 — EOF needs every write end closed; SIGPIPE at default") {
  auto r = run({"mypipe", "yes", "head -1"}, {.timeout = 10'000ms});
  grader::expect_finished(r);
  expect_output(r, "y\n");
  expect_exit(r, 0);
  auto p = run({"mypipe", "--pipefail", "yes", "head -1"}, {.timeout = 10'000ms});
  expect_exit(p, bash("set -o pipefail; yes | head -1").exit_code());  // 141: SIGPIPE
}

GRADED_TEST(Errors, ClosedStdinDoesNotHideAPipeEnd, 2,
            "README §Pitfalls 1 — with fd 0 closed, pipe() returns 0: a dup2 onto itself and a "
            "close of the original closes the only copy, a missed close keeps a reader alive") {
  // mypipe started with its stdin closed: its first pipe() gets fd 0 as the read end.
  auto r = run({"sh", "-c", "exec 0<&-; exec \"$0\" yes 'head -1'", grader::program("mypipe")},
               {.timeout = 10'000ms});
  grader::expect_finished(r);
  expect_output(r, "y\n");
  expect_exit(r, 0);
  auto three =
      run({"sh", "-c", "exec 0<&-; exec \"$0\" 'echo a' 'cat' 'wc -l'", grader::program("mypipe")},
          {.timeout = 10'000ms});
  grader::expect_finished(three);
  expect_output(three, "1\n");
  expect_exit(three, 0);
}

GRADED_TEST(Errors, FailedPipeEndsTheStagesAlreadyStarted, 2,
            "README §Pitfalls 1 — on a failed pipe(), close every end you hold (the previous "
            "stage's read end too) before you wait, or the started stages never end") {
  // fd 0 closed and room for only a few descriptors: for some limit, the first stage (yes)
  // is already running when a later pipe cannot be made. mypipe must then close its copy
  // of yes's read end, so that yes dies of SIGPIPE, reap it, and fail (exit 3). A limit at
  // which everything fits must simply work.
  for (const int limit : {4, 5, 6, 7}) {
    const std::string script =
        fmt::format("exec 0<&-; ulimit -n {}; exec \"$0\" yes cat 'head -1'", limit);
    auto r = run({"sh", "-c", script, grader::program("mypipe")}, {.timeout = 10'000ms});
    SCOPED_TRACE(fmt::format("stdin closed, ulimit -n {}", limit));
    grader::expect_finished(r);
    if (r.exit_code() == 0) {
      expect_output(r, "y\n");
    } else {
      expect_exit(r, 3);
      EXPECT_NE(r.err.find("pipe"), std::string::npos) << r.describe();
    }
  }
}

// ---- status -----------------------------------------------------------------------------

GRADED_TEST(Status, LastStageDecides, 2, "README §Status — the last stage, not the first") {
  expect_exit(run({"mypipe", "sh -c 'exit 3'", "true"}), 0);
  expect_exit(run({"mypipe", "true", "sh -c 'exit 7'"}), 7);
  expect_exit(run({"mypipe", "false"}), 1);
}

GRADED_TEST(Status, PipefailTakesRightmostFailure, 2, "README §Status") {
  auto r = run({"mypipe", "--pipefail", "sh -c 'exit 3'", "sh -c 'exit 5'", "true"});
  expect_exit(r, bash("set -o pipefail; sh -c 'exit 3' | sh -c 'exit 5' | true").exit_code());
  expect_exit(run({"mypipe", "--pipefail", "true", "true"}), 0);
}

// ---- usage ------------------------------------------------------------------------------

GRADED_TEST(Usage, EmptyCommandIsUsageError, 1, "README §Program — bad input is exit 2") {
  auto r = run({"mypipe", ""});
  expect_exit(r, 2);
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.describe();
  expect_exit(run({"mypipe", "ls", "   "}), 2);
  expect_exit(run({"mypipe", "echo 'unterminated"}), 2);
  expect_exit(run({"mypipe"}), 2);
}
