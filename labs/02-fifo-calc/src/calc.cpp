// Lab 02 reference: parsing and evaluating one binary operation on 64-bit integers.
//
// The traps are all in the arithmetic: signed overflow is undefined behaviour in C++, and
// on x86 the idiv instruction raises SIGFPE for INT64_MIN / -1 *and* INT64_MIN % -1, so a
// server that computes them naively dies at the hands of one client. The GCC/Clang
// __builtin_*_overflow functions compute the exact result and say whether it fits.
#include <cstdint>  // INT64_MIN
#include <limits>   // std::numeric_limits

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // UsageError
#include "lab02/calc.hpp"

namespace ipclab::lab02 {
namespace {

/// The expression as it appears in a message: long ones shortened, so a reply stays small.
std::string shown(std::string_view text) {
  constexpr std::size_t kShown = 60;
  if (text.size() <= kShown) return std::string(text);
  return fmt::format("{}...", text.substr(0, kShown));
}

[[noreturn]] void malformed(std::string_view text, std::string_view what) {
  throw UsageError(fmt::format("malformed expression \"{}\": {}", shown(text), what));
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

void skip_blanks(std::string_view text, std::size_t& i) {
  while (i < text.size() && is_blank(text[i])) ++i;
}

/// [+-]?[0-9]+ at text[i], within the range of int64_t.
std::int64_t parse_number(std::string_view text, std::size_t& i, std::string_view where) {
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  if (i >= text.size() || !is_digit(text[i]))
    malformed(text, fmt::format("expected a number {}", where));
  // The magnitude in unsigned arithmetic: -9223372036854775808 has no positive twin.
  const std::uint64_t limit =
      negative ? std::uint64_t{1} << 63 : std::uint64_t{std::numeric_limits<std::int64_t>::max()};
  std::uint64_t magnitude = 0;
  const std::size_t start = i;
  while (i < text.size() && is_digit(text[i])) {
    const auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (magnitude > (limit - digit) / 10)
      malformed(text, fmt::format("number {}{} does not fit in 64 bits", negative ? "-" : "",
                                  text.substr(start, 30)));
    magnitude = magnitude * 10 + digit;
    ++i;
  }
  if (!negative) return static_cast<std::int64_t>(magnitude);
  // Two's complement negation in unsigned arithmetic, then a value-preserving conversion.
  return magnitude == limit ? std::numeric_limits<std::int64_t>::min()
                            : -static_cast<std::int64_t>(magnitude);
}

Reply overflow(const Expr& e) {
  return {Status::kOverflow, 0,
          fmt::format("overflow: {} {} {} does not fit in 64 bits", e.lhs, static_cast<char>(e.op),
                      e.rhs)};
}

}  // namespace

Expr parse_expression(std::string_view text) {
  std::size_t i = 0;
  skip_blanks(text, i);
  Expr e;
  e.lhs = parse_number(text, i, "at the start");
  skip_blanks(text, i);
  if (i >= text.size()) malformed(text, "expected an operator (+ - * / %) after the first number");
  const char op = text[i];
  if (op != '+' && op != '-' && op != '*' && op != '/' && op != '%')
    malformed(text, fmt::format("'{}' is not an operator (+ - * / %)", op));
  e.op = static_cast<Op>(op);
  ++i;
  skip_blanks(text, i);
  e.rhs = parse_number(text, i, fmt::format("after '{}'", op));
  skip_blanks(text, i);
  if (i != text.size())
    malformed(text,
              fmt::format("unexpected '{}' after the second number (one operation only)", text[i]));
  return e;
}

Reply evaluate(const Expr& e) {
  std::int64_t r = 0;
  switch (e.op) {
    case Op::kAdd:
      if (__builtin_add_overflow(e.lhs, e.rhs, &r)) return overflow(e);
      break;
    case Op::kSub:
      if (__builtin_sub_overflow(e.lhs, e.rhs, &r)) return overflow(e);
      break;
    case Op::kMul:
      if (__builtin_mul_overflow(e.lhs, e.rhs, &r)) return overflow(e);
      break;
    case Op::kDiv:
    case Op::kMod:
      if (e.rhs == 0) return {Status::kDivisionByZero, 0, "division by zero"};
      // The one quotient that does not fit; idiv traps on it (and on its remainder).
      if (e.lhs == std::numeric_limits<std::int64_t>::min() && e.rhs == -1) {
        if (e.op == Op::kDiv) return overflow(e);
        r = 0;
        break;
      }
      r = e.op == Op::kDiv ? e.lhs / e.rhs : e.lhs % e.rhs;
      break;
    default:
      return {Status::kMalformed, 0, "malformed expression: unknown operator"};
  }
  return {Status::kOk, r, ""};
}

Reply compute(std::string_view text) {
  try {
    return evaluate(parse_expression(text));
  } catch (const UsageError& e) {
    return {Status::kMalformed, 0, e.what()};
  }
}

}  // namespace ipclab::lab02
