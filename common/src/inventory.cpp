#include "ipclab/inventory.hpp"

#include <dirent.h>     // opendir
#include <mqueue.h>     // mq_open, mq_unlink
#include <semaphore.h>  // sem_unlink
#include <sys/ipc.h>    // ftok, IPC_RMID
#include <sys/mman.h>   // shm_unlink
#include <sys/mount.h>  // mount, umount2
#include <sys/msg.h>    // msgctl
#include <sys/sem.h>    // semctl
#include <sys/shm.h>    // shmctl
#include <sys/stat.h>   // lstat
#include <sys/vfs.h>    // statfs
#include <unistd.h>     // geteuid, rmdir, unlink

#include <algorithm>  // std::sort, std::find
#include <cerrno>     // errno
#include <cstring>    // strerrordesc_np
#include <fstream>    // std::ifstream
#include <optional>   // std::optional
#include <set>        // std::set
#include <sstream>    // std::istringstream
#include <utility>    // std::move

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"          // SysError
#include "ipclab/instance_lock.hpp"  // lock_file_owner, remove_stale_lock_file
#include "ipclab/names.hpp"          // names::*

namespace ipclab {
namespace {

constexpr long kMqueueMagic = 0x19800202;  // MQUEUE_MAGIC from linux/magic.h

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

bool is_mqueue_mount(const std::string& dir) {
  struct statfs st {};
  return ::statfs(dir.c_str(), &st) == 0 && st.f_type == kMqueueMagic;
}

/// The queue names (without the leading slash) visible in this IPC namespace, or nullopt
/// when they cannot be listed (no mount, not root).
std::optional<std::vector<std::string>> list_mqueues() {
  if (is_mqueue_mount("/dev/mqueue")) return list_dir("/dev/mqueue");
  if (::geteuid() != 0) return std::nullopt;
  // Root can mount a private view of the same (IPC-namespace-wide) queue set.
  char tmpl[] = "/tmp/ipclab-mqueue.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return std::nullopt;
  std::optional<std::vector<std::string>> out;
  if (::mount("none", tmpl, "mqueue", 0, nullptr) == 0) {
    out = list_dir(tmpl);
    ::umount2(tmpl, MNT_DETACH);
  }
  ::rmdir(tmpl);
  return out;
}

/// (key, id) pairs from /proc/sysvipc/<kind>.
std::vector<std::pair<key_t, int>> sysv_table(const char* kind) {
  std::vector<std::pair<key_t, int>> out;
  std::ifstream in(std::string("/proc/sysvipc/") + kind);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    long long key = 0;
    int id = -1;
    if (fields >> key >> id) out.emplace_back(static_cast<key_t>(key), id);
  }
  return out;
}

}  // namespace

const char* kind_name(IpcObject::Kind kind) {
  switch (kind) {
    case IpcObject::Kind::kShm:
      return "shm";
    case IpcObject::Kind::kSem:
      return "sem";
    case IpcObject::Kind::kMqueue:
      return "mqueue";
    case IpcObject::Kind::kSysvMsg:
      return "sysv-msg";
    case IpcObject::Kind::kSysvSem:
      return "sysv-sem";
    case IpcObject::Kind::kSysvShm:
      return "sysv-shm";
    case IpcObject::Kind::kFifo:
      return "fifo";
    case IpcObject::Kind::kSocket:
      return "socket";
    case IpcObject::Kind::kLockFile:
      return "lock";
  }
  return "?";
}

std::string describe(const IpcObject& obj) {
  if (obj.live)
    return fmt::format("{} {} (held by {})", kind_name(obj.kind), obj.name,
                       obj.pid > 0 ? fmt::format("pid {}", obj.pid) : "a live process");
  return fmt::format("{} {}", kind_name(obj.kind), obj.name);
}

