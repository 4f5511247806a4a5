// Lab 20 reference: the shm backend's SPSC rings of frames (see ring.hpp).
//
// Memory order: the producer writes a record's bytes, then stores head with release; the
// consumer loads head with acquire before it reads them (README §Pitfalls 1). The consumer
// stores tail with release after it copied the record out; the producer loads it with
// acquire before it overwrites that room. Neither trusts the other's numbers: a length
// that cannot be is a ProtocolError, never a read past the mapping (§Pitfalls 8).
#include "lab20/ring.hpp"

#include <sys/mman.h>  // PROT_*, MAP_SHARED
#include <sys/stat.h>  // fstat

#include <cstring>  // std::memcpy
#include <new>      // placement new

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // UsageError, check_unix
#include "lab20/frame.hpp"   // ProtocolError

namespace ipclab::lab20 {
namespace {

constexpr std::size_t kHeaderPage = kRingHeaderPage;
constexpr std::uint32_t kPadRecord = 0xffff'ffffU;

struct SharedHeader {
  std::uint64_t magic;
  std::uint64_t capacity;
  RingControl up;
  RingControl down;
};
static_assert(sizeof(SharedHeader) <= kHeaderPage, "the header must fit its page");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "atomics in shm must be lock-free");

std::uint64_t record_size(std::size_t len) { return 8 + ((len + 7) & ~std::uint64_t{7}); }

std::uint32_t load_len(const std::byte* p) {
  std::uint32_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void store_header(std::byte* p, std::uint32_t len) {
  const std::uint64_t w = len;  // length, then 4 zero bytes
  std::memcpy(p, &w, sizeof w);
}

}  // namespace

bool Ring::try_push(std::string_view msg) {
  if (msg.size() > max_message())
    throw UsageError(fmt::format("a record of {} bytes (max {})", msg.size(), max_message()));
  const std::uint64_t rec = record_size(msg.size());
  std::uint64_t head = ctl_->head.load(std::memory_order_relaxed);  // only we write it
  const std::uint64_t pos = head & (capacity_ - 1);
  const std::uint64_t to_end = capacity_ - pos;
  const std::uint64_t need = rec <= to_end ? rec : rec + to_end;
  if (head + need - cached_tail_ > capacity_) {
    cached_tail_ = ctl_->tail.load(std::memory_order_acquire);
    if (head + need - cached_tail_ > capacity_) return false;
  }
  if (rec > to_end) {  // the record would cross the end: pad to the start
    if (to_end >= 8) store_header(data_ + pos, kPadRecord);
    head += to_end;
  }
  std::byte* at = data_ + (head & (capacity_ - 1));
  store_header(at, static_cast<std::uint32_t>(msg.size()));
  if (!msg.empty()) std::memcpy(at + 8, msg.data(), msg.size());
  ctl_->head.store(head + rec, std::memory_order_release);
  return true;
}

bool Ring::try_pop(std::string& out) {
  std::uint64_t tail = ctl_->tail.load(std::memory_order_relaxed);  // only we write it
  if (tail == cached_head_) {
    cached_head_ = ctl_->head.load(std::memory_order_acquire);
    if (tail == cached_head_) return false;
  }
  if (cached_head_ - tail > capacity_) throw ProtocolError("ring: head is beyond the ring");
  std::uint64_t pos = tail & (capacity_ - 1);
  std::uint32_t len = capacity_ - pos >= 8 ? load_len(data_ + pos) : kPadRecord;
  if (len == kPadRecord) {
    tail += capacity_ - pos;
    pos = 0;
    if (tail >= cached_head_) throw ProtocolError("ring: a pad record at the head");
    len = load_len(data_);
  }
  const std::uint64_t rec = record_size(len);
  if (len > max_message() || pos + rec > capacity_ || tail + rec > cached_head_)
    throw ProtocolError(fmt::format("ring: an impossible record of {} bytes", len));
  out.assign(reinterpret_cast<const char*>(data_ + pos + 8), len);
  ctl_->tail.store(tail + rec, std::memory_order_release);
  return true;
}

bool Ring::empty() const {
  return ctl_->tail.load(std::memory_order_relaxed) == ctl_->head.load(std::memory_order_acquire);
}

// The sleep handshake: read-modify-writes of the flag on both sides, acquire/release on that
// one word (no fence, no seq_cst). The sleeper sets the flag with an RMW that acquires, then
// re-checks the ring; the waker, after it published its index (release), takes the flag with
// an RMW that releases. Only RMWs write a flag, and RMWs of one atomic are totally ordered,
// each reading the value just before its own. If the waker's exchange comes first, the
// sleeper's reads a value of the release sequence it heads ([intro.races]/5) and
// synchronizes with it: the index store happens before the re-check, which sees it. If the
// sleeper's comes first, the waker's exchange reads the 1 and wakes it (a wake-up byte stays
// in the socket until the sleeper polls). A plain load of the flag could read a value older
// than the registration, as the re-check could read an index older than the store (the
// store-buffering case, which only seq_cst fences forbid). The RMW writes the flag's line
// every time, but only the sleeping side ever writes it too: while nobody sleeps it stays in
// the waker's cache. On x86-64 an exchange is one locked instruction whatever its order.
void Ring::wait_for_data() { ctl_->consumer_waiting.exchange(1, std::memory_order_acquire); }

void Ring::wait_for_room() { ctl_->producer_waiting.exchange(1, std::memory_order_acquire); }

bool Ring::take_consumer_waiter() {
  return ctl_->consumer_waiting.exchange(0, std::memory_order_release) != 0;
}

bool Ring::take_producer_waiter() {
  return ctl_->producer_waiting.exchange(0, std::memory_order_release) != 0;
}

ShmChannel ShmChannel::create(const std::string& name) {
  PosixShm shm = PosixShm::create(name, size_for(kRingCapacity), 0600);
  ShmChannel ch;
  ch.map_ = shm.map();
  ch.fd_ = Fd(check_unix(::fcntl(shm.fd(), F_DUPFD_CLOEXEC, 3), "dup shm fd"));
  auto* h = new (ch.map_.data()) SharedHeader{};
  h->capacity = kRingCapacity;
  h->magic = kShmMagic;
  auto* base = ch.map_.as<std::byte>();
  ch.up_ = Ring(&h->up, base + kHeaderPage, kRingCapacity);
  ch.down_ = Ring(&h->down, base + kHeaderPage + kRingCapacity, kRingCapacity);
  return ch;
}

ShmChannel ShmChannel::attach(Fd fd) {
  struct stat st {};
  check_unix(::fstat(fd.get(), &st), "fstat(shm fd)");
  if (static_cast<std::size_t>(st.st_size) != size_for(kRingCapacity))
    throw ProtocolError(fmt::format("the hub's ring object has {} bytes, not {}", st.st_size,
                                    size_for(kRingCapacity)));
  ShmChannel ch;
  ch.map_ = Mapping(fd.get(), size_for(kRingCapacity));
  ch.fd_ = std::move(fd);
  auto* h = ch.map_.as<SharedHeader>();
  if (h->magic != kShmMagic || h->capacity != kRingCapacity)
    throw ProtocolError("the descriptor is not a hub ring object");
  auto* base = ch.map_.as<std::byte>();
  ch.up_ = Ring(&h->up, base + kHeaderPage, kRingCapacity);
  ch.down_ = Ring(&h->down, base + kHeaderPage + kRingCapacity, kRingCapacity);
  return ch;
}

}  // namespace ipclab::lab20
