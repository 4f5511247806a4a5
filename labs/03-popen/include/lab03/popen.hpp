// Lab 03 (given): Popen, an RAII owner of one mypopen() stream. Read it as the C++ way to
// hold a C resource: one owner, move-only, the destructor releases and never throws, and
// an explicit close() that reports what the destructor has to swallow.
//
//   ipclab::lab03::Popen ls("ls -- /tmp", "r");
//   std::string listing = ls.read_all();
//   ipclab::WaitStatus st = ls.close();        // mypclose: waits for the shell
//   if (st.exited() && st.exit_code() == 0) ...
#pragma once

#include <cerrno>       // errno
#include <cstdio>       // FILE, fread, fwrite, ferror
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <utility>      // std::exchange

#include "ipclab/error.hpp"    // throw_errno, throw_error
#include "ipclab/process.hpp"  // WaitStatus
#include "lab03/mypopen.hpp"

namespace ipclab::lab03 {

class Popen {
 public:
  /// Starts `/bin/sh -c command` with mypopen(command, mode).
  /// @throws ipclab::SysError with mypopen's errno (EINVAL for a bad mode).
  Popen(std::string command, const char* mode)
      : command_(std::move(command)), stream_(mypopen(command_.c_str(), mode)) {
    if (stream_ == nullptr)
      throw_errno("mypopen(\"{}\", \"{}\")", command_, mode != nullptr ? mode : "(null)");
  }
  Popen(Popen&& other) noexcept
      : command_(std::move(other.command_)), stream_(std::exchange(other.stream_, nullptr)) {}
  Popen& operator=(Popen&& other) noexcept {
    if (this != &other) {
      discard();
      command_ = std::move(other.command_);
      stream_ = std::exchange(other.stream_, nullptr);
    }
    return *this;
  }
  Popen(const Popen&) = delete;
  Popen& operator=(const Popen&) = delete;
  /// Closes and waits for the child if close() was not called; the status is dropped.
  ~Popen() { discard(); }

  /// The stream (nullptr once closed or moved from).
  FILE* get() const noexcept { return stream_; }
  const std::string& command() const noexcept { return command_; }

  /// Reads the child's output up to end of file ("r" mode).
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      const std::size_t n = std::fread(buf, 1, sizeof buf, stream());
      out.append(buf, n);
      if (n < sizeof buf) break;
    }
    if (std::ferror(stream_) != 0) throw_errno("reading from \"{}\"", command_);
    return out;
  }

  /// Writes all of `data` to the child's stdin ("w" mode) and flushes it.
  void write(std::string_view data) {
    if (std::fwrite(data.data(), 1, data.size(), stream()) != data.size() ||
        std::fflush(stream_) != 0)
      throw_errno("writing to \"{}\"", command_);
  }

  /// mypclose(): closes the stream and waits for the child; returns its status.
  /// @throws ipclab::SysError if mypclose fails (ECHILD).
  WaitStatus close() {
    const int status = mypclose(stream());
    stream_ = nullptr;  // closed even when the wait failed
    if (status < 0) throw_errno("mypclose(\"{}\")", command_);
    return WaitStatus(status);
  }

 private:
  FILE* stream() const {
    if (stream_ == nullptr) throw_error(EBADF, "Popen \"{}\": already closed", command_);
    return stream_;
  }
  void discard() noexcept {
    if (stream_ == nullptr) return;
    try {
      (void)mypclose(std::exchange(stream_, nullptr));
    } catch (...) {  // a destructor never throws (the skeleton's NotImplemented included)
    }
  }

  std::string command_;
  FILE* stream_ = nullptr;
};

}  // namespace ipclab::lab03
