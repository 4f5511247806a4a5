// Lab 04 — the job journal (given): what makes the dispatcher's guarantee at-least-once.
//
// A job taken off the queue exists nowhere else but in the dispatcher's memory and in the
// process that runs it. If the dispatcher is killed (kill -9) while the job runs, the job
// must not be lost with it. So, for every job it starts, the dispatcher keeps a journal
// entry in its run directory, <rundir>/<queue>.job.<id>: the job's message bytes, written
// before the job starts, and the job's process group, <queue>.job.<id>.pgid, written once
// it has started. The entry is removed once the job has ended and been reaped.
//
// The next dispatcher on the queue (there is one live dispatcher per queue: the instance
// lock) calls recover() before it serves: every entry left is a job whose end nobody saw.
// recover() kills what is left of the job's process group (so the old run and the new one
// never overlap), removes the entry and returns the job, which the dispatcher runs again.
// A job may therefore run twice (its first run was cut short, or ended just before the
// kill), never zero times: at least once.
#pragma once

#include <dirent.h>  // opendir, readdir
#include <fcntl.h>   // open
#include <signal.h>  // kill, SIGKILL
#include <unistd.h>  // unlink

#include <algorithm>  // std::sort
#include <charconv>   // std::from_chars
#include <cstdio>     // std::rename
#include <optional>   // std::optional
#include <string>     // std::string
#include <vector>     // std::vector

#include <fmt/format.h>  // fmt::format

#include "ipclab/error.hpp"  // check_unix
#include "ipclab/fd.hpp"     // Fd
#include "ipclab/io.hpp"     // read_file, write_full
#include "ipclab/names.hpp"  // names::path, names::rundir
#include "lab04/dispatch.hpp"

namespace ipclab::lab04 {

class JobJournal {
 public:
  explicit JobJournal(std::string queue) : queue_(std::move(queue)) {}

  /// Before the job starts: records it (written whole to a temporary file, then renamed).
  void begin(const Job& job) const { write_atomically(entry(job.id), encode_job(job)); }
  /// Once job `id` has started: the process group it runs in (its own: pgid = its pid).
  void started(std::uint64_t id, pid_t pgid) const {
    write_atomically(entry(id) + ".pgid", std::to_string(pgid));
  }
  /// Once job `id` has ended and been reaped: forgets it.
  void end(std::uint64_t id) const {
    (void)::unlink((entry(id) + ".pgid").c_str());
    (void)::unlink(entry(id).c_str());
  }

  /// The jobs a dead dispatcher of this queue left running, oldest id first. What is left
  /// of each one's process group is killed and its entry removed: the caller runs them
  /// again.
  std::vector<Job> recover() const {
    std::vector<Job> jobs;
    const std::string prefix = queue_ + ".job.";
    DIR* d = ::opendir(names::rundir().c_str());
    if (d == nullptr) return jobs;
    std::vector<std::string> ids;
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (!n.starts_with(prefix)) continue;
      if (n.ends_with(".tmp"))  // a write cut short: the job had not started
        (void)::unlink(names::path(n).c_str());
      else if (n.find('.', prefix.size()) == std::string::npos)
        ids.push_back(n.substr(prefix.size()));
    }
    ::closedir(d);
    for (const auto& id : ids) {
      const std::string path = names::path(prefix + id);
      pid_t pgid = 0;
      try {
        const std::string p = read_file(path + ".pgid");
        (void)std::from_chars(p.data(), p.data() + p.size(), pgid);
      } catch (const SysError&) {  // NOLINT(bugprone-empty-catch): died before it started
      }
      if (pgid > 1) (void)::kill(-pgid, SIGKILL);
      std::optional<Job> job;
      try {
        job = decode_job(read_file(path));
      } catch (const SysError&) {  // NOLINT(bugprone-empty-catch): removed meanwhile
      }
      (void)::unlink((path + ".pgid").c_str());
      (void)::unlink(path.c_str());
      if (job) jobs.push_back(std::move(*job));
    }
    std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) { return a.id < b.id; });
    return jobs;
  }

 private:
  std::string entry(std::uint64_t id) const {
    return names::path(fmt::format("{}.job.{}", queue_, id));
  }
  static void write_atomically(const std::string& path, const std::string& bytes) {
    const std::string tmp = path + ".tmp";
    {
      Fd fd(check_unix(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
                       "open {}", tmp));
      write_full(fd.get(), bytes);
    }
    check_unix(std::rename(tmp.c_str(), path.c_str()), "rename {}", tmp);
  }

  std::string queue_;
};

}  // namespace ipclab::lab04
