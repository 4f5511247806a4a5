// Outcomes of graded tests and the ways they are reported: the console (xv6 style), the
// JSON that tools/grade reads, and JUnit XML for meson.
#pragma once

#include <string>  // std::string
#include <vector>  // std::vector

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

void print_outcome(const TestOutcome& t, bool verbose);
void print_summary(const LabReport& r);
/// {"lab","title","score","max_score","passed","failed","timeouts","crashed","skipped",
///  "time","tests":[{"name","score","max_score","status","output","visibility","time"}]}
void write_json(const LabReport& r, const std::string& path);
void write_junit(const LabReport& r, const std::string& path);

}  // namespace grader
