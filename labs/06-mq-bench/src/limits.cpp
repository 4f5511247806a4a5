// Lab 06: the largest message each mechanism carries. Contract: message_limit() in
// include/lab06/channel.hpp; README §Limits.
#include <charconv>  // std::from_chars
#include <string>    // std::string

#include "ipclab/io.hpp"  // read_file
#include "lab06/channel.hpp"

namespace ipclab::lab06 {
namespace {

/// The number in a /proc/sys file, or `fallback` if it cannot be read.
std::size_t read_sysctl(const std::string& file, std::size_t fallback) {
  const std::string text = ipclab::read_file(file);
  std::size_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return (ec == std::errc() && end != text.data()) ? v : fallback;
}

}  // namespace

MessageLimit message_limit(Mechanism m) {
  switch (m) {
    case Mechanism::kPipe:
    case Mechanism::kFifo:
    case Mechanism::kUds:
      return {kStreamMaxMessage, "this benchmark's cap for byte streams"};
    case Mechanism::kShmSem:
      return {kShmMaxMessage, "this benchmark's cap: 16 slots a direction in /dev/shm"};
    case Mechanism::kPosixMq: {
      const std::string file = "/proc/sys/fs/mqueue/msgsize_max";
      return {read_sysctl(file, 8192), file};
    }
    case Mechanism::kSysvMq: {
      // msgsnd refuses a message above msgmax (EINVAL) and blocks forever on one above the
      // queue's capacity (msgmnb, the default msg_qbytes): the smaller one binds.
      const std::string max_file = "/proc/sys/kernel/msgmax";
      const std::string mnb_file = "/proc/sys/kernel/msgmnb";
      const std::size_t max = read_sysctl(max_file, 8192), mnb = read_sysctl(mnb_file, 16384);
      return mnb < max ? MessageLimit{mnb, mnb_file} : MessageLimit{max, max_file};
    }
  }
  return {0, "unknown mechanism"};
}

}  // namespace ipclab::lab06
