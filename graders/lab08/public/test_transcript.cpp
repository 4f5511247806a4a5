// Lab 08 public grader: test_myrwlock prints the course guide's transcript (a short run
// shows every event), through the program, not the library.
#include "common.hpp"

GRADED_TEST(Transcript, GuidesLinesInOrder, 1, "README §Program") {
  auto r = grader::run({"test_myrwlock", "--readers=10", "--writers=3", "--duration=100ms"},
                       {.timeout = 20'000ms});
  grader::expect_exit(r, 0);
  const std::string out = r.out;
  grader::expect_lines(out, {R"(My RWLock Test \(10 readers, 3 writers, 0\.1 seconds\))",
                             "Statistics:", R"(Read operations: \d+)", R"(Write operations: \d+)",
                             R"(Max reader wait: \d+ms)", R"(Max writer wait: \d+ms)",
                             "No starvation detected: PASS"});
  for (const char* event :
       {R"(Reader \d+ acquired read lock \(\d+ writers waiting\))",
        R"(Writer \d+ waiting\.\.\. \(\d+ readers active\))", R"(Reader \d+ released read lock)",
        R"(Writer \d+ acquired write lock)", R"(Writer \d+ released write lock)"})
    grader::expect_lines(out, {event});
  const auto quiet = grader::run(
      {"test_myrwlock", "--readers=2", "--writers=1", "--duration=200ms"}, {.timeout = 20'000ms});
  grader::expect_exit(quiet, 0);
  EXPECT_EQ(quiet.out.find(" lock"), std::string::npos)
      << "a run longer than 100 ms prints events only with --verbose\n"
      << quiet.describe();
}
