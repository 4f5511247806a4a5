// ipc-clean's Sun RPC part: rpcbind registrations of our program numbers whose server is
// gone (a server killed with -9 leaves them; rpcbind keeps them forever). Our numbers:
// names::rpc_program() of each namespace cleaned; with --all-ns, any number in the
// transient range 0x40000000-0x5fffffff registered by this user (graders' namespaces are
// gone once their tests end). A registration whose server still answers is never touched.
#include <unistd.h>  // geteuid

#include <set>     // std::set
#include <string>  // std::string
#include <vector>  // std::vector

#include <fmt/core.h>  // fmt::print

#include "ipclab/names.hpp"  // names::rpc_program, kRpcTransientFirst/Last
#include "ipclab/rpc.hpp"    // rpc::mappings, rpc::remove_stale, rpc::describe

/// Lists (dry_run) or removes stale registrations; returns how many were found.
int clean_rpc_registrations(const std::vector<std::string>& spaces, bool all_ns, bool dry_run) {
  namespace names = ipclab::names;
  std::set<std::uint32_t> progs;
  for (const auto& space : spaces) progs.insert(names::rpc_program(space));
  if (all_ns) {
    const std::string me = ::geteuid() == 0 ? "superuser" : std::to_string(::geteuid());
    for (const auto& m : ipclab::rpc::mappings().value_or(std::vector<ipclab::rpc::Mapping>{}))
      if (m.prog >= names::kRpcTransientFirst && m.prog <= names::kRpcTransientLast &&
          m.owner == me)
        progs.insert(m.prog);
  }
  int found = 0;
  for (std::uint32_t prog : progs)
    for (const auto& m : ipclab::rpc::remove_stale(prog, dry_run)) {
      ++found;
      fmt::print("{} rpcbind {} (its server is gone)\n", dry_run ? "found  " : "removed",
                 ipclab::rpc::describe(m));
    }
  return found;
}
