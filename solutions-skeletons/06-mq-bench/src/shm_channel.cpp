// Lab 06: shared memory + semaphores (Stevens UNP2 10.6). Read the contract in
// include/lab06/channel.hpp and the README before you start.
#include "ipclab/error.hpp"  // ipclab::NotImplemented
#include "ipclab/names.hpp"  // names::posix
#include "ipclab/sem.hpp"    // NamedSemaphore
#include "ipclab/shm.hpp"    // PosixShm, Mapping
#include "lab06/channel.hpp"

namespace ipclab::lab06 {

// TODO(lab06): one POSIX shared-memory object holding two rings (A->B in the first half,
// B->A in the second) of kShmSlots slots of msg_size bytes (round each slot up to 64
// bytes), and four named semaphores: per ring "empty" (starts at kShmSlots) and "full"
// (starts at 0). send: wait empty, copy into the next slot, post full. recv: wait full,
// copy out, post empty. Each process keeps its slot index in its own memory. open()
// refuses an object of another size (OperationFailed naming both sizes). If the
// constructor fails halfway, unlink what it made; the destructor unlinks everything.

std::unique_ptr<Transport> make_shm_sem_transport([[maybe_unused]] std::size_t msg_size) {
  throw NotImplemented("TODO(lab06): implement make_shm_sem_transport() in src/shm_channel.cpp");
}

}  // namespace ipclab::lab06
