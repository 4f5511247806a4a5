// Lab 15 public grader: lockfree_bench prints the course guide's block above its contender
// table, run through the program with a small count.
#include "common.hpp"

GRADED_TEST(Transcript, GuidesBlockAboveTheTable, 1, "README §Benchmark") {
  auto r = grader::run({"lockfree_bench", "--iterations=2M", "--round-trips=200", "--runs=1",
                        "--pin=none", "--timeout=30"},
                       {.timeout = 120'000ms});
  grader::expect_exit(r, 0);
  const std::string rate = R"(\d+\.\dM ops/sec)";
  grader::expect_lines(r.out, {"Lock-Free SPSC Queue Benchmark", "Operations: 2 million",
                               "Lock-free queue: " + rate, "Mutex-based queue: " + rate,
                               "Semaphore-based: " + rate, R"(Speedup: \d+\.\dx over mutex)",
                               R"(Latency \(p99\): \d+ns vs \d+ns.*)", "Contender +items/s.*"});
}
