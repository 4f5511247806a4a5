// The grader's main(): a driver that runs each test in a child process of its own.
//
// Why a child per test: a test that hangs is killed at its deadline and reported as
// TIMEOUT while the others still run; a crash in student code (SIGSEGV, abort) costs one
// test, not the grader; each test gets a fresh IPC namespace whose leftovers are found
// after the fact, including those of processes the test had killed. The child is this
// same binary re-executed (exec, not a bare fork), which keeps ThreadSanitizer happy.
//
// Modes:
//   (default)                 driver: list, run each test in a child, report, exit
//   IPCLAB_GRADER_RESULT=FILE child: run the one test gtest's filter selects, write FILE
//   --gtest_list_tests        plain gtest
#include <fcntl.h>      // open
#include <signal.h>     // SIGKILL
#include <sys/prctl.h>  // PR_SET_CHILD_SUBREAPER
#include <sys/wait.h>   // waitpid
#include <unistd.h>     // getpid

#include <cstdio>      // stdout
#include <cstdlib>     // std::getenv
#include <filesystem>  // std::filesystem
#include <fstream>     // std::ofstream
#include <set>         // std::set
#include <sstream>     // std::istringstream

#include <fmt/core.h>  // fmt::print

#include "grader/grader.hpp"
#include "grader/report.hpp"
#include "grader/rpc.hpp"        // start_rpcbind_if_needed, remove_leaked_registrations
#include "ipclab/clock.hpp"      // Deadline, Stopwatch
#include "ipclab/fd.hpp"         // Fd
#include "ipclab/inventory.hpp"  // inventory, remove_object
#include "ipclab/names.hpp"      // names::rundir_base
#include "ipclab/process.hpp"    // spawn, wait_for

namespace fs = std::filesystem;

namespace grader {
namespace {

// ---- child side -------------------------------------------------------------------------

/// Writes the one test's outcome for the driver and prints failures readably.
class ResultWriter : public ::testing::EmptyTestEventListener {
 public:
  explicit ResultWriter(std::string path) : path_(std::move(path)) {}

  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.skipped()) {
      skip_message_ = r.message();
      return;
    }
    if (!r.failed()) return;
    const std::string where =
        r.file_name() != nullptr
            ? fmt::format("{}:{}", fs::path(r.file_name()).filename().string(), r.line_number())
            : std::string("(unknown)");
    fmt::print("{}: {}\n", where, r.message());
    std::fflush(stdout);
  }

  void OnTestEnd(const ::testing::TestInfo& info) override {
    const auto* r = info.result();
    const char* status = r->Skipped() ? "skipped" : r->Failed() ? "failed" : "passed";
    std::ofstream out(path_);
    out << status << "\n" << skip_message_;
  }

 private:
  std::string path_;
  std::string skip_message_;
};

int child_main(int argc, char** argv, const char* result_path) {
  limit_test_process();  // RLIMIT_FSIZE and RLIMIT_DATA, for the test and all it starts
  ::testing::InitGoogleTest(&argc, argv);
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  delete listeners.Release(listeners.default_result_printer());  // the driver reports
  listeners.Append(new ResultWriter(result_path));
  // A test that writes to a program that has exited must see EPIPE, not die.
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &sa, nullptr);
  return RUN_ALL_TESTS();
}

// ---- driver side ------------------------------------------------------------------------

struct Args {
  std::string filter = "*";
  std::string xml_out;
  std::string json_out;
  ms per_test_timeout = 30'000ms;  // unscaled, like every timeout of the harness
  bool verbose = false;
  bool fail_fast = false;  // stop at the first test that does not pass (gtest's own flag)
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto value = [&](const char* flag) -> std::optional<std::string> {
      const std::string f = std::string(flag) + "=";
      if (s.compare(0, f.size(), f) == 0) return s.substr(f.size());
      return std::nullopt;
    };
    if (const auto filter = value("--gtest_filter"))
      a.filter = *filter;
    else if (const auto output = value("--gtest_output"))
      a.xml_out = output->compare(0, 4, "xml:") == 0 ? output->substr(4) : "";
    else if (const auto json = value("--json"))
      a.json_out = *json;
    else if (const auto seconds = value("--per-test-timeout"))
      a.per_test_timeout = ms(static_cast<long long>(std::stod(*seconds) * 1000));
    else if (s == "--verbose" || s == "-v")
      a.verbose = true;
    else if (s == "--gtest_fail_fast")
      a.fail_fast = true;
    else if (s == "--help" || s == "-h") {
      fmt::print(
          "usage: {} [--gtest_filter=PATTERN] [--per-test-timeout=SECONDS] [--json=FILE] [-v]\n"
          "          [--gtest_fail_fast]\n"
          "Runs each graded test in a child process with its own IPC namespace, a watchdog\n"
          "and a leak check; prints one line per test and `{}: N/M points`.\n"
          "--gtest_fail_fast stops at the first test that fails, times out or crashes: the\n"
          "tests after it are not run, and not counted (tools/mutate uses it: one failure is\n"
          "enough to kill a mutant).\n"
          "Environment: IPCLAB_SEED (seed for randomized tests), IPCLAB_RESULTS_DIR (write\n"
          "<dir>/<lab>.json), IPCLAB_TIMEOUT_SCALE (stretch deadlines and the watchdog, e.g.\n"
          "sanitizers).\n",
          argv[0], lab_id());
      std::exit(0);
    } else {
      fmt::print(stderr, "{}: unknown argument {}\n", argv[0], s);
      std::exit(2);
    }
  }
  return a;
}

