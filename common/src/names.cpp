#include "ipclab/names.hpp"

#include <fcntl.h>     // open
#include <pwd.h>       // getpwuid_r
#include <sys/ipc.h>   // ftok
#include <sys/stat.h>  // mkdir
#include <unistd.h>    // getuid

#include <algorithm>  // std::find
#include <cerrno>     // errno
#include <cstdlib>    // std::getenv
#include <fstream>    // std::ifstream
#include <mutex>      // std::mutex
#include <optional>   // std::optional

#include "ipclab/error.hpp"  // UsageError, check_unix
#include "ipclab/fd.hpp"     // Fd
#include "ipclab/io.hpp"     // write_full

namespace ipclab::names {
namespace {

std::mutex g_mu;  // guards the overrides below (the only globals of the layer)
std::optional<std::string> g_ns_override;
std::optional<std::string> g_rundir_override;

bool valid_component(std::string_view s, bool allow_dot) {
  if (s.empty() || s.size() > 64) return false;
  if (s == "." || s == "..") return false;  // path() would name the run directory or its parent
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || (allow_dot && c == '.');
    if (!ok) return false;
  }
  return true;
}

std::string user_name() {
  char buf[1024];
  passwd pw{};
  passwd* res = nullptr;
  if (::getpwuid_r(::getuid(), &pw, buf, sizeof buf, &res) == 0 && res != nullptr &&
      valid_component(res->pw_name, false))
    return res->pw_name;
  return "uid" + std::to_string(::getuid());
}

void mkdir_p(const std::string& dir) {
  for (std::size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos == dir.size() || dir[pos] == '/') {
      const std::string part = dir.substr(0, pos);
      if (::mkdir(part.c_str(), 0700) < 0 && errno != EEXIST) throw_errno("mkdir(\"{}\")", part);
    }
  }
}

}  // namespace

bool valid_ns(std::string_view ns) { return valid_component(ns, false); }

std::string ns() {
  {
    std::lock_guard lock(g_mu);
    if (g_ns_override) return *g_ns_override;
  }
  const char* env = std::getenv("IPCLAB_NS");
  if (env == nullptr || *env == '\0') return user_name();
  if (!valid_ns(env))
    throw UsageError(fmt::format("IPCLAB_NS=\"{}\": a namespace is 1-64 of [A-Za-z0-9_-]", env));
  return env;
}

std::string posix_prefix() { return "/ipclab." + ns() + "."; }

std::string posix(std::string_view name) {
  if (!valid_component(name, true))
    throw UsageError(fmt::format("IPC name \"{}\": use 1-64 of [A-Za-z0-9_.-]", name));
  return posix_prefix() + std::string(name);
}

std::string rundir_base() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && *xdg == '/') return std::string(xdg) + "/ipclab";
  return "/tmp/ipclab-" + std::to_string(::getuid());
}

std::string rundir() {
  std::string dir;
  {
    std::lock_guard lock(g_mu);
    if (g_rundir_override) dir = *g_rundir_override;
  }
  if (dir.empty()) {
    const char* env = std::getenv("IPCLAB_RUNDIR");
    dir = (env != nullptr && *env != '\0') ? std::string(env) : rundir_base() + "/" + ns();
  }
  mkdir_p(dir);
  return dir;
}

std::string path(std::string_view name) {
  if (!valid_component(name, true))
    throw UsageError(fmt::format("file name \"{}\": use 1-64 of [A-Za-z0-9_.-]", name));
  return rundir() + "/" + std::string(name);
}

std::string sysv_key_file(std::string_view name) { return path(std::string(name) + ".key"); }

key_t sysv_key(std::string_view name) {
  const std::string file = sysv_key_file(name);
  // O_CREAT without O_EXCL: the same name gives the same key for every process that uses
  // it, as long as the file lives (ftok hashes the inode).
  Fd fd(
      check_unix(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600), "open(\"{}\")", file));
  const key_t key = ::ftok(file.c_str(), 'I');
  if (key == -1) throw_errno("ftok(\"{}\")", file);
  return key;
}

std::uint32_t rpc_program(std::string_view name) {
  std::uint32_t h = 2166136261U;  // 32-bit FNV-1a: stable across builds and machines
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619U;
  }
  return kRpcTransientFirst + h % (kRpcTransientLast - kRpcTransientFirst + 1);
}

std::uint32_t rpc_program() { return rpc_program(ns()); }

void set_ns(std::string_view value) {
  if (!value.empty() && !valid_ns(value))
    throw UsageError(fmt::format("namespace \"{}\": use 1-64 of [A-Za-z0-9_-]", value));
  std::lock_guard lock(g_mu);
  g_ns_override = value.empty() ? std::nullopt : std::optional<std::string>(value);
}

void set_rundir(std::string_view dir) {
  std::lock_guard lock(g_mu);
  g_rundir_override = dir.empty() ? std::nullopt : std::optional<std::string>(dir);
}

void record_mqueue(std::string_view full_name) {
  const std::string manifest = rundir() + "/.mqueues";
  if (auto known = recorded_mqueues(rundir());
      std::find(known.begin(), known.end(), full_name) != known.end())
    return;
  Fd fd(check_unix(::open(manifest.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600),
                   "open(\"{}\")", manifest));
  // One write with O_APPEND: concurrent recorders never interleave inside a line.
  write_full(fd.get(), std::string(full_name) + "\n");
}

std::vector<std::string> recorded_mqueues(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream in(dir + "/.mqueues");
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && std::find(out.begin(), out.end(), line) == out.end()) out.push_back(line);
  return out;
}

}  // namespace ipclab::names
