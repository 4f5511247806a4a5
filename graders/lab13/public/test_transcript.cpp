// Lab 13 public grader: shm_image_filter prints the course guide's transcript, run through
// the program on a small image with 4 workers and --compare.
#include "common.hpp"

GRADED_TEST(Transcript, GuidesLinesInOrder, 2, "README §The program") {
  const std::string in = lab13_test::write_png("in.png", lab13_test::random_image(64, 40, 7));
  auto r = lab13_test::run_filter(in, grader::scratch() + "/out.png", "blur", 4, 3, {"--compare"});
  grader::expect_exit(r, 0);
  grader::expect_lines(
      r.out, {R"(Image: 64x40 \(0\.0 MB\))", "Workers: 4", "Filter: Gaussian blur",
              R"(\[Master\] Loaded image into shared memory \(shmid=\d+\))",
              R"(\[Worker 1\] Processing rows 0-9)", R"(\[Worker 4\] Processing rows 30-39)",
              R"(\[Worker 1\] Done \(\d+ms\))", R"(\[Worker 4\] Done \(\d+ms\))",
              R"(\[Master\] All workers complete, writing output)",
              R"(Total time: \d+ms \(vs \d+ms single-threaded\))",
              R"(Speedup: \d+\.\d\dx with 4 workers)"});
}