/// The tests gtest selects for the filter, in gtest's order (asks this binary itself).
std::vector<std::string> list_tests(const std::string& self, const std::string& filter) {
  RunOptions opts;
  opts.timeout = 60'000ms;
  auto r = run({self, "--gtest_list_tests", "--gtest_filter=" + filter}, opts);
  if (r.exit_code() != 0) {
    fmt::print(stderr, "grader: cannot list tests:\n{}", r.describe());
    std::exit(3);
  }
  std::vector<std::string> out;
  std::string suite;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto hash = line.find("  #");
    if (hash != std::string::npos) line = line.substr(0, hash);
    if (line[0] != ' ')
      suite = line;  // "Suite."
    else
      out.push_back(suite + line.substr(line.find_first_not_of(' ')));
  }
  return out;
}

/// Kills and reaps every process that is still our child: orphans of the test that the
/// subreaper setting made ours, and their children in turn.
int kill_leftover_children() {
  int killed = 0;
  for (int round = 0; round < 100; ++round) {
    const auto kids = ipclab::child_pids();
    if (kids.empty()) break;
    for (pid_t k : kids) {
      ::kill(k, SIGKILL);
      ++killed;
    }
    for (pid_t k : kids) ::waitpid(k, nullptr, 0);
  }
  return killed;
}

/// Where one test runs: its IPC namespace, run directory, scratch directory, and the files
/// the test process writes its result (ResultWriter) and its output to.
struct TestPlace {
  std::string ns, rundir, scratch, result_file, output_file;

  explicit TestPlace(int index)
      : ns(fmt::format("{}-{}-{}", lab_id(), ::getpid(), index)),
        rundir(ipclab::names::rundir_base() + "/" + ns),
        scratch(rundir + ".scratch"),
        result_file(scratch + "/.result"),
        output_file(rundir + ".output") {
    fs::create_directories(rundir);
    fs::create_directories(scratch);
  }
  void remove() const {
    std::error_code ec;
    fs::remove_all(rundir, ec);
    fs::remove_all(scratch, ec);
    fs::remove(output_file, ec);
  }
};

