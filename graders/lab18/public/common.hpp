// Shared by lab 18's public and hidden tests: a cluster of kv_server nodes on free loopback
// ports (chosen by binding port 0 and reading it back; a start that loses the port to
// another test, EADDRINUSE, is retried with new ports), each with a data directory in the
// test's scratch, paused, killed and restarted the way the tests need; kv_client runs.
// Nodes are stopped with SIGTERM at the end, so that each removes its cache (the leak
// guard checks); a node killed with -9 has its cache removed by the test, as an
// administrator would (tools/ipc-clean).
#pragma once

#include <signal.h>  // SIGTERM, SIGKILL, SIGSTOP, SIGCONT

#include <filesystem>  // std::filesystem::directory_iterator
#include <fstream>     // std::ifstream
#include <optional>    // std::optional
#include <string>      // std::string
#include <vector>      // std::vector

#include "grader/grader.hpp"
#include "lab18/kv.hpp"

using namespace std::chrono_literals;

namespace lab18_test {

namespace lab = ipclab::lab18;

/// True if the node on `port` answers the null procedure.
inline bool answers(int port) {
  try {
    return lab::Connection({"localhost", port}, 1000ms).ping();
  } catch (const std::exception&) {
    return false;
  }
}

struct ClusterOptions {
  std::size_t nodes = 3;
  bool data = true;            ///< --data DIR per node, in the test's scratch
  int peer_timeout_ms = 1000;  ///< unscaled: the harness scales it (sanitizer builds)
  bool log = false;            ///< --log
};

/// kv_server nodes 1..n (index 0..n-1), every one a peer of the others.
class Cluster {
 public:
  explicit Cluster(ClusterOptions o = {}) : opts_(o) {
    for (int attempt = 0;; ++attempt) {
      ports_ = lab::free_ports(opts_.nodes);
      procs_.clear();
      procs_.resize(opts_.nodes);
      bool lost_port = false;
      for (std::size_t i = 0; i < opts_.nodes; ++i) start(i);
      for (std::size_t i = 0; i < opts_.nodes && !lost_port; ++i) lost_port = !wait_up(i);
      if (!lost_port) return;
      stop_all();
      if (attempt == 4) throw std::runtime_error("kv_server nodes did not start:\n" + report_);
    }
  }
  ~Cluster() { stop_all(); }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  std::size_t size() const { return ports_.size(); }
  int port(std::size_t i) const { return ports_[i]; }
  /// The peer timeout the servers were started with (scaled for sanitizer builds).
  std::chrono::milliseconds peer_timeout() const {
    return grader::scaled(std::chrono::milliseconds(opts_.peer_timeout_ms));
  }
  std::string server(std::size_t i) const {
    return "--server=localhost:" + std::to_string(port(i));
  }
  grader::Process& proc(std::size_t i) { return *procs_[i]; }

  /// kv_client --server=<node i> args...
  grader::RunResult client(std::size_t i, std::vector<std::string> args, int timeout_ms = 5000) {
    args.insert(args.begin(), server(i));
    args.insert(args.begin(), "kv_client");
    args.push_back("--timeout=" + std::to_string(timeout_ms));
    grader::RunOptions ro;
    ro.timeout = std::chrono::milliseconds(timeout_ms * 3 + 10'000);
    return grader::run(args, ro);
  }

  /// SIGKILL (a crash), then what it left removed (its cache).
  void kill(std::size_t i) {
    procs_[i]->kill();
    lab::ReadCache::remove(port(i));
  }
  /// SIGSTOP; back once every thread of it is stopped: from then on it answers nothing.
  void pause(std::size_t i) {
    procs_[i]->signal(SIGSTOP);
    EXPECT_TRUE(grader::wait_until([&] { return stopped(procs_[i]->pid()); }, 10'000ms))
        << "node " << i + 1 << " did not stop";
  }
  void resume(std::size_t i) { procs_[i]->signal(SIGCONT); }
  /// SIGTERM; the exit status.
  std::optional<ipclab::WaitStatus> stop(std::size_t i) {
    procs_[i]->signal(SIGCONT);
    procs_[i]->signal(SIGTERM);
    return procs_[i]->wait(10'000ms);
  }
  /// Starts node i again on its port and data (after kill or stop); true once it answers.
  bool restart(std::size_t i) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      start(i);
      if (wait_up(i)) return true;
    }
    ADD_FAILURE() << "node " << i + 1 << " did not restart on port " << port(i) << "\n" << report_;
    return false;
  }
  std::string data_dir(std::size_t i) const {
    return grader::scratch() + "/node" + std::to_string(i + 1);
  }

 private:
  void start(std::size_t i) {
    std::string peers;
    for (std::size_t j = 0; j < opts_.nodes; ++j)
      if (j != i)
        peers += (peers.empty() ? "" : ",") + std::string("localhost:") + std::to_string(ports_[j]);
    std::vector<std::string> argv = {"kv_server", "--id=" + std::to_string(i + 1),
                                     "--port=" + std::to_string(ports_[i]),
                                     "--peer-timeout=" + std::to_string(peer_timeout().count())};
    if (!peers.empty()) argv.push_back("--peers=" + peers);
    if (opts_.data) argv.push_back("--data=" + data_dir(i));
    if (opts_.log) argv.push_back("--log");
    procs_[i].emplace(argv);
  }
  /// True if every thread of `pid` is stopped (state T in /proc/PID/task/TID/stat).
  static bool stopped(pid_t pid) {
    std::error_code ec;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
      std::ifstream in(task.path() / "stat");
      std::string stat;
      std::getline(in, stat);
      const auto comm_end = stat.rfind(')');  // "TID (COMM) STATE ...": COMM may hold anything
      if (comm_end == std::string::npos || comm_end + 2 >= stat.size() || stat[comm_end + 2] != 'T')
        return false;
    }
    return !ec;
  }
  /// Waits until node i answers; false if it exited first (its port was taken).
  bool wait_up(std::size_t i) {
    const bool up =
        grader::wait_until([&] { return procs_[i]->exited() || answers(port(i)); }, 10'000ms);
    if (up && !procs_[i]->exited()) return true;
    report_ += "node " + std::to_string(i + 1) + ": " + grader::excerpt(procs_[i]->err()) + "\n";
    if (!procs_[i]->exited()) procs_[i]->kill();
    return false;
  }
  void stop_all() {
    for (auto& p : procs_)
      if (p && !p->exited()) {
        p->signal(SIGCONT);
        p->signal(SIGTERM);
      }
    for (std::size_t i = 0; i < procs_.size(); ++i)
      if (procs_[i] && !procs_[i]->wait(10'000ms)) kill(i);
  }

  ClusterOptions opts_;
  std::vector<int> ports_;
  std::vector<std::optional<grader::Process>> procs_;
  std::string report_;
};

/// EXPECT exit 0 and exactly `out` on stdout.
inline void expect_ok(const grader::RunResult& r, const std::string& out,
                      std::source_location where = std::source_location::current()) {
  grader::expect_exit(r, 0, where);
  grader::expect_output(r, out, where);
}

using grader::expect_error;

}  // namespace lab18_test
