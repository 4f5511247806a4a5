// calc_server — serves the calculator's versions 1 and 2 (calc.x) over TCP and UDP,
// registered with rpcbind, until SIGINT or SIGTERM; then removes its registrations and
// exits 0. A registration left by a server killed with -9 is replaced at start; a live
// server of the same program number is not (exit 1).
//
// --log writes one line per call on stderr:
//   calc_server: call xid=0x6c3f1a02 vers=2 proc=divide transport=udp latency_us=14
//   error=div_by_zero
#include <arpa/inet.h>   // ntohl
#include <sys/socket.h>  // getsockopt, SO_TYPE

#include <cstdint>  // std::uint32_t
#include <cstdio>   // stdout, std::fflush
#include <cstring>  // std::memcpy
#include <string>   // std::string
#include <vector>   // std::vector

#include "ipclab/clock.hpp"   // Stopwatch
#include "ipclab/main.hpp"    // run_main, CLI11
#include "ipclab/rpc.hpp"     // rpc::Server, rpc::hex, rpc::parse_prog
#include "ipclab/signal.hpp"  // ShutdownSignals, ignore_sigpipe
#include "lab16/calc.hpp"

extern "C" {
// rpcgen's dispatchers (calc_svc.c): decode the arguments, call the *_svc procedure, send
// its result, then call the freeresult function below.
void calc_prog_1(struct svc_req* rqstp, SVCXPRT* transp);
void calc_prog_2(struct svc_req* rqstp, SVCXPRT* transp);
}

