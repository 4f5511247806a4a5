// Lab 19 reference: cutting a byte stream into bounded lines, a bounded output buffer, and
// the two validity checks of the chat protocol (see chat.hpp).
#include <sys/socket.h>  // send, MSG_DONTWAIT, MSG_NOSIGNAL

#include <cerrno>  // errno

#include "lab19/chat.hpp"

namespace ipclab::lab19 {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    char32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07u;
    } else {
      return false;  // a continuation byte first, C0/C1 (overlong), or F5..FF
    }
    if (i + len > s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0u) != 0x80u) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;  // overlong
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
    i += len;
  }
  return true;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void LineReader::feed(std::string_view data) {
  while (!data.empty()) {
    const auto nl = data.find('\n');
    const std::string_view piece = data.substr(0, nl);  // up to (not including) the '\n'
    if (!discarding_) {
      if (partial_.size() + piece.size() > max_line_) {
        // Over the limit: report it now, and drop everything up to the '\n'.
        ready_.push_back(Line{{}, true});
        partial_.clear();
        discarding_ = true;
      } else {
        partial_.append(piece);
      }
    }
    if (nl == std::string_view::npos) return;  // unfinished line: wait for more
    if (!discarding_) ready_.push_back(Line{std::move(partial_), false});
    partial_.clear();
    discarding_ = false;
    data.remove_prefix(nl + 1);
  }
}

std::optional<Line> LineReader::next() {
  if (ready_.empty()) return std::nullopt;
  Line line = std::move(ready_.front());
  ready_.pop_front();
  return line;
}

std::size_t LineReader::pending() const { return partial_.size(); }

bool OutBuffer::push(std::string_view data) {
  if (size() + data.size() > cap_) return false;
  if (head_ > 0 && head_ >= buf_.size() / 2) {  // reclaim the written front now and then
    buf_.erase(0, head_);
    head_ = 0;
  }
  buf_.append(data);
  return true;
}

std::size_t OutBuffer::size() const { return buf_.size() - head_; }

int OutBuffer::flush(int sock) {
  while (head_ < buf_.size()) {
    const ssize_t n =
        ::send(sock, buf_.data() + head_, buf_.size() - head_, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;  // full: poll for POLLOUT
      return errno;
    }
    head_ += static_cast<std::size_t>(n);
  }
  buf_.clear();
  head_ = 0;
  return 0;
}

}  // namespace ipclab::lab19
