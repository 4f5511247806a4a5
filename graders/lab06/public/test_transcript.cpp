// Lab 06 public grader: ipc_benchmark's table begins with the course guide's block, run
// through the program: its title, one row a mechanism in the guide's words, the winner.
#include <algorithm>  // std::replace

#include "common.hpp"

GRADED_TEST(Transcript, TableBeginsWithTheGuidesBlock, 1, "README §Output") {
  auto args = lab06_test::tiny("pipe,fifo,uds,posix_mq,sysv_mq,shm_sem", "table");
  std::replace(args.begin(), args.end(), std::string("--iterations=200"),
               std::string("--iterations=100000"));  // the guide's count in its title
  auto r = grader::run(args, lab06_test::slow_ok());
  grader::expect_exit(r, 0);
  const std::string row = R"( +(\d+ msg/s +[\d.]+ μs +[\d.]+ μs|skipped: .*))";
  grader::expect_lines(
      r.out,
      {R"(IPC Mechanism Benchmark \(1KB messages, 100K iterations\))",
       R"(Mechanism +Throughput +Latency \(avg\) +Latency \(p99\))", "Pipe" + row, "FIFO" + row,
       "Unix Domain Socket" + row, "POSIX Message Queue" + row, "System V Message Queue" + row,
       R"(Shared Memory \+ Sem)" + row,
       R"(Winner: (Pipe|FIFO|Unix Domain Socket|POSIX Message Queue|System V Message Queue|Shared Memory \+ Sem) \(for raw throughput\))",
       "Best simplicity: Unix Domain Socket", "Mechanism +Msg/s.*"});
}
