// ipc-clean [--ns NS | --all-ns] [--dry-run]: lists and removes IPC objects the kit left
// behind — POSIX shm, semaphores and message queues, SysV objects keyed from our key
// files, FIFOs, sockets and single-instance lock files in run directories, and rpcbind
// registrations of our program numbers whose server is gone. A lock file a running server
// holds is listed as live and left alone (it is not a leftover). Exit 1 when --dry-run
// finds something, so CI can assert "clean".
#include <filesystem>  // std::filesystem
#include <string>      // std::string
#include <vector>      // std::vector

#include "ipclab/inventory.hpp"  // inventory, remove_object, known_namespaces
#include "ipclab/main.hpp"       // run_main, CLI11
#include "ipclab/names.hpp"      // names::*

namespace fs = std::filesystem;

// ipc_clean_rpc.cpp: rpcbind registrations of our program numbers whose server is gone.
int clean_rpc_registrations(const std::vector<std::string>& spaces, bool all_ns, bool dry_run);

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{"ipc-clean: list and remove IPC objects left behind by ipc-labs programs"};
  std::string ns;
  bool all_ns = false;
  bool dry_run = false;
  app.add_option("--ns", ns, "namespace to clean (default: $IPCLAB_NS or the user name)");
  app.add_flag("--all-ns", all_ns, "clean every namespace found");
  app.add_flag("-n,--dry-run", dry_run, "only list; exit 1 if anything is found");

  return ipclab::run_main(app, argc, argv, [&] {
    if (!ns.empty() && all_ns) throw ipclab::UsageError("--ns and --all-ns exclude each other");
    if (!ns.empty() && !ipclab::names::valid_ns(ns))
      throw ipclab::UsageError(fmt::format("namespace \"{}\": use 1-64 of [A-Za-z0-9_-]", ns));
    std::vector<std::string> spaces;
    if (all_ns)
      spaces = ipclab::known_namespaces();
    else
      spaces.push_back(ns.empty() ? ipclab::names::ns() : ns);

    int found = 0, failed = 0;
    for (const auto& space : spaces) {
      // The current namespace may have its run directory moved by IPCLAB_RUNDIR.
      const bool current = space == ipclab::names::ns() && std::getenv("IPCLAB_RUNDIR") != nullptr;
      const std::string dir =
          current ? ipclab::names::rundir() : ipclab::names::rundir_base() + "/" + space;
      for (const auto& obj : ipclab::inventory(space, dir, ipclab::LockFiles::kList)) {
        if (obj.live) {
          fmt::print("live    {} (namespace {}): left alone\n", ipclab::describe(obj), space);
          continue;
        }
        ++found;
        if (dry_run) {
          fmt::print("found   {} (namespace {})\n", ipclab::describe(obj), space);
          continue;
        }
        std::string why;
        if (ipclab::remove_object(obj, &why)) {
          fmt::print("removed {} (namespace {})\n", ipclab::describe(obj), space);
        } else {
          ++failed;
          fmt::print(stderr, "error: cannot remove {}: {}\n", ipclab::describe(obj), why);
        }
      }
      // A run directory holding only key files and the queue manifest is spent: remove it.
      if (!dry_run && fs::is_directory(dir)) {
        bool spent = true;
        for (const auto& e : fs::directory_iterator(dir)) {
          const auto name = e.path().filename().string();
          const bool bookkeeping =
              name == ".mqueues" || (name.size() > 4 && name.ends_with(".key"));
          spent = spent && bookkeeping && e.is_regular_file();
        }
        std::error_code ec;
        if (spent) fs::remove_all(dir, ec);
      }
    }
    found += clean_rpc_registrations(spaces, all_ns, dry_run);
    if (found == 0)
      fmt::print("clean: nothing left behind{}\n", all_ns ? " in any namespace" : "");
    else if (dry_run)
      fmt::print("{} object(s) left behind; run without --dry-run to remove\n", found);
    if (failed > 0) return ipclab::kExitSystem;
    return dry_run && found > 0 ? ipclab::kExitFailed : ipclab::kExitOk;
  });
}
