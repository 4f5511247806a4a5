// Lab 19 public grader: `ipc_demo pipe` prints the course guide's two lines, through the
// program; shm keeps its checksum lines.
#include "common.hpp"

GRADED_TEST(Transcript, PipeSaysHelloAndAck, 1, "README §Program: ipc_demo") {
  auto r = grader::run({"ipc_demo", "pipe"});
  grader::expect_exit(r, 0);
  grader::expect_lines(r.out, {"parent -> child: hello", "child -> parent: ack"});
  auto s = grader::run({"ipc_demo", "shm", "--seed", "42"});
  grader::expect_exit(s, 0);
  grader::expect_lines(s.out, {"writer: wrote 4096 bytes", "reader: checksum OK"});
}
