// calc_server_auth --auth=sys — the calculator of calc_auth.x behind an AUTH_SYS policy,
// over TCP and UDP (registered with rpcbind) and, with --local, an AF_UNIX socket, until
// SIGINT or SIGTERM; then it removes its registrations and its socket and exits 0.
//
//   --allow-uids=LIST   uids whose AUTH_SYS calls are served (default: the server's own)
//   --public=PROC,...   procedures an AUTH_NONE call may use (add, subtract, multiply,
//                       accumulate); any other AUTH_NONE call: AUTH_TOOWEAK
//   --local PATH        also serve on this socket (a bare name: in the run directory),
//                       where a claimed uid must be the connecting process's own
//   --drc-size N        the duplicate-request cache's capacity (ACCUMULATE replies)
//
// One line per call on stderr, e.g.
//   calc_server_auth: call proc=add flavor=AUTH_SYS uid=1000 gid=1000 machine=box
//   transport=local peer_uid=1000 verdict=ok
#include <sys/socket.h>  // getsockopt, getsockname, SO_TYPE
#include <unistd.h>      // geteuid

#include <charconv>  // std::from_chars
#include <cstdint>   // std::uint32_t
#include <cstdio>    // stdout, std::fflush
#include <string>    // std::string
#include <vector>    // std::vector

#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/rpc.hpp"     // rpc::Server, rpc::parse_prog
#include "ipclab/signal.hpp"  // ShutdownSignals, ignore_sigpipe
#include "lab17/calc_auth.hpp"

extern "C" {
// rpcgen's dispatcher (calc_auth_svc.c): decodes the arguments, calls the *_svc procedure,
// sends its result.
void calc_auth_prog_1(struct svc_req* rqstp, SVCXPRT* transp);
}

