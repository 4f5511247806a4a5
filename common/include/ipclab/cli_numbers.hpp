// Numbers from the command line: durations (timeouts included), counts, sizes and plain
// integers, each with units and a finite range the caller gives. One grammar for every
// program, so `--timeout=nan`, `--count=-1`, `--iterations=99999999999999999999999` and an
// empty `--opt=` are usage errors — UsageError `--timeout: ...`, exit 2 through run_main —
// and never an overflowed cast.
//
//   duration  NUMBER[UNIT]     UNIT: ns us ms s m h (m = minute); a bare number is in the
//                              caller's unit (DurationRange::unit, seconds by default).
//                              1.5s, 500ms, 2m, 0.25 (= 250ms when the unit is s).
//   count     NUMBER[k|M|G]    decimal: k = 10^3, M = 10^6, G = 10^9, either case, as
//                              shm_ring_bench and lockfree_bench took them. 100M, 2.5k, 1e6.
//                              The result must be whole: 1.5 is refused.
//   size      NUMBER[UNIT]     bytes; UNIT: B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, any
//                              case, all binary (K = 1024), as CLI11's AsSizeValue(false)
//                              and mmapdb --size took them: 64KiB, 1MB = 1048576, 4096.
//   integer   [-]DIGITS        a signed whole number, no units (increments, offsets).
//
// NUMBER is decimal digits with an optional fraction and exponent (no hex, no octal); space
// may separate it from the unit. Refused, each with its own message: empty text, nan, inf,
// a sign where none is allowed, anything outside [min, max] (so 1e300 and
// 99999999999999999999999 are "out of range", never wrapped).
//
// CLI11-free, so lab libraries may use it; main files use ipclab/cli_options.hpp, which
// turns these into CLI11 validators.
#pragma once

#include <chrono>       // std::chrono::nanoseconds
#include <cstdint>      // std::int64_t, std::uint64_t
#include <string>       // std::string
#include <string_view>  // std::string_view

namespace ipclab {

/// The unit of a bare duration (a number without a suffix), in nanoseconds.
enum class TimeUnit : std::int64_t {
  kNs = 1,
  kUs = 1'000,
  kMs = 1'000'000,
  kS = 1'000'000'000,
  kMin = 60'000'000'000,
  kH = 3'600'000'000'000,
};

/// What a duration option accepts: [min, max] and the unit of a bare number.
struct DurationRange {
  std::chrono::nanoseconds min;
  std::chrono::nanoseconds max;
  TimeUnit unit = TimeUnit::kS;
};

/// Parses a duration (see above). `option` ("--timeout") leads the UsageError's message;
/// empty: the message is the bare reason. Also the grammar of timeouts: a timeout is a
/// duration whose range the program gives (min 0 where 0 means "do not wait" or "never").
std::chrono::nanoseconds parse_duration(std::string_view option, std::string_view text,
                                        const DurationRange& range);
/// A count with optional k/M/G suffix in [min, max].
std::uint64_t parse_count(std::string_view option, std::string_view text, std::uint64_t min,
                          std::uint64_t max);
/// A size in bytes with optional binary unit in [min, max].
std::uint64_t parse_size(std::string_view option, std::string_view text, std::uint64_t min,
                         std::uint64_t max);
/// A signed whole number in [min, max], no units.
std::int64_t parse_integer(std::string_view option, std::string_view text, std::int64_t min,
                           std::int64_t max);

/// For messages and help: "24h", "1500ms", "0s" (the largest unit that is exact).
std::string format_duration(std::chrono::nanoseconds d);
/// For messages and help: "1GiB", "4KiB", "100B" (the largest binary unit that is exact).
std::string format_size(std::uint64_t bytes);

/// Refuses an empty `--name=` anywhere before a `--` in argv: CLI11 would take the next
/// argument as its value (`--socket= --timeout=0.5` connects to "--timeout=0.5"). Throws
/// UsageError "--socket: empty value". run_main calls it before parsing.
void refuse_empty_values(int argc, const char* const* argv);

}  // namespace ipclab
