// Shared by lab 14's public and hidden tests: database files in the test's scratch
// directory, the writer program, reading and damaging files of the lab's layout.
#pragma once

#include <fcntl.h>     // open
#include <sys/stat.h>  // stat
#include <unistd.h>    // pread, pwrite, truncate

#include <cstring>    // std::memcpy
#include <stdexcept>  // std::runtime_error
#include <string>     // std::string
#include <vector>     // std::vector

#include "grader/grader.hpp"
#include "ipclab/error.hpp"  // check_unix
#include "ipclab/fd.hpp"
#include "ipclab/io.hpp"  // read_file
#include "lab14/mmapdb.hpp"

using namespace std::chrono_literals;

namespace lab14_test {

namespace lab = ipclab::lab14;

using lab::Db;

/// A fresh path in the scratch directory (the driver removes it after the test).
inline std::string db_path(const std::string& name) { return grader::scratch() + "/" + name; }

/// The writer's key i (mmapdb_writer's format: prefix + 8 digits).
inline std::string key_of(const std::string& prefix, std::uint64_t i) {
  return fmt::format("{}{:08}", prefix, i);
}

/// Creates a database with the program. Throws if that fails: the test cannot go on.
inline void create_db(const std::string& path, const std::string& size = "64K") {
  auto r = grader::run({"mmapdb", "create", path, "--size=" + size});
  if (r.exit_code() != 0)
    throw std::runtime_error("mmapdb create failed, the test cannot go on:\n" + r.describe());
}

/// The writer's argv.
inline std::vector<std::string> writer_argv(const std::string& path, const std::string& prefix,
                                            std::uint64_t count,
                                            std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {"mmapdb_writer", path,      "--prefix",
                                   prefix,          "--count", std::to_string(count)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

/// The last `ok N` line the writer finished printing: keys 0..N returned. -1 if none.
inline long long last_committed(const std::string& out) {
  long long last = -1;
  std::size_t pos = 0;
  while (pos < out.size()) {
    const std::size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) break;  // a line cut short by the kill does not count
    const std::string line = out.substr(pos, nl - pos);
    if (line.rfind("ok ", 0) == 0) last = std::stoll(line.substr(3));
    pos = nl + 1;
  }
  return last;
}

/// Every key prefix<i>, i in [0, n), has test_value(key) through the library; returns the
/// first missing or wrong key (empty if all are right).
inline std::string first_bad_key(Db& db, const std::string& prefix, long long n,
                                 std::size_t value_size = 100) {
  for (long long i = 0; i < n; ++i) {
    const std::string k = key_of(prefix, static_cast<std::uint64_t>(i));
    const auto v = db.get(k);
    if (!v) return k + " (missing)";
    if (*v != lab::test_value(k, value_size)) return k + " (wrong value)";
  }
  return {};
}

/// EXPECT that the program reported a corrupt database the house way.
inline void expect_corrupt(const grader::RunResult& r, const std::string& what) {
  EXPECT_FALSE(r.timed_out) << what << ": hung\n" << r.describe();
  EXPECT_FALSE(r.status.signaled()) << what << ": crashed instead of reporting\n" << r.describe();
  EXPECT_EQ(r.exit_code(), 1) << what << ": expected exit 1\n" << r.describe();
  EXPECT_EQ(r.err.rfind("error: corrupt database", 0), 0u)
      << what << ": expected `error: corrupt database...` on stderr\n"
      << r.describe();
}

/// A small valid database with keys d00000000..d00000199 (the writer's values).
inline std::string make_valid(const std::string& name) {
  const auto f = db_path(name);
  create_db(f, "64K");
  grader::expect_exit(grader::run(writer_argv(f, "d", 200, {"--batch", "50", "--quiet"})), 0);
  return f;
}

/// EXPECT that check, get and list of the program all report `f` corrupt.
inline void expect_all_report_corrupt(const std::string& f, const std::string& what) {
  expect_corrupt(grader::run({"mmapdb", "check", f}), what + ", mmapdb check");
  expect_corrupt(grader::run({"mmapdb", "get", f, "d00000007"}), what + ", mmapdb get");
  expect_corrupt(grader::run({"mmapdb", "list", f}), what + ", mmapdb list");
}

inline std::string read_bytes(const std::string& path) { return ipclab::read_file(path); }

inline void write_bytes(const std::string& path, const std::string& data) {
  ipclab::Fd fd(ipclab::check_unix(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), "open {}", path));
  ipclab::write_full(fd.get(), data);
}

/// Writes `value` at byte `at` of the file in place (as another process's stores would).
template <class T>
void poke(const std::string& path, std::size_t at, const T& value) {
  ipclab::Fd fd(ipclab::check_unix(::open(path.c_str(), O_WRONLY | O_CLOEXEC), "open {}", path));
  ipclab::check_unix(::pwrite(fd.get(), &value, sizeof value, static_cast<off_t>(at)), "pwrite {}",
                     path);
}

inline std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

/// The header as it is on disk.
inline lab::Header header_of(const std::string& bytes) {
  lab::Header h{};
  std::memcpy(&h, bytes.data(), std::min(bytes.size(), sizeof h));
  return h;
}

/// Where `key` is in the index: the offset of its slot in the file and of its record, found
/// by walking the index as the layout says; {0, 0} if absent.
struct Located {
  std::uint64_t slot_at = 0, record_at = 0;
};
inline Located locate(const std::string& bytes, const std::string& key) {
  using namespace ipclab::lab14;
  const Header h = header_of(bytes);
  const std::uint64_t ioff = index_offset(h.index_ref);
  const std::uint64_t mask = (std::uint64_t{1} << index_log2_slots(h.index_ref)) - 1;
  const std::uint32_t tag = key_tag(key);
  for (std::uint64_t n = 0, i = tag & mask; n <= mask; ++n, i = (i + 1) & mask) {
    std::uint64_t s = 0;
    if (ioff + i * 8 + 8 > bytes.size()) return {};
    std::memcpy(&s, bytes.data() + ioff + i * 8, 8);
    if (s == kEmptySlot) return {};
    if (!slot_live(s) || slot_tag(s) != tag) continue;
    const std::uint64_t off = slot_offset(s);
    RecordHead r{};
    std::memcpy(&r, bytes.data() + off, sizeof r);
    if (bytes.compare(off + sizeof r, r.key_len, key) == 0 && r.key_len == key.size())
      return {ioff + i * 8, off};
  }
  return {};
}

/// The offset of `key`'s record, found by walking the index as the layout says; 0 if absent.
inline std::uint64_t record_offset_of(const std::string& bytes, const std::string& key) {
  return locate(bytes, key).record_at;
}

}  // namespace lab14_test
