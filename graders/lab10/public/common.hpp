// Shared by lab 10's public and hidden tests: starting pool_manager, running workers, and
// looking at the pool with the grader's own eyes (its own shm mapping and sem_getvalue,
// never the student's Pool class), plus the checks on the workers' hold intervals.
#pragma once

#include <signal.h>  // SIGTERM, SIGKILL
#include <unistd.h>  // access

#include <algorithm>  // std::sort, std::max
#include <cstdint>    // std::int64_t
#include <map>        // std::map
#include <memory>     // std::unique_ptr
#include <optional>   // std::optional
#include <set>        // std::set
#include <sstream>    // std::istringstream
#include <string>     // std::string
#include <utility>    // std::pair
#include <vector>     // std::vector

#include "grader/grader.hpp"
#include "ipclab/error.hpp"  // SysError
#include "ipclab/sem.hpp"    // NamedSemaphore
#include "ipclab/shm.hpp"    // PosixShm, Mapping
#include "lab10/pool.hpp"

using namespace std::chrono_literals;

namespace lab10_test {

namespace lab = ipclab::lab10;

/// --timeout-ms for a worker that should get in: generous, stretched under sanitizers.
inline std::string ok_timeout() { return std::to_string(grader::scaled(30'000ms).count()); }
/// --hold-ms for a worker that holds until the test ends it (SIGTERM or SIGKILL).
inline constexpr const char* kForever = "600000";

/// The files behind the pool's names in /dev/shm (Linux: sem.NAME for semaphores).
inline std::string sem_file() { return "/dev/shm/sem." + lab::sem_name().substr(1); }
inline std::string shm_file() { return "/dev/shm/" + lab::shm_name().substr(1); }
inline bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }
inline bool pool_objects_exist() { return exists(sem_file()) || exists(shm_file()); }

/// The grader's own view of the pool: its own mapping of the table and its own handle on
/// the semaphore.
class View {
 public:
  static std::unique_ptr<View> open() {
    auto v = std::unique_ptr<View>(new View(ipclab::NamedSemaphore::open(lab::sem_name())));
    const auto obj = ipclab::PosixShm::open(lab::shm_name());
    if (obj.size() < sizeof(lab::PoolHeader)) {
      ADD_FAILURE() << "the pool's shm object has " << obj.size() << " bytes, a PoolHeader "
                    << sizeof(lab::PoolHeader);
      return nullptr;
    }
    v->map_ = obj.map();
    return v;
  }
  lab::PoolHeader& h() const { return *map_.as<lab::PoolHeader>(); }
  int sem_value() const { return sem_.value(); }
  pid_t owner(unsigned slot) const { return h().slots[slot].owner.load(std::memory_order_acquire); }
  /// The non-zero owners of all kMaxConnections slots: slot -> pid.
  std::map<unsigned, pid_t> owners() const {
    std::map<unsigned, pid_t> out;
    for (unsigned i = 0; i < lab::kMaxConnections; ++i)
      if (const pid_t p = owner(i); p != 0) out[i] = p;
    return out;
  }
  bool holds(pid_t pid) const {
    for (const auto& [slot, p] : owners())
      if (p == pid) return true;
    return false;
  }
  std::string describe() const {
    std::string owned;
    for (const auto& [slot, p] : owners()) owned += fmt::format(" slot{}=pid{}", slot, p);
    return fmt::format(
        "sem value {}, holders {}, high-water {}, acquisitions {}, reclaimed {}, "
        "owned:{}",
        sem_value(), h().holders.load(), h().high_water.load(), h().acquisitions.load(),
        h().reclaimed.load(), owned.empty() ? " none" : owned);
  }

 private:
  explicit View(ipclab::NamedSemaphore sem) : sem_(std::move(sem)) {}
  ipclab::NamedSemaphore sem_;
  ipclab::Mapping map_;
};

/// Checks one snapshot of the table taken while workers run: only the first n slots used,
/// no pid in two slots, at most n owners. Returns a message, empty if fine.
inline std::string check_table(const View& v, unsigned n) {
  const auto owned = v.owners();
  std::set<pid_t> pids;
  for (const auto& [slot, pid] : owned) {
    if (slot >= n) return fmt::format("slot {} used in a pool of {}: {}", slot, n, v.describe());
    if (!pids.insert(pid).second)
      return fmt::format("pid {} owns two slots: {}", pid, v.describe());
  }
  if (owned.size() > n)
    return fmt::format("{} slots owned in a pool of {}: {}", owned.size(), n, v.describe());
  return {};
}

/// pool_manager --max-connections=n, started and ready (ASSERT in the caller with
/// `if (!m) return;` — the failure is already reported).
inline std::optional<grader::Process> start_manager(unsigned n) {
  grader::Process m({"pool_manager", fmt::format("--max-connections={}", n)});
  if (!m.wait_for_output("pool ready", 10'000ms)) {
    ADD_FAILURE() << "pool_manager --max-connections=" << n
                  << " did not print `pool ready` (or exited)\nstdout: " << grader::excerpt(m.out())
                  << "\nstderr: " << grader::excerpt(m.err());
    return std::nullopt;
  }
  return m;
}

/// SIGTERM to pool_manager; returns its finished run (exit status and output).
inline grader::RunResult stop_manager(grader::Process& m) {
  m.signal(SIGTERM);
  return m.finish(10'000ms);
}

/// A background worker: worker ID --hold-ms H --timeout-ms T [--trace].
inline grader::Process start_worker(unsigned id, const std::string& hold_ms,
                                    const std::string& timeout_ms, bool yield = false) {
  grader::Process::Options o;
  o.stdin_pipe = false;
  if (yield) o.env.push_back("IPCLAB_TEST_YIELD=1");
  return grader::Process(
      {"worker", std::to_string(id), "--hold-ms", hold_ms, "--timeout-ms", timeout_ms, "--trace"},
      o);
}

inline std::string acquired_line(unsigned id) {
  return fmt::format("Worker {}: Acquired connection", id);
}
inline std::string released_line(unsigned id) { return fmt::format("Worker {}: Released", id); }

/// One worker's hold, from its --trace line.
struct Hold {
  unsigned id = 0;
  pid_t pid = 0;
  unsigned slot = 0;
  std::int64_t from = 0, to = 0;
};

inline std::optional<Hold> parse_trace(const std::string& err) {
  const auto at = err.find("trace: ");
  if (at == std::string::npos) return std::nullopt;
  Hold h;
  long long from = 0, to = 0;
  if (std::sscanf(err.c_str() + at,
                  "trace: worker=%u pid=%d slot=%u acquired_ns=%lld released_ns=%lld", &h.id,
                  &h.pid, &h.slot, &from, &to) != 5)
    return std::nullopt;
  h.from = from;
  h.to = to;
  return h;
}

/// The hold intervals are measured inside each worker's true hold (after acquire returned,
/// before release was called), so any overlap found here really happened. Checks that at
/// most n overlap at any instant and that no two overlapping holds name the same slot.
/// Returns a message, empty if fine.
inline std::string check_holds(std::vector<Hold> holds, unsigned n) {
  std::sort(holds.begin(), holds.end(),
            [](const Hold& a, const Hold& b) { return a.from < b.from; });
  for (std::size_t i = 0; i < holds.size(); ++i) {
    unsigned overlapping = 1;
    for (std::size_t j = 0; j < holds.size(); ++j) {
      if (j == i) continue;
      const Hold& a = holds[i];
      const Hold& b = holds[j];
      // b is in its hold at the instant a starts?
      if (b.from <= a.from && a.from < b.to) {
        ++overlapping;
        if (b.slot == a.slot)
          return fmt::format(
              "workers {} (pid {}) and {} (pid {}) held slot {} at the same time "
              "(their holds overlap by {} us)",
              b.id, b.pid, a.id, a.pid, a.slot, (std::min(a.to, b.to) - a.from) / 1000);
      }
    }
    if (overlapping > n)
      return fmt::format("{} workers held a connection at the same instant in a pool of {}",
                         overlapping, n);
  }
  return {};
}

/// Runs `count` workers at once (hold 0..max_hold ms, drawn from `seed`) against a running
/// pool of n, sampling the table while they run; every worker must finish with exit 0 and
/// both lines, and the holds and samples must respect the pool. Reports failures with
/// ADD_FAILURE; returns false if any.
inline bool run_crowd(unsigned n, unsigned count, int max_hold, bool yield, std::uint64_t seed) {
  auto view = View::open();
  if (!view) return false;
  std::vector<grader::Process> workers;
  workers.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    const int hold = max_hold == 0 ? 0 : static_cast<int>((seed + i * 7919) % (max_hold + 1));
    workers.push_back(start_worker(i + 1, std::to_string(hold), ok_timeout(), yield));
  }
  std::string table_problem;
  const bool done = grader::wait_until(
      [&] {
        if (table_problem.empty()) table_problem = check_table(*view, n);
        for (auto& w : workers)
          if (!w.exited()) return false;
        return true;
      },
      40'000ms);
  bool ok = true;
  if (!done) {
    ADD_FAILURE() << "not every worker finished: " << view->describe();
    ok = false;
  }
  if (!table_problem.empty()) {
    ADD_FAILURE() << "the slot table while workers ran: " << table_problem;
    ok = false;
  }
  std::vector<Hold> holds;
  for (unsigned i = 0; i < count && ok; ++i) {
    auto r = workers[i].finish(5'000ms);
    const bool lines = r.out.find(acquired_line(i + 1)) != std::string::npos &&
                       r.out.find(released_line(i + 1)) != std::string::npos;
    if (r.exit_code() != 0 || !lines) {
      ADD_FAILURE() << "worker " << i + 1 << " of " << count << " in a pool of " << n
                    << " did not complete:\n"
                    << r.describe();
      ok = false;
    }
    if (auto h = parse_trace(r.err)) holds.push_back(*h);
  }
  if (!ok) return false;
  if (const auto msg = check_holds(holds, n); !msg.empty()) {
    ADD_FAILURE() << msg;
    return false;
  }
  const auto hw = view->h().high_water.load();
  if (hw < 1 || hw > static_cast<int>(n)) {
    ADD_FAILURE() << "high-water mark " << hw << " in a pool of " << n << ": " << view->describe();
    return false;
  }
  // After every release: the count is back to n and the table is empty.
  if (view->sem_value() != static_cast<int>(n) || !view->owners().empty() ||
      view->h().holders.load() != 0) {
    ADD_FAILURE() << "after all " << count << " workers released, expected sem value " << n
                  << ", holders 0, no owned slot; got " << view->describe();
    return false;
  }
  return true;
}

}  // namespace lab10_test