namespace {

namespace lab = ipclab::lab16;

/// What the last call answered, seen by the freeresult functions after the reply went out.
struct LastResult {
  bool set = false;
  bool is_v2 = false;
  int v1 = 0;
  calc_result v2{};
};
LastResult g_last;  // one call at a time: the server is iterative
bool g_log = false;

bool is_stream(const SVCXPRT* xprt) {
  int type = 0;
  socklen_t len = sizeof type;
  return ::getsockopt(xprt->xp_fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

/// The request's transaction id. TI-RPC has no public way to read it; both layouts below
/// are as old as Sun's RPC: a datagram transport keeps the raw message in xp_p1 (the reply
/// is encoded over the request, and both begin with the xid, RFC 5531); a connection keeps
/// `struct cf_conn { enum xprt_stat strm_stat; u_int32_t x_id; ... }` in xp_p1.
std::uint32_t request_xid(const SVCXPRT* xprt, bool stream) {
  if (xprt->xp_p1 == nullptr) return 0;
  std::uint32_t xid = 0;
  if (stream) {
    std::memcpy(&xid, static_cast<const char*>(xprt->xp_p1) + sizeof(enum xprt_stat), sizeof xid);
    return xid;
  }
  std::memcpy(&xid, xprt->xp_p1, sizeof xid);
  return ntohl(xid);
}

const char* proc_name(std::uint32_t proc, std::uint32_t vers) {
  switch (proc) {
    case NULLPROC:
      return "null";
    case 1:
    case 2:
    case 3:
      return lab::op_name(static_cast<lab::Op>(proc - 1)).data();
    case 4:
      return vers >= 2 ? "divide" : nullptr;
    default:
      return nullptr;
  }
}

/// Runs rpcgen's dispatcher and, with --log, writes the call's line.
void logged(svc_req* rq, SVCXPRT* xprt, ipclab::rpc::Dispatch generated) {
  if (!g_log) {
    generated(rq, xprt);
    return;
  }
  g_last = {};
  const bool stream = is_stream(xprt);
  const ipclab::Stopwatch sw;
  generated(rq, xprt);
  const auto latency_us = sw.elapsed_ns() / 1000;
  const char* proc = proc_name(rq->rq_proc, rq->rq_vers);
  std::string outcome;
  if (proc == nullptr)
    outcome = "error=no_such_procedure";
  else if (rq->rq_proc == NULLPROC)
    outcome = "result=void";
  else if (!g_last.set)
    outcome = "error=garbage_args";  // the dispatcher could not decode the arguments
  else if (!g_last.is_v2)
    outcome = fmt::format("result={}", g_last.v1);
  else if (g_last.v2.status == CALC_OK)
    outcome = fmt::format("result={}", g_last.v2.calc_result_u.value);
  else
    outcome = g_last.v2.status == DIV_BY_ZERO ? "error=div_by_zero" : "error=overflow";
  fmt::print(stderr,
             "calc_server: call xid=0x{:08x} vers={} proc={} transport={} latency_us={} {}\n",
             request_xid(xprt, stream), rq->rq_vers, proc != nullptr ? proc : "?",
             stream ? "tcp" : "udp", latency_us, outcome);
}

void dispatch_v1(svc_req* rq, SVCXPRT* xprt) { logged(rq, xprt, calc_prog_1); }
void dispatch_v2(svc_req* rq, SVCXPRT* xprt) { logged(rq, xprt, calc_prog_2); }

}  // namespace

// The dispatchers call these after the reply is sent: the results hold no pointers to free
// (xdr_free would be the way if they did); they are kept for --log.
extern "C" int calc_prog_1_freeresult(SVCXPRT* /*xprt*/, xdrproc_t /*proc*/, caddr_t result) {
  g_last.set = true;
  g_last.is_v2 = false;
  std::memcpy(&g_last.v1, result, sizeof g_last.v1);
  return 1;
}
extern "C" int calc_prog_2_freeresult(SVCXPRT* /*xprt*/, xdrproc_t /*proc*/, caddr_t result) {
  g_last.set = true;
  g_last.is_v2 = true;
  std::memcpy(&g_last.v2, result, sizeof g_last.v2);
  return 1;
}

// run_main maps every exception to an exit code; only setting up the parser precedes it.
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  CLI::App app{
      "calc_server: the calculator over Sun RPC (calc.x versions 1 and 2), registered with\n"
      "rpcbind. Stops on SIGINT or SIGTERM and removes its registrations."};
  std::string proto = "both";
  std::string prog_text = fmt::format("0x{:08x}", CALC_PROG);
  std::string vers = "both";
  app.add_option("--proto", proto, "transports to serve: tcp, udp or both")
      ->check(CLI::IsMember({"tcp", "udp", "both"}));
  app.add_option("--prog", prog_text, "program number (default 0x31230000; hex or decimal)");
  app.add_option("--vers", vers, "versions to serve: 1, 2 or both")
      ->check(CLI::IsMember({"1", "2", "both"}));
  app.add_flag("--log", g_log,
               "one line per call on stderr: xid, version, procedure, transport, latency, result");

  return ipclab::run_main(app, argc, argv, [&] {
    const std::uint32_t prog = ipclab::rpc::parse_prog(prog_text);
    std::vector<std::string> netids;
    if (proto != "udp") netids.emplace_back("tcp");
    if (proto != "tcp") netids.emplace_back("udp");
    std::vector<ipclab::rpc::Version> versions;
    if (vers != "2") versions.push_back({CALC_VERS, dispatch_v1});
    if (vers != "1") versions.push_back({CALC_VERS2, dispatch_v2});

    ipclab::ShutdownSignals signals;  // before registering: a SIGTERM now still unregisters
    ipclab::ignore_sigpipe();         // a client that hangs up before its reply: EPIPE
    ipclab::rpc::Server server(prog, versions, netids);
    for (const auto& v : versions)
      fmt::print("Registered with portmapper: program {}, version {}\n", ipclab::rpc::hex(prog),
                 v.vers);
    (void)std::fflush(stdout);  // whoever waits for these lines (a pipe is block-buffered)
    server.run(signals.fd());
    return ipclab::kExitOk;  // ~Server removes the registrations
  });
}
