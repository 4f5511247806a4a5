// JSON output pieces: the graders' results files and the benchmarks' --format=json
// (PERF.md's shape) write JSON by hand; these two make the values valid.
#pragma once

#include <string>       // std::string
#include <string_view>  // std::string_view

namespace ipclab {

/// A JSON string literal, quotes included: `"`, `\` and control characters escaped
/// (\n, \t, \r by name, others as \u00XX). Other bytes pass through unchanged, so UTF-8
/// text stays readable.
std::string json_string(std::string_view s);

/// A JSON number: never nan or inf (JSON has neither: 0 instead). Magnitudes of 1e5 and
/// more as plain integers (no exponent), smaller ones with six significant digits.
std::string json_number(double v);

}  // namespace ipclab
