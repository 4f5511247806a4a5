#include "grader/report.hpp"

#include <unistd.h>  // getpid

#include <cstdio>  // std::rename

#include <filesystem>  // std::filesystem
#include <fstream>     // std::ofstream
#include <sstream>     // std::istringstream

#include <fmt/core.h>  // fmt::format, fmt::print

#include "grader/grader.hpp"  // BoundedText
#include "ipclab/json.hpp"    // json_string, utf8_escaped

namespace grader {

const char* status_name(Status s) {
  switch (s) {
    case Status::kPassed:
      return "passed";
    case Status::kFailed:
      return "failed";
    case Status::kTimeout:
      return "timeout";
    case Status::kCrashed:
      return "crashed";
    case Status::kSkipped:
      return "skipped";
  }
  return "?";
}

int LabReport::score() const {
  int s = 0;
  for (const auto& t : tests) s += t.score;
  return s;
}

int LabReport::max_score() const {
  int s = 0;
  for (const auto& t : tests)
    if (t.status != Status::kSkipped) s += t.max_score;
  return s;
}

int LabReport::count(Status st) const {
  int n = 0;
  for (const auto& t : tests) n += t.status == st;
  return n;
}

bool LabReport::all_passed() const {
  for (const auto& t : tests)
    if (t.status != Status::kPassed && t.status != Status::kSkipped) return false;
  return true;
}

bool LabReport::all_skipped() const {
  return !tests.empty() && count(Status::kSkipped) == static_cast<int>(tests.size());
}

namespace {
/// The Meson build directory this program was built in: the nearest directory above it
/// with meson-private/. As the user names it from the project root ("build-tsan") when it
/// is directly inside the project, else absolute; "build" if there is none.
std::string build_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "build";
  for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
       dir = dir.parent_path()) {
    if (!fs::is_directory(dir / "meson-private", ec)) continue;
    return fs::exists(dir.parent_path() / "meson.build", ec) ? dir.filename().string()
                                                             : dir.string();
  }
  return "build";
}
}  // namespace

std::string reproduce_command(const std::string& lab, const std::string& test, std::uint64_t seed) {
  static const std::string dir = build_dir();
  return fmt::format("IPCLAB_SEED={} meson test -C {} {} --test-args=--gtest_filter={}", seed, dir,
                     lab, test);
}

namespace {
/// Writes a file whole or not at all: a temporary beside it, then rename(2). Meson gives
/// every `--repeat` run of a test the same --gtest_output path, and parallel repeats would
/// otherwise interleave their XML.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path)
      : path_(std::move(path)), tmp_(fmt::format("{}.tmp.{}", path_, ::getpid())), out_(tmp_) {}
  ~AtomicFile() {
    out_.close();
    std::rename(tmp_.c_str(), path_.c_str());
  }
  std::ofstream& stream() { return out_; }

 private:
  std::string path_, tmp_;
  std::ofstream out_;
};

const char* verdict(Status s) {
  switch (s) {
    case Status::kPassed:
      return "OK";
    case Status::kFailed:
      return "FAIL";
    case Status::kTimeout:
      return "TIMEOUT";
    case Status::kCrashed:
      return "CRASH";
    case Status::kSkipped:
      return "SKIP";
  }
  return "?";
}

/// `text` indented, at most `max_lines` lines: its first lines and its last quarter (the
/// driver's notes and the reproduce line are at the end).
std::string indent(const std::string& text, std::size_t max_lines) {
  std::istringstream in(text);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  const std::size_t tail = lines.size() > max_lines ? max_lines / 4 : 0;
  const std::size_t head = lines.size() > max_lines ? max_lines - tail : lines.size();
  std::string out;
  for (std::size_t i = 0; i < head; ++i) out += "    " + lines[i] + "\n";
  if (lines.size() > head + tail)
    out += fmt::format("    ... ({} more lines)\n", lines.size() - head - tail);
  for (std::size_t i = lines.size() - tail; i < lines.size(); ++i) out += "    " + lines[i] + "\n";
  return out;
}
}  // namespace

