// The replica: a map from key to its newest entry, and an append-only log that makes it
// survive kill -9. Each record of DIR/kv.log is
//   u32 length | u32 checksum (FNV-1a of the body) | body: the kv_entry in XDR
// (XDR again: kv.x already says how an entry is laid out, byte order included).
#include <fcntl.h>     // open, O_*
#include <sys/stat.h>  // mkdir
#include <unistd.h>    // fdatasync, ftruncate, lseek

#include <rpc/rpc.h>  // xdrmem_create

#include <cerrno>      // errno
#include <cstring>     // std::memcpy
#include <filesystem>  // std::filesystem::create_directories

#include "ipclab/error.hpp"  // throw_errno, SysError
#include "ipclab/io.hpp"     // read_all, write_full
#include "lab18/kv.hpp"

namespace ipclab::lab18 {
namespace {

constexpr std::size_t kHeader = 8;

std::uint32_t fnv1a(const char* p, std::size_t n) {
  std::uint32_t h = 2166136261U;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 16777619U;
  }
  return h;
}

void put_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

xdrproc_t entry_proc() { return reinterpret_cast<xdrproc_t>(xdr_kv_entry); }

/// The record of `e`: header and XDR body.
std::string encode(const Entry& e) {
  std::string rec(kHeader + 16 + e.key.size() + e.value.size() + 32, '\0');
  kv_entry x = to_xdr(e);
  XDR xdrs;
  xdrmem_create(&xdrs, rec.data() + kHeader, static_cast<u_int>(rec.size() - kHeader), XDR_ENCODE);
  if (xdr_kv_entry(&xdrs, &x) == FALSE) throw OperationFailed("cannot encode a log record");
  const u_int body = xdr_getpos(&xdrs);
  XDR_DESTROY(&xdrs);
  rec.resize(kHeader + body);
  put_u32(rec.data(), body);
  put_u32(rec.data() + 4, fnv1a(rec.data() + kHeader, body));
  return rec;
}

}  // namespace

Store::Store(std::string dir) : dir_(std::move(dir)) {
  if (dir_.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) throw SysError(ec.value(), "mkdir " + dir_);
  const std::string path = log_path();
  log_ = Fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!log_.valid()) throw_errno("open {}", path);
  // Replay: every whole record with a good checksum, up to the first that is not (a write
  // cut short by a crash, never fsync'd, so never acknowledged).
  const std::string data = read_all(log_.get());
  std::size_t pos = 0;
  while (data.size() - pos >= kHeader) {
    const std::uint32_t len = get_u32(data.data() + pos);
    if (len > data.size() - pos - kHeader) break;
    const char* body = data.data() + pos + kHeader;
    if (fnv1a(body, len) != get_u32(data.data() + pos + 4)) break;
    kv_entry x{};
    XDR xdrs;
    xdrmem_create(&xdrs, const_cast<char*>(body), len,
                  XDR_DECODE);  // NOLINT(cppcoreguidelines-pro-type-const-cast)
    const bool ok = xdr_kv_entry(&xdrs, &x) != FALSE;
    XDR_DESTROY(&xdrs);
    if (!ok) break;
    Entry e = from_xdr(x);
    xdr_free(entry_proc(), reinterpret_cast<char*>(&x));
    auto& slot = map_[e.key];
    if (slot.key.empty() || slot.version < e.version) slot = std::move(e);
    pos += kHeader + len;
  }
  if (pos != data.size() && ::ftruncate(log_.get(), static_cast<off_t>(pos)) != 0)
    throw_errno("truncate {}", path);
  if (::lseek(log_.get(), 0, SEEK_END) < 0) throw_errno("lseek {}", path);
}

Store::~Store() = default;

std::string Store::log_path() const { return dir_.empty() ? "" : dir_ + "/kv.log"; }

Entry Store::get(const std::string& key) const {
  std::lock_guard lock(mu_);
  if (auto it = map_.find(key); it != map_.end()) return it->second;
  Entry none;
  none.key = key;
  return none;
}

bool Store::apply(const Entry& e) {
  std::lock_guard lock(mu_);
  auto it = map_.find(e.key);
  if (it != map_.end() && !(it->second.version < e.version)) return false;
  if (log_.valid()) {
    // On disk before anyone hears "stored": the acknowledgement is a promise to remember.
    const std::string rec = encode(e);
    write_full(log_.get(), rec);
    if (::fdatasync(log_.get()) != 0) throw_errno("fdatasync {}", log_path());
  }
  map_[e.key] = e;
  return true;
}

std::vector<Entry> Store::all() const {
  std::lock_guard lock(mu_);
  std::vector<Entry> out;
  out.reserve(map_.size());
  for (const auto& [k, e] : map_) out.push_back(e);
  return out;
}

}  // namespace ipclab::lab18
