// Unit tests of ipclab/bench.hpp: the interleaving order, medians and same-round ratios,
// and the three report formats (JSON in the shape of docs/benchmarking.md, fields that do not
// apply omitted).
#include <stdlib.h>  // setenv, unsetenv

#include <cstdint>  // std::int64_t
#include <string>   // std::string
#include <vector>   // std::vector

#include <gtest/gtest.h>

#include "ipclab/bench.hpp"
#include "ipclab/error.hpp"  // UsageError

namespace ipclab::bench {
namespace {

TEST(Bench, InterleaveTurnsTheOrderEachRound) {
  std::vector<std::size_t> order;
  std::vector<int> rounds;
  interleave(3, 3, [&](int r, std::size_t i) {
    rounds.push_back(r);
    order.push_back(i);
  });
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2, 1, 2, 0, 2, 0, 1}));
  EXPECT_EQ(rounds, (std::vector<int>{0, 0, 0, 1, 1, 1, 2, 2, 2}));
}

TEST(Bench, RatioIsTheMedianOfSameRoundRatios) {
  Result a, b;
  // Absolute numbers drift between rounds; the per-round ratio stays near 2.
  a.record(200);
  b.record(100);
  a.record(1000);
  b.record(510);
  a.record(90);
  b.record(40);
  EXPECT_NEAR(ratio(a, b), 2.0, 1e-9);  // ratios 2.0, 1.96, 2.25 -> median 2.0
  const Summary s = summarize(a);
  EXPECT_EQ(s.runs, 3U);
  EXPECT_EQ(s.ops_per_s, 200);
  EXPECT_EQ(s.ops_min, 90);
  EXPECT_EQ(s.ops_max, 1000);
  EXPECT_FALSE(s.has_bytes);
  EXPECT_FALSE(s.has_latency);
}

Report sample_report() {
  Report r("demo_bench");
  r.param("msg_size", "1024");
  r.param("pin", "\"cross\"");
  r.note("demo: 1024-byte messages");
  r.ops_label = "msg/s";
  auto& fast = r.add("ring");
  fast.record(5e6, 5e9, 300, 900);
  fast.record(6e6, 6e9, 310, 950);
  fast.record(7e6, 7e9, 320, 990);
  auto& slow = r.add("pipe");
  slow.record(1e6, 1e9, 2000, 5000);
  slow.record(1e6, 1e9, 2100, 5100);
  slow.record(1e6, 1e9, 2200, 5200);
  r.add("boost_mq").skipped = "not built";
  r.ratio("ring", "pipe");
  r.ratio("ring", "boost_mq");  // skipped: left out
  return r;
}

TEST(Bench, JsonHasPerfMdShape) {
  const std::string json = format(sample_report(), Format::kJson);
  EXPECT_EQ(json,
            "{\"benchmark\": \"demo_bench\", \"params\": {\"msg_size\": 1024, \"pin\": \"cross\"}, "
            "\"results\": [{\"name\": \"ring\", \"ops_per_s\": 6000000, \"bytes_per_s\": "
            "6000000000, \"p50_ns\": 310, \"p99_ns\": 950, \"ops_per_s_min\": 5000000, "
            "\"ops_per_s_max\": 7000000, \"runs\": 3}, {\"name\": \"pipe\", \"ops_per_s\": "
            "1000000, \"bytes_per_s\": 1000000000, \"p50_ns\": 2100, \"p99_ns\": 5100, "
            "\"ops_per_s_min\": 1000000, \"ops_per_s_max\": 1000000, \"runs\": 3}, {\"name\": "
            "\"boost_mq\", \"skipped\": \"not built\"}], \"ratios\": {\"ring/pipe\": 6}}\n");
}

TEST(Bench, JsonOmitsFieldsNeverRecorded) {
  Report r("q");
  r.add("spsc").record(1e8);
  const std::string json = format(r, Format::kJson);
  EXPECT_EQ(json.find("bytes_per_s"), std::string::npos) << json;
  EXPECT_EQ(json.find("p50_ns"), std::string::npos) << json;
  EXPECT_NE(json.find("\"ops_per_s\": 100000000"), std::string::npos) << json;
}

TEST(Bench, TableAndCsv) {
  const std::string table = format(sample_report(), Format::kTable);
  EXPECT_NE(table.find("demo: 1024-byte messages"), std::string::npos) << table;
  EXPECT_NE(table.find("msg/s"), std::string::npos) << table;
  EXPECT_NE(table.find("6M"), std::string::npos) << table;
  EXPECT_NE(table.find("skipped: not built"), std::string::npos) << table;
  EXPECT_NE(table.find("ring/pipe: 6.00x"), std::string::npos) << table;
  EXPECT_EQ(table.find("ring/boost_mq"), std::string::npos) << table;
  const std::string csv = format(sample_report(), Format::kCsv);
  EXPECT_NE(csv.find("ring,3,6000000.0,5000000.0,7000000.0,6000000000.0,310.0,950.0,\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("boost_mq,0,,,,,,,skipped: not built\n"), std::string::npos) << csv;
}

TEST(Bench, ParsersRejectUnknownWords) {
  EXPECT_EQ(parse_format("json"), Format::kJson);
  EXPECT_EQ(parse_pin("cross"), Pin::kCross);
  EXPECT_THROW(parse_format("xml"), UsageError);
  EXPECT_THROW(parse_pin("left"), UsageError);
  EXPECT_EQ(place(Pin::kNone).cpus.size(), 0U);
  EXPECT_EQ(place(Pin::kSame).cpus.size(), 2U);
  EXPECT_FALSE(usable_cpus().empty());
}

}  // namespace
}  // namespace ipclab::bench

TEST(Bench, CorruptHookReadsOnlyAWholeNumber) {
  const auto with = [](const char* value) {
    if (value == nullptr)
      ::unsetenv("IPCLAB_BENCH_CORRUPT");
    else
      ::setenv("IPCLAB_BENCH_CORRUPT", value, 1);
    const std::int64_t n = ipclab::bench::corrupt_hook();
    ::unsetenv("IPCLAB_BENCH_CORRUPT");
    return n;
  };
  EXPECT_EQ(with(nullptr), -1);
  EXPECT_EQ(with(""), -1);
  EXPECT_EQ(with("7"), 7);
  EXPECT_EQ(with("0"), 0);
  EXPECT_EQ(with("12abc"), -1);
  EXPECT_EQ(with("x"), -1);
}
