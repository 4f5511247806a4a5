// The list of adapters, in table order. A new mechanism adds its line here.
#include <unistd.h>  // getpid

#include <atomic>  // std::atomic

#include <fmt/core.h>  // fmt::format

#include "transport.hpp"

namespace ipclab::suite {

std::string object_name(std::string_view what) {
  static std::atomic<unsigned> counter{0};
  return fmt::format("suite-{}-{}-{}", ::getpid(), counter++, what);
}

std::vector<std::unique_ptr<Adapter>> all_adapters() {
  std::vector<std::unique_ptr<Adapter>> all;
  for (std::string_view lab06 : {"pipe", "fifo"}) all.push_back(make_lab06_adapter(lab06));
  all.push_back(make_unix_stream_adapter());
  all.push_back(make_unix_dgram_adapter());
  all.push_back(make_socketpair_adapter());
  all.push_back(make_tcp_adapter());
  for (std::string_view lab06 : {"posix_mq", "sysv_mq", "shm_sem"})
    all.push_back(make_lab06_adapter(lab06));
  all.push_back(make_ring_adapter());
  all.push_back(make_spsc_adapter());
  all.push_back(make_sysv_shm_adapter());
  all.push_back(make_mmap_file_adapter());
  all.push_back(make_rpc_adapter());
  for (std::string_view hub : {"socket", "fifo", "mqueue", "shm", "pipe"})
    all.push_back(make_hub_adapter(hub));
  return all;
}

}  // namespace ipclab::suite
