// Lab 16: the server's procedures. Read the contract in include/lab16/calc.hpp and the
// README's "The server" section before you start. rpcgen's dispatcher (calc_svc.c, in
// the build directory) shows how these functions are called.
#include "ipclab/error.hpp"  // ipclab::NotImplemented
#include "lab16/calc.hpp"

namespace ipclab::lab16 {

calc_result evaluate([[maybe_unused]] Op op, [[maybe_unused]] int a, [[maybe_unused]] int b) {
  // TODO(lab16): a op b exactly, or DIV_BY_ZERO, or OVERFLOW. Compute where the result
  // cannot overflow (every product of two ints fits in 64 bits), check b == 0 before you
  // divide, then check that the result fits in an int. INT_MIN / -1 must not trap.
  throw NotImplemented("TODO(lab16): implement evaluate() in src/server.cpp");
}

int evaluate_v1([[maybe_unused]] Op op, [[maybe_unused]] int a, [[maybe_unused]] int b) {
  // TODO(lab16): the result wrapped to 32 bits, without undefined behaviour (unsigned
  // arithmetic wraps by definition).
  throw NotImplemented("TODO(lab16): implement evaluate_v1() in src/server.cpp");
}

}  // namespace ipclab::lab16

// TODO(lab16): the seven procedures rpcgen's dispatcher calls (declared in calc.h). Each
// writes its answer into *result and returns TRUE (FALSE: no reply is sent at all).
bool_t add_1_svc([[maybe_unused]] operands* args, [[maybe_unused]] int* result,
                 [[maybe_unused]] svc_req* req) {
  throw ipclab::NotImplemented("TODO(lab16): implement add_1_svc() in src/server.cpp");
}
bool_t subtract_1_svc([[maybe_unused]] operands* args, [[maybe_unused]] int* result,
                      [[maybe_unused]] svc_req* req) {
  throw ipclab::NotImplemented("TODO(lab16): implement subtract_1_svc() in src/server.cpp");
}
bool_t multiply_1_svc([[maybe_unused]] operands* args, [[maybe_unused]] int* result,
                      [[maybe_unused]] svc_req* req) {
  throw ipclab::NotImplemented("TODO(lab16): implement multiply_1_svc() in src/server.cpp");
}
bool_t add_2_svc([[maybe_unused]] operands* args, [[maybe_unused]] calc_result* result,
                 [[maybe_unused]] svc_req* req) {
  throw ipclab::NotImplemented("TODO(lab16): implement add_2_svc() in src/server.cpp");
}
bool_t subtract_2_svc([[maybe_unused]] operands* args, [[maybe_unused]] calc_result* result,
                      [[maybe_unused]] svc_req* req) {
  throw ipclab::NotImplemented("TODO(lab16): implement subtract_2_svc() in src/server.cpp");
}
bool_t multiply_2_svc([[maybe_unused]] operands* args, [[maybe_unused]] calc_result* result,
                      [[maybe_unused]] svc_req* req) {
  throw ipclab::NotImplemented("TODO(lab16): implement multiply_2_svc() in src/server.cpp");
}
bool_t divide_2_svc([[maybe_unused]] operands* args, [[maybe_unused]] calc_result* result,
                    [[maybe_unused]] svc_req* req) {
  throw ipclab::NotImplemented("TODO(lab16): implement divide_2_svc() in src/server.cpp");
}
