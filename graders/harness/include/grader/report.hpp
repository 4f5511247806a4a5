// Outcomes of graded tests and the ways they are reported: the console (xv6 style), the
// JSON that tools/grade reads, and JUnit XML for meson.
#pragma once

#include <cstdint>  // std::uint64_t
#include <string>   // std::string
#include <vector>   // std::vector

namespace grader {

enum class Status { kPassed, kFailed, kTimeout, kCrashed, kSkipped };
const char* status_name(Status s);  // "passed", "failed", "timeout", "crashed", "skipped"

struct TestOutcome {
  std::string name;  // Suite.Name
  Status status = Status::kFailed;
  int score = 0;
  int max_score = 0;
  double seconds = 0;
  std::string output;  // what the test printed (failures), plus the driver's notes
  std::string hint;
  bool hidden = false;
};

struct LabReport {
  std::string lab;
  std::string title;
  std::vector<TestOutcome> tests;
  double seconds = 0;
  int score() const;
  int max_score() const;  // skipped tests are not counted
  int count(Status s) const;
  bool all_passed() const;
  bool all_skipped() const;
};

/// The command that runs one test again with the same seed, in the build directory this
/// grader was built in (found from its own path: build, build-tsan, /autograder/build...):
/// `IPCLAB_SEED=S meson test -C DIR LAB --test-args=--gtest_filter=TEST`.
std::string reproduce_command(const std::string& lab, const std::string& test, std::uint64_t seed);

void print_outcome(const TestOutcome& t, bool verbose);
void print_summary(const LabReport& r);
/// {"lab","title","score","max_score","passed","failed","timeouts","crashed","skipped",
///  "time","tests":[{"name","score","max_score","status","output","visibility","time"}]}
void write_json(const LabReport& r, const std::string& path);
void write_junit(const LabReport& r, const std::string& path);

}  // namespace grader
