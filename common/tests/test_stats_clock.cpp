// Unit tests of ipclab/stats.hpp (exact percentiles, the log-linear histogram) and
// ipclab/clock.hpp (deadlines, stopwatches).
#include <signal.h>    // sigaction, SIGALRM
#include <sys/time.h>  // setitimer
#include <time.h>      // clock_gettime

#include <algorithm>     // std::shuffle, std::sort
#include <chrono>        // std::chrono
#include <climits>       // INT_MAX
#include <cmath>         // std::ceil, std::sqrt
#include <cstdint>       // std::int64_t
#include <random>        // std::mt19937_64
#include <stdexcept>     // std::logic_error
#include <string>        // std::string
#include <system_error>  // std::errc
#include <vector>        // std::vector

#include <gtest/gtest.h>

#include "ipclab/clock.hpp"  // Deadline, Stopwatch, now_ns
#include "ipclab/json.hpp"   // json_string, json_number
#include "ipclab/stats.hpp"  // Samples, Histogram
#include "test_util.hpp"     // sys_error_of

namespace ipclab {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

/// Nearest-rank percentile of sorted values (the reference the classes are checked against).
template <typename T>
T exact_percentile(const std::vector<T>& sorted, double p) {
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

// ---- Samples ---------------------------------------------------------------------------

Samples one_to_hundred_shuffled() {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  std::mt19937_64 rng(42);
  std::shuffle(v.begin(), v.end(), rng);
  Samples s;
  for (double x : v) s.add(x);
  return s;
}

TEST(Json, StringsAreQuotedAndEscaped) {
  EXPECT_EQ(json_string(""), "\"\"");
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string("l1\nl2\tx\r"), "\"l1\\nl2\\tx\\r\"");
  EXPECT_EQ(json_string(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(json_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // UTF-8 passes through
}

TEST(Json, InvalidUtf8IsEscapedValidIsKept) {
  EXPECT_EQ(utf8_escaped("plain \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "plain \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");  // 2, 3 and 4 bytes
  EXPECT_EQ(utf8_escaped("a\xff"
                         "b"),
            "a\\xffb");
  EXPECT_EQ(utf8_escaped("\xc3"), "\\xc3");                             // truncated at the end
  EXPECT_EQ(utf8_escaped("\xc3("), "\\xc3(");                           // bad continuation
  EXPECT_EQ(utf8_escaped("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(utf8_escaped("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a surrogate
  EXPECT_EQ(utf8_escaped("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(json_string("\x80"), "\"\\\\x80\"");  // escaped, then its backslash for JSON
}

TEST(Json, NumbersAreAlwaysValidJson) {
  EXPECT_EQ(json_number(0), "0");
  EXPECT_EQ(json_number(1.5), "1.5");
  EXPECT_EQ(json_number(12345678.9), "12345679");  // no exponent for large values
  EXPECT_EQ(json_number(-250000), "-250000");
  EXPECT_EQ(json_number(0.000123456789), "0.000123457");
  EXPECT_EQ(json_number(std::nan("")), "0");
  EXPECT_EQ(json_number(HUGE_VAL), "0");
}

TEST(Samples, NearestRankPercentiles) {
  const Samples s = one_to_hundred_shuffled();
  EXPECT_EQ(s.count(), 100u);
  EXPECT_EQ(s.percentile(50), 50);
  EXPECT_EQ(s.median(), 50);
  EXPECT_EQ(s.percentile(99), 99);
  EXPECT_EQ(s.percentile(100), 100);
  EXPECT_EQ(s.percentile(0), 1);
  EXPECT_EQ(s.percentile(1), 1);
  EXPECT_EQ(s.percentile(1.5), 2);  // rank ceil(1.5) = 2
  EXPECT_EQ(s.percentile(99.1), 100);
  EXPECT_EQ(s.percentile(25), 25);
  EXPECT_EQ(s.percentile(-5), 1);  // clamped
  EXPECT_EQ(s.percentile(250), 100);
}

TEST(Samples, NearestRankOnFewSamples) {
  Samples s;
  for (double x : {15.0, 20.0, 35.0, 40.0, 50.0}) s.add(x);  // the Wikipedia example
  EXPECT_EQ(s.percentile(5), 15);
  EXPECT_EQ(s.percentile(30), 20);
  EXPECT_EQ(s.percentile(40), 20);
  EXPECT_EQ(s.percentile(50), 35);
  EXPECT_EQ(s.percentile(100), 50);
}

TEST(Samples, MeanStddevMinMax) {
  const Samples s = one_to_hundred_shuffled();
  EXPECT_DOUBLE_EQ(s.mean(), 50.5);
  // Sample standard deviation of 1..n: sqrt(n(n+1)/12).
  EXPECT_NEAR(s.stddev(), std::sqrt(100.0 * 101.0 / 12.0), 1e-9);
  EXPECT_EQ(s.min(), 1);
  EXPECT_EQ(s.max(), 100);

  Samples one;
  one.add(7);
  EXPECT_EQ(one.stddev(), 0);
  EXPECT_EQ(one.mean(), 7);
  EXPECT_EQ(one.percentile(0), 7);
  EXPECT_EQ(one.percentile(100), 7);
}

TEST(Samples, AddingAfterAQueryKeepsResultsRight) {
  Samples s = one_to_hundred_shuffled();
  EXPECT_EQ(s.max(), 100);  // sorts
  s.add(0);
  s.add(1000);
  EXPECT_EQ(s.min(), 0);
  EXPECT_EQ(s.max(), 1000);
  EXPECT_EQ(s.percentile(100), 1000);
  EXPECT_EQ(s.count(), 102u);
  EXPECT_NEAR(s.mean(), (5050.0 + 1000.0) / 102.0, 1e-9);
}

TEST(Samples, EmptyThrows) {
  const Samples s;
  EXPECT_TRUE(s.empty());
  EXPECT_THROW(s.percentile(50), std::logic_error);
  EXPECT_THROW(s.median(), std::logic_error);
  EXPECT_THROW(s.mean(), std::logic_error);
  EXPECT_THROW(s.min(), std::logic_error);
  EXPECT_THROW(s.max(), std::logic_error);
}

// ---- Histogram -------------------------------------------------------------------------

constexpr double kPercentiles[] = {0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};

/// Histogram percentile h against the exact value e: never below, less than 1/32 above.
void expect_within_bucket(std::int64_t h, std::int64_t e, double p) {
  EXPECT_GE(h, e) << "p" << p;
  EXPECT_LE(static_cast<double>(h - e), static_cast<double>(e) / 32.0)
      << "p" << p << ": " << h << " vs exact " << e;
}

TEST(Histogram, OneToHundredThousand) {
  constexpr std::int64_t kN = 100'000;
  Histogram h;
  std::vector<std::int64_t> exact;
  for (std::int64_t v = 1; v <= kN; ++v) {
    h.record(v);
    exact.push_back(v);
  }
  EXPECT_EQ(h.count(), static_cast<std::uint64_t>(kN));
  EXPECT_EQ(h.min(), 1);
  EXPECT_EQ(h.max(), kN);
  EXPECT_DOUBLE_EQ(h.mean(), (kN + 1) / 2.0);
  for (double p : kPercentiles)
    expect_within_bucket(h.percentile(p), exact_percentile(exact, p), p);
  EXPECT_EQ(h.percentile(100), kN);  // capped at the true maximum
  EXPECT_EQ(h.percentile(0), 1);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  std::vector<std::int64_t> exact;
  for (std::int64_t v = 0; v < 64; ++v) {
    h.record(v);
    exact.push_back(v);
  }
  for (double p : kPercentiles) {
    // Below 32 every value has its own bucket; 32..63 buckets are one wide as well.
    EXPECT_EQ(h.percentile(p), exact_percentile(exact, p)) << "p" << p;
  }
}

TEST(Histogram, RandomValuesOverManyMagnitudes) {
  std::mt19937_64 rng(7);
  Histogram h;
  std::vector<std::int64_t> exact;
  for (int i = 0; i < 20'000; ++i) {
    const int mag = static_cast<int>(rng() % 40);  // up to ~10^12
    const auto v = static_cast<std::int64_t>(rng() % (std::uint64_t{1} << mag)) + 1;
    h.record(v);
    exact.push_back(v);
  }
  std::sort(exact.begin(), exact.end());
  EXPECT_EQ(h.min(), exact.front());
  EXPECT_EQ(h.max(), exact.back());
  for (double p : kPercentiles)
    expect_within_bucket(h.percentile(p), exact_percentile(exact, p), p);
  // Percentiles never decrease with p.
  std::int64_t last = 0;
  for (double p = 0; p <= 100; p += 0.5) {
    const std::int64_t v = h.percentile(p);
    EXPECT_GE(v, last) << "p" << p;
    last = v;
  }
}

TEST(Histogram, HugeAndNegativeValues) {
  Histogram h;
  h.record(INT64_MAX);
  h.record(-5);  // recorded as 0
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), INT64_MAX);
  EXPECT_EQ(h.percentile(50), 0);
  EXPECT_EQ(h.percentile(100), INT64_MAX);
}

TEST(Histogram, EmptyIsZeros) {
  const Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0);
  EXPECT_EQ(h.percentile(50), 0);
}

TEST(Histogram, MergeEqualsRecordingEverything) {
  Histogram low;
  Histogram high;
  Histogram all;
  for (std::int64_t v = 1; v <= 50'000; ++v) {
    low.record(v);
    all.record(v);
  }
  for (std::int64_t v = 50'001; v <= 100'000; ++v) {
    high.record(v);
    all.record(v);
  }
  Histogram merged = high;  // merge into the one with the larger minimum
  merged.merge(low);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), 1);
  EXPECT_EQ(merged.max(), 100'000);
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (double p : kPercentiles) EXPECT_EQ(merged.percentile(p), all.percentile(p)) << "p" << p;

  // Merging an empty histogram changes nothing; merging into an empty one copies.
  Histogram same = all;
  same.merge(Histogram{});
  EXPECT_EQ(same.min(), 1);
  EXPECT_EQ(same.max(), 100'000);
  EXPECT_EQ(same.count(), all.count());
  Histogram fresh;
  fresh.merge(low);
  EXPECT_EQ(fresh.min(), 1);
  EXPECT_EQ(fresh.max(), 50'000);
  EXPECT_EQ(fresh.percentile(50), low.percentile(50));
}

// ---- Deadline and Stopwatch --------------------------------------------------------------

nanoseconds timespec_diff(const timespec& a, const timespec& b) {
  return seconds(a.tv_sec - b.tv_sec) + nanoseconds(a.tv_nsec - b.tv_nsec);
}

TEST(DeadlineTest, FutureDeadline) {
  const Deadline d(seconds(100));
  EXPECT_FALSE(d.expired());
  EXPECT_GT(d.remaining(), seconds(90));
  EXPECT_LE(d.remaining(), seconds(100));
  const int ms = d.poll_ms();
  EXPECT_GT(ms, 90'000);
  EXPECT_LE(ms, 100'000);
  EXPECT_GT(d.when(), Clock::now());
}

TEST(DeadlineTest, PastDeadline) {
  for (const Deadline& d : {Deadline(nanoseconds(0)), Deadline(seconds(-5))}) {
    EXPECT_TRUE(d.expired());
    EXPECT_EQ(d.remaining(), Clock::duration::zero());
    EXPECT_EQ(d.poll_ms(), 0);
  }
}

TEST(DeadlineTest, Never) {
  const Deadline d = Deadline::never();
  EXPECT_FALSE(d.expired());
  EXPECT_EQ(d.poll_ms(), -1);
  EXPECT_EQ(d.remaining(), Clock::duration::max());
  // Far in the future, and no time_t overflow into the past.
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  EXPECT_GT(d.realtime_abs().tv_sec, now.tv_sec + 100LL * 365 * 24 * 3600);
  EXPECT_GE(d.realtime_abs().tv_nsec, 0);
  EXPECT_LT(d.realtime_abs().tv_nsec, 1'000'000'000);
}

TEST(DeadlineTest, PollMsIsCappedAtIntMax) {
  const Deadline d(std::chrono::hours(24 * 365));
  EXPECT_EQ(d.poll_ms(), INT_MAX);
}

TEST(DeadlineTest, PollMsRoundsUpUntilExpiry) {
  // Spin through a short deadline. Whenever poll_ms() says 0 the deadline must already
  // have passed, and poll_ms() is never less than what then remains: a poll(2) given it
  // never returns before the deadline.
  const Deadline d(milliseconds(3));
  const Deadline guard(seconds(10));
  int last = INT_MAX;
  while (!guard.expired()) {
    const int ms = d.poll_ms();
    const auto left = d.remaining();
    ASSERT_GE(ms, 0);
    EXPECT_GE(milliseconds(ms), left) << "poll_ms rounded down";
    EXPECT_LE(ms, last);
    last = ms;
    if (ms == 0) {
      EXPECT_TRUE(d.expired());
      break;
    }
  }
  EXPECT_TRUE(d.expired());
}

TEST(DeadlineTest, ExpiresAfterItsTimeout) {
  const Stopwatch sw;
  const Deadline d(milliseconds(5));
  const Deadline guard(seconds(10));
  while (!d.expired() && !guard.expired()) {
  }
  EXPECT_TRUE(d.expired());
  EXPECT_GE(nanoseconds(sw.elapsed_ns()), milliseconds(5));
}

TEST(DeadlineTest, AbsoluteTimespecsAreAboutTheTimeoutAhead) {
  const auto timeout = seconds(2);
  timespec real_before{};
  timespec mono_before{};
  clock_gettime(CLOCK_REALTIME, &real_before);
  clock_gettime(CLOCK_MONOTONIC, &mono_before);
  const Deadline d(timeout);
  const timespec real_abs = d.realtime_abs();
  const timespec mono_abs = d.monotonic_abs();
  timespec real_after{};
  timespec mono_after{};
  clock_gettime(CLOCK_REALTIME, &real_after);
  clock_gettime(CLOCK_MONOTONIC, &mono_after);
  for (const timespec* t : {&real_abs, &mono_abs}) {
    EXPECT_GE(t->tv_nsec, 0);
    EXPECT_LT(t->tv_nsec, 1'000'000'000);
  }
  // before + timeout - (time spent) <= abs <= after + timeout; allow 100 ms of slack
  // for a loaded machine (and a realtime clock step).
  EXPECT_LE(timespec_diff(real_abs, real_after), timeout + milliseconds(100));
  EXPECT_GE(timespec_diff(real_abs, real_before), timeout - milliseconds(100));
  EXPECT_LE(timespec_diff(mono_abs, mono_after), timeout);
  EXPECT_GE(timespec_diff(mono_abs, mono_before), timeout - milliseconds(100));
  // The monotonic one is the deadline itself, pushed later only by the time it took to
  // compute it (never earlier).
  const auto when_ns = std::chrono::duration_cast<nanoseconds>(d.when().time_since_epoch());
  const auto mono_ns = timespec_diff(mono_abs, timespec{0, 0});
  EXPECT_GE(mono_ns, when_ns - nanoseconds(1));
  EXPECT_LE(mono_ns, when_ns + milliseconds(100));
}

TEST(StopwatchTest, MonotonicAndResettable) {
  Stopwatch sw;
  std::int64_t last = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::int64_t e = sw.elapsed_ns();
    EXPECT_GE(e, last);
    last = e;
  }
  EXPECT_GE(last, 0);
  // Wait (on the clock itself) until at least 2 ms have passed, then reset.
  const Deadline guard(seconds(10));
  while (sw.elapsed_ns() < 2'000'000 && !guard.expired()) {
  }
  const std::int64_t a = sw.elapsed_ns();
  const double secs = sw.elapsed_s();
  const std::int64_t b = sw.elapsed_ns();
  EXPECT_GE(a, 2'000'000);
  EXPECT_GE(secs, static_cast<double>(a) / 1e9 - 1e-9);
  EXPECT_LE(secs, static_cast<double>(b) / 1e9 + 1e-9);
  // After reset() it measures from the reset: no more than a stopwatch started just before.
  const Stopwatch outer;
  sw.reset();
  const std::int64_t since_reset = sw.elapsed_ns();
  EXPECT_LE(since_reset, outer.elapsed_ns());

  std::int64_t prev = now_ns();
  for (int i = 0; i < 1000; ++i) {
    const std::int64_t t = now_ns();
    EXPECT_GE(t, prev);
    prev = t;
  }
}

TEST(SleepNs, NegativeDurationIsRefusedAtOnce) {
  // An overflowed duration used to make nanosleep fail with EINVAL and the loop retry
  // forever (test_myrwlock --duration=99999999999s burned a core).
  const Stopwatch sw;
  EXPECT_EQ(test::sys_error_of([] { sleep_ns(-1); }), std::errc::invalid_argument);
  EXPECT_EQ(test::sys_error_of([] { sleep_ns(INT64_MIN); }), std::errc::invalid_argument);
  EXPECT_LT(sw.elapsed_ns(), 1'000'000'000);
}

TEST(SleepNs, ZeroReturnsAndShortSleepsLastAtLeastTheirTime) {
  Stopwatch sw;
  sleep_ns(0);
  sw.reset();
  sleep_ns(2'000'000);
  EXPECT_GE(sw.elapsed_ns(), 2'000'000);
}

extern "C" void on_alarm(int /*sig*/) {}

TEST(SleepNs, SignalsDoNotCutTheSleepShort) {
  // A handler without SA_RESTART interrupts clock_nanosleep every millisecond (EINTR);
  // sleep_ns resumes for the time that was left.
  struct sigaction sa {};
  struct sigaction old {};
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(::sigaction(SIGALRM, &sa, &old), 0);
  itimerval every_ms{{0, 1000}, {0, 1000}};
  itimerval off{};
  ASSERT_EQ(::setitimer(ITIMER_REAL, &every_ms, nullptr), 0);
  const Stopwatch sw;
  sleep_ns(30'000'000);
  const std::int64_t slept = sw.elapsed_ns();
  ::setitimer(ITIMER_REAL, &off, nullptr);
  ::sigaction(SIGALRM, &old, nullptr);
  EXPECT_GE(slept, 30'000'000);
}

}  // namespace
}  // namespace ipclab
