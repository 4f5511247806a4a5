// The server's procedures: the arithmetic of both versions, and the *_svc functions that
// rpcgen's dispatcher (calc_svc.c) calls with the decoded arguments. The dispatcher
// encodes what they write into *result and sends it (the reply) when they return TRUE.
#include <climits>  // INT_MIN, INT_MAX
#include <cstdint>  // std::int64_t, std::uint32_t

#include "lab16/calc.hpp"

namespace ipclab::lab16 {

calc_result evaluate(Op op, int a, int b) {
  calc_result r{};
  // Every result of two ints fits in 64 bits (INT_MIN * INT_MIN is 2^62): compute there,
  // then check the range. Division first checks its two traps: b == 0, INT_MIN / -1.
  std::int64_t v = 0;
  switch (op) {
    case Op::kAdd:
      v = std::int64_t{a} + b;
      break;
    case Op::kSubtract:
      v = std::int64_t{a} - b;
      break;
    case Op::kMultiply:
      v = std::int64_t{a} * b;
      break;
    case Op::kDivide:
      if (b == 0) {
        r.status = DIV_BY_ZERO;
        return r;
      }
      v = std::int64_t{a} / b;  // in 64 bits INT_MIN / -1 is 2^31: no trap, and out of range
      break;
  }
  if (v < INT_MIN || v > INT_MAX) {
    r.status = OVERFLOW;
    return r;
  }
  r.status = CALC_OK;
  r.calc_result_u.value = static_cast<int>(v);
  return r;
}

int evaluate_v1(Op op, int a, int b) {
  // Unsigned arithmetic wraps by definition; the conversion back to int is two's
  // complement (C++20).
  const auto ua = static_cast<std::uint32_t>(a);
  const auto ub = static_cast<std::uint32_t>(b);
  switch (op) {
    case Op::kAdd:
      return static_cast<int>(ua + ub);
    case Op::kSubtract:
      return static_cast<int>(ua - ub);
    default:
      return static_cast<int>(ua * ub);
  }
}

}  // namespace ipclab::lab16

namespace lab = ipclab::lab16;

// rpcgen -M: the arguments decoded, the result to fill in, the request (caller, transport).
// TRUE: the dispatcher sends *result as the reply.
bool_t add_1_svc(operands* args, int* result, svc_req* /*req*/) {
  *result = lab::evaluate_v1(lab::Op::kAdd, args->a, args->b);
  return TRUE;
}
bool_t subtract_1_svc(operands* args, int* result, svc_req* /*req*/) {
  *result = lab::evaluate_v1(lab::Op::kSubtract, args->a, args->b);
  return TRUE;
}
bool_t multiply_1_svc(operands* args, int* result, svc_req* /*req*/) {
  *result = lab::evaluate_v1(lab::Op::kMultiply, args->a, args->b);
  return TRUE;
}

bool_t add_2_svc(operands* args, calc_result* result, svc_req* /*req*/) {
  *result = lab::evaluate(lab::Op::kAdd, args->a, args->b);
  return TRUE;
}
bool_t subtract_2_svc(operands* args, calc_result* result, svc_req* /*req*/) {
  *result = lab::evaluate(lab::Op::kSubtract, args->a, args->b);
  return TRUE;
}
bool_t multiply_2_svc(operands* args, calc_result* result, svc_req* /*req*/) {
  *result = lab::evaluate(lab::Op::kMultiply, args->a, args->b);
  return TRUE;
}
bool_t divide_2_svc(operands* args, calc_result* result, svc_req* /*req*/) {
  *result = lab::evaluate(lab::Op::kDivide, args->a, args->b);
  return TRUE;
}
