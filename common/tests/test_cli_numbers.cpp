// Unit tests of ipclab/cli_numbers.hpp (the one grammar of numeric options: durations,
// counts, sizes, integers; empty `--opt=`) and of its CLI11 adapters in
// ipclab/cli_options.hpp, through run_main as programs use them (exit 2, `--opt: ...`).
#include <chrono>    // std::chrono
#include <cstdint>   // std::uint64_t, INT64_MIN
#include <optional>  // std::optional
#include <string>    // std::string
#include <vector>    // std::vector

#include <gtest/gtest.h>

#include "ipclab/cli_numbers.hpp"  // parse_*, format_*, refuse_empty_values
#include "ipclab/error.hpp"        // UsageError
#include "ipclab/main.hpp"         // run_main, kExitUsage, ipclab::cli

namespace ipclab {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

constexpr std::uint64_t kMaxU64 = UINT64_MAX;

/// The UsageError message `call` throws, or nullopt if it returns.
template <typename F>
std::optional<std::string> usage_error(F&& call) {
  try {
    call();
  } catch (const UsageError& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

// The inputs the issue lists; each must be refused by every kind of number.
const char* const kHostile[] = {"",     "nan",      "NaN",   "inf",   "-inf",
                                "+inf", "infinity", "-1",    "1e300", "99999999999999999999999",
                                "abc",  " ",        "1.2.3", "0x10"};

TEST(ParseDuration, UnitsAndBareNumbers) {
  const DurationRange r{0ns, 24h, TimeUnit::kS};
  EXPECT_EQ(parse_duration("--d", "1.5s", r), 1500ms);
  EXPECT_EQ(parse_duration("--d", "500ms", r), 500ms);
  EXPECT_EQ(parse_duration("--d", "2m", r), 120s);
  EXPECT_EQ(parse_duration("--d", "1h", r), 1h);
  EXPECT_EQ(parse_duration("--d", "100us", r), 100us);
  EXPECT_EQ(parse_duration("--d", "250ns", r), 250ns);
  EXPECT_EQ(parse_duration("--d", "0.25", r), 250ms);  // bare number: seconds
  EXPECT_EQ(parse_duration("--d", " 2 s ", r), 2s);
  EXPECT_EQ(parse_duration("--d", "1e3ms", r), 1s);
  EXPECT_EQ(parse_duration("--d", "0", r), 0ns);
  EXPECT_EQ(parse_duration("--d", "24h", r), 24h);
  EXPECT_EQ(parse_duration("--d", "0.1", r), 100ms);
  EXPECT_EQ(parse_duration("--d", "1.6ns", r), 2ns);  // to the nearest nanosecond
  EXPECT_EQ(parse_duration("--d", "3", {0ns, 24h, TimeUnit::kMs}), 3ms);
}

TEST(ParseDuration, RefusesHostileAndOutOfRange) {
  const DurationRange r{1ms, 24h, TimeUnit::kS};
  for (const char* text : kHostile)
    EXPECT_TRUE(usage_error([&] { parse_duration("--timeout", text, r); })) << text;
  for (const char* text : {"0", "0.5ms", "24.001h", "99999999999s", "9223372036854775807ns",
                           "1e19ns", "5x", "5 sec", "M", "1M"})
    EXPECT_TRUE(usage_error([&] { parse_duration("--timeout", text, r); })) << text;
  // The exact cases and what they now say.
  EXPECT_EQ(usage_error([&] { parse_duration("--timeout", "nan", r); }),
            "--timeout: \"nan\" is not a number");
  EXPECT_EQ(usage_error([&] { parse_duration("--timeout", "1e300", r); }),
            "--timeout: \"1e300\" is out of range (1ms to 24h)");
  EXPECT_EQ(usage_error([&] { parse_duration("--duration", "99999999999s", r); }),
            "--duration: \"99999999999s\" is out of range (1ms to 24h)");
  EXPECT_EQ(usage_error([&] { parse_duration("--timeout", "", r); }), "--timeout: empty value");
  EXPECT_EQ(usage_error([&] { parse_duration("--timeout", "5x", r); }),
            "--timeout: \"5x\": unknown unit \"x\" (use ns, us, ms, s, m, h)");
  EXPECT_EQ(usage_error([&] { parse_duration("", "inf", r); }), "\"inf\" is not a finite number");
}

TEST(ParseDuration, LargestDurationsDoNotOverflow) {
  const DurationRange all{0ns, nanoseconds::max(), TimeUnit::kS};
  EXPECT_EQ(parse_duration("", "9223372036854775807ns", all), nanoseconds::max());
  EXPECT_TRUE(usage_error([&] { parse_duration("", "9223372036854775808ns", all); }));
  EXPECT_TRUE(usage_error([&] { parse_duration("", "9223372037s", all); }));
  EXPECT_TRUE(usage_error([&] { parse_duration("", "9.3e9", all); }));
  EXPECT_TRUE(usage_error([&] { parse_duration("", "2562048h", all); }));
}

TEST(ParseCount, SuffixesAreDecimal) {
  EXPECT_EQ(parse_count("--n", "1000", 0, kMaxU64), 1000U);
  EXPECT_EQ(parse_count("--n", "100M", 0, kMaxU64), 100'000'000U);
  EXPECT_EQ(parse_count("--n", "1m", 0, kMaxU64), 1'000'000U);
  EXPECT_EQ(parse_count("--n", "2.5k", 0, kMaxU64), 2500U);
  EXPECT_EQ(parse_count("--n", "1K", 0, kMaxU64), 1000U);
  EXPECT_EQ(parse_count("--n", "3G", 0, kMaxU64), 3'000'000'000U);
  EXPECT_EQ(parse_count("--n", "1e6", 0, kMaxU64), 1'000'000U);
  EXPECT_EQ(parse_count("--n", "0", 0, 10), 0U);
  EXPECT_EQ(parse_count("--n", "-0", 0, 10), 0U);
  EXPECT_EQ(parse_count("--n", "007", 0, 10), 7U);  // decimal, not octal
  EXPECT_EQ(parse_count("--seed", "18446744073709551615", 0, kMaxU64), kMaxU64);
}

TEST(ParseCount, RefusesHostileFractionsAndOutOfRange) {
  for (const char* text : kHostile)
    EXPECT_TRUE(usage_error([&] { parse_count("--count", text, 1, 1'000'000); })) << text;
  for (const char* text :
       {"0", "1.5", "1000001", "1.0000001M", "18446744073709551616", "1e20", "5T", "5KiB", "1 k b"})
    EXPECT_TRUE(usage_error([&] { parse_count("--count", text, 1, 1'000'000); })) << text;
  EXPECT_TRUE(usage_error([&] { parse_count("--seed", "18446744073709551616", 0, kMaxU64); }));
  EXPECT_TRUE(usage_error([&] { parse_count("--seed", "-1", 0, kMaxU64); }));
  EXPECT_EQ(usage_error([&] { parse_count("--iterations", "-1", 1, 1000); }),
            "--iterations: \"-1\" is out of range (1 to 1000)");
  EXPECT_EQ(usage_error([&] { parse_count("--count", "1.5", 0, 1000); }),
            "--count: \"1.5\" is not a whole number");
  EXPECT_EQ(usage_error([&] { parse_count("--count", "7q", 0, 1000); }),
            "--count: \"7q\": unknown unit \"q\" (use k, M, G)");
}

TEST(ParseSize, UnitsAreBinaryAsTheRingProgramsTookThem) {
  const std::uint64_t G = std::uint64_t{1} << 30;
  EXPECT_EQ(parse_size("--s", "4096", 0, kMaxU64), 4096U);
  EXPECT_EQ(parse_size("--s", "4096B", 0, kMaxU64), 4096U);
  EXPECT_EQ(parse_size("--s", "64KiB", 0, kMaxU64), 65536U);
  EXPECT_EQ(parse_size("--s", "64k", 0, kMaxU64), 65536U);
  EXPECT_EQ(parse_size("--s", "1MB", 0, kMaxU64), 1048576U);  // AsSizeValue(false): MB = MiB
  EXPECT_EQ(parse_size("--s", "1mib", 0, kMaxU64), 1048576U);
  EXPECT_EQ(parse_size("--s", "1 GiB", 0, kMaxU64), G);
  EXPECT_EQ(parse_size("--s", "1.5K", 0, kMaxU64), 1536U);
  EXPECT_EQ(parse_size("--s", "2T", 0, kMaxU64), 2 * 1024 * G);
  EXPECT_EQ(parse_size("--s", "1GiB", 16, G), G);
}

TEST(ParseSize, RefusesHostileFractionsAndOutOfRange) {
  const std::uint64_t G = std::uint64_t{1} << 30;
  for (const char* text : kHostile)
    EXPECT_TRUE(usage_error([&] { parse_size("--capacity", text, 16, G); })) << text;
  for (const char* text : {"0", "15", "0.3K", "1.5", "2GiB", "1025M", "16777216T", "1PB", "1Kx"})
    EXPECT_TRUE(usage_error([&] { parse_size("--capacity", text, 16, G); })) << text;
  EXPECT_EQ(usage_error([&] { parse_size("--capacity", "2GiB", 4096, G); }),
            "--capacity: \"2GiB\" is out of range (4KiB to 1GiB)");
}

TEST(ParseInteger, SignedWholeNumbers) {
  EXPECT_EQ(parse_integer("--by", "42", INT64_MIN, INT64_MAX), 42);
  EXPECT_EQ(parse_integer("--by", "-7", INT64_MIN, INT64_MAX), -7);
  EXPECT_EQ(parse_integer("--by", "-9223372036854775808", INT64_MIN, INT64_MAX), INT64_MIN);
  EXPECT_EQ(parse_integer("--by", "9223372036854775807", INT64_MIN, INT64_MAX), INT64_MAX);
  EXPECT_EQ(parse_integer("--by", "1e3", INT64_MIN, INT64_MAX), 1000);
  for (const char* text : {"", "nan", "inf", "-inf", "1e300", "99999999999999999999999",
                           "9223372036854775808", "-9223372036854775809", "1.5", "1k", "abc"})
    EXPECT_TRUE(usage_error([&] { parse_integer("--by", text, INT64_MIN, INT64_MAX); })) << text;
  EXPECT_EQ(usage_error([&] { parse_integer("--by", "-5", 0, 10); }),
            "--by: \"-5\" is out of range (0 to 10)");
}

TEST(FormatNumbers, LargestExactUnit) {
  EXPECT_EQ(format_duration(0ns), "0s");
  EXPECT_EQ(format_duration(24h), "24h");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(120s), "2m");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(7ns), "7ns");
  EXPECT_EQ(format_size(0), "0B");
  EXPECT_EQ(format_size(100), "100B");
  EXPECT_EQ(format_size(4096), "4KiB");
  EXPECT_EQ(format_size(std::uint64_t{1} << 30), "1GiB");
  EXPECT_EQ(format_size(1536), "1536B");
}

TEST(RefuseEmptyValues, EmptyLongOptionIsAnErrorNotTheNextArgument) {
  const char* swallow[] = {"chat_client", "--socket=", "--timeout=0.5"};
  EXPECT_EQ(usage_error([&] { refuse_empty_values(3, swallow); }),
            "--socket: empty value (write --socket=VALUE, or leave the option out)");
  const char* fine[] = {"prog", "--socket=/x", "--timeout", "0.5", "-n", "a=", "--cmd=a=b"};
  EXPECT_FALSE(usage_error([&] { refuse_empty_values(7, fine); }));
  const char* after_marker[] = {"prog", "--", "--x="};  // positional after --: left alone
  EXPECT_FALSE(usage_error([&] { refuse_empty_values(3, after_marker); }));
  const char* bare[] = {"prog", "--="};
  EXPECT_FALSE(usage_error([&] { refuse_empty_values(2, bare); }));  // CLI11's to judge
}

/// A program as the labs write one: options with the adapters, run through run_main.
struct Program {
  double timeout_s = 5;
  int timeout_ms = 100;
  std::uint64_t iterations = 10;
  std::size_t capacity = 4096;
  int readers = 1;
  long long by = 1;
  std::string socket;
  std::string duration_text = "10s";
  bool ran = false;

  int run(std::vector<std::string> args) {
    CLI::App app{"test program"};
    app.add_option("--timeout", timeout_s)->transform(cli::seconds(1ms, 24h));
    app.add_option("--timeout-ms", timeout_ms)->transform(cli::milliseconds(0ms, 1h));
    app.add_option("--iterations", iterations)->transform(cli::count(1, 10'000'000'000'000));
    app.add_option("--capacity", capacity)->transform(cli::size(4096, std::uint64_t{1} << 30));
    app.add_option("--readers", readers)->transform(cli::count(0, 1000));
    app.add_option("--by", by)->transform(cli::integer(INT64_MIN, INT64_MAX));
    app.add_option("--duration", duration_text)->check(cli::duration({1ms, 24h, TimeUnit::kS}));
    app.add_option("--socket", socket);
    args.insert(args.begin(), "prog");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return run_main(app, static_cast<int>(args.size()), argv.data(), [&] {
      ran = true;
      return kExitOk;
    });
  }
};

TEST(CliOptions, ValuesReachTheVariablesInTheirUnits) {
  Program p;
  ASSERT_EQ(p.run({"--timeout=1.5", "--timeout-ms=2s", "--iterations=100M", "--capacity=1MB",
                   "--readers", "7", "--by=-3", "--duration=500ms"}),
            kExitOk);
  EXPECT_TRUE(p.ran);
  EXPECT_DOUBLE_EQ(p.timeout_s, 1.5);
  EXPECT_EQ(p.timeout_ms, 2000);
  EXPECT_EQ(p.iterations, 100'000'000U);
  EXPECT_EQ(p.capacity, 1048576U);
  EXPECT_EQ(p.readers, 7);
  EXPECT_EQ(p.by, -3);
  EXPECT_EQ(p.duration_text, "500ms");  // check(): validated, left as written

  Program q;
  ASSERT_EQ(q.run({"--timeout=250ms", "--timeout-ms=0"}), kExitOk);
  EXPECT_DOUBLE_EQ(q.timeout_s, 0.25);
  EXPECT_EQ(q.timeout_ms, 0);
  Program r;
  ASSERT_EQ(r.run({"--timeout-ms=100us"}), kExitOk);
  EXPECT_EQ(r.timeout_ms, 1);  // rounded up: a small timeout never becomes 0 = "never"
}

TEST(CliOptions, EveryHostileValueOfEveryOptionIsExit2) {
  // The table: nan, inf, -1, 0 where invalid, 1e300, 99999999999999999999999, empty.
  const char* options[] = {"--timeout", "--timeout-ms", "--iterations", "--capacity",
                           "--readers", "--by",         "--duration"};
  for (const char* opt : options) {
    for (const char* bad : {"nan", "inf", "-inf", "1e300", "99999999999999999999999", ""}) {
      Program p;
      EXPECT_EQ(p.run({std::string(opt) + "=" + bad}), kExitUsage) << opt << "=" << bad;
      EXPECT_FALSE(p.ran);
      Program q;  // the same as a separate argument
      EXPECT_EQ(q.run({opt, bad}), kExitUsage) << opt << " " << bad;
    }
  }
  for (const char* opt : {"--timeout", "--timeout-ms", "--iterations", "--capacity", "--readers"}) {
    Program p;
    EXPECT_EQ(p.run({std::string(opt) + "=-1"}), kExitUsage) << opt;
  }
  for (const char* opt : {"--timeout", "--iterations", "--capacity", "--duration"}) {
    Program p;
    EXPECT_EQ(p.run({std::string(opt) + "=0"}), kExitUsage) << opt;
  }
}

TEST(CliOptions, EmptyValueDoesNotSwallowTheNextOption) {
  Program p;
  EXPECT_EQ(p.run({"--socket=", "--timeout=0.5"}), kExitUsage);
  EXPECT_FALSE(p.ran);
  EXPECT_EQ(p.socket, "");
}

TEST(CliOptions, MessageNamesTheOption) {
  CLI::App app{"t"};
  double timeout = 1;
  app.add_option("--timeout", timeout)->transform(cli::seconds(1ms, 24h));
  try {
    app.parse(std::vector<std::string>{"nan", "--timeout"});  // CLI11 takes them reversed
    ADD_FAILURE() << "nan accepted";
  } catch (const CLI::ValidationError& e) {
    EXPECT_STREQ(e.what(), "--timeout: \"nan\" is not a number");
  }
}

}  // namespace
}  // namespace ipclab
