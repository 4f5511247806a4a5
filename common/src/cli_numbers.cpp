#include "ipclab/cli_numbers.hpp"

#include <charconv>          // std::from_chars
#include <cmath>             // std::nearbyint, std::fabs
#include <initializer_list>  // std::initializer_list
#include <limits>            // std::numeric_limits
#include <system_error>      // std::errc
#include <utility>           // std::pair

#include <fmt/core.h>  // fmt::format

#include "ipclab/error.hpp"  // UsageError

namespace ipclab {
namespace {

constexpr double kTwoTo63 = 9223372036854775808.0;
constexpr double kTwoTo64 = 18446744073709551616.0;

[[noreturn]] void fail(std::string_view option, const std::string& reason) {
  throw UsageError(option.empty() ? reason : fmt::format("{}: {}", option, reason));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != prefix[i]) return false;
  return true;
}

bool equal_nocase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && starts_with_nocase(a, b);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// A number as written: sign, value, whether it was digits only (then `whole` is exact),
/// and the unit text after it.
struct Lexed {
  bool negative = false;
  bool digits_only = true;
  bool whole_overflow = false;  // digits only, but more than 2^64 - 1
  std::uint64_t whole = 0;
  double value = 0;  // always set (HUGE_VAL when beyond double)
  std::string_view unit;
};

/// Splits `text` into number and unit; refuses empty, nan, inf and non-numbers.
Lexed lex(std::string_view option, std::string_view raw, const char* kind, const char* examples) {
  const std::string_view text = trim(raw);
  if (text.empty()) fail(option, "empty value");
  Lexed out;
  std::size_t i = 0;
  if (text[i] == '-' || text[i] == '+') out.negative = text[i++] == '-';
  const std::string_view body = text.substr(i);
  if (starts_with_nocase(body, "nan")) fail(option, fmt::format("\"{}\" is not a number", raw));
  if (starts_with_nocase(body, "inf"))
    fail(option, fmt::format("\"{}\" is not a finite number", raw));
  const std::size_t start = i;
  std::size_t digits = 0;
  while (i < text.size() && is_digit(text[i])) ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    out.digits_only = false;
    ++i;
    while (i < text.size() && is_digit(text[i])) ++i, ++digits;
  }
  if (digits == 0)
    fail(option, fmt::format("\"{}\" is not a {} (examples: {})", raw, kind, examples));
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    std::size_t j = i + 1;
    if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
    if (j < text.size() && is_digit(text[j])) {
      out.digits_only = false;
      i = j;
      while (i < text.size() && is_digit(text[i])) ++i;
    }
  }
  const std::string_view number = text.substr(start, i - start);
  const char* first = number.data();
  const char* last = number.data() + number.size();
  if (std::from_chars(first, last, out.value).ec == std::errc::result_out_of_range)
    out.value = std::numeric_limits<double>::infinity();  // beyond double: out of any range
  if (out.digits_only)
    out.whole_overflow =
        std::from_chars(first, last, out.whole).ec == std::errc::result_out_of_range;
  out.unit = trim(text.substr(i));
  return out;
}

/// Sets `out` to `n` times `factor`; false when that exceeds `limit`. A fraction that does
/// not come out whole is refused (UsageError) when `exact`, else rounded to the nearest.
bool scale_unsigned(std::string_view option, std::string_view raw, const Lexed& n,
                    std::uint64_t factor, std::uint64_t limit, bool exact, std::uint64_t& out) {
  if (n.digits_only) {
    if (n.whole_overflow || n.whole > limit / factor) return false;
    out = n.whole * factor;
    return true;
  }
  const double d = n.value * static_cast<double>(factor);
  if (!(d < kTwoTo64)) return false;
  const double r = std::nearbyint(d);
  if (exact && std::fabs(d - r) > 1e-6)
    fail(option, fmt::format("\"{}\" is not a whole number", raw));
  out = static_cast<std::uint64_t>(r);
  return out <= limit;
}

[[noreturn]] void out_of_range(std::string_view option, std::string_view raw, const std::string& lo,
                               const std::string& hi) {
  fail(option, fmt::format("\"{}\" is out of range ({} to {})", raw, lo, hi));
}

/// Looks `unit` up in a table; refuses an unknown unit naming the known ones.
std::uint64_t unit_factor(std::string_view option, std::string_view raw, std::string_view unit,
                          std::initializer_list<std::pair<std::string_view, std::uint64_t>> table,
                          bool case_sensitive, const char* known) {
  for (const auto& [name, factor] : table)
    if (case_sensitive ? unit == name : equal_nocase(unit, name)) return factor;
  fail(option, fmt::format("\"{}\": unknown unit \"{}\" (use {})", raw, unit, known));
}

/// Unsigned quantity with a unit table: the body of parse_count and parse_size.
std::uint64_t parse_unsigned(std::string_view option, std::string_view text, std::uint64_t min,
                             std::uint64_t max, const Lexed& n, std::uint64_t factor,
                             std::string (*show)(std::uint64_t)) {
  std::uint64_t v = 0;
  const bool fits =
      (!n.negative || n.value == 0) && scale_unsigned(option, text, n, factor, max, true, v);
  if (!fits || v < min) out_of_range(option, text, show(min), show(max));
  return v;
}

std::string show_count(std::uint64_t v) { return std::to_string(v); }
std::string show_size(std::uint64_t v) { return format_size(v); }

}  // namespace

