// Lab 04 reference: the job message format and job ids (see dispatch.hpp).
//
// A message is a fixed 24-byte header and the command. The header travels in host byte
// order: a POSIX message queue never leaves the machine. The magic number lets the
// dispatcher drop a message some other program put into the queue.
#include <fcntl.h>   // open, fcntl, F_SETLKW
#include <unistd.h>  // pread, lseek, ftruncate

#include <charconv>     // std::from_chars
#include <cstring>      // std::memcpy
#include <type_traits>  // std::is_trivially_copyable_v

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // check_unix, retry_eintr
#include "ipclab/fd.hpp"     // Fd
#include "ipclab/io.hpp"     // write_full
#include "lab04/dispatch.hpp"

namespace ipclab::lab04 {
namespace {

struct WireHeader {
  std::uint32_t magic;
  std::uint32_t priority;
  std::uint64_t id;
  std::int64_t submit_ns;
};
static_assert(sizeof(WireHeader) == kHeaderSize, "the header is 24 bytes, no padding");
static_assert(std::is_trivially_copyable_v<WireHeader>, "the header is copied as bytes");

}  // namespace

std::string encode_job(const Job& job) {
  const WireHeader h{kJobMagic, job.priority, job.id, job.submit_ns};
  std::string out(kHeaderSize + job.cmd.size(), '\0');
  std::memcpy(out.data(), &h, kHeaderSize);
  std::memcpy(out.data() + kHeaderSize, job.cmd.data(), job.cmd.size());
  return out;
}

std::optional<Job> decode_job(std::string_view bytes) {
  if (bytes.size() < kHeaderSize) return std::nullopt;
  WireHeader h{};
  std::memcpy(&h, bytes.data(), kHeaderSize);
  if (h.magic != kJobMagic || h.priority > kMaxPriority) return std::nullopt;
  return Job{h.id, h.priority, h.submit_ns, std::string(bytes.substr(kHeaderSize))};
}

std::uint64_t next_job_id(const std::string& counter_path) {
  Fd fd(check_unix(::open(counter_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600), "open(\"{}\")",
                   counter_path));
  // One write lock over the whole file, held from the read to the write: two submitters
  // can never read the same value. Closing fd (any fd of the file!) releases it.
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  check_unix(retry_eintr(::fcntl, fd.get(), F_SETLKW, &lock), "fcntl(F_SETLKW, \"{}\")",
             counter_path);
  char buf[32] = {};
  const ssize_t n = check_unix(retry_eintr(::pread, fd.get(), buf, sizeof buf - 1, 0),
                               "read(\"{}\")", counter_path);
  std::uint64_t last = 0;
  if (n > 0) {
    const auto [end, ec] = std::from_chars(buf, buf + n, last);
    if (ec != std::errc{})
      throw SysError(EPROTO, fmt::format("{}: not a job counter", counter_path));
  }
  const std::uint64_t id = last + 1;
  const std::string text = fmt::format("{}\n", id);
  check_unix(::lseek(fd.get(), 0, SEEK_SET), "lseek(\"{}\")", counter_path);
  write_full(fd.get(), text);
  check_unix(::ftruncate(fd.get(), static_cast<off_t>(text.size())), "ftruncate(\"{}\")",
             counter_path);
  return id;
}

}  // namespace ipclab::lab04
