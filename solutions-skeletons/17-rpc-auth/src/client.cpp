// Lab 17: the client's side. Read the contract in include/lab17/calc_auth.hpp
// (AuthCalculator, AuthError, NetworkError) and the README's "The client" section before
// you start.
#include "ipclab/error.hpp"  // ipclab::NotImplemented
#include "lab17/calc_auth.hpp"

namespace ipclab::lab17 {

AuthCalculator::AuthCalculator(const ClientOptions& opts) : opts_(opts) {
  // TODO(lab17):
  //  1. the handle: clnt_create_timed(host, prog, CALC_AUTH_VERS, "tcp" or "udp", &timeout),
  //     or for the local transport a socket(AF_UNIX, SOCK_STREAM) handed to clnt_vc_create
  //     with the path's sockaddr_un (it connects), and CLSET_FD_CLOSE;
  //  2. on failure throw NetworkError (clnt_spcreateerror says why);
  //  3. CLSET_TIMEOUT (and CLSET_RETRY_TIMEOUT for UDP);
  //  4. the credential: auth_destroy the handle's AUTH_NONE and put authunix_create(machine,
  //     uid, gid, 0, nullptr) or authnone_create() in clnt_->cl_auth.
  throw NotImplemented("TODO(lab17): implement AuthCalculator::AuthCalculator() in src/client.cpp");
}

AuthCalculator::~AuthCalculator() {
  // TODO(lab17): auth_destroy the credential and clnt_destroy the handle, if there is one.
}

int AuthCalculator::call([[maybe_unused]] Op op, [[maybe_unused]] int a, [[maybe_unused]] int b) {
  // TODO(lab17): add_1, subtract_1 or multiply_1; RPC_AUTHERROR -> AuthError(re_why from
  // clnt_geterr, clnt_sperrno text), any other failure -> NetworkError.
  throw NotImplemented("TODO(lab17): implement AuthCalculator::call() in src/client.cpp");
}

accum_result AuthCalculator::accumulate([[maybe_unused]] std::uint64_t client_id,
                                        [[maybe_unused]] std::uint64_t request_id,
                                        [[maybe_unused]] int amount) {
  // TODO(lab17): accumulate_1 with the ids; errors as call().
  throw NotImplemented("TODO(lab17): implement AuthCalculator::accumulate() in src/client.cpp");
}

}  // namespace ipclab::lab17
