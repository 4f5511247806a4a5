// Helpers shared by common/'s unit tests.
#pragma once

#include <chrono>        // std::chrono
#include <string>        // std::string
#include <system_error>  // std::error_code
#include <thread>        // std::this_thread::sleep_for

#include "ipclab/clock.hpp"  // Deadline
#include "ipclab/error.hpp"  // SysError

namespace ipclab::test {

/// Runs `call`; returns the error code of the SysError it throws (empty if none), and its
/// message in *what.
template <typename F>
std::error_code sys_error_of(F&& call, std::string* what = nullptr) {
  try {
    call();
  } catch (const SysError& e) {
    if (what != nullptr) *what = e.what();
    return e.code();
  }
  return {};
}

/// Polls `cond` every millisecond until it holds or `timeout` passes; true if it held.
template <typename F>
bool wait_until(F&& cond, Clock::duration timeout = std::chrono::seconds(10)) {
  const Deadline deadline(timeout);
  for (;;) {
    if (cond()) return true;
    if (deadline.expired()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace ipclab::test
