// POSIX shared memory and memory mappings.
//
// Traps worth knowing: a mapping outlives the descriptor that made it (close the fd
// freely), touching a page past the end of the object raises SIGBUS (size the object
// before use), and MAP_PRIVATE changes are never seen by other processes.
#pragma once

#include <sys/mman.h>   // PROT_*, MAP_*
#include <sys/types.h>  // off_t

#include <cstddef>      // std::size_t
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::exchange

#include "ipclab/fd.hpp"  // Fd

namespace ipclab {

/// An owned mmap(2) region; munmap in the destructor.
class Mapping {
 public:
  Mapping() = default;
  /// mmap(nullptr, size, prot, flags, fd, offset); throws SysError.
  Mapping(int fd, std::size_t size, int prot = PROT_READ | PROT_WRITE, int flags = MAP_SHARED,
          off_t offset = 0);
  /// An anonymous shared mapping (inherited across fork).
  static Mapping anonymous_shared(std::size_t size);
  Mapping(Mapping&& o) noexcept
      : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { reset(); }

  void* data() const { return addr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(addr_);
  }
  std::size_t size() const { return size_; }
  void reset() noexcept;
  /// msync(MS_SYNC) of the whole mapping.
  void sync();

 private:
  void* addr_ = nullptr;
  std::size_t size_ = 0;
};

/// A named POSIX shared-memory object (/dev/shm). Does not unlink on destruction: the
/// creator decides when the name goes (unlink()).
class PosixShm {
 public:
  /// Creates `name` (full POSIX name, from names::posix) exclusively, sized to `size`.
  static PosixShm create(const std::string& name, std::size_t size, int mode = 0600);
  /// Opens an existing object; its size is read with fstat.
  static PosixShm open(const std::string& name, bool read_only = false);
  /// shm_unlink; returns false if it did not exist.
  static bool unlink(const std::string& name);

  const std::string& name() const { return name_; }
  int fd() const { return fd_.get(); }
  std::size_t size() const { return size_; }
  /// ftruncate to a new size.
  void resize(std::size_t size);
  /// Maps the whole object shared, read-write (or read-only if opened so).
  Mapping map() const;

 private:
  PosixShm(std::string name, Fd fd, std::size_t size, bool ro)
      : name_(std::move(name)), fd_(std::move(fd)), size_(size), read_only_(ro) {}
  std::string name_;
  Fd fd_;
  std::size_t size_ = 0;
  bool read_only_ = false;
};

}  // namespace ipclab
