// Lab 19 reference: the chat server (see chat.hpp and README §Server).
//
// Why nothing can block it: every socket is non-blocking, and the only place the process
// sleeps is poll(2). Input is read at most once per client per round (one client cannot
// starve the others). Output never goes straight to a socket: it is appended to the
// receiver's bounded OutBuffer and flushed as far as the socket takes it; a receiver
// whose buffer would overflow is dropped, so a client that stops reading costs at most
// max_pending bytes and never stalls a sender. A client is never destroyed while the loop
// may still look at it: it is marked kGone and swept at the end of the round.
//
// Exactly once and in order per sender: lines of one client are handled in the order they
// were read, and each goes, once, onto the end of every other client's buffer, which
// drains in order. Invariants: a kGone client gets nothing; a kLeaving client is only
// flushed (its goodbye) and closed when its buffer is empty; the socket file is removed
// on the way out only if it is still the one this server bound.
#include <fcntl.h>       // open
#include <poll.h>        // poll
#include <sys/socket.h>  // accept4, recv, send
#include <sys/stat.h>    // stat
#include <unistd.h>      // unlink

#include <string.h>  // strerrordesc_np (glibc): thread-safe, unlike strerror
#include <cerrno>    // errno
#include <list>      // std::list: clients keep their address while others come and go
#include <vector>    // std::vector

#include <fmt/core.h>  // fmt::format, fmt::print

#include "ipclab/error.hpp"  // SysError, throw_errno
#include "ipclab/fd.hpp"     // Fd
#include "lab19/chat.hpp"
#include "lab19/unix.hpp"

namespace ipclab::lab19 {
namespace {

struct Client {
  enum class State { kActive, kLeaving, kGone };
  Client(Fd f, PeerCred c, std::size_t max_line, std::size_t max_pending)
      : fd(std::move(f)), cred(c), in(max_line), out(max_pending) {}
  Fd fd;
  PeerCred cred;
  std::string name;
  LineReader in;
  OutBuffer out;
  State state = State::kActive;
};

/// Removes the socket file at exit, unless another server has replaced it meanwhile.
class SocketFile {
 public:
  explicit SocketFile(std::string path) : path_(std::move(path)) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0) dev_ = st.st_dev, ino_ = st.st_ino;
  }
  SocketFile(const SocketFile&) = delete;
  SocketFile& operator=(const SocketFile&) = delete;
  ~SocketFile() {
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
      ::unlink(path_.c_str());
  }

 private:
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

class Server {
 public:
  Server(const ServerOptions& opts, Fd listener)
      : opts_(opts),
        log_(opts.log != nullptr ? opts.log : stdout),
        listener_(std::move(listener)),
        reserve_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

  void run(int stop_fd) {
    std::vector<pollfd> pfds;
    std::vector<Client*> polled;
    for (;;) {
      pfds.assign({{stop_fd, POLLIN, 0}, {listener_.get(), POLLIN, 0}});
      polled.clear();
      for (auto& c : clients_) {
        short events = c.state == Client::State::kActive ? POLLIN : 0;
        if (!c.out.empty()) events |= POLLOUT;
        pfds.push_back({c.fd.get(), events, 0});  // POLLHUP/POLLERR come regardless
        polled.push_back(&c);
      }
      if (::poll(pfds.data(), pfds.size(), -1) < 0) {
        if (errno == EINTR) continue;  // a signal: the stop pipe says whether to leave
        throw_errno("poll");
      }
      if (pfds[0].revents != 0) return shutdown();
      if (pfds[1].revents != 0) accept_all();
      for (std::size_t i = 0; i < polled.size(); ++i) {
        Client& c = *polled[i];
        const short re = pfds[i + 2].revents;
        if (c.state == Client::State::kActive && (re & (POLLIN | POLLHUP | POLLERR)) != 0)
          read_from(c);
        if (c.state == Client::State::kLeaving && (re & (POLLHUP | POLLERR)) != 0 &&
            c.out.flush(c.fd.get()) != 0)
          c.state = Client::State::kGone;  // its peer is gone too: nothing more to flush
      }
      flush_all();
      sweep();
    }
  }

