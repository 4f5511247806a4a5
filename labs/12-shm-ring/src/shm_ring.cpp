// Lab 12 reference: a ring of variable-size messages in POSIX shared memory.
//
// The layout (one shm object, /ipclab.<ns>.<name>): a 4 KiB header page, then the data
// area of `capacity` bytes. Indices are byte counts that only grow (u64: they never wrap
// in practice); a position in the area is `index & (capacity - 1)`.
//
//   line 0  magic, capacity                    written once by create(), then read-only
//   line 1  head (its top bit: closed)         the producer writes; consumers read
//   line 2  data_seq, data_waiters             consumers that sleep for data register here
//   line 3  tail                               consumers publish; the producer reads
//   line 4  space_seq, space_waiters           the producer sleeps here for room
//   line 5  lock, next_read, cached_head, ...  the consumers' own state, under their lock
//
// A record is an 8-byte header (the message length) and the message, padded to 8 bytes.
// A record never wraps: when it does not fit before the end of the area, the producer
// writes a pad header (kPad) there and starts again at offset 0. close() sets head's top bit
// (kClosed; an index never reaches it) with the final head, so one acquire load of head tells
// a consumer both where the data ends and whether more will come. Invariants:
//   tail <= next_read <= head <= tail + capacity, and [tail, head) is the unread data;
//   the producer writes only in [head, tail + capacity), consumers read only [next_read, head).
//
// Why it is fast (docs/benchmarking.md, README "Transfers per message"): count the cache
// lines that move between the cores per message. The message's own lines must (17 for 1 KiB);
// every other transfer, and every wait for one, is overhead. Each side keeps a cached copy of
// the other's index and reads the shared one only when the cached one says "full" or "empty",
// so a consumer that is behind takes every committed record before it looks at head again,
// and fetches the lines of the records ahead while it verifies one (prefetch). Consumers
// publish `tail` in batches (a quarter of the ring, or when they have caught up), so the
// producer's line is not bounced for every message. Each side spins briefly before it
// sleeps (a wake-up across cores costs ~60 us here), and wakes the other side only when that
// side has registered as a sleeper (a waiter count next to the futex word).
//
// Sleeping without a lost wake-up: both sides read-modify-write the waiter count, and the
// handshake needs only acquire/release on that one word (no fence, no seq_cst):
//   sleeper: waiters.fetch_add(1, acquire)
//            loop { old = seq.load(acquire); re-check the index; futex_wait(seq, old) }
//            waiters -= 1
//   waker:   store the index (release); if waiters.fetch_add(0, release) > 0 { seq += 1
//            (release); futex_wake(seq) }
// Every write of a waiter count is a read-modify-write, and read-modify-writes of one atomic
// are totally ordered (its modification order), each reading the value just before its own.
// If the waker's RMW comes first, the sleeper's RMW reads a value of the release sequence it
// heads (every later write is an RMW, [intro.races]/5), so the waker's RMW synchronizes with
// the sleeper's registration: the index store happens before the re-check, which sees it. If
// the sleeper's comes first, the waker's RMW reads a count that includes it and wakes: it
// bumps seq, so a futex_wait that has not started yet returns at once (and a sleeper whose
// load of seq already sees the bump sees the index too: the bump is a release). A plain load
// of the count would not do: it may read a value older than the registration, as the
// registration's load of the index may read one older than the store (the store-buffering
// case, which only seq_cst fences forbid). On x86-64 both RMWs are one locked instruction
// whatever their order.
// The consumers wake the producer that way, and close() does. commit(), the producer's hot
// path, only loads the count: the RMW, like a fence, waits until every store of the message
// has reached the other core, one cross-core round trip per message. Without it, its look at
// the waiter count may run before its head store is visible and miss a consumer that
// registers at that moment, so a consumer's first sleep is a nap (kNap) after which it looks
// again: by then the store, made before that look at the waiter count, is visible, and any
// later commit sees the registration. A committed message is thus seen within kNap in the
// worst case, even if the producer commits nothing more.
#include "lab12/shm_ring.hpp"

#include <sched.h>  // sched_yield

