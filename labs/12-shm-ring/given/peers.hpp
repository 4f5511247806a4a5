// shm_ring_bench's contenders: one interface for the ring and its peers (a pipe, a Unix
// stream socketpair, boost::interprocess::message_queue), so every one is measured by the
// same loop with the same verification (docs/benchmarking.md).
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint64_t
#include <memory>       // std::unique_ptr
#include <string>       // std::string
#include <string_view>  // std::string_view

namespace ipclab::lab12::bench {

/// One side's view of a two-way link. send() builds message `seq` of `size` bytes
/// (payload.hpp) and sends it; recv() takes the next one and returns "" if it is message
/// `seq`, intact and of `size` bytes, else what is wrong. Both throw on a transport error
/// or a stall (no progress for the transport's stall timeout).
class Endpoint {
 public:
  virtual ~Endpoint() = default;
  virtual void send(std::uint64_t seq, std::size_t size, bool corrupt) = 0;
  virtual std::string recv(std::uint64_t seq, std::size_t size) = 0;
};

/// A link between side A (0) and side B (1): made in the parent before fork, opened in
/// each child, its named objects removed by the destructor (in the parent).
class Link {
 public:
  virtual ~Link() = default;
  virtual std::unique_ptr<Endpoint> open(int side) = 0;
};

struct LinkParams {
  std::size_t msg_size = 1024;
  std::size_t buffer_size = 1 << 20;  ///< ring capacity; pipe and socket buffers; MQ depth
  double stall_s = 10;                ///< a blocked send/recv fails after this long
};

std::unique_ptr<Link> make_pipe_link(const LinkParams& p);
std::unique_ptr<Link> make_socket_link(const LinkParams& p);
std::unique_ptr<Link> make_boost_mq_link(const LinkParams& p);
std::unique_ptr<Link> make_ring_link(const LinkParams& p);

/// Flips one bit of a built message (the benchmark's corruption test hook).
void corrupt(std::byte* msg, std::size_t size);

}  // namespace ipclab::lab12::bench
