// Lab 04: the job message format and job ids. Read the contract in
// include/lab04/dispatch.hpp (encode_job, decode_job, next_job_id) and the README.
#include "ipclab/error.hpp"  // ipclab::SysError, ipclab::NotImplemented
#include "lab04/dispatch.hpp"

namespace ipclab::lab04 {

std::string encode_job([[maybe_unused]] const Job& job) {
  // TODO(lab04): a 24-byte header (kJobMagic, priority, id, submit_ns — fixed-width
  // integers, copied with std::memcpy) followed by the command's bytes.
  throw NotImplemented("TODO(lab04): implement encode_job() in src/job.cpp");
}

std::optional<Job> decode_job([[maybe_unused]] std::string_view bytes) {
  // TODO(lab04): the reverse of encode_job. Return std::nullopt for anything that is not a
  // job message: shorter than kHeaderSize, a wrong magic, a priority above kMaxPriority.
  throw NotImplemented("TODO(lab04): implement decode_job() in src/job.cpp");
}

std::uint64_t next_job_id([[maybe_unused]] const std::string& counter_path) {
  // TODO(lab04): open (O_CREAT | O_CLOEXEC) the counter file, take an fcntl(F_SETLKW)
  // write lock on the whole file, read the last id (empty file: 0), write last + 1 back,
  // return it. The lock must cover the read *and* the write; closing the descriptor
  // releases it.
  throw NotImplemented("TODO(lab04): implement next_job_id() in src/job.cpp");
}

}  // namespace ipclab::lab04