#include <algorithm>  // std::min
#include <atomic>     // std::atomic
#include <bit>        // std::has_single_bit
#include <cstring>    // std::memcpy
#include <new>        // placement new
#include <stdexcept>  // std::logic_error
#include <thread>     // std::this_thread::sleep_for
#include <utility>    // std::exchange

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // UsageError, OperationFailed, SysError
#include "ipclab/names.hpp"  // names::posix
#include "lab12/futex.hpp"   // futex_wait, futex_wake, cpu_relax

namespace ipclab::lab12 {

inline constexpr std::size_t kLine = 64;          // x86-64 and most arm64 cache lines
inline constexpr std::size_t kHeaderPage = 4096;  // the data area starts page-aligned
inline constexpr std::uint64_t kMagic = 0x3231'676e'6952'6d68ULL;  // "hmRing12"
inline constexpr std::uint64_t kPad = ~std::uint64_t{0};           // record header: skip to the end
inline constexpr std::uint64_t kClosed = std::uint64_t{1} << 63;   // head's bit: no more records
inline constexpr std::int64_t kSpinNs = 50'000;  // spin this long before sleeping (< a wake-up)
inline constexpr int kPauseSpins = 128;          // then yield the CPU between looks
inline constexpr auto kNap = std::chrono::milliseconds(1);  // a consumer's first sleep
inline constexpr std::uint64_t kReadAhead = 16384;  // the consumer's prefetch distance (bytes)

// The padding is the point: each group of fields has a cache line of its own.
// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding)
struct RingShared {
  // Written once by create() before magic is published; read-only afterwards.
  std::atomic<std::uint64_t> magic;
  std::uint64_t capacity;

  // own cache line: the producer writes it, consumers read it
  alignas(kLine) std::atomic<std::uint64_t> head;  // committed records end here; | kClosed

  // own cache line: written only by a consumer going to sleep (rare), read by the producer
  alignas(kLine) std::atomic<std::uint32_t> data_seq;  // futex word: bumped to wake
  std::atomic<std::uint32_t> data_waiters;

  // own cache line: consumers publish it, the producer reads it when its cache says full
  alignas(kLine) std::atomic<std::uint64_t> tail;  // records before it are free

  // own cache line: the producer registers here to sleep; consumers look (RMW) as they publish
  alignas(kLine) std::atomic<std::uint32_t> space_seq;
  std::atomic<std::uint32_t> space_waiters;

  // own cache line: the consumers' working state; plain fields are guarded by `lock`
  alignas(kLine) std::atomic<std::uint32_t> lock;  // 0 free, 1 held, 2 held + waiters
  std::uint64_t next_read;                         // the next record to take
  std::uint64_t cached_head;                       // head, last seen by a consumer
  std::uint64_t tail_published;                    // the last value stored into tail
};

static_assert(sizeof(RingShared) <= kHeaderPage, "the header must fit its page");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "atomics in shared memory must be lock-free (address-free)");
static_assert(alignof(RingShared) == kLine, "the hot fields must start on cache lines");

