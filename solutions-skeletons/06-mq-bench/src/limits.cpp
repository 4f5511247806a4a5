// Lab 06: the largest message each mechanism carries. Read the contract of
// message_limit() in include/lab06/channel.hpp and the README's "Limits" section.
#include "ipclab/error.hpp"  // ipclab::NotImplemented
#include "ipclab/io.hpp"     // read_file
#include "lab06/channel.hpp"

namespace ipclab::lab06 {

MessageLimit message_limit([[maybe_unused]] Mechanism m) {
  // TODO(lab06): pipe, fifo, uds: kStreamMaxMessage; shm_sem: kShmMaxMessage (say in
  // `source` that the cap is this benchmark's). posix_mq: the number in
  // /proc/sys/fs/mqueue/msgsize_max; sysv_mq: the smaller of /proc/sys/kernel/msgmax and
  // /proc/sys/kernel/msgmnb (msgmax on a tie). `source` names the file the number came
  // from. Read the files at each call; an unreadable one means the Linux default.
  throw NotImplemented("TODO(lab06): implement message_limit() in src/limits.cpp");
}

}  // namespace ipclab::lab06
