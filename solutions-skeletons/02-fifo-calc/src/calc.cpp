// Lab 02: parsing and evaluating one binary operation on 64-bit integers. Read the
// contract in include/lab02/calc.hpp (parse_expression, evaluate, compute) and the
// README's "Arithmetic" section.
#include "lab02/calc.hpp"
#include "ipclab/error.hpp"  // ipclab::UsageError, ipclab::NotImplemented

namespace ipclab::lab02 {

Expr parse_expression([[maybe_unused]] std::string_view text) {
  // TODO(lab02): walk the text once, never reading past text.size(): blanks, a number
  // ([+-]?digits, within int64_t: build the magnitude in std::uint64_t and check before
  // each digit), blanks, one operator, blanks, a number, blanks, end. Anything else throws
  // ipclab::UsageError with a message that begins with "malformed expression" and says
  // what was expected.
  throw NotImplemented("TODO(lab02): implement parse_expression() in src/calc.cpp");
}

Reply evaluate([[maybe_unused]] const Expr& expr) {
  // TODO(lab02): compute lhs op rhs without undefined behaviour: __builtin_add_overflow and
  // friends for + - *; for / and %: a zero divisor, then the one quotient that does not fit
  // (INT64_MIN / -1 traps on x86, and so does INT64_MIN % -1, whose answer is 0).
  throw NotImplemented("TODO(lab02): implement evaluate() in src/calc.cpp");
}

Reply compute([[maybe_unused]] std::string_view text) {
  // TODO(lab02): parse_expression then evaluate; a UsageError becomes a kMalformed reply
  // carrying its message. Never throws.
  throw NotImplemented("TODO(lab02): implement compute() in src/calc.cpp");
}

}  // namespace ipclab::lab02
