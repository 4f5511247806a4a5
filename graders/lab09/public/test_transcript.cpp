// Lab 09 public grader: the course guide's two-process demonstration of `kvstore
// lock-test`: Process 1 holds key1's write lock, Process 2 waits for it, then gets it.
#include "common.hpp"

using lab09_test::kvstart;

GRADED_TEST(Transcript, TwoProcessLockDemonstration, 2, "README §Program") {
  const auto f = lab09_test::db();
  auto first = kvstart(f, {"lock-test", "key1", "--hold-ms", "1000"});
  ASSERT_TRUE(first.wait_for_output("Process 1: Acquired write lock on key1", 10'000ms))
      << first.out() << first.err();
  auto second = kvstart(f, {"lock-test", "key1"});
  ASSERT_TRUE(second.wait_for_output("Process 2: Waiting for lock...", 10'000ms))
      << second.out() << second.err();
  const auto r1 = first.finish(10'000ms);
  const auto r2 = second.finish(10'000ms);
  grader::expect_exit(r1, 0);
  grader::expect_exit(r2, 0);
  grader::expect_lines(r1.out,
                       {"Process 1: Acquired write lock on key1", "Process 1: Released lock"});
  grader::expect_lines(
      r2.out, {R"(Process 2: Waiting for lock\.\.\.)", "Process 2: Acquired write lock on key1"});
}