namespace {

std::uint64_t record_size(std::uint64_t len) { return 8 + ((len + 7) & ~std::uint64_t{7}); }

std::uint64_t load_word(const std::byte* p) {
  std::uint64_t w = 0;
  std::memcpy(&w, p, sizeof w);
  return w;
}
void store_word(std::byte* p, std::uint64_t w) { std::memcpy(p, &w, sizeof w); }

/// Spins up to kSpinNs or the deadline, until ready() holds: first with cpu_relax (the
/// other side is running on another core and about to answer), then yielding the CPU (on
/// a busy machine the other side may be waiting for *this* core).
template <typename Pred>
bool spin_until(Pred ready, const Deadline& deadline) {
  const std::int64_t start = now_ns();
  for (int i = 1;; ++i) {
    if (ready()) return true;
    if (i < kPauseSpins) {
      cpu_relax();
      continue;
    }
    if ((i & 7) == 0) {
      const std::int64_t now = now_ns();
      if (now - start > kSpinNs || deadline.expired()) return ready();
    }
    sched_yield();
  }
}

/// The sleeping half of the wait protocol (see the file comment). ready() is re-checked
/// after registering; returns ready() once it holds or the deadline has passed. A caller
/// whose deadline has already passed (a non-blocking try) neither registers nor sleeps:
/// registering would make the other side pay a futex_wake system call for nothing.
/// `nap`: the first sleep lasts at most this long (for a waker that skips the RMW). The
/// registration lasts the whole wait, so only its start can race with such a waker.
template <typename Pred>
bool sleep_until(std::atomic<std::uint32_t>& seq, std::atomic<std::uint32_t>& waiters, Pred ready,
                 const Deadline& deadline, Clock::duration nap = Clock::duration::zero()) {
  if (deadline.expired()) return ready();
  // an RMW that acquires: a waker's RMW before it in the count's order synchronizes with it
  waiters.fetch_add(1, std::memory_order_acquire);
  for (;;) {
    // acquire: a sleeper that reads a waker's bump reads the index it published, too
    const std::uint32_t old = seq.load(std::memory_order_acquire);
    const bool ok = ready();
    if (ok || deadline.expired()) {
      waiters.fetch_sub(1, std::memory_order_relaxed);
      return ok;
    }
    const bool napping = nap > Clock::duration::zero() && nap < deadline.remaining();
    (void)futex_wait(seq, old,
                     napping ? Deadline(std::exchange(nap, Clock::duration::zero())) : deadline);
  }
}

/// Wakes the sleepers on `seq`: a new value, so a futex_wait that has not started returns.
void wake(std::atomic<std::uint32_t>& seq) {
  seq.fetch_add(1, std::memory_order_release);
  futex_wake(seq);
}

/// The waking half: call after storing the index the sleeper waits for. The count is read
/// with an RMW that releases (the file comment): a plain load could miss a registration.
void wake_if_sleeping(std::atomic<std::uint32_t>& seq, std::atomic<std::uint32_t>& waiters) {
  if (waiters.fetch_add(0, std::memory_order_release) != 0) wake(seq);
}

/// Reads ahead for the consumer: asks for the lines of the committed records in
/// [from, to) to be fetched now, while it verifies the one before them.
void prefetch(const std::byte* data, std::uint64_t capacity, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t i = from & ~std::uint64_t{kLine - 1}; i < to; i += kLine)
    __builtin_prefetch(data + (i & (capacity - 1)), 0, 3);
}

// The consumers' lock word (Drepper, "Futexes Are Tricky", mutex 2): each state named once,
// so that every use agrees on it.
inline constexpr std::uint32_t kUnlocked = 0;
inline constexpr std::uint32_t kLocked = 1;     // held, nobody sleeps on it
inline constexpr std::uint32_t kContended = 2;  // held, and someone may sleep on it

/// Takes the consumers' lock. False at the deadline.
bool lock_consumers(std::atomic<std::uint32_t>& lock, const Deadline& deadline) {
  std::uint32_t expected = kUnlocked;
  if (lock.compare_exchange_strong(expected, kLocked, std::memory_order_acquire)) return true;
  if (spin_until(
          [&] {
            expected = kUnlocked;
            return lock.load(std::memory_order_relaxed) == kUnlocked &&
                   lock.compare_exchange_strong(expected, kLocked, std::memory_order_acquire);
          },
          deadline))
    return true;
  while (lock.exchange(kContended, std::memory_order_acquire) != kUnlocked) {
    if (futex_wait(lock, kContended, deadline) == WaitResult::kTimeout || deadline.expired()) {
      expected = kUnlocked;  // a last try; taken, it is marked contended, as in the loop
      return lock.compare_exchange_strong(expected, kContended, std::memory_order_acquire);
    }
  }
  return true;
}

void unlock_consumers(std::atomic<std::uint32_t>& lock) {
  if (lock.exchange(kUnlocked, std::memory_order_release) == kContended) futex_wake(lock, 1);
}

std::string shm_name(std::string_view name) { return names::posix(name); }

}  // namespace

bool valid_capacity(std::size_t capacity) {
  return std::has_single_bit(capacity) && capacity >= kMinCapacity && capacity <= kMaxCapacity;
}

