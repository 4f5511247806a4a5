#include "ipclab/sem.hpp"

#include <fcntl.h>  // O_CREAT, O_EXCL

#include "ipclab/error.hpp"  // throw_errno, retry_eintr

namespace ipclab {

NamedSemaphore NamedSemaphore::create(const std::string& name, unsigned value, int mode) {
  sem_t* s = ::sem_open(name.c_str(), O_CREAT | O_EXCL, mode, value);
  if (s == SEM_FAILED) throw_errno("sem_open(\"{}\", O_CREAT|O_EXCL, {})", name, value);
  return NamedSemaphore(name, s);
}

NamedSemaphore NamedSemaphore::open(const std::string& name) {
  sem_t* s = ::sem_open(name.c_str(), 0);
  if (s == SEM_FAILED) throw_errno("sem_open(\"{}\")", name);
  return NamedSemaphore(name, s);
}

bool NamedSemaphore::unlink(const std::string& name) {
  if (::sem_unlink(name.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw_errno("sem_unlink(\"{}\")", name);
}

NamedSemaphore& NamedSemaphore::operator=(NamedSemaphore&& o) noexcept {
  if (this != &o) {
    if (sem_ != nullptr) ::sem_close(sem_);
    name_ = std::move(o.name_);
    sem_ = std::exchange(o.sem_, nullptr);
  }
  return *this;
}

NamedSemaphore::~NamedSemaphore() {
  if (sem_ != nullptr) ::sem_close(sem_);
}

void NamedSemaphore::wait() {
  if (retry_eintr(::sem_wait, sem_) < 0) throw_errno("sem_wait(\"{}\")", name_);
}

bool NamedSemaphore::wait(const Deadline& deadline) {
  for (;;) {
    const timespec abs = deadline.realtime_abs();  // recomputed after EINTR
    if (::sem_timedwait(sem_, &abs) == 0) return true;
    if (errno == ETIMEDOUT) return false;
    if (errno != EINTR) throw_errno("sem_timedwait(\"{}\")", name_);
  }
}

bool NamedSemaphore::try_wait() {
  if (retry_eintr(::sem_trywait, sem_) == 0) return true;
  if (errno == EAGAIN) return false;
  throw_errno("sem_trywait(\"{}\")", name_);
}

void NamedSemaphore::post() {
  if (::sem_post(sem_) < 0) throw_errno("sem_post(\"{}\")", name_);
}

int NamedSemaphore::value() const {
  int v = 0;
  if (::sem_getvalue(sem_, &v) < 0) throw_errno("sem_getvalue(\"{}\")", name_);
  return v;
}

}  // namespace ipclab
