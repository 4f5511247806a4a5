// Lab 16: the client's call wrapper. Read the contract in include/lab16/calc.hpp
// (Calculator, RpcError) and the README's "The client" section before you start.
#include "ipclab/error.hpp"  // ipclab::UsageError, ipclab::NotImplemented
#include "lab16/calc.hpp"

namespace ipclab::lab16 {

Calculator::Calculator(const ClientOptions& opts) : opts_(opts) {
  // TODO(lab16):
  //  1. clnt_create_timed(host, prog, vers, "tcp" or "udp", &timeout): rpcbind is asked
  //     for the port, and TCP connects;
  //  2. on failure, read rpc_createerr.cf_stat and throw the RpcError of its kind (a
  //     refused connection can be rpcbind's or the server's: ask rpcbind itself);
  //  3. clnt_control: CLSET_TIMEOUT (the stubs' 25 s otherwise), and for UDP
  //     CLSET_RETRY_TIMEOUT (how long before the request is sent again).
  throw NotImplemented("TODO(lab16): implement Calculator::Calculator() in src/client.cpp");
}

Calculator::~Calculator() {
  // TODO(lab16): clnt_destroy the handle, if there is one.
}

Answer Calculator::call([[maybe_unused]] Op op, [[maybe_unused]] int a, [[maybe_unused]] int b) {
  // TODO(lab16): refuse kDivide on version 1 (UsageError); call the version's stub
  // (add_1 ... multiply_1 or add_2 ... divide_2); on a clnt_stat other than RPC_SUCCESS,
  // clnt_geterr and throw the RpcError of its kind (RPC_PROGVERSMISMATCH carries the
  // versions the server has).
  throw NotImplemented("TODO(lab16): implement Calculator::call() in src/client.cpp");
}

}  // namespace ipclab::lab16
