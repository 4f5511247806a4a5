// Lab 12 public grader: the benchmark under the course guide's name, shm_ringbuffer_bench,
// prints the guide's block before its table (run through the program, small).
#include "common.hpp"

GRADED_TEST(Transcript, GuideNameAndBlock, 2, "README §Benchmark") {
  auto r =
      grader::run({"shm_ringbuffer_bench", "--buffer-size=1MB", "--iterations=1M", "--msg-size=64",
                   "--round-trips=50", "--warmup=10", "--runs=1", "--pin=none", "--timeout=30"},
                  {.timeout = 120'000ms});
  grader::expect_exit(r, 0);
  const std::string num = R"(\d+(\.\d+)?)";
  grader::expect_lines(
      r.out,
      {"Shared Memory Ring Buffer Benchmark", "Buffer: 1MiB, Messages: 1 million",
       R"(Producer: Writing 1M messages\.\.\.)", R"(Consumer: Reading 1M messages\.\.\.)",
       "Results:", "Throughput: " + num + " million msg/sec", "Bandwidth: " + num + " GB/sec",
       "Latency \\(avg\\): " + num + " μs.*", "Latency \\(p99\\): " + num + " μs.*",
       "Zero-copy: .+", "Comparison to pipe: " + num + "x (faster|slower)",
       "Comparison to Unix socket: " + num + "x (faster|slower)", ".*memcpy bound.*"});
}
