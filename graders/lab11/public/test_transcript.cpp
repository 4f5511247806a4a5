// Lab 11 public grader: barrier_test prints the course guide's transcript, run with the
// guide's numbers (the program, not the library).
#include "common.hpp"

GRADED_TEST(Transcript, GuidesLinesInOrder, 2, "README §Program (given): `barrier_test`") {
  auto r = grader::run({"barrier_test", "--processes=5", "--iterations=3"}, {.timeout = 10'000ms});
  grader::expect_exit(r, 0);
  std::vector<std::string> lines = {R"(Barrier Test \(5 processes, 3 iterations\))"};
  for (int round = 1; round <= 3; ++round) {
    const std::string n = std::to_string(round);
    lines.push_back(R"(\[P[1-5]\] Reached barrier )" + n);
    lines.push_back("--- All processes passed barrier " + n + " ---");
  }
  lines.push_back(R"(All processes synchronized correctly\. PASS)");
  grader::expect_lines(r.out, lines);
  for (int round = 1; round <= 3; ++round) {
    const std::string line = fmt::format("--- All processes passed barrier {} ---\n", round);
    const auto at = r.out.find(line);
    ASSERT_NE(at, std::string::npos) << r.describe();
    EXPECT_EQ(r.out.find(line, at + 1), std::string::npos) << "said twice\n" << r.describe();
    // said after the fifth departure of its round
    int passed = 0;
    for (auto p = r.out.find(fmt::format("] Passed barrier {}\n", round));
         p != std::string::npos && p < at;
         p = r.out.find(fmt::format("] Passed barrier {}\n", round), p + 1))
      ++passed;
    EXPECT_EQ(passed, 5) << line << "printed after " << passed << " departures\n" << r.describe();
  }
}
