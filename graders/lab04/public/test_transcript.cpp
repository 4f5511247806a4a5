// Lab 04 public grader: job_dispatcher prints the course guide's lines, and the guide's
// three-job example (priority 0 submitted first, then 31 and 15) runs in the guide's
// order: 31, 15, 0. Run through the programs, not the library.
#include <signal.h>  // SIGTERM

#include "common.hpp"

using lab04_test::report;
using lab04_test::TestQueue;
using lab04_test::wait_count;

GRADED_TEST(Transcript, GuidesThreeJobsInItsOrder, 2, "README §The rule") {
  LAB04_REQUIRE_MQ();
  TestQueue queue;
  {  // the queue outlives its dispatcher: the jobs wait in it for the next one
    LAB04_START(first, queue);
    first.signal(SIGTERM);
    ASSERT_TRUE(first.wait(10'000ms)) << report(first);
  }
  ASSERT_TRUE(queue.submit(0, "echo low"));
  ASSERT_TRUE(queue.submit(31, "echo urgent"));
  ASSERT_TRUE(queue.submit(15, "echo normal"));
  LAB04_START(d, queue, {"--workers", "1"});
  ASSERT_TRUE(wait_count(d, "Dispatcher: Finished job", 3)) << report(d);
  grader::expect_lines(d.out(),
                       {"Dispatcher running, queue: " + grader::re_quote(queue.name()),
                        R"(Dispatcher: Processing job \d+ \(priority 31\): echo urgent)", "urgent",
                        R"(Dispatcher: Processing job \d+ \(priority 15\): echo normal)", "normal",
                        R"(Dispatcher: Processing job \d+ \(priority 0\): echo low)", "low"});
  EXPECT_EQ(d.out().rfind("Dispatcher running, queue: ", 0), 0u)
      << "the guide's first line comes first\n"
      << report(d);
}
