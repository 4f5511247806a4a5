// Given: the shared-memory read cache of one node. A table of kSlots slots in POSIX shared
// memory, a key's slot chosen by its hash (a newer key evicts an older one), guarded by a
// named semaphore of value 1 used as a mutex between the node and its same-host clients.
// A cached read is a hash, a sem_wait, a memcpy and a sem_post: no RPC, no copy through
// the kernel.
#include <atomic>      // std::atomic_ref
#include <cstring>     // std::memcpy, std::memcmp
#include <functional>  // std::hash

#include <fmt/core.h>  // fmt::format

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/names.hpp"  // names::posix
#include "ipclab/sem.hpp"    // NamedSemaphore
#include "ipclab/shm.hpp"    // PosixShm, Mapping
#include "lab18/kv.hpp"

namespace ipclab::lab18 {
namespace {

constexpr std::uint32_t kMagic = 0x4b564331;  // "KVC1"
/// Nobody holds the lock longer than a memcpy; a holder that died with it (kill -9 in the
/// middle) would block everyone: after this, the cache is disabled rather than waited on.
constexpr auto kLockTimeout = std::chrono::milliseconds(200);

struct Slot {
  std::uint32_t used;  // 0: empty
  std::uint32_t present;
  std::uint64_t counter;
  std::uint32_t node;
  std::uint32_t key_len;
  std::uint32_t value_len;
  char key[ReadCache::kMaxKey];
  char value[ReadCache::kMaxValue];
};

struct Table {
  std::uint32_t magic;
  std::uint32_t disabled;  // set when the lock could not be had: clients go to RPC
  Slot slots[ReadCache::kSlots];
};

std::string shm_name(int port) { return names::posix(fmt::format("kv-cache.{}", port)); }
std::string sem_name(int port) { return names::posix(fmt::format("kv-cache.{}.lock", port)); }

std::size_t slot_of(const std::string& key) {
  return std::hash<std::string>{}(key) % ReadCache::kSlots;
}

}  // namespace

struct ReadCache::Impl {
  NamedSemaphore lock;
  Mapping map;
  Table* table() const { return map.as<Table>(); }
  bool disabled() const {
    return std::atomic_ref<std::uint32_t>(table()->disabled).load(std::memory_order_acquire) != 0;
  }
  /// Runs fn under the lock; false (and the cache disabled) if the lock was not had.
  template <typename Fn>
  bool locked(Fn fn) {
    if (disabled()) return false;
    if (!lock.wait(Deadline(kLockTimeout))) {
      std::atomic_ref<std::uint32_t>(table()->disabled).store(1, std::memory_order_release);
      return false;
    }
    fn(*table());
    lock.post();
    return true;
  }
};

ReadCache::ReadCache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ReadCache::~ReadCache() = default;

std::unique_ptr<ReadCache> ReadCache::create(int port) {
  remove(port);  // what a node killed with -9 on this port left
  auto shm = PosixShm::create(shm_name(port), sizeof(Table));
  auto impl = std::make_unique<Impl>(Impl{NamedSemaphore::create(sem_name(port), 1), shm.map()});
  impl->table()->magic = kMagic;
  return std::unique_ptr<ReadCache>(new ReadCache(std::move(impl)));
}

std::unique_ptr<ReadCache> ReadCache::open(int port) {
  try {
    auto shm = PosixShm::open(shm_name(port));
    if (shm.size() < sizeof(Table)) return nullptr;
    auto impl = std::make_unique<Impl>(Impl{NamedSemaphore::open(sem_name(port)), shm.map()});
    if (impl->table()->magic != kMagic) return nullptr;
    return std::unique_ptr<ReadCache>(new ReadCache(std::move(impl)));
  } catch (const std::exception&) {
    return nullptr;  // no cache for that port (another host, or the node is gone)
  }
}

bool ReadCache::remove(int port) {
  const bool a = PosixShm::unlink(shm_name(port));
  const bool b = NamedSemaphore::unlink(sem_name(port));
  return a || b;
}

std::optional<Entry> ReadCache::lookup(const std::string& key) {
  std::optional<Entry> out;
  if (key.size() > kMaxKey) return out;
  impl_->locked([&](Table& t) {
    const Slot& s = t.slots[slot_of(key)];
    if (s.used == 0 || s.key_len != key.size() || std::memcmp(s.key, key.data(), key.size()) != 0)
      return;
    Entry e;
    e.key = key;
    e.version = {s.counter, s.node};
    e.present = s.present != 0;
    e.value.assign(s.value, s.value_len);
    out = std::move(e);
  });
  return out;
}

void ReadCache::fill(const Entry& e, const Store& store) {
  if (e.key.size() > kMaxKey || e.value.size() > kMaxValue) return;
  impl_->locked([&](Table& t) {
    // Under the lock: a write this replica stored after the read began is newer, and its
    // invalidate() waits for the lock, so the older value must not go in now.
    if (e.version < store.get(e.key).version) return;
    Slot& s = t.slots[slot_of(e.key)];
    s.used = 1;
    s.present = e.present ? 1 : 0;
    s.counter = e.version.counter;
    s.node = e.version.node;
    s.key_len = static_cast<std::uint32_t>(e.key.size());
    std::memcpy(s.key, e.key.data(), e.key.size());
    s.value_len = static_cast<std::uint32_t>(e.value.size());
    std::memcpy(s.value, e.value.data(), e.value.size());
  });
}

void ReadCache::invalidate(const std::string& key) {
  impl_->locked([&](Table& t) {
    Slot& s = t.slots[slot_of(key)];
    if (s.key_len == key.size() && std::memcmp(s.key, key.data(), key.size()) == 0) s.used = 0;
  });
}

}  // namespace ipclab::lab18
