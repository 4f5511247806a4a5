// POSIX named semaphores.
#pragma once

#include <semaphore.h>  // sem_t

#include <string>   // std::string
#include <utility>  // std::exchange

#include "ipclab/clock.hpp"  // Deadline

namespace ipclab {

/// A named POSIX semaphore (/dev/shm/sem.*). Closed on destruction, never unlinked: the
/// creator unlinks the name when the object should go.
class NamedSemaphore {
 public:
  /// Creates `name` exclusively with an initial value.
  static NamedSemaphore create(const std::string& name, unsigned value, int mode = 0600);
  /// Opens an existing semaphore.
  static NamedSemaphore open(const std::string& name);
  /// sem_unlink; returns false if it did not exist.
  static bool unlink(const std::string& name);

  NamedSemaphore(NamedSemaphore&& o) noexcept
      : name_(std::move(o.name_)), sem_(std::exchange(o.sem_, nullptr)) {}
  NamedSemaphore& operator=(NamedSemaphore&& o) noexcept;
  NamedSemaphore(const NamedSemaphore&) = delete;
  NamedSemaphore& operator=(const NamedSemaphore&) = delete;
  ~NamedSemaphore();

  /// sem_wait, retrying EINTR.
  void wait();
  /// sem_timedwait until the deadline; false on timeout.
  bool wait(const Deadline& deadline);
  /// sem_trywait; false if the value was zero.
  bool try_wait();
  void post();
  int value() const;
  const std::string& name() const { return name_; }
  sem_t* native() const { return sem_; }

 private:
  NamedSemaphore(std::string name, sem_t* sem) : name_(std::move(name)), sem_(sem) {}
  std::string name_;
  sem_t* sem_ = nullptr;
};

}  // namespace ipclab
