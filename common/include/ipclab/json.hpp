// JSON output pieces: the graders' results files and the benchmarks' --format=json
// (the shape in docs/benchmarking.md) write JSON by hand; these two make the values valid.
#pragma once

#include <string>       // std::string
#include <string_view>  // std::string_view

namespace ipclab {

/// `s` as valid UTF-8: every byte that is not part of a well-formed UTF-8 sequence is
/// written as the four characters \xNN; valid text (ASCII and UTF-8) is unchanged. For
/// arbitrary bytes (a program's output) headed for JSON, XML or a terminal: an XML or
/// JSON parser rejects the whole file for one invalid byte.
std::string utf8_escaped(std::string_view s);

/// A JSON string literal, quotes included: `"`, `\` and control characters escaped
/// (\n, \t, \r by name, others as \u00XX); bytes that are not valid UTF-8 as \\xNN
/// (see utf8_escaped), so the result is always valid JSON. UTF-8 text stays readable.
std::string json_string(std::string_view s);

/// A JSON number: never nan or inf (JSON has neither: 0 instead). Magnitudes of 1e5 and
/// more as plain integers (no exponent), smaller ones with six significant digits.
std::string json_number(double v);

}  // namespace ipclab
