// Shared by lab 04's public and hidden tests: starting a dispatcher, submitting jobs, a
// "gate" job that keeps the one worker busy until the test opens it, reading the order in
// which jobs ran, and looking at the queue itself (depth, mq_notify registration).
#pragma once

#include <mqueue.h>       // mq_open, for the support probe
#include <sys/statfs.h>   // statfs, to recognise an mqueue mount
#include <sys/syscall.h>  // SYS_mq_timedsend, SYS_mq_timedreceive

#include <algorithm>  // std::none_of
#include <cstring>    // std::strerror
#include <fstream>    // std::ofstream
#include <optional>   // std::optional
#include <regex>      // std::regex
#include <string>     // std::string
#include <vector>     // std::vector

#include "grader/grader.hpp"
#include "ipclab/error.hpp"          // SysError
#include "ipclab/instance_lock.hpp"  // InstanceLock::path_of, remove_stale_lock_file
#include "ipclab/io.hpp"             // read_file
#include "ipclab/mq.hpp"             // PosixMq
#include "ipclab/names.hpp"          // names::posix
#include "lab04/dispatch.hpp"

using namespace std::chrono_literals;

namespace lab04_test {

namespace lab = ipclab::lab04;

/// Why this machine cannot run the end-to-end tests, or nullopt if it can.
inline std::optional<std::string> mq_unsupported() {
  const std::string probe = ipclab::names::posix("probe");
  mq_attr attr{};
  attr.mq_maxmsg = 1;
  attr.mq_msgsize = 64;
  const mqd_t q = ::mq_open(probe.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600, &attr);
  if (q == static_cast<mqd_t>(-1)) {
    const int err = errno;
    if (err == ENOSYS)
      return std::string(
          "POSIX message queues are not supported here (mq_open: ENOSYS; "
          "a kernel without CONFIG_POSIX_MQUEUE)");
    return fmt::format("cannot create a probe message queue: {}", std::strerror(err));
  }
  ::mq_close(q);
  ::mq_unlink(probe.c_str());
  return std::nullopt;
}

#define LAB04_REQUIRE_MQ()                                               \
  do {                                                                   \
    if (auto why = ::lab04_test::mq_unsupported()) GTEST_SKIP() << *why; \
  } while (0)

/// True if /dev/mqueue is an mqueue mount (then its files show QSIZE and NOTIFY_PID).
inline bool dev_mqueue_mounted() {
  struct statfs s {};
  return ::statfs("/dev/mqueue", &s) == 0 && s.f_type == 0x19800202;  // MQUEUE_MAGIC
}

/// Starts a dispatcher as `var`; fails the test at once if it does not print its ready line.
#define LAB04_START(var, queue, ...)                              \
  auto var = (queue).start(__VA_ARGS__);                          \
  ASSERT_TRUE(::lab04_test::TestQueue::ready(var))                \
      << "job_dispatcher did not print `Dispatcher: ready ...`\n" \
      << ::lab04_test::report(var)

/// One "Dispatcher: Processing job K (priority P): CMD" line.
struct Started {
  std::uint64_t id;
  unsigned priority;
  std::string cmd;
  bool operator==(const Started&) const = default;
};

inline std::vector<Started> started_jobs(const std::string& out) {
  static const std::regex re(R"(Dispatcher: Processing job (\d+) \(priority (\d+)\): ([^\n]*))");
  std::vector<Started> v;
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator();
       ++it)
    v.push_back({std::stoull((*it)[1]), static_cast<unsigned>(std::stoul((*it)[2])), (*it)[3]});
  return v;
}

inline std::vector<std::uint64_t> started_ids(const std::string& out) {
  std::vector<std::uint64_t> ids;
  for (const auto& s : started_jobs(out)) ids.push_back(s.id);
  return ids;
}

inline std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

/// The syscall a blocked process (or its thread `tid`) sits in (/proc/<pid>/syscall), or -1
/// if unknown.
inline long current_syscall(pid_t pid, pid_t tid = 0) {
  const std::string s =
      ipclab::read_file(tid == 0 ? fmt::format("/proc/{}/syscall", pid)
                                 : fmt::format("/proc/{}/task/{}/syscall", pid, tid));
  if (s.empty() || s[0] < '0' || s[0] > '9') return -1;  // "running" or not readable
  return std::stol(s);
}

/// The message size of the tests' queues (job_dispatcher's default is 8192).
inline constexpr long kTestMsgSize = 1024;

