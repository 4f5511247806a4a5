// Lab 10 public grader: the course guide's session, through the programs: pool_manager with
// 5 connections, then `for i in {1..10}; do ./worker $i & done`.
#include "common.hpp"

using lab10_test::start_manager;
using lab10_test::start_worker;
using lab10_test::stop_manager;

GRADED_TEST(Transcript, TenWorkersOnFiveConnections, 2, "README §Tasks") {
  auto m = start_manager(5);
  if (!m) return;
  std::vector<grader::Process> workers;
  for (unsigned id = 1; id <= 10; ++id)
    workers.push_back(start_worker(id, "300", lab10_test::ok_timeout()));
  std::string waited;
  for (unsigned id = 1; id <= 10; ++id) {
    const auto r = workers[id - 1].finish(30'000ms);
    grader::expect_exit(r, 0);
    const std::string n = std::to_string(id);
    grader::expect_lines(r.out, {"Worker " + n + R"(: Acquired connection \([0-4] remaining\))",
                                 "Worker " + n + R"(: Released connection \([0-5] remaining\))"});
    if (r.out.find("Waiting for connection...") != std::string::npos) waited += n + " ";
  }
  EXPECT_NE(waited, "") << "ten workers on five connections: some must have waited and said "
                           "`Worker N: Waiting for connection...`";
  ASSERT_TRUE(m->wait_for_output("All workers completed successfully", 10'000ms)) << m->out();
  const auto r = stop_manager(*m);
  grader::expect_lines(r.out, {R"(Pool manager started \(5 connections available\))",
                               "All workers completed successfully"});
}
