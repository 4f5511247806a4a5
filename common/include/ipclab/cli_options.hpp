// CLI11 adapters of ipclab/cli_numbers.hpp, for main files only (ipclab/main.hpp includes
// this header). Each returns a CLI::Validator that parses the option's text with the one
// grammar, refuses it with `error: --timeout: ...` (exit 2 through run_main), and rewrites
// it to a plain number CLI11 then stores in the option's variable. The variable keeps its
// type and unit, so wiring an option is one line:
//
//   app.add_option("--timeout", timeout_s, "seconds to wait")
//       ->transform(ipclab::cli::seconds(1ms, 24h));           // double, bare number = s
//   app.add_option("--timeout", timeout_ms, "milliseconds, 0 = never")
//       ->transform(ipclab::cli::milliseconds(0ms, 24h));      // integer, bare number = ms
//   app.add_option("--iterations", iterations)->transform(ipclab::cli::count(1, 10'000'000'000));
//   app.add_option("--capacity", capacity)->transform(ipclab::cli::size(4096, 1ull << 30));
//   app.add_option("--by", by)->transform(ipclab::cli::integer(INT64_MIN, INT64_MAX));
//
// Use transform (not check): the validator must run first and hand CLI11 a plain number.
// To validate a string option that the program keeps as text (e.g. to print it), use
// check() instead; the text is then left as written.
#pragma once

#include <chrono>   // std::chrono::nanoseconds
#include <cstdint>  // std::int64_t, std::uint64_t
#include <string>   // std::string
#include <utility>  // std::move

#include <fmt/core.h>   // fmt::format
#include <CLI/CLI.hpp>  // CLI::Validator

#include "ipclab/cli_numbers.hpp"  // parse_*, format_*
#include "ipclab/error.hpp"        // UsageError

namespace ipclab::cli {

namespace detail {

/// A validator that runs `parse` on the text and, when `parse` returns, replaces the text
/// with what it returned; a UsageError becomes the validator's error message (CLI11
/// prefixes the option's name).
template <typename Parse>
CLI::Validator make(Parse parse, std::string desc) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        try {
          text = parse(text);
          return {};
        } catch (const UsageError& e) {
          return e.what();
        }
      },
      std::move(desc));
}

}  // namespace detail

/// A duration in `range`, rewritten as a number of `range.unit`: decimal for a floating
/// variable, or (whole = true) rounded up to a whole number for an integer one (rounded up
/// so a small positive timeout never becomes 0 = "never").
inline CLI::Validator duration(const DurationRange& range, bool whole = false) {
  const char* unit = range.unit == TimeUnit::kNs    ? "ns"
                     : range.unit == TimeUnit::kUs  ? "us"
                     : range.unit == TimeUnit::kMs  ? "ms"
                     : range.unit == TimeUnit::kS   ? "s"
                     : range.unit == TimeUnit::kMin ? "m"
                                                    : "h";
  return detail::make(
      [range, whole](const std::string& text) {
        const std::int64_t ns = parse_duration("", text, range).count();
        const auto per = static_cast<std::int64_t>(range.unit);
        if (whole) return std::to_string(ns / per + (ns % per != 0 ? 1 : 0));
        return fmt::format("{}", static_cast<double>(ns) / static_cast<double>(per));
      },
      fmt::format("DURATION {}..{}, bare number in {}", format_duration(range.min),
                  format_duration(range.max), unit));
}

/// A timeout or duration for a `double` variable in seconds (a bare number is seconds).
inline CLI::Validator seconds(std::chrono::nanoseconds min, std::chrono::nanoseconds max) {
  return duration({min, max, TimeUnit::kS});
}

/// A timeout or duration for an integer variable in milliseconds (a bare number is ms).
inline CLI::Validator milliseconds(std::chrono::nanoseconds min, std::chrono::nanoseconds max) {
  return duration({min, max, TimeUnit::kMs}, true);
}

/// A count (k, M, G suffixes) in [min, max], rewritten as its digits.
inline CLI::Validator count(std::uint64_t min, std::uint64_t max) {
  return detail::make(
      [min, max](const std::string& text) {
        return std::to_string(parse_count("", text, min, max));
      },
      fmt::format("COUNT {}..{} (k, M, G)", min, max));
}

/// A size in bytes (B, K/KiB, M/MiB, G/GiB, T/TiB; K = 1024) in [min, max], rewritten as
/// its digits.
inline CLI::Validator size(std::uint64_t min, std::uint64_t max) {
  return detail::make(
      [min, max](const std::string& text) {
        return std::to_string(parse_size("", text, min, max));
      },
      fmt::format("SIZE {}..{} (K = 1024)", format_size(min), format_size(max)));
}

/// A signed whole number in [min, max], rewritten as its digits.
inline CLI::Validator integer(std::int64_t min, std::int64_t max) {
  return detail::make(
      [min, max](const std::string& text) {
        return std::to_string(parse_integer("", text, min, max));
      },
      fmt::format("INTEGER {}..{}", min, max));
}

}  // namespace ipclab::cli
