// Lab 03 public grader: test_mypopen prints the course guide's transcript, line for line,
// run as the guide runs it (plain `ls` in the current directory).
#include "common.hpp"

GRADED_TEST(Transcript, GuidesLinesInOrder, 2, "README §Program") {
  const std::string dir = grader::scratch() + "/guide";
  lab03_test::make_dir_with(dir, {"a.txt", "b.txt"});
  auto r = grader::run({"test_mypopen"}, {.timeout = 5'000ms, .cwd = dir});
  grader::expect_exit(r, 0);
  grader::expect_output(r,
                        "Testing mypopen(\"ls\", \"r\")...\n"
                        "Read: a.txt\\nb.txt\\n\n"
                        "mypclose returned: 0\n"
                        "PASS\n"
                        "Testing mypopen(\"cat\", \"w\")...\n"
                        "Wrote: \"Hello from parent\\n\"\n"
                        "Hello from parent\n"
                        "mypclose returned: 0\n"
                        "PASS\n"
                        "Testing mypopen(\"exit 42\", \"r\")...\n"
                        "mypclose returned: 42\n"
                        "PASS (exit status preserved)\n");
}