/// Starts the test process: this binary, filtered to the one test, in a group of its own.
pid_t start_test(const std::string& self, const std::string& name, const TestPlace& place) {
  ipclab::Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ipclab::Fd output(
      ::open(place.output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ipclab::SpawnOptions so;
  so.stdin_fd = devnull.get();
  so.stdout_fd = output.get();
  so.stderr_fd = output.get();
  so.new_process_group = true;
  so.parent_death_signal = SIGKILL;
  so.env = {"IPCLAB_NS=" + place.ns, "IPCLAB_RUNDIR=" + place.rundir,
            "IPCLAB_GRADER_SCRATCH=" + place.scratch, "IPCLAB_GRADER_RESULT=" + place.result_file,
            fmt::format("IPCLAB_SEED={}", seed())};
  return ipclab::spawn({self, "--gtest_filter=" + name}, so);
}

/// The verdict of a test process that ended by itself: what it wrote to its result file,
/// or a CRASH if it wrote nothing (a signal, an exit before the end of the test).
void read_verdict(TestOutcome& t, const ipclab::WaitStatus& status, const std::string& result) {
  if (result.rfind("passed", 0) == 0) {
    t.status = Status::kPassed;
  } else if (result.rfind("skipped", 0) == 0) {
    t.status = Status::kSkipped;
    t.output += result.substr(result.find('\n') + 1);
  } else if (result.rfind("failed", 0) == 0) {
    t.status = Status::kFailed;
  } else if (status.signaled()) {
    t.status = Status::kCrashed;
    t.output += fmt::format("the test process was {}\n", status.describe());
  } else {
    t.status = Status::kCrashed;
    t.output += fmt::format("the test process {} without reporting a result\n", status.describe());
  }
}

/// Leak guard: whatever the test left in its namespace, or in a namespace of its own that a
/// program it ran made (`NS-name`: lab 20's benchmark runs its hub in `NS-benchPID`), is
/// removed and named, and fails it.
void guard_leaks(TestOutcome& t, const TestPlace& place) {
  auto leftovers = ipclab::inventory(place.ns, place.rundir, ipclab::LockFiles::kList);
  for (const auto& sub : ipclab::known_namespaces()) {
    if (sub.rfind(place.ns + "-", 0) != 0) continue;
    const std::string rundir = ipclab::names::rundir_base() + "/" + sub;
    for (auto& obj : ipclab::inventory(sub, rundir, ipclab::LockFiles::kList))
      leftovers.push_back(std::move(obj));
  }
  if (!leftovers.empty()) {
    std::string names;
    for (const auto& obj : leftovers) {
      names += "    " + ipclab::describe(obj) + "\n";
      ipclab::remove_object(obj);
    }
    t.output += "leaked IPC objects (removed by the grader):\n" + names;
    if (t.status == Status::kPassed) t.status = Status::kFailed;
  }
  for (const auto& sub : ipclab::known_namespaces()) {  // their run directories, now empty
    std::error_code ec;
    if (sub.rfind(place.ns + "-", 0) == 0)
      fs::remove_all(ipclab::names::rundir_base() + "/" + sub, ec);
  }
  // rpcbind registrations of the test's program number are objects like the rest.
  if (const std::string rpc = remove_leaked_registrations(place.ns); !rpc.empty()) {
    t.output += "leaked rpcbind registrations (removed by the grader):\n" + rpc;
    if (t.status == Status::kPassed) t.status = Status::kFailed;
  }
}

/// Runs one test in a process of its own under the watchdog, then cleans up after it.
TestOutcome run_one(const std::string& self, const std::string& name, int index, const Args& args) {
  TestOutcome t;
  t.name = name;
  if (const TestMeta* meta = find_test(name)) {
    t.max_score = meta->points;
    t.hint = meta->hint;
    t.hidden = meta->hidden;
  }
  const TestPlace place(index);
  ipclab::Stopwatch sw;
  const pid_t pid = start_test(self, name, place);
  // The watchdog is scaled like the test's own deadlines, so those expire first.
  const ScaledMs watchdog = scaled(args.per_test_timeout);
  auto status = ipclab::wait_for(pid, ipclab::Deadline(watchdog));
  const bool timed_out = !status;
  if (timed_out) status = ipclab::kill_and_reap(pid);
  ipclab::kill_group(pid, SIGKILL);  // anything left in the test's own group
  kill_leftover_children();
  t.seconds = sw.elapsed_s();

  // What the test printed: its first and last kKeptEnds bytes, however much it was. Its
  // file stops growing at the file size limit, with SIGXFSZ for the process writing it.
  const BoundedText printed = read_bounded(place.output_file);
  t.output = printed.str();
  std::error_code ec;
  if (fs::file_size(place.output_file, ec) >= file_size_limit() && !ec)
    t.output += fmt::format(
        "the test's output reached the {} MiB a test may write (RLIMIT_FSIZE): the process "
        "writing it got SIGXFSZ (or EFBIG)\n",
        file_size_limit() >> 20);
  if (timed_out) {
    t.status = Status::kTimeout;
    t.output +=
        fmt::format("TIMEOUT: still running after {:.0f}s; killed with everything it started\n",
                    static_cast<double>(watchdog.count()) / 1000);
  } else {
    read_verdict(t, *status, read_bounded(place.result_file).str());
  }
  guard_leaks(t, place);
  place.remove();
  t.score = t.status == Status::kPassed ? t.max_score : 0;
  if (t.status != Status::kPassed && t.status != Status::kSkipped)
    t.output += "reproduce: " + reproduce_command(lab_id(), name, seed()) + "\n";
  return t;
}

int driver_main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  start_rpcbind_if_needed();  // before the next line: the daemon must not be our child
  // Orphans of a test (a program that exits before its children) become ours, so they are
  // killed after the test instead of living on under init.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  const auto tests = list_tests(self, args.filter);
  LabReport report;
  report.lab = lab_id();
  report.title = lab_title();
  fmt::print("== {}: {} ({} tests) ==\n", report.lab, report.title, tests.size());
  ipclab::Stopwatch total;
  int index = 0;
  for (const auto& name : tests) {
    TestOutcome t = run_one(self, name, ++index, args);
    print_outcome(t, args.verbose);
    const bool failed = t.status != Status::kPassed && t.status != Status::kSkipped;
    report.tests.push_back(std::move(t));
    if (failed && args.fail_fast && static_cast<std::size_t>(index) < tests.size()) {
      fmt::print("--gtest_fail_fast: stopped at the first failure; {} of {} tests not run\n",
                 tests.size() - static_cast<std::size_t>(index), tests.size());
      break;
    }
  }
  report.seconds = total.elapsed_s();
  print_summary(report);

  if (!args.json_out.empty()) write_json(report, args.json_out);
  if (const char* dir = std::getenv("IPCLAB_RESULTS_DIR"); dir != nullptr && *dir != '\0') {
    fs::create_directories(dir);
    write_json(report, fmt::format("{}/{}.json", dir, report.lab));
  }
  if (!args.xml_out.empty()) write_junit(report, args.xml_out);
  if (report.all_skipped()) return 77;
  return report.all_passed() ? 0 : 1;
}

}  // namespace
}  // namespace grader

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--gtest_list_tests") {
      ::testing::InitGoogleTest(&argc, argv);
      return RUN_ALL_TESTS();
    }
  if (const char* result = std::getenv("IPCLAB_GRADER_RESULT");
      result != nullptr && *result != '\0')
    return grader::child_main(argc, argv, result);
  return grader::driver_main(argc, argv);
}