/// The test's queue: its name, depth and notification owner; unlinked at the end of the
/// test (the grader's leak guard would otherwise fail it), with the lock file of a
/// dispatcher the test ended with SIGKILL (a grader::Process that goes out of scope). A
/// lock file a live dispatcher still holds stays, and the leak guard reports it.
class TestQueue {
 public:
  explicit TestQueue(std::string queue = lab::kDefaultQueue) : queue_(std::move(queue)) {}
  ~TestQueue() {
    try {
      ipclab::remove_stale_lock_file(ipclab::InstanceLock::path_of(lock_name()));
      ipclab::PosixMq::unlink(name());
    } catch (const std::exception&) {
    }
  }
  /// The name of the queue's dispatcher lock (<rundir>/<queue>.dispatcher.lock).
  std::string lock_name() const { return queue_ + ".dispatcher"; }

  TestQueue(const TestQueue&) = delete;
  TestQueue& operator=(const TestQueue&) = delete;

  std::string name() const { return ipclab::names::posix(queue_); }

  /// Starts job_dispatcher with `args` and waits until it prints its ready line or exits.
  /// Use it through LAB04_START, which fails the test at once if it never got ready.
  grader::Process start(std::vector<std::string> args = {}) const {
    std::vector<std::string> argv = {"job_dispatcher"};
    if (queue_ != lab::kDefaultQueue) argv.insert(argv.end(), {"--queue", queue_});
    argv.insert(argv.end(), args.begin(), args.end());
    // Small messages unless the test asks otherwise: RLIMIT_MSGQUEUE counts the bytes of
    // all of a user's queues, and other graders may be running as the same user.
    if (std::none_of(args.begin(), args.end(),
                     [](const std::string& a) { return a.rfind("--msg-size", 0) == 0; }))
      argv.insert(argv.end(), {"--msg-size", std::to_string(kTestMsgSize)});
    grader::Process p(argv);
    grader::wait_until([&] { return ready(p) || !p.running(); }, 10'000ms);
    return p;
  }
  static bool ready(const grader::Process& p) {
    return p.out().find("Dispatcher: ready") != std::string::npos;
  }

  /// Runs submit_job; on success returns the job id it printed.
  std::optional<std::uint64_t> submit(unsigned priority, const std::string& cmd,
                                      std::vector<std::string> extra = {}) const {
    last_ = grader::run(argv_for(priority, cmd, std::move(extra)));
    static const std::regex re(R"(^Job (\d+) queued \(priority (\d+)\)\n$)");
    std::smatch m;
    if (last_.exit_code() != 0 || !std::regex_match(last_.out, m, re)) {
      ADD_FAILURE() << "submit_job failed or printed something else than "
                       "`Job K queued (priority P)`:\n"
                    << last_.describe();
      return std::nullopt;
    }
    EXPECT_EQ(std::stoul(m[2]), priority) << last_.describe();
    return std::stoull(m[1]);
  }

  std::vector<std::string> argv_for(unsigned priority, const std::string& cmd,
                                    std::vector<std::string> extra = {}) const {
    std::vector<std::string> argv = {"submit_job", fmt::format("--priority={}", priority),
                                     "--cmd=" + cmd};
    if (queue_ != lab::kDefaultQueue) argv.insert(argv.end(), {"--queue", queue_});
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  const grader::RunResult& last() const { return last_; }

  /// Messages in the queue now (-1 if it does not exist).
  long depth() const {
    try {
      return ipclab::PosixMq::open(name(), O_RDONLY).attr().mq_curmsgs;
    } catch (const ipclab::SysError&) {
      return -1;
    }
  }
  bool exists() const { return depth() >= 0; }

  /// NOTIFY_PID of the queue's file in /dev/mqueue (0: nobody registered).
  long notify_pid() const {
    const std::string s = ipclab::read_file("/dev/mqueue" + name());
    const auto pos = s.find("NOTIFY_PID:");
    return pos == std::string::npos ? -1 : std::stol(s.substr(pos + 11));
  }

 private:
  std::string queue_;
  mutable grader::RunResult last_;
};

/// A job that keeps a worker busy until open() is called: it waits for a file to exist.
class Gate {
 public:
  Gate() {
    static int n = 0;
    path_ = fmt::format("{}/gate{}", grader::scratch(), ++n);
  }
  std::string cmd() const {
    return fmt::format("while [ ! -e '{}' ]; do sleep 0.02; done; echo gate-passed", path_);
  }
  void open() const { std::ofstream(path_) << "open\n"; }

 private:
  std::string path_;
};

/// Waits until the dispatcher has printed `needle` `n` times.
inline bool wait_count(const grader::Process& p, const std::string& needle, std::size_t n,
                       grader::Timeout timeout = 10'000ms) {
  return grader::wait_until([&] { return count_of(p.out(), needle) >= n; }, timeout);
}

inline std::string report(const grader::Process& p) {
  return fmt::format("  dispatcher: {}\n  stdout: {}\n  stderr: {}\n",
                     ipclab::shell_quote(p.argv()), grader::excerpt(p.out(), 2000),
                     grader::excerpt(p.err()));
}

}  // namespace lab04_test
