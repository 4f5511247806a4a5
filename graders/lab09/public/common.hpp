// Shared by lab 09's public and hidden tests: running kvstore on a database in the test's
// scratch directory, asking the kernel who holds a byte range, and sealed values that a
// torn read cannot fake. Workers that use the library directly (fast loops of locked
// operations in real processes) are grader::Child processes.
#pragma once

#include <fcntl.h>     // open, fcntl, F_OFD_GETLK
#include <sys/stat.h>  // stat

#include <string>  // std::string
#include <vector>  // std::vector

#include "grader/grader.hpp"
#include "grader/locks.hpp"  // blocked_lock_requests, lock_holder
#include "ipclab/error.hpp"
#include "ipclab/fd.hpp"
#include "ipclab/io.hpp"  // read_file
#include "lab09/kvstore.hpp"

using namespace std::chrono_literals;

namespace lab09_test {

namespace lab = ipclab::lab09;

/// The database of this test (a regular file in the scratch directory).
inline std::string db(const std::string& name = "kv.db") { return grader::scratch() + "/" + name; }

/// The environment every kvstore run gets: the race-widening test hook on.
inline const std::vector<std::string> kYieldEnv = {"IPCLAB_LAB09_YIELD=1"};

/// argv for `kvstore --db DB [--slots N] args...`.
inline std::vector<std::string> kv_argv(const std::string& dbfile, std::vector<std::string> args,
                                        unsigned slots = 0) {
  std::vector<std::string> argv = {"kvstore", "--db", dbfile};
  if (slots != 0) {
    argv.emplace_back("--slots");
    argv.push_back(std::to_string(slots));
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

/// Runs kvstore to completion with the test hook on.
inline grader::RunResult kvrun(const std::string& dbfile, std::vector<std::string> args,
                               unsigned slots = 0) {
  return grader::run(kv_argv(dbfile, std::move(args), slots),
                     {.timeout = 20'000ms, .env = kYieldEnv});
}

/// Starts kvstore in the background with the test hook on.
inline grader::Process kvstart(const std::string& dbfile, std::vector<std::string> args,
                               unsigned slots = 0) {
  return grader::Process(kv_argv(dbfile, std::move(args), slots),
                         grader::Process::Options{.env = kYieldEnv});
}

/// What F_OFD_GETLK reports for a write-lock request on [start, start + len) (grader/locks.hpp).
using Holder = grader::LockHolder;
inline Holder holder_of(const std::string& dbfile, off_t start, off_t len) {
  return grader::lock_holder(dbfile, start, len);
}
inline Holder record_holder(const std::string& dbfile, std::uint32_t slot) {
  return holder_of(dbfile, lab::record_offset(slot), lab::kRecordSize);
}

/// The number of lock requests blocked in the kernel on the file: proof that a locker
/// sleeps in F_OFD_SETLKW.
inline int blocked_waiters(const std::string& dbfile) {
  return grader::blocked_lock_requests(dbfile);
}

/// A self-validating value: "<tag>:<len>:" + pattern to `len` bytes + "#" + 8-hex FNV-1a of
/// everything before the '#'. Different writers and lengths give different values.
inline std::string sealed_value(const std::string& tag, std::size_t len) {
  std::string v = fmt::format("{}:{}:", tag, len);
  while (v.size() < len) v += static_cast<char>('a' + (v.size() * 7 + tag.size()) % 26);
  v.resize(len);
  return fmt::format("{}#{:08x}", v, static_cast<std::uint32_t>(lab::key_hash(v)));
}
inline bool sealed_ok(std::string_view v) {
  const auto hash = v.rfind('#');
  if (hash == std::string_view::npos || v.size() - hash != 9) return false;
  const std::string_view body = v.substr(0, hash);
  if (fmt::format("{:08x}", static_cast<std::uint32_t>(lab::key_hash(body))) != v.substr(hash + 1))
    return false;
  const auto c1 = body.find(':');
  const auto c2 = body.find(':', c1 + 1);
  if (c1 == std::string_view::npos || c2 == std::string_view::npos) return false;
  return std::to_string(body.size()) == body.substr(c1 + 1, c2 - c1 - 1);
}

/// Two keys whose home slots differ (and are not neighbours) in a table of `slots`.
inline std::pair<std::string, std::string> keys_in_distinct_slots(std::uint32_t slots,
                                                                  std::uint64_t seed) {
  std::string a = fmt::format("ka{}", seed % 1000);
  for (int i = 0;; ++i) {
    std::string b = fmt::format("kb{}_{}", seed % 1000, i);
    const auto sa = lab::home_slot(a, slots), sb = lab::home_slot(b, slots);
    if (sa != sb && (sa + 1) % slots != sb && (sb + 1) % slots != sa) return {a, b};
  }
}

}  // namespace lab09_test
