// Lab 19: ipc_demo's verified parent<->child exchange. Read the contract in
// include/lab19/demo.hpp (run_demo).
#include <unistd.h>  // fork, _exit

#include "ipclab/error.hpp"    // UsageError, NotImplemented
#include "ipclab/process.hpp"  // wait_for
#include "lab19/channel.hpp"
#include "lab19/demo.hpp"

namespace ipclab::lab19 {

int run_demo([[maybe_unused]] Mechanism m, [[maybe_unused]] std::int64_t size,
             [[maybe_unused]] std::uint64_t seed, [[maybe_unused]] std::FILE* out) {
  // TODO(lab19): check size first (UsageError "size must be > 0" / "size must be <= ...").
  // Make the payload (fill_payload) and its checksum; Channel::make; fflush; fork.
  // Child: become_child, receive header + data, checksum it, wait for the "go" byte,
  // print its verdict, send its checksum back, _exit — never return.
  // Parent: become_parent, send header + data, print `writer: wrote N bytes`, flush, send
  // "go", receive the child's checksum, waitpid; on any error kill and reap the child.
  throw NotImplemented("TODO(lab19): implement run_demo() in src/demo.cpp");
}

}  // namespace ipclab::lab19
