// An mmap'd file: lab 14's key-value database as a mailbox. A puts message n under the key
// "a<n>" (a record appended to the file under the writers' fcntl lock, then its index slot
// published); B reads "a<n>" with no lock and no system call, spinning until the slot
// appears. Replies go under "b<n>". The file keeps every message, so a stream is capped.
#include <unistd.h>  // unlink

#include <cstring>  // std::memcpy

#include "ipclab/error.hpp"  // OperationFailed
#include "ipclab/names.hpp"  // names::path
#include "lab14/mmapdb.hpp"
#include "lab15/spin.hpp"  // Backoff
#include "transport.hpp"

namespace ipclab::suite {
namespace {

constexpr std::uint64_t kFileSize = std::uint64_t{8} << 20;  // grows (and remaps) as needed
constexpr lab14::OpenOptions kNoSync{false};                 // no msync per commit

class MmapEndpoint final : public Endpoint {
 public:
  MmapEndpoint(const std::string& path, char out, char in)
      : db_(lab14::Db::open(path, kNoSync)), out_(out), in_(in) {}
  void send(std::span<const std::byte> msg) override {
    db_.put(fmt::format("{}{}", out_, sent_++),
            std::string_view(reinterpret_cast<const char*>(msg.data()), msg.size()));
  }
  void recv(std::span<std::byte> buf) override {
    const std::string key = fmt::format("{}{}", in_, got_++);
    lab15::Backoff backoff;
    std::optional<std::string_view> v;
    while (!(v = db_.get(key))) backoff.wait();
    if (v->size() != buf.size())
      throw OperationFailed(
          fmt::format("{}: {} bytes where {} were expected", key, v->size(), buf.size()));
    std::memcpy(buf.data(), v->data(), buf.size());
  }

 private:
  lab14::Db db_;
  char out_, in_;
  std::uint64_t sent_ = 0, got_ = 0;
};

class MmapLink final : public Link {
 public:
  MmapLink() : path_(names::path(object_name("mmapdb"))) {
    lab14::Db::create(path_, kFileSize, kNoSync);
  }
  ~MmapLink() override { ::unlink(path_.c_str()); }
  std::unique_ptr<Endpoint> open(Side side, int) override {
    return side == Side::kA ? std::make_unique<MmapEndpoint>(path_, 'a', 'b')
                            : std::make_unique<MmapEndpoint>(path_, 'b', 'a');
  }

 private:
  std::string path_;
};

class MmapAdapter final : public Adapter {
 public:
  std::string_view name() const override { return "mmap_file"; }
  std::string_view description() const override {
    return "lab 14's mmap'd key-value file: lock-free reads, fcntl-serialized appends";
  }
  Caps caps() const override {
    Caps c;
    c.max_size = lab14::kMaxValue;
    c.limit_source = "lab 14's largest value";
    c.max_stream_bytes = std::size_t{32} << 20;
    c.kernel_synchronized = false;
    c.trade_offs = {"a file: survives the processes and (with msync) a power cut", "a path",
                    "a reader spins until the key appears (no wake-up)"};
    return c;
  }
  std::unique_ptr<Link> setup(const LinkParams&) override { return std::make_unique<MmapLink>(); }
};

}  // namespace

std::unique_ptr<Adapter> make_mmap_file_adapter() { return std::make_unique<MmapAdapter>(); }

}  // namespace ipclab::suite
