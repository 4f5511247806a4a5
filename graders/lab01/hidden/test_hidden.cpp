// Lab 01 hidden grader: random pipelines against bash, binary data, repeated runs, and the
// corners of exec and signals.
#include <signal.h>    // SIGPIPE, SIGTERM
#include <sys/stat.h>  // chmod

#include <fstream>  // std::ofstream
#include <random>   // std::mt19937_64

#include "../public/common.hpp"
#include "ipclab/process.hpp"

namespace lab = ipclab::lab01;

using grader::bash;
using grader::expect_exit;
using grader::expect_output;
using grader::run;
using lab01_test::commands;
using lab01_test::run_in_process;

GRADED_TEST(Hidden, RandomPipelinesMatchBash, 3) {
  const std::vector<std::string> pool = {"cat",       "sort",      "sort -r",    "tr a-z A-Z",
                                         "uniq",      "grep -v e", "head -n 40", "tail -n 25",
                                         "cut -c1-3", "tac",       "sort -n",    "wc -l"};
  grader::repeat(6, [&](int, std::uint64_t s) {
    std::mt19937_64 rng(s);
    std::string input;
    const int lines = 20 + static_cast<int>(rng() % 400);
    for (int i = 0; i < lines; ++i)
      input += fmt::format("{}{}\n", "abcdefgh"[rng() % 8], rng() % 1000);
    std::vector<std::string> argv = {"mypipe"};
    std::string script;
    const int stages = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < stages; ++i) {
      const auto& c = pool[rng() % pool.size()];
      argv.push_back(c);
      script += (i ? " | " : "") + c;
    }
    auto r = run(argv, {.input = input});
    expect_output(r, bash(script, {.input = input}).out);
    expect_exit(r, 0);
  });
}

GRADED_TEST(Hidden, BinaryDataOfRandomSizeUnchanged, 2) {
  grader::repeat(4, [&](int, std::uint64_t s) {
    std::mt19937_64 rng(s);
    std::string data(rng() % (3u << 20), '\0');
    for (auto& c : data) c = static_cast<char>(rng());
    auto r = run_in_process(commands({{"cat"}, {"cat"}}), data);
    EXPECT_TRUE(r.out == data) << data.size() << " bytes in, " << r.out.size()
                               << " bytes out, or the bytes differ";
  });
}

GRADED_TEST(Hidden, ManyRunsLeakNothing, 3, "README §Pitfalls 2 and 4") {
  const auto before = ipclab::open_fds();
  for (int i = 0; i < 150; ++i) {
    auto r = run_in_process(commands({{"echo", "x"}, {"cat"}, {"wc", "-c"}}));
    ASSERT_EQ(r.out, "2\n") << "run " << i;
  }
  EXPECT_EQ(before, ipclab::open_fds()) << "descriptors leaked over 150 runs";
  EXPECT_TRUE(grader::zombie_children().empty()) << "zombies left over 150 runs";
}

GRADED_TEST(Hidden, SignalledStageIs128PlusSignal, 2, "README §Status") {
  auto r = run({"mypipe", "sh -c 'kill -TERM $$'"});
  expect_exit(r, 128 + SIGTERM);
  auto in = run_in_process(commands({{"sh", "-c", "kill -KILL $$"}, {"true"}}));
  EXPECT_TRUE(in.result.stages[0].status.signaled());
  EXPECT_EQ(in.result.stages[0].exit_code, 128 + SIGKILL);
}

GRADED_TEST(Hidden, NotExecutableIs126, 1, "README §Pitfalls 5") {
  const std::string file = grader::scratch() + "/not_executable";
  std::ofstream(file) << "#!/bin/sh\necho should not run\n";
  ::chmod(file.c_str(), 0644);
  auto r = run({"mypipe", file});
  expect_exit(r, 126);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.describe();
}

GRADED_TEST(Hidden, StdinReachesFirstStage, 2) {
  auto r = run({"mypipe", "cat", "wc -l"}, {.input = "one\ntwo\nthree\n"});
  expect_output(r, "3\n");
}

GRADED_TEST(Hidden, ParseCorners, 1) {
  using W = std::vector<std::string>;
  EXPECT_EQ(lab::split_words("a\"b\"'c'd e"), (W{"abcd", "e"}));
  EXPECT_EQ(lab::split_words("'a\\b' \"a\\b\""), (W{"a\\b", "a\\b"}));
  EXPECT_EQ(lab::split_words("x|y;z"), (W{"x|y;z"}));
  EXPECT_THROW(lab::split_words("trailing\\"), ipclab::UsageError);
}

GRADED_TEST(Hidden, SigpipeResetInChildren, 2,
            "README §Pitfalls 6 — an ignored SIGPIPE is inherited across exec; reset it") {
  // The grader ignores SIGPIPE (as many servers do): stages must not inherit that.
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &sa, nullptr);
  auto r = run_in_process(commands({{"yes"}, {"head", "-1"}}));
  EXPECT_EQ(r.out, "y\n");
  EXPECT_TRUE(r.result.stages[0].status.signaled() && r.result.stages[0].status.signal() == SIGPIPE)
      << "`yes` should die of SIGPIPE when head exits; it " << r.result.stages[0].status.describe();
}
