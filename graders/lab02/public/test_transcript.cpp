// Lab 02 public grader: calc_server prints the course guide's lines, run as a student runs
// it (the programs, not the library).
#include "common.hpp"

using lab02_test::client;
using lab02_test::Server;

GRADED_TEST(Transcript, ServerPrintsTheGuidesLines, 2, "README §Programs (given)") {
  Server s;
  ASSERT_TRUE(s.ready()) << s.why();
  const auto c = client({"5 + 3"});
  grader::expect_output(c, "Result: 8\n");
  const std::string rundir = grader::re_quote(grader::rundir());
  const std::string id = std::to_string(c.pid);
  ASSERT_TRUE(grader::wait_until([&] {
    return s.proc().out().find("Sending response") != std::string::npos;
  })) << "calc_server printed no \"Sending response\" line:\n"
      << s.proc().out();
  const auto r = s.stop();
  grader::expect_lines(r.out, {"Server listening on " + rundir + "/calc_server\\.\\.\\.",
                               "Received: 5 \\+ 3 from client " + id,
                               "Sending response: 8 to " + rundir + "/calc_client_" + id});
}