ShmRing ShmRing::create(std::string_view name, std::size_t capacity) {
  if (!valid_capacity(capacity))
    throw UsageError(fmt::format("ring capacity {} must be a power of two from {} to {} bytes",
                                 capacity, kMinCapacity, kMaxCapacity));
  PosixShm shm = PosixShm::create(shm_name(name), kHeaderPage + capacity);
  ShmRing ring;
  try {
    ring.map_ = shm.map();
  } catch (...) {
    PosixShm::unlink(shm_name(name));  // the object exists: a failed mmap must not leak it
    throw;
  }
  auto* s = new (ring.map_.data()) RingShared{};  // ftruncate zeroed it; construct the atomics
  s->capacity = capacity;
  s->magic.store(kMagic, std::memory_order_release);  // pairs with the acquire in open()
  ring.shared_ = s;
  ring.data_ = ring.map_.as<std::byte>() + kHeaderPage;
  ring.capacity_ = capacity;
  return ring;
}

ShmRing ShmRing::open(std::string_view name, const Deadline& deadline) {
  const std::string full = shm_name(name);
  for (;;) {
    try {
      PosixShm shm = PosixShm::open(full);
      if (shm.size() > kHeaderPage) {
        ShmRing ring;
        ring.map_ = shm.map();
        auto* s = ring.map_.as<RingShared>();
        if (s->magic.load(std::memory_order_acquire) == kMagic &&
            s->capacity + kHeaderPage == shm.size()) {
          ring.shared_ = s;
          ring.data_ = ring.map_.as<std::byte>() + kHeaderPage;
          ring.capacity_ = s->capacity;
          return ring;
        }
      }
    } catch (const SysError& e) {
      if (e.err() != ENOENT) throw;
    }
    // Not there yet, or its creator is still initializing it: look again soon. Sleeping
    // between looks keeps a consumer that started first at ~0 CPU.
    if (deadline.expired())
      throw OperationFailed(fmt::format("ring {} did not appear before the deadline", full));
    std::this_thread::sleep_for(std::min<Clock::duration>(10ms, deadline.remaining()));
  }
}

bool ShmRing::remove(std::string_view name) { return PosixShm::unlink(shm_name(name)); }

void ShmRing::reset() noexcept {
  if (shared_ != nullptr && holding_) {  // a peek never released: let the others go on
    try {
      unlock_consumers(shared_->lock);
    } catch (...) {  // futex_wake cannot fail on a valid mapping; a destructor never throws
    }
  }
  holding_ = false;
  shared_ = nullptr;
  data_ = nullptr;
  map_.reset();
}

// ---- producer ---------------------------------------------------------------------------

std::optional<std::span<std::byte>> ShmRing::reserve(std::size_t size, const Deadline& deadline) {
  if (reserved_size_ != 0) throw std::logic_error("reserve: the last reservation is not committed");
  const std::uint64_t head = shared_->head.load(std::memory_order_relaxed);  // ours alone
  if ((head & kClosed) != 0) throw std::logic_error("reserve: the ring is closed");
  if (size > max_message())
    throw UsageError(
        fmt::format("message of {} bytes: this ring takes at most {}", size, max_message()));
  const std::uint64_t rec = record_size(size);
  const std::uint64_t off = head & (capacity_ - 1);
  const std::uint64_t pad = capacity_ - off < rec ? capacity_ - off : 0;  // skip the end?
  const std::uint64_t need_end = head + pad + rec;  // room up to here must be free

  auto room = [&] { return need_end - cached_tail_ <= capacity_; };
  auto refresh = [&] {
    // pairs with the release store of tail: the consumers are done with those bytes
    cached_tail_ = shared_->tail.load(std::memory_order_acquire);
    return room();
  };
  if (!room() && !refresh() && !spin_until(refresh, deadline) &&
      !sleep_until(shared_->space_seq, shared_->space_waiters, refresh, deadline))
    return std::nullopt;

  if (pad != 0) store_word(data_ + off, kPad);
  reserved_at_ = head + pad;
  reserved_size_ = rec;
  std::byte* at = data_ + (reserved_at_ & (capacity_ - 1));
  store_word(at, size);
  return std::span<std::byte>(at + 8, size);
}

