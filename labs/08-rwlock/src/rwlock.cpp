// Lab 08: a reader-writer lock from one mutex and two condition variables (after Stevens,
// UNP2 8.4, with separate reader/writer counts), three policies.
//
// Why this shape: every decision ("may I enter?") reads several counts at once, so every
// count lives under the one mutex; a thread that may not enter sleeps on its condition
// variable and re-checks in a loop when woken (wake-ups may be spurious, and another thread
// may have taken the lock between the notify and the wake-up). Whoever changes the state
// in a way that could let a waiter in notifies it: a writer's release wakes *all* readers
// (they share), the last reader's release wakes *one* writer (only one can enter).
//
// Fair (phase-fair, Brandenburg & Anderson 2010): readers and writers alternate. A reader
// that finds a writer inside or waiting waits for the next read phase; when that writer
// releases it admits every waiting reader at once (counts them in active_readers_ and bumps
// read_phase_), so a writer that arrives later cannot slip in ahead of them, and a reader
// that arrives later waits behind the next writer. A writer waits for at most one read
// phase (plus the writers ahead of it); a reader for at most one write phase.
#include "lab08/rwlock.hpp"

namespace ipclab::lab08 {

namespace {

using std::chrono::steady_clock;

// Waits on cv until pred() holds; false if the deadline passed first (and pred() still
// fails). The loop is the point: a wake-up is a hint to look again, never a promise.
template <typename Pred>
bool wait_for_state(std::condition_variable& cv, std::unique_lock<std::mutex>& lk, bool forever,
                    steady_clock::time_point deadline, Pred pred) {
  while (!pred()) {
    if (forever) {
      cv.wait(lk);
    } else if (cv.wait_until(lk, deadline) == std::cv_status::timeout) {
      return pred();
    }
  }
  return true;
}

constexpr auto kForever = std::chrono::nanoseconds::max();

steady_clock::time_point deadline_after(std::chrono::nanoseconds timeout) {
  const auto now = steady_clock::now();
  if (timeout >= steady_clock::time_point::max() - now) return steady_clock::time_point::max();
  return now + timeout;
}

}  // namespace

void RwLock::lock_read() { (void)try_lock_read_for(kForever); }

void RwLock::lock_write() { (void)try_lock_write_for(kForever); }

bool RwLock::try_lock_read() {
  std::lock_guard lk(mutex_);
  const bool may =
      policy_ == Policy::reader ? !writer_active_ : !writer_active_ && waiting_writers_ == 0;
  if (may) ++active_readers_;
  return may;
}

bool RwLock::try_lock_write() {
  std::lock_guard lk(mutex_);
  if (writer_active_ || active_readers_ > 0) return false;
  writer_active_ = true;
  return true;
}

bool RwLock::try_lock_read_for(std::chrono::nanoseconds timeout) {
  const bool forever = timeout == kForever;
  const auto deadline = forever ? steady_clock::time_point{} : deadline_after(timeout);
  std::unique_lock lk(mutex_);
  test_yield_point();
  // Reader preference: only a writer inside stops a reader. Otherwise a waiting writer
  // stops it too (that is what bounds the writer's wait).
  auto may_enter = [this] {
    return policy_ == Policy::reader ? !writer_active_ : !writer_active_ && waiting_writers_ == 0;
  };
  if (!may_enter()) {
    ++waiting_readers_;
    if (policy_ == Policy::fair) {
      // Wait for the writer ahead to release: it counts us in (see unlock_write).
      const std::uint64_t phase = read_phase_;
      const bool admitted =
          wait_for_state(readers_cv_, lk, forever, deadline, [&] { return read_phase_ != phase; });
      if (!admitted) --waiting_readers_;  // gave up: leave no trace
      return admitted;
    }
    const bool got = wait_for_state(readers_cv_, lk, forever, deadline, may_enter);
    --waiting_readers_;
    if (!got) return false;
  }
  test_yield_point();
  ++active_readers_;
  return true;
}

bool RwLock::try_lock_write_for(std::chrono::nanoseconds timeout) {
  const bool forever = timeout == kForever;
  const auto deadline = forever ? steady_clock::time_point{} : deadline_after(timeout);
  std::unique_lock lk(mutex_);
  test_yield_point();
  auto may_enter = [this] { return !writer_active_ && active_readers_ == 0; };
  if (!may_enter()) {
    ++waiting_writers_;
    const bool got = wait_for_state(writers_cv_, lk, forever, deadline, may_enter);
    --waiting_writers_;
    if (!got) {
      // Giving up must not leave anyone blocked on our account. Readers held back only
      // because we waited may enter now (fair: as a batch, like a release would do). No
      // writer needs waking: may_enter() was false when we gave up, under the mutex we
      // still hold, so whoever holds the lock wakes the next writer when it releases.
      if (!writer_active_ && waiting_writers_ == 0 && waiting_readers_ > 0) {
        if (policy_ == Policy::fair) {
          active_readers_ += waiting_readers_;
          waiting_readers_ = 0;
          ++read_phase_;
        }
        readers_cv_.notify_all();
      }
      return false;
    }
  }
  test_yield_point();
  writer_active_ = true;
  return true;
}

void RwLock::unlock_read() {
  std::lock_guard lk(mutex_);
  test_yield_point();
  --active_readers_;
  // The last reader out lets one writer in (only one can enter).
  if (active_readers_ == 0 && waiting_writers_ > 0) writers_cv_.notify_one();
}

void RwLock::unlock_write() {
  std::lock_guard lk(mutex_);
  writer_active_ = false;
  test_yield_point();
  switch (policy_) {
    case Policy::fair:
      if (waiting_readers_ > 0) {
        // End of a write phase: every waiting reader enters now, before any writer.
        active_readers_ += waiting_readers_;
        waiting_readers_ = 0;
        ++read_phase_;
        readers_cv_.notify_all();  // all of them: each one is already counted in
      } else if (waiting_writers_ > 0) {
        writers_cv_.notify_one();
      }
      break;
    case Policy::writer:
      if (waiting_writers_ > 0) {
        writers_cv_.notify_one();
      } else if (waiting_readers_ > 0) {
        readers_cv_.notify_all();  // readers share: wake every one, not one
      }
      break;
    case Policy::reader:
      if (waiting_readers_ > 0) readers_cv_.notify_all();  // readers share: wake all
      // A writer too: if no reader takes the lock first, it may enter.
      if (waiting_writers_ > 0) writers_cv_.notify_one();
      break;
  }
}

}  // namespace ipclab::lab08
