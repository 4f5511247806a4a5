// Lab 07 public grader: producer_consumer prints the course guide's transcript, run with
// the guide's numbers (the program, not the library).
#include "common.hpp"

GRADED_TEST(Transcript, GuidesLinesInOrder, 1, "README §Program") {
  auto r = grader::run(
      {"producer_consumer", "--buffer-size=10", "--producers=3", "--consumers=2", "--items=1000"},
      {.timeout = 15'000ms});
  grader::expect_exit(r, 0);
  grader::expect_lines(
      r.out,
      {"Producer-Consumer Simulation", "Buffer size: 10, Producers: 3, Consumers: 2, Items: 1000",
       R"(\[P[123]\] Produced item \d+)", R"(\[C[12]\] Consumed item \d+)",
       "Statistics:", "Total produced: 1000", "Total consumed: 1000", R"(Buffer empty waits: \d+)",
       R"(Buffer full waits: \d+)", "PASS: All items produced and consumed correctly"});
  // A buffer of 10 between 3 producers and 2 consumers of 1000 items: the counts are real
  // waits, so at least one side waited (consumers start before any producer).
  EXPECT_EQ(r.out.find("Buffer empty waits: 0\nBuffer full waits: 0\n"), std::string::npos)
      << "no wait counted at all\n"
      << r.describe();
}
