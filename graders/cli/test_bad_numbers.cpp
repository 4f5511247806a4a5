// Every numeric option of every program refuses a bad number: `nan`, `inf`, `-1` (where
// negatives are not allowed), `0` (where zero is not allowed), `1e300`,
// `99999999999999999999999` and an empty `--opt=` each end the program with exit 2 within
// a second and a message `error: --opt: ...` (ipclab/cli_options.hpp, run_main). One test
// case per option, so a new option without a validator shows up as its own failure.
//
// The programs are the built ones of every lab (IPCLAB_BIN_PATH: all the labs' build
// directories, set by meson; the same list is compiled in for a run outside meson test).
// None of these runs gets past parsing, so none creates anything.
#include <unistd.h>  // access

#include <cctype>   // std::isalnum
#include <cstdlib>  // setenv, std::getenv
#include <ostream>  // std::ostream
#include <sstream>  // std::istringstream
#include <string>   // std::string
#include <vector>   // std::vector

#include <gtest/gtest.h>

#include "grader/grader.hpp"  // grader::run, grader::program

using namespace std::chrono_literals;

namespace {

/// One numeric option: `program before... --option=VALUE after...`, where before/after
/// make the rest of the command line valid (a subcommand, a required argument).
struct Option {
  std::string program;
  std::string option;
  std::vector<std::string> before;
  std::vector<std::string> after;
  bool zero_ok = true;       ///< 0 is a valid value (else it is one of the bad ones)
  bool negative_ok = false;  ///< -1 is a valid value (an integer option that allows it)
};

// clang-format off
const std::vector<Option> kOptions = {
    // lab 02
    {"02-fifo-calc/calc_client", "--timeout", {}, {"1 + 1"}, false},
    // lab 03
    {"test_mypopen", "--lines"}, {"test_mypopen", "--exit-code"},
    // lab 04
    {"job_dispatcher", "--workers", {}, {}, false},
    {"job_dispatcher", "--aging-ms"},
    {"job_dispatcher", "--max-msgs", {}, {}, false},
    {"job_dispatcher", "--msg-size", {}, {}, false},
    {"submit_job", "--priority", {"--cmd=true"}},
    {"submit_job", "--timeout", {"--priority=1", "--cmd=true"}},
    // lab 05
    {"sysv_client", "--timeout", {}, {"X"}, false},
    // lab 06
    {"ipc_benchmark", "--msg-size", {}, {}, false},
    {"ipc_benchmark", "--iterations", {}, {}, false},
    {"ipc_benchmark", "--round-trips", {}, {}, false},
    {"ipc_benchmark", "--runs", {}, {}, false},
    {"ipc_benchmark", "--warmup"},
    {"ipc_benchmark", "--timeout", {}, {}, false},
    // lab 07
    {"producer_consumer", "--producers", {}, {}, false},
    {"producer_consumer", "--consumers", {}, {}, false},
    {"producer_consumer", "--buffer-size", {}, {}, false},
    {"producer_consumer", "--items"},
    // lab 08
    {"test_myrwlock", "--readers"}, {"test_myrwlock", "--writers"},
    {"test_myrwlock", "--duration", {}, {}, false},
    {"test_myrwlock", "--starvation-ms", {}, {}, false},
    {"test_myrwlock", "--read-hold-us"}, {"test_myrwlock", "--write-hold-us"},
    {"test_myrwlock", "--write-pause-us"},
    // lab 09
    {"kvstore", "--slots", {}, {"list"}, false},
    {"kvstore", "--max-slots", {}, {"list"}, false},
    {"kvstore", "--timeout", {}, {"list"}},
    {"kvstore", "--times", {"incr", "k"}, {}, false},
    {"kvstore", "--by", {"incr", "k"}, {}, true, true},
    {"kvstore", "--hold-ms", {"lock-test", "k"}},
    // lab 10
    {"pool_manager", "--max-connections", {}, {}, false},
    {"worker", "--hold-ms", {"1"}}, {"worker", "--timeout-ms", {"1"}},
    // lab 11
    {"barrier_test", "--processes", {}, {}, false},
    {"barrier_test", "--iterations", {}, {}, false},
    {"barrier_test", "--kill-one-at"}, {"barrier_test", "--stall-one-at"},
    {"barrier_test", "--victim"},
    {"barrier_test", "--timeout", {}, {}, false},
    // lab 12
    {"shm_ring_bench", "--buffer-size", {}, {}, false},
    {"shm_ring_bench", "--iterations", {}, {}, false},
    {"shm_ring_bench", "--msg-size", {}, {}, false},
    {"shm_ring_bench", "--round-trips", {}, {}, false},
    {"shm_ring_bench", "--warmup"},
    {"shm_ring_bench", "--runs", {}, {}, false},
    {"shm_ring_bench", "--timeout", {}, {}, false},
    {"shm_ring_producer", "--capacity", {}, {}, false},
    {"shm_ring_producer", "--count"},
    {"shm_ring_producer", "--min-size", {}, {}, false},
    {"shm_ring_producer", "--max-size", {}, {}, false},
    {"shm_ring_producer", "--seed"},
    {"shm_ring_producer", "--timeout", {}, {}, false},
    {"shm_ring_consumer", "--count"},
    {"shm_ring_consumer", "--timeout", {}, {}, false},
    // lab 13
    {"shm_image_filter", "--radius", {}, {}, false},
    {"shm_image_filter", "--workers", {}, {}, false},
    {"shm_image_filter", "--timeout", {}, {}, false},
    {"shm_image_filter", "--runs", {}, {}, false},
    {"shm_image_filter", "--width", {}, {}, false},
    {"shm_image_filter", "--height", {}, {}, false},
    {"shm_image_filter", "--test-kill-worker", {}, {}, true, true},
    {"shm_image_filter", "--test-stall-worker", {}, {}, true, true},
    {"shm_image_filter", "--test-stall-ms"},
    // lab 14
    {"mmapdb", "--timeout", {}, {"list", "db"}},
    {"mmapdb", "--size", {"create", "db"}, {}, false},
    {"mmapdb", "--keys", {"bench", "db"}, {}, false},
    {"mmapdb", "--runs", {"bench", "db"}, {}, false},
    {"mmapdb", "--seed", {"bench", "db"}},
    {"mmapdb_writer", "--count", {"db"}},
    {"mmapdb_writer", "--start", {"db", "--count=1"}},
    {"mmapdb_writer", "--batch", {"db", "--count=1"}, {}, false},
    {"mmapdb_writer", "--value-size", {"db", "--count=1"}},
    // lab 15
    {"lockfree_bench", "--iterations", {}, {}, false},
    {"lockfree_bench", "--round-trips", {}, {}, false},
    {"lockfree_bench", "--runs", {}, {}, false},
    {"lockfree_bench", "--batch", {}, {}, false},
    {"lockfree_bench", "--timeout", {}, {}, false},
    {"spsc_stream", "--count", {"consume"}},
    {"spsc_stream", "--batch", {"consume"}},
    {"spsc_stream", "--timeout", {"consume"}, {}, false},
    {"spsc_stream", "--capacity", {"consume"}, {}, false},
    {"spsc_stream", "--skip", {"produce"}, {}, true, true},
    // lab 16
    {"16-rpc-calc/calc_client", "--timeout", {"localhost", "add", "1", "2"}, {}, false},
    {"16-rpc-calc/calc_client", "--vers", {"localhost", "add", "1", "2"}, {}, false},
    {"16-rpc-calc/calc_client", "--calls", {"localhost", "bench"}, {}, false},
    {"16-rpc-calc/calc_client", "--runs", {"localhost", "bench"}, {}, false},
    {"16-rpc-calc/calc_client", "--warmup", {"localhost", "bench"}},
    // lab 17
    {"calc_client_auth", "--uid", {"localhost", "add", "1", "2"}},
    {"calc_client_auth", "--gid", {"localhost", "add", "1", "2"}},
    {"calc_client_auth", "--timeout", {"localhost", "add", "1", "2"}, {}, false},
    {"calc_client_auth", "--client-id", {"localhost", "accumulate", "1"}},
    {"calc_client_auth", "--request-id", {"localhost", "accumulate", "1"}},
    // lab 18
    {"kv_server", "--id", {"--port=1"}, {}, false},
    {"kv_server", "--port", {"--id=1"}, {}, false},
    {"kv_server", "--peer-timeout", {"--id=1", "--port=1"}, {}, false},
    {"kv_client", "--timeout", {"--server=localhost:1"}, {"get", "k"}, false},
    {"kv_client", "--client-id", {"--server=localhost:1"}, {"put", "k", "v"}, false},
    {"kv_client", "--request-id", {"--server=localhost:1"}, {"put", "k", "v"}, false},
    {"kv_client", "--ops", {}, {"bench"}, false},
    // lab 19
    {"chat_client", "--timeout", {}, {}, false},
    {"chat_server", "--allow-uid"},
    {"chat_server", "--max-pending", {}, {}, false},
    {"ipc_demo", "--seed", {"pipe"}},
    // --size: 0 and negatives reach run_demo, whose own messages the lab 19 grader checks.
    {"ipc_demo", "--size", {"pipe"}, {}, true, true},
};
// clang-format on

/// The built program `name`; a name `LABDIR/PROGRAM` picks the lab whose build directory
/// ends in LABDIR (two labs build a calc_client). Returns `name` when nothing is built.
std::string locate(const std::string& name) {
  const auto slash = name.find('/');
  if (slash == std::string::npos) return grader::program(name);
  const std::string lab_dir = "/" + name.substr(0, slash);
  const char* path = std::getenv("IPCLAB_BIN_PATH");
  std::istringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = dir + name.substr(slash);
    if (dir.ends_with(lab_dir) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

/// For gtest's messages: the command line without its value.
[[maybe_unused]] void PrintTo(const Option& o, std::ostream* os) {
  *os << o.program;
  for (const auto& a : o.before) *os << ' ' << a;
  *os << ' ' << o.option << "=...";
  for (const auto& a : o.after) *os << ' ' << a;
}

/// The bad values for `o`; "" stands for an empty `--opt=`.
std::vector<std::string> bad_values(const Option& o) {
  std::vector<std::string> v = {"nan", "inf", "1e300", "99999999999999999999999", ""};
  if (!o.negative_ok) v.emplace_back("-1");
  if (!o.zero_ok) v.emplace_back("0");
  return v;
}

/// Runs `argv` and expects exit 2 within a second with `error: <option>:` on stderr.
void expect_refused(const std::vector<std::string>& argv, const std::string& option) {
  const auto r = grader::run(argv, {.timeout = 1'000ms});
  EXPECT_FALSE(r.timed_out) << "still running after a second\n" << r.describe();
  EXPECT_EQ(r.exit_code(), 2) << r.describe();
  EXPECT_NE(r.err.find("error: " + option + ":"), std::string::npos)
      << "the message must name the option\n"
      << r.describe();
}

class BadNumbers : public ::testing::TestWithParam<Option> {};

TEST_P(BadNumbers, AreUsageErrors) {
  const Option& o = GetParam();
  const std::string path = locate(o.program);
  if (path == o.program) GTEST_SKIP() << o.program << " is not built in this configuration";
  for (const std::string& value : bad_values(o)) {
    std::vector<std::string> argv = {path};
    argv.insert(argv.end(), o.before.begin(), o.before.end());
    argv.push_back(o.option + "=" + value);
    argv.insert(argv.end(), o.after.begin(), o.after.end());
    SCOPED_TRACE(o.option + "=" + value);
    expect_refused(argv, o.option);
  }
}

std::string case_name(const ::testing::TestParamInfo<Option>& info) {
  std::string name = info.param.program + "_" + info.param.option.substr(2);
  for (char& c : name)
    if (std::isalnum(static_cast<unsigned char>(c)) == 0) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(EveryProgram, BadNumbers, ::testing::ValuesIn(kOptions), case_name);

// Command lines that once hung, overflowed or misread their arguments.
TEST(BadNumbers, TheReportedCommandLines) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"test_myrwlock", "--duration=99999999999s", "--readers=0", "--writers=0"}, "--duration"},
      {{"16-rpc-calc/calc_client", "--timeout=nan", "1 + 1"}, "--timeout"},
      {{"ipc_benchmark", "--timeout=1e300"}, "--timeout"},
      {{"shm_ring_bench", "--iterations=-1"}, "--iterations"},
      {{"ipc_benchmark", "--iterations=99999999999999999999999"}, "--iterations"},
      {{"shm_ring_producer", "--count=-1"}, "--count"},
      {{"shm_ring_consumer", "--count=-1"}, "--count"},
      {{"ipc_demo", "pipe", "--seed=-1"}, "--seed"},
      {{"spsc_stream", "consume", "--capacity=1e300"}, "--capacity"},
      {{"chat_client", "--socket=", "--timeout=0.5"}, "--socket"},
  };
  for (auto [argv, option] : cases) {
    const std::string path = locate(argv[0]);
    if (path == argv[0]) continue;  // not built here
    SCOPED_TRACE(argv[0] + " " + argv[1]);
    argv[0] = path;
    expect_refused(argv, option);
  }
}

// Where the programs are when this runs outside `meson test` (tools/run-tests runs it
// directly): the labs' build directories, compiled in.
[[maybe_unused]] const int kBinPath = ::setenv("IPCLAB_BIN_PATH", IPCLAB_ALL_BIN_DIRS, 0);

}  // namespace
