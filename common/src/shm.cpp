#include "ipclab/shm.hpp"

#include <fcntl.h>     // O_*
#include <sys/stat.h>  // fstat
#include <unistd.h>    // ftruncate

#include "ipclab/error.hpp"  // check_unix, throw_errno

namespace ipclab {

Mapping::Mapping(int fd, std::size_t size, int prot, int flags, off_t offset) : size_(size) {
  void* p = ::mmap(nullptr, size, prot, flags, fd, offset);
  if (p == MAP_FAILED) throw_errno("mmap({} bytes, fd {})", size, fd);
  addr_ = p;
}

Mapping Mapping::anonymous_shared(std::size_t size) {
  return Mapping(-1, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    reset();
    addr_ = std::exchange(o.addr_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

void Mapping::reset() noexcept {
  if (addr_ != nullptr) ::munmap(addr_, size_);
  addr_ = nullptr;
  size_ = 0;
}

void Mapping::sync() { check_unix(::msync(addr_, size_, MS_SYNC), "msync({} bytes)", size_); }

PosixShm PosixShm::create(const std::string& name, std::size_t size, int mode) {
  Fd fd(check_unix(::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode),
                   "shm_open(\"{}\", O_CREAT|O_EXCL)", name));
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0) {
    const int err = errno;
    ::shm_unlink(name.c_str());  // do not leave a zero-sized object behind
    throw_error(err, "ftruncate(\"{}\", {})", name, size);
  }
  return PosixShm(name, std::move(fd), size, false);
}

PosixShm PosixShm::open(const std::string& name, bool read_only) {
  Fd fd(check_unix(::shm_open(name.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0),
                   "shm_open(\"{}\")", name));
  struct stat st {};
  check_unix(::fstat(fd.get(), &st), "fstat(\"{}\")", name);
  return PosixShm(name, std::move(fd), static_cast<std::size_t>(st.st_size), read_only);
}

bool PosixShm::unlink(const std::string& name) {
  if (::shm_unlink(name.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw_errno("shm_unlink(\"{}\")", name);
}

void PosixShm::resize(std::size_t size) {
  check_unix(::ftruncate(fd_.get(), static_cast<off_t>(size)), "ftruncate(\"{}\", {})", name_,
             size);
  size_ = size;
}

Mapping PosixShm::map() const {
  return Mapping(fd_.get(), size_, read_only_ ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED);
}

}  // namespace ipclab