void ShmRing::commit() {
  if (reserved_size_ == 0) throw std::logic_error("commit: nothing reserved");
  // pairs with the consumers' acquire load of head: the record's bytes are visible first
  shared_->head.store(reserved_at_ + std::exchange(reserved_size_, 0), std::memory_order_release);
  // No RMW here (the file comment): a consumer registering as this store is made naps first.
  if (shared_->data_waiters.load(std::memory_order_relaxed) != 0) wake(shared_->data_seq);
}

void ShmRing::close() {
  if (reserved_size_ != 0) throw std::logic_error("close: a reservation is not committed");
  // the final head with the closed bit, released as every head is (a consumer that sees the
  // bit has the last record's bytes too); ours alone, so a load and a store suffice
  shared_->head.store(shared_->head.load(std::memory_order_relaxed) | kClosed,
                      std::memory_order_release);
  wake_if_sleeping(shared_->data_seq, shared_->data_waiters);
}

bool ShmRing::wait_drained(const Deadline& deadline) {
  const std::uint64_t head = shared_->head.load(std::memory_order_relaxed) & ~kClosed;
  auto drained = [&] {
    cached_tail_ = shared_->tail.load(std::memory_order_acquire);
    return cached_tail_ == head;
  };
  return drained() || spin_until(drained, deadline) ||
         sleep_until(shared_->space_seq, shared_->space_waiters, drained, deadline);
}

// ---- consumers --------------------------------------------------------------------------

ShmRing::Status ShmRing::peek(std::span<const std::byte>& msg, const Deadline& deadline) {
  if (holding_) throw std::logic_error("peek: the last message is not released");
  RingShared& s = *shared_;
  if (!lock_consumers(s.lock, deadline)) return Status::kTimeout;
  for (;;) {
    if (s.next_read == s.cached_head) {
      // Out of known records: look at head (acquire: pairs with commit's release store).
      auto arrived = [&] {
        const std::uint64_t head = s.head.load(std::memory_order_acquire);
        s.cached_head = head & ~kClosed;
        return s.cached_head != s.next_read || (head & kClosed) != 0;
      };
      // Caught up. All the room is handed back already (release() published tail when
      // next_read reached cached_head), so the producer never waits for room we hold.
      if (!arrived()) {
        if (!spin_until(arrived, deadline) &&
            !sleep_until(s.data_seq, s.data_waiters, arrived, deadline, kNap)) {
          unlock_consumers(s.lock);
          return Status::kTimeout;
        }
      }
      if (s.cached_head == s.next_read) {  // closed, and the head that came with it is final
        unlock_consumers(s.lock);
        return Status::kClosed;
      }
    }
    const std::uint64_t off = s.next_read & (capacity_ - 1);
    const std::uint64_t len = load_word(data_ + off);
    if (len == kPad) {  // the producer skipped the end of the area: go on at offset 0
      s.next_read += capacity_ - off;
      continue;
    }
    msg = std::span<const std::byte>(data_ + off + 8, len);
    // The lines kReadAhead further on, if committed: fetched while this one is verified.
    const std::uint64_t ahead = s.next_read + kReadAhead;
    prefetch(data_, capacity_, ahead, std::min(ahead + 8 + len, s.cached_head));
    holding_ = true;
    return Status::kMessage;
  }
}

void ShmRing::release() {
  if (!holding_) throw std::logic_error("release: no message taken");
  RingShared& s = *shared_;
  s.next_read += record_size(load_word(data_ + (s.next_read & (capacity_ - 1))));
  // Publish tail in batches: a quarter of the ring, or everything once caught up with what
  // it knows of head (then nobody else would publish it: the producer may be waiting to
  // drain). Not a look at head: that line is the producer's, and peek() reads it anyway.
  if (s.next_read - s.tail_published >= capacity_ / 4 || s.next_read == s.cached_head) {
    // pairs with the producer's acquire load: our reads of these bytes are done
    s.tail.store(s.next_read, std::memory_order_release);
    s.tail_published = s.next_read;
    wake_if_sleeping(s.space_seq, s.space_waiters);
  }
  holding_ = false;
  unlock_consumers(s.lock);
}

}  // namespace ipclab::lab12
