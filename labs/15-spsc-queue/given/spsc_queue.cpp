// Lab 15: compiles your SpscQueue (src/spsc_queue_impl.hpp) once for the item types the
// programs and the grader use, so a mistake shows up here, in your file, first.
#include <cstdint>  // std::uint64_t

#include "lab15/spsc_queue.hpp"

namespace ipclab::lab15 {

template class SpscQueue<std::uint64_t>;
template class SharedSpscQueue<std::uint64_t>;

}  // namespace ipclab::lab15