std::chrono::nanoseconds parse_duration(std::string_view option, std::string_view text,
                                        const DurationRange& range) {
  const Lexed n = lex(option, text, "duration", "500ms, 2s, 1.5m");
  const auto factor = n.unit.empty() ? static_cast<std::uint64_t>(range.unit)
                                     : unit_factor(option, text, n.unit,
                                                   {{"ns", 1},
                                                    {"us", 1'000},
                                                    {"ms", 1'000'000},
                                                    {"s", 1'000'000'000},
                                                    {"m", 60'000'000'000},
                                                    {"h", 3'600'000'000'000}},
                                                   true, "ns, us, ms, s, m, h");
  const std::uint64_t limit =
      range.max.count() < 0 ? 0 : static_cast<std::uint64_t>(range.max.count());
  std::uint64_t v = 0;  // a fraction of a nanosecond is rounded to the nearest
  const bool fits =
      (!n.negative || n.value == 0) && scale_unsigned(option, text, n, factor, limit, false, v);
  if (!fits || static_cast<std::int64_t>(v) < range.min.count())
    out_of_range(option, text, format_duration(range.min), format_duration(range.max));
  return std::chrono::nanoseconds(static_cast<std::int64_t>(v));
}

std::uint64_t parse_count(std::string_view option, std::string_view text, std::uint64_t min,
                          std::uint64_t max) {
  const Lexed n = lex(option, text, "count", "1000, 100k, 1M");
  const std::uint64_t factor =
      n.unit.empty()
          ? 1
          : unit_factor(option, text, n.unit,
                        {{"k", 1'000}, {"m", 1'000'000}, {"g", 1'000'000'000}}, false, "k, M, G");
  return parse_unsigned(option, text, min, max, n, factor, show_count);
}

std::uint64_t parse_size(std::string_view option, std::string_view text, std::uint64_t min,
                         std::uint64_t max) {
  const Lexed n = lex(option, text, "size", "4096, 64KiB, 1MB");
  constexpr std::uint64_t K = 1024;
  const std::uint64_t factor = n.unit.empty()
                                   ? 1
                                   : unit_factor(option, text, n.unit,
                                                 {{"b", 1},
                                                  {"k", K},
                                                  {"kb", K},
                                                  {"kib", K},
                                                  {"m", K * K},
                                                  {"mb", K * K},
                                                  {"mib", K * K},
                                                  {"g", K * K * K},
                                                  {"gb", K * K * K},
                                                  {"gib", K * K * K},
                                                  {"t", K * K * K * K},
                                                  {"tb", K * K * K * K},
                                                  {"tib", K * K * K * K}},
                                                 false, "B, K, KiB, M, MiB, G, GiB, T, TiB");
  return parse_unsigned(option, text, min, max, n, factor, show_size);
}

std::int64_t parse_integer(std::string_view option, std::string_view text, std::int64_t min,
                           std::int64_t max) {
  const Lexed n = lex(option, text, "whole number", "42, -7");
  if (!n.unit.empty()) fail(option, fmt::format("\"{}\" is not a whole number", text));
  std::int64_t v = 0;
  bool fits = true;
  if (n.digits_only) {
    const std::uint64_t limit = std::uint64_t{1} << 63;  // |INT64_MIN|
    fits = !n.whole_overflow && (n.negative ? n.whole <= limit : n.whole < limit);
    if (fits)
      v = n.negative ? static_cast<std::int64_t>(0 - n.whole) : static_cast<std::int64_t>(n.whole);
  } else {
    const double d = n.negative ? -n.value : n.value;
    fits = d >= -kTwoTo63 && d < kTwoTo63;
    if (fits) {
      const double r = std::nearbyint(d);
      if (std::fabs(d - r) > 1e-6) fail(option, fmt::format("\"{}\" is not a whole number", text));
      v = static_cast<std::int64_t>(r);
    }
  }
  if (!fits || v < min || v > max)
    out_of_range(option, text, std::to_string(min), std::to_string(max));
  return v;
}

std::string format_duration(std::chrono::nanoseconds d) {
  const std::int64_t ns = d.count();
  if (ns == 0) return "0s";
  constexpr std::pair<std::int64_t, const char*> kUnits[] = {{3'600'000'000'000, "h"},
                                                             {60'000'000'000, "m"},
                                                             {1'000'000'000, "s"},
                                                             {1'000'000, "ms"},
                                                             {1'000, "us"}};
  for (const auto& [factor, name] : kUnits)
    if (ns % factor == 0) return fmt::format("{}{}", ns / factor, name);
  return fmt::format("{}ns", ns);
}

std::string format_size(std::uint64_t bytes) {
  constexpr std::pair<std::uint64_t, const char*> kUnits[] = {{std::uint64_t{1} << 40, "TiB"},
                                                              {std::uint64_t{1} << 30, "GiB"},
                                                              {std::uint64_t{1} << 20, "MiB"},
                                                              {std::uint64_t{1} << 10, "KiB"}};
  if (bytes != 0)
    for (const auto& [factor, name] : kUnits)
      if (bytes % factor == 0) return fmt::format("{}{}", bytes / factor, name);
  return fmt::format("{}B", bytes);
}

void refuse_empty_values(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return;  // what follows is positional
    if (arg.size() > 3 && arg.starts_with("--") && arg.find('=') == arg.size() - 1) {
      const std::string_view name = arg.substr(0, arg.size() - 1);
      throw UsageError(
          fmt::format("{}: empty value (write {}=VALUE, or leave the option out)", name, name));
    }
  }
}

}  // namespace ipclab
