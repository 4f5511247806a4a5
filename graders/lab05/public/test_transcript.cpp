// Lab 05 public grader: sysv_server and sysv_client print the course guide's lines, run as
// the guide runs them (the programs, not the library).
#include "common.hpp"

GRADED_TEST(Transcript, ServerAndClientPrintTheGuidesLines, 2, "README §Programs (given)") {
  lab05_test::Server srv;
  ASSERT_TRUE(srv.ready());
  grader::expect_lines(srv.p.out(),
                       {R"(Server starting, key=0x[0-9a-f]{8}, msqid=)" + std::to_string(srv.id),
                        R"(Waiting for requests \(msgtyp=1\)\.\.\.)"});
  const auto r = lab05_test::client("HELLO");
  lab05_test::expect_response(r, "HELLO_PROCESSED");
  grader::expect_exit(r, 0);
}
