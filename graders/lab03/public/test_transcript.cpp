// Lab 03 public grader: test_mypopen prints the course guide's transcript, line for line,
// run as the guide runs it (plain `ls` in the current directory).
#include "common.hpp"

GRADED_TEST(Transcript, GuidesLinesInOrder, 2, "README §Program") {
  const std::string dir = grader::scratch() + "/guide";
  lab03_test::make_dir_with(dir, {"a.txt", "b.txt"});
  auto r = grader::run({"test_mypopen"}, {.timeout = 5'000ms, .cwd = dir});
  grader::expect_exit(r, 0);
  grader::expect_output(r, lab03_test::guide_transcript("ls", "a.txt\\nb.txt\\n"));
}
