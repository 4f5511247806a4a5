// fdpass FILE — the parent opens FILE *after* forking, so the child cannot have inherited
// the descriptor; it sends the open descriptor over a socketpair with SCM_RIGHTS, and the
// child reads the file through it and prints the content on stdout.
#include <fcntl.h>       // open
#include <sys/socket.h>  // socketpair
#include <sys/stat.h>    // fstat
#include <unistd.h>      // fork, _exit

#include <cerrno>  // errno
#include <string>  // std::string

#include "ipclab/fd.hpp"       // Fd
#include "ipclab/io.hpp"       // read_all, write_full
#include "ipclab/main.hpp"     // run_main, CLI11
#include "ipclab/process.hpp"  // wait_for
#include "ipclab/signal.hpp"   // ignore_sigpipe
#include "lab19/unix.hpp"

namespace {

/// The child: receive one descriptor, print what it reads. Returns the exit status.
int child(int sock) {
  auto got = ipclab::lab19::recv_fd(sock, 4096);
  if (!got) return 1;  // the parent could not open the file: it reports why
  struct stat st {};
  ::fstat(got->fd.get(), &st);
  fmt::print(stderr, "fdpass: child {} received fd {} for \"{}\" (inode {})\n", ::getpid(),
             got->fd.get(), got->data, st.st_ino);
  ipclab::write_full(1, ipclab::read_all(got->fd.get()));
  return 0;
}

}  // namespace

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "fdpass: pass an open file descriptor to a child process over a Unix socketpair\n"
      "(SCM_RIGHTS); the child prints the file's content through the received descriptor."};
  std::string file;
  app.add_option("file", file, "the file the parent opens and passes")->required();

  return ipclab::run_main(app, argc, argv, [&] {
    ipclab::ignore_sigpipe();
    int sv[2];
    ipclab::check_unix(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
    ipclab::Fd parent_end(sv[0]), child_end(sv[1]);
    (void)std::fflush(stdout);
    (void)std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid < 0) ipclab::throw_errno("fork");
    if (pid == 0) {
      parent_end.reset();
      const int status = ipclab::run_guarded([&] { return child(child_end.get()); });
      (void)std::fflush(stdout);
      (void)std::fflush(stderr);
      ::_exit(status);
    }
    child_end.reset();
    // O_NONBLOCK: opening a FIFO must not wait for a writer. Only a regular file is passed:
    // a FIFO or a device (/dev/zero) could make the child read forever.
    ipclab::Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    const int open_errno = errno;
    struct stat fst {};
    const bool regular = fd && ::fstat(fd.get(), &fst) == 0 && S_ISREG(fst.st_mode);
    if (regular) ipclab::lab19::send_fd(parent_end.get(), fd.get(), file);
    parent_end.reset();  // EOF for the child, after the message if there was one
    const auto st = ipclab::wait_for(pid);
    if (!fd) ipclab::throw_error(open_errno, "open {}", file);  // exit 3, as elsewhere
    if (!regular)
      throw ipclab::UsageError(
          fmt::format("{} is not a regular file (fdpass passes only those)", file));
    fmt::print(stderr, "fdpass: parent {} sent fd {} for \"{}\"; child {}\n", ::getpid(), fd.get(),
               file, st.describe());
    return st.exit_code();
  });
}