void print_outcome(const TestOutcome& t, bool verbose) {
  fmt::print("== Test {} == {} ({:.1f}s) {}/{}{}\n", t.name, verdict(t.status), t.seconds, t.score,
             t.max_score, t.hidden ? " [hidden]" : "");
  const bool bad = t.status != Status::kPassed && t.status != Status::kSkipped;
  if ((bad || verbose || t.status == Status::kSkipped) && !t.output.empty())
    fmt::print("{}", indent(t.output, bad ? 80 : 10));
  if (bad && !t.hint.empty()) fmt::print("    hint: {}\n", t.hint);
}

void print_summary(const LabReport& r) {
  const int skipped = r.count(Status::kSkipped);
  fmt::print("{}: {}/{} points ({} passed, {} failed, {} timeouts, {} crashed{}) in {:.1f}s\n",
             r.lab, r.score(), r.max_score(), r.count(Status::kPassed), r.count(Status::kFailed),
             r.count(Status::kTimeout), r.count(Status::kCrashed),
             skipped ? fmt::format(", {} skipped", skipped) : std::string(), r.seconds);
}

void write_json(const LabReport& r, const std::string& path) {
  AtomicFile file(path);
  auto& out = file.stream();
  out << fmt::format(
      "{{\"lab\": {}, \"title\": {}, \"score\": {}, \"max_score\": {}, \"passed\": {}, "
      "\"failed\": {}, \"timeouts\": {}, \"crashed\": {}, \"skipped\": {}, \"time\": {:.2f}, "
      "\"tests\": [",
      ipclab::json_string(r.lab), ipclab::json_string(r.title), r.score(), r.max_score(),
      r.count(Status::kPassed), r.count(Status::kFailed), r.count(Status::kTimeout),
      r.count(Status::kCrashed), r.count(Status::kSkipped), r.seconds);
  for (std::size_t i = 0; i < r.tests.size(); ++i) {
    const auto& t = r.tests[i];
    // Gradescope shows this to the student: its first and last 10 000 bytes, so the
    // driver's notes and the hint at the end survive a long output.
    BoundedText output(20'000, 10'000);
    output.append(t.output);
    if (t.status != Status::kPassed && !t.hint.empty()) output.append("hint: " + t.hint + "\n");
    out << fmt::format(
        "{}\n  {{\"name\": {}, \"score\": {}, \"max_score\": {}, \"status\": \"{}\", "
        "\"output\": {}, \"visibility\": \"{}\", \"time\": {:.2f}}}",
        i ? "," : "", ipclab::json_string(t.name), t.score, t.max_score, status_name(t.status),
        ipclab::json_string(output.str()), t.hidden ? "after_due_date" : "visible", t.seconds);
  }
  out << "\n]}\n";
}

namespace {
/// XML text: markup characters as entities, control characters XML forbids as '?', and
/// bytes that are not UTF-8 as \xNN (an XML parser rejects the whole file for one).
std::string xml_escape(const std::string& raw) {
  const std::string s = ipclab::utf8_escaped(raw);
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        if (c < 0x20 && c != '\n' && c != '\t')
          out += '?';
        else
          out += static_cast<char>(c);
    }
  }
  return out;
}
}  // namespace

void write_junit(const LabReport& r, const std::string& path) {
  AtomicFile file(path);
  auto& out = file.stream();
  const int failures =
      r.count(Status::kFailed) + r.count(Status::kTimeout) + r.count(Status::kCrashed);
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << fmt::format("<testsuites tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.2f}\">\n",
                     r.tests.size(), failures, r.seconds);
  out << fmt::format(
      "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" "
      "time=\"{:.2f}\">\n",
      xml_escape(r.lab), r.tests.size(), failures, r.count(Status::kSkipped), r.seconds);
  for (const auto& t : r.tests) {
    const auto dot = t.name.find('.');
    out << fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"{:.2f}\">",
                       xml_escape(t.name.substr(0, dot)), xml_escape(t.name.substr(dot + 1)),
                       t.seconds);
    if (t.status == Status::kSkipped)
      out << "<skipped/>";
    else if (t.status != Status::kPassed)
      out << fmt::format("<failure message=\"{}\">{}</failure>", status_name(t.status),
                         xml_escape(t.output));
    out << "</testcase>\n";
  }
  out << "  </testsuite>\n</testsuites>\n";
}

}  // namespace grader