std::vector<IpcObject> inventory(const std::string& ns, const std::string& rundir,
                                 LockFiles lock_files) {
  using K = IpcObject::Kind;
  std::vector<IpcObject> out;
  const std::string stem = "ipclab." + ns + ".";

  for (const auto& n : list_dir("/dev/shm")) {
    if (starts_with(n, stem))
      out.push_back({K::kShm, "/" + n, -1, ns});
    else if (starts_with(n, "sem." + stem))
      out.push_back({K::kSem, "/" + n.substr(4), -1, ns});
  }

  if (auto queues = list_mqueues()) {
    for (const auto& n : *queues)
      if (starts_with(n, stem)) out.push_back({K::kMqueue, "/" + n, -1, ns});
  } else {
    // No way to list: probe the names the naming layer recorded.
    for (const auto& name : names::recorded_mqueues(rundir)) {
      const mqd_t q = ::mq_open(name.c_str(), O_RDONLY | O_NONBLOCK);
      if (q != static_cast<mqd_t>(-1)) {
        ::mq_close(q);
        out.push_back({K::kMqueue, name, -1, ns});
      }
    }
  }

  std::set<key_t> keys;
  const auto entries = list_dir(rundir);
  for (const auto& n : entries) {
    std::string p = rundir;
    p += '/';
    p += n;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) continue;
    if (S_ISFIFO(st.st_mode))
      out.push_back({K::kFifo, p, -1, ns});
    else if (S_ISSOCK(st.st_mode))
      out.push_back({K::kSocket, p, -1, ns});
    else if (S_ISREG(st.st_mode) && n.ends_with(".key")) {
      const key_t k = ::ftok(p.c_str(), 'I');
      if (k != -1) keys.insert(k);
    } else if (S_ISREG(st.st_mode) && n.ends_with(".lock") && lock_files == LockFiles::kList) {
      IpcObject obj{K::kLockFile, p, -1, ns};
      try {
        if (const auto owner = lock_file_owner(p)) {
          obj.live = true;
          obj.pid = *owner;
        }
      } catch (const SysError&) {
        // Cannot open it to ask: listed as a leftover; removing it will say why it fails.
      }
      out.push_back(std::move(obj));
    }
  }
  if (!keys.empty()) {
    const std::pair<const char*, K> tables[] = {
        {"msg", K::kSysvMsg}, {"sem", K::kSysvSem}, {"shm", K::kSysvShm}};
    for (const auto& [table, kind] : tables)
      for (const auto& [key, id] : sysv_table(table))
        if (keys.count(key))
          out.push_back(
              {kind, fmt::format("key 0x{:08x} id {}", static_cast<unsigned>(key), id), id, ns});
  }
  return out;
}

std::vector<std::string> known_namespaces() {
  std::set<std::string> found;
  for (const auto& n : list_dir(names::rundir_base()))
    if (names::valid_ns(n)) found.insert(n);
  auto from_prefixed = [&](const std::string& n, const std::string& lead) {
    if (!starts_with(n, lead)) return;
    const std::string rest = n.substr(lead.size());
    const auto dot = rest.find('.');
    if (dot != std::string::npos && names::valid_ns(rest.substr(0, dot)))
      found.insert(rest.substr(0, dot));
  };
  for (const auto& n : list_dir("/dev/shm")) {
    from_prefixed(n, "ipclab.");
    from_prefixed(n, "sem.ipclab.");
  }
  if (auto queues = list_mqueues())
    for (const auto& n : *queues) from_prefixed(n, "ipclab.");
  return {found.begin(), found.end()};
}

bool remove_object(const IpcObject& obj, std::string* why) {
  using K = IpcObject::Kind;
  int rc = 0;
  switch (obj.kind) {
    case K::kShm:
      rc = ::shm_unlink(obj.name.c_str());
      break;
    case K::kSem:
      rc = ::sem_unlink(obj.name.c_str());
      break;
    case K::kMqueue:
      rc = ::mq_unlink(obj.name.c_str());
      break;
    case K::kSysvMsg:
      rc = ::msgctl(obj.id, IPC_RMID, nullptr);
      break;
    case K::kSysvSem:
      rc = ::semctl(obj.id, 0, IPC_RMID);
      break;
    case K::kSysvShm:
      rc = ::shmctl(obj.id, IPC_RMID, nullptr);
      break;
    case K::kFifo:
    case K::kSocket:
      rc = ::unlink(obj.name.c_str());
      break;
    case K::kLockFile:
      return remove_stale_lock_file(obj.name, why);
  }
  if (rc == 0 || errno == ENOENT || errno == EINVAL || errno == EIDRM) return true;
  if (why != nullptr) *why = ::strerrordesc_np(errno);  // thread-safe, unlike strerror
  return false;
}

}  // namespace ipclab
