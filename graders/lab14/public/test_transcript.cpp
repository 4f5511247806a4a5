// Lab 14 public grader: mmapdb's create and insert print the course guide's lines, run
// through the program; the offset insert prints is where the record really is.
#include <regex>  // std::regex_match

#include "common.hpp"
#include "ipclab/io.hpp"  // read_file

GRADED_TEST(Transcript, CreateAndInsertPrintTheGuidesLines, 2, "README §Program") {
  const std::string f = lab14_test::db_path("mydata.db");
  auto c = grader::run({"mmapdb", "create", f, "--size=1MB"});
  grader::expect_exit(c, 0);
  grader::expect_output(c, "Database created: " + f + " (1MiB)\n");
  std::uint64_t last = 0;
  for (const std::string key : {"color", "shape"}) {
    auto r = grader::run({"mmapdb", "insert", f, key, "blue"});
    grader::expect_exit(r, 0);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(r.out, m, std::regex("Inserted at offset (\\d+)\n")))
        << r.describe();
    const std::uint64_t offset = std::stoull(m[1]);
    EXPECT_GT(offset, last) << "records are appended to the heap";
    last = offset;
    // The record: its head (12 bytes: crc, key_len, reserved, value_len), then the key.
    const std::string file = ipclab::read_file(f);
    ASSERT_LT(offset + 12 + key.size(), file.size()) << r.describe();
    EXPECT_EQ(file.substr(offset + 12, key.size()), key)
        << "no record of " << key << " at offset " << offset;
  }
}
