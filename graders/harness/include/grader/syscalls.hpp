// Making a system call fail on purpose, for graders whose tests must show what a program
// does where the kernel says no: a failed fork (lab 01), a kernel without close_range
// (lab 01) or without pidfd_open (lab 04). A seccomp filter, so the code under test runs
// unchanged; install it in a grader::Child, whose process (and what it executes) it binds.
#pragma once

#include <linux/audit.h>    // AUDIT_ARCH_*
#include <linux/filter.h>   // sock_filter, BPF_STMT
#include <linux/seccomp.h>  // SECCOMP_MODE_FILTER, seccomp_data
#include <sys/prctl.h>      // prctl
#include <sys/syscall.h>    // SYS_getppid
#include <unistd.h>         // _exit

#include <cerrno>            // ENOSYS
#include <cstddef>           // offsetof
#include <cstdint>           // std::uint32_t
#include <initializer_list>  // std::initializer_list
#include <vector>            // std::vector

#include "grader/grader.hpp"  // grader::Child

namespace grader {

/// A seccomp filter (made ready in advance: install() only calls prctl) under which the
/// given system calls fail with `err` in the calling thread, everything it forks and every
/// program they execute.
class SyscallDenial {
 public:
  SyscallDenial(std::initializer_list<long> nrs, int err) {
#if defined(__x86_64__)
    constexpr std::uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
    constexpr std::uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
#error "SyscallDenial: add this architecture's AUDIT_ARCH"
#endif
    const auto ret = [](std::uint32_t v) -> sock_filter { return BPF_STMT(BPF_RET | BPF_K, v); };
    filter_.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
    filter_.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0));
    filter_.push_back(ret(SECCOMP_RET_ALLOW));
    filter_.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
    for (const long nr : nrs) {
      filter_.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(nr), 0, 1));
      filter_.push_back(
          ret(SECCOMP_RET_ERRNO | (static_cast<std::uint32_t>(err) & SECCOMP_RET_DATA)));
    }
    filter_.push_back(ret(SECCOMP_RET_ALLOW));
  }
  /// Installs the filter (with no_new_privs, which an unprivileged filter needs); false if
  /// the kernel refused it.
  bool install() const {
    sock_fprog prog{static_cast<unsigned short>(filter_.size()),
                    const_cast<sock_filter*>(filter_.data())};
    return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
  }

 private:
  std::vector<sock_filter> filter_;
};

/// False where seccomp filters cannot be installed (a kernel without
/// CONFIG_SECCOMP_FILTER): tests of a denied call skip there.
inline bool seccomp_filters_work() {
  Child probe([] { ::_exit(SyscallDenial({SYS_getppid}, ENOSYS).install() ? 0 : 1); },
              "seccomp probe");
  return probe.finish().passed();
}

}  // namespace grader