namespace {

namespace lab = ipclab::lab17;

const char* transport_of(const SVCXPRT* xprt) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(xprt->xp_fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
      ss.ss_family == AF_UNIX)
    return "local";
  int type = 0;
  socklen_t tlen = sizeof type;
  return ::getsockopt(xprt->xp_fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_DGRAM
             ? "udp"
             : "tcp";
}

const char* flavor_name(std::uint32_t flavor) {
  switch (flavor) {
    case AUTH_NONE:
      return "AUTH_NONE";
    case AUTH_SYS:
      return "AUTH_SYS";
    case AUTH_SHORT:
      return "AUTH_SHORT";
    case AUTH_DES:
      return "AUTH_DH";
    default:
      return "other";
  }
}

const char* verdict_name(auth_stat st) {
  switch (st) {
    case AUTH_OK:
      return "ok";
    case AUTH_TOOWEAK:
      return "AUTH_TOOWEAK";
    case AUTH_BADCRED:
      return "AUTH_BADCRED";
    case AUTH_REJECTEDCRED:
      return "AUTH_REJECTEDCRED";
    default:
      return "refused";
  }
}

/// The policy first (NULLPROC, the ping rpcinfo and liveness checks use, is open to all),
/// then rpcgen's dispatcher; one log line per call.
void dispatch(svc_req* rq, SVCXPRT* xprt) {
  if (rq->rq_proc == NULLPROC) {
    calc_auth_prog_1(rq, xprt);
    return;
  }
  auto& state = lab::server_state();
  const lab::Caller who = lab::identify(rq);
  const auth_stat verdict = lab::decide(state.policy, who, rq->rq_proc);
  const char* proc = rq->rq_proc >= 1 && rq->rq_proc <= 4
                         ? lab::op_name(static_cast<lab::Op>(rq->rq_proc - 1)).data()
                         : "?";
  std::string line =
      fmt::format("calc_server_auth: call proc={} flavor={}", proc, flavor_name(who.flavor));
  if (who.flavor == AUTH_SYS)
    line += fmt::format(" uid={} gid={} machine={}", who.uid, who.gid, who.machine);
  line += fmt::format(" transport={}", transport_of(xprt));
  if (who.peer_uid) line += fmt::format(" peer_uid={}", *who.peer_uid);
  line += fmt::format(" verdict={}", verdict_name(verdict));
  if (verdict != AUTH_OK) {
    svcerr_auth(xprt, verdict);  // the reply: MSG_DENIED, AUTH_ERROR, the reason
  } else {
    calc_auth_prog_1(rq, xprt);
    if (rq->rq_proc == ACCUMULATE)
      line += state.last_accumulate == lab::DuplicateCache::Found::kReplay    ? " drc=replay"
              : state.last_accumulate == lab::DuplicateCache::Found::kExpired ? " drc=expired"
                                                                              : " drc=new";
  }
  fmt::print(stderr, "{}\n", line);
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = list.find(',', start);
    const std::size_t end = comma == std::string::npos ? list.size() : comma;
    if (end > start) out.push_back(list.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

uid_t parse_uid(const std::string& text) {
  unsigned long v = 0;
  const auto* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end || v >= 0xffffffffUL)
    throw ipclab::UsageError(fmt::format("--allow-uids: \"{}\" is not a uid", text));
  return static_cast<uid_t>(v);
}

}  // namespace

// The dispatcher calls this after the reply is sent: the results hold no pointers.
extern "C" int calc_auth_prog_1_freeresult(SVCXPRT* /*xprt*/, xdrproc_t /*proc*/,
                                           caddr_t /*result*/) {
  return 1;
}

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "calc_server_auth: the calculator over Sun RPC behind an AUTH_SYS policy, registered\n"
      "with rpcbind. Stops on SIGINT or SIGTERM and removes its registrations."};
  std::string auth;
  std::string allow;
  std::string pub;
  std::string local;
  std::string prog_text = fmt::format("0x{:08x}", CALC_AUTH_PROG);
  std::size_t drc_size = 1024;
  app.add_option("--auth", auth, "the flavor required: sys (AUTH_SYS)")
      ->required()
      ->check(CLI::IsMember({"sys"}));
  app.add_option("--allow-uids", allow, "comma-separated uids allowed (default: the server's)");
  app.add_option("--public", pub, "comma-separated procedures AUTH_NONE may call");
  app.add_option("--local", local, "also serve on this AF_UNIX socket (a bare name: run dir)");
  app.add_option("--prog", prog_text, "program number (default 0x31230001; hex or decimal)");
  app.add_option("--drc-size", drc_size, "duplicate-request cache capacity (replies)")
      ->check(CLI::Range(1, 10'000'000));

  return ipclab::run_main(app, argc, argv, [&] {
    const std::uint32_t prog = ipclab::rpc::parse_prog(prog_text);
    auto& state = lab::server_state();
    if (allow.empty()) {
      state.policy.allowed_uids.insert(::geteuid());
    } else {
      for (const auto& u : split(allow)) state.policy.allowed_uids.insert(parse_uid(u));
    }
    for (const auto& name : split(pub)) {
      const auto op = lab::parse_op(name);
      if (!op)
        throw ipclab::UsageError(fmt::format(
            "--public: unknown procedure \"{}\" (add, subtract, multiply, accumulate)", name));
      state.policy.public_procs.insert(lab::procedure(*op));
    }
    state.cache = lab::DuplicateCache(drc_size);

    ipclab::ShutdownSignals signals;  // before registering: a SIGTERM now still unregisters
    ipclab::ignore_sigpipe();         // a client that hangs up before its reply: EPIPE
    ipclab::rpc::Server server(prog, {{CALC_AUTH_VERS, dispatch}}, {"tcp", "udp"});
    if (!local.empty()) server.serve_local(lab::local_socket_path(local));
    fmt::print("Registered with rpcbind (AUTH_SYS)\n");
    (void)std::fflush(stdout);  // whoever waits for this line (a pipe is block-buffered)
    server.run(signals.fd());
    return ipclab::kExitOk;  // ~Server removes the registrations and the socket
  });
}