 private:
  template <typename... Args>
  void log(fmt::format_string<Args...> f, Args&&... args) {
    fmt::print(log_, "chat_server: {}\n", fmt::format(f, std::forward<Args>(args)...));
    (void)std::fflush(log_);
  }

  bool name_taken(std::string_view name) const {
    for (const auto& c : clients_)
      if (c.state == Client::State::kActive && c.name == name) return true;
    return false;
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if ((errno == EMFILE || errno == ENFILE) && reserve_) {
          // Out of descriptors: a pending connection would keep the listener readable and
          // poll would spin. Free the spare, accept and close the newcomer, re-arm. accept
          // says EMFILE before it looks for a connection: if none was pending, stop here.
          const int err = errno;
          reserve_.reset();
          const bool refused =
              Fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC)).valid();
          reserve_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
          if (!refused) return;
          log("accept: {}: refused a connection", strerrordesc_np(err));
          continue;
        }
        log("accept: {}", strerrordesc_np(errno));
        return;
      }
      Fd sock(fd);
      PeerCred cred;
      try {
        cred = peer_credentials(sock.get());
      } catch (const SysError& e) {
        log("{}", e.what());
        continue;
      }
      if (opts_.allow_uid && cred.uid != *opts_.allow_uid) {
        const auto msg = fmt::format("! error: uid {} is not allowed\n", cred.uid);
        (void)!::send(sock.get(), msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        log("rejected connection from uid={} pid={} (not allowed)", cred.uid, cred.pid);
        continue;
      }
      Client& c = clients_.emplace_back(std::move(sock), cred, opts_.max_line, opts_.max_pending);
      do {
        c.name = fmt::format("guest{}", ++next_id_);
      } while (count_named(c.name) > 1);  // someone may have renamed themselves guestN
      send_to(c, fmt::format("* welcome {} (uid {}, pid {}); commands: /name NEW, /who, /quit",
                             c.name, cred.uid, cred.pid));
      broadcast(&c, fmt::format("* {} joined", c.name));
      log("{} connected (uid={} pid={})", c.name, cred.uid, cred.pid);
    }
  }

  std::size_t count_named(std::string_view name) const {
    std::size_t n = 0;
    for (const auto& c : clients_) n += c.state == Client::State::kActive && c.name == name;
    return n;
  }

  /// One recv(2) and the lines it completes; false once nothing more can come now.
  bool read_from(Client& c) {
    char buf[64 * 1024];
    const ssize_t n = retry_eintr([&] { return ::recv(c.fd.get(), buf, sizeof buf, 0); });
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      if (errno != ECONNRESET) log("{}: recv: {}", c.name, strerrordesc_np(errno));
      leave(c, /*gone=*/true);
      return false;
    }
    if (n == 0) {
      leave(c, /*gone=*/false);
      return false;
    }
    c.in.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    while (c.state == Client::State::kActive) {
      auto line = c.in.next();
      if (!line) break;
      handle(c, *line);
    }
    return c.state == Client::State::kActive;
  }

  void handle(Client& c, const Line& line) {
    const std::string_view text = line.text;
    if (line.too_long) {
      log("{}: line too long, discarded", c.name);
      return send_to(c, fmt::format("! error: line too long (max {} bytes)", opts_.max_line));
    }
    if (!valid_utf8(text)) return send_to(c, "! error: line is not valid UTF-8");
    if (text.empty()) return;
    if (text.starts_with("//"))
      return broadcast(&c, fmt::format("[{}] {}", c.name, text.substr(1)));
    if (!text.starts_with('/')) return broadcast(&c, fmt::format("[{}] {}", c.name, text));
    const auto space = text.find(' ');
    const std::string_view cmd = text.substr(0, space);
    const std::string_view arg = space == std::string_view::npos ? "" : text.substr(space + 1);
    if (cmd == "/name") {
      if (!valid_name(arg)) return send_to(c, "! error: bad name (use 1-32 of A-Z a-z 0-9 _ -)");
      if (arg == c.name) return send_to(c, fmt::format("* you are now {}", c.name));
      if (name_taken(arg)) return send_to(c, fmt::format("! error: name {} is taken", arg));
      const std::string old = std::exchange(c.name, std::string(arg));
      log("{} is now {}", old, c.name);
      send_to(c, fmt::format("* you are now {}", c.name));
      return broadcast(&c, fmt::format("* {} is now {}", old, c.name));
    }
    if (cmd == "/who") {
      std::string who = "* who:";
      for (const auto& o : clients_)
        if (o.state == Client::State::kActive)
          who += fmt::format(" {}(uid={},pid={})", o.name, o.cred.uid, o.cred.pid);
      return send_to(c, who);
    }
    if (cmd == "/quit") {
      send_to(c, "* bye");
      return leave(c, /*gone=*/false);
    }
    send_to(c, fmt::format("! error: unknown command {} (commands: /name NEW, /who, /quit)", cmd));
  }

  /// One line to one client; a client whose buffer would overflow is dropped instead.
  void send_to(Client& c, std::string_view line) {
    if (c.state == Client::State::kGone) return;
    std::string framed;
    framed.reserve(line.size() + 1);
    framed.append(line).push_back('\n');
    if (c.out.push(framed)) return;
    log("{} dropped (not reading, {} bytes pending)", c.name, c.out.size());
    const bool was_active = c.state == Client::State::kActive;
    c.state = Client::State::kGone;
    if (was_active) broadcast(&c, fmt::format("* {} dropped (not reading)", c.name));
  }

  void broadcast(const Client* except, std::string_view line) {
    for (auto& c : clients_)
      if (&c != except && c.state == Client::State::kActive) send_to(c, line);
  }

  /// The client stops taking part: EOF or /quit (flush what it is owed, then close) or an
  /// error (gone at once). Its unfinished line, if any, is discarded with it.
  void leave(Client& c, bool gone) {
    if (c.state != Client::State::kActive) return;
    c.state = gone ? Client::State::kGone : Client::State::kLeaving;
    if (c.in.pending() > 0)
      log("{} left (discarded {} bytes of an unfinished line)", c.name, c.in.pending());
    else
      log("{} left", c.name);
    broadcast(&c, fmt::format("* {} left", c.name));
  }

  void flush_all() {
    for (auto& c : clients_) {
      if (c.state == Client::State::kGone || c.out.empty()) continue;
      if (const int err = c.out.flush(c.fd.get()); err != 0) {
        if (c.state == Client::State::kActive) {
          // It hung up. Complete lines it sent before that still count (exactly once):
          // read what is left of its input, then let it go.
          if (err != EPIPE && err != ECONNRESET) log("{}: send: {}", c.name, strerrordesc_np(err));
          while (read_from(c)) {
          }
          leave(c, /*gone=*/true);
        }
        c.state = Client::State::kGone;
      }
    }
  }

  void sweep() {
    clients_.remove_if([](const Client& c) {
      return c.state == Client::State::kGone ||
             (c.state == Client::State::kLeaving && c.out.empty());
    });
  }

  void shutdown() {
    log("shutting down ({} clients)", clients_.size());
    for (auto& c : clients_)
      if (c.state == Client::State::kActive) send_to(c, "* server shutting down");
    for (auto& c : clients_)
      if (c.state != Client::State::kGone) (void)c.out.flush(c.fd.get());  // one try only
    clients_.clear();
  }

  const ServerOptions& opts_;
  std::FILE* log_;
  Fd listener_;
  Fd reserve_;  // a spare descriptor for the EMFILE case (see accept_all)
  std::list<Client> clients_;
  std::uint64_t next_id_ = 0;
};

}  // namespace

void run_server(const ServerOptions& opts, int stop_fd) {
  bool stale = false;
  Fd listener = listen_unix(opts.socket_path, 128, &stale);
  SocketFile file(opts.socket_path);
  Server server(opts, std::move(listener));
  std::FILE* log = opts.log != nullptr ? opts.log : stdout;
  if (stale) fmt::print(log, "chat_server: removed stale socket {}\n", opts.socket_path);
  fmt::print(log, "chat_server: listening on {}\n", opts.socket_path);
  (void)std::fflush(log);
  server.run(stop_fd);
}

}  // namespace ipclab::lab19
