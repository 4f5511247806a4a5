// Latency statistics: exact percentiles over kept samples, and a fixed-memory histogram
// for long benchmarks (log-linear buckets, < 1/32 relative error).
#pragma once

#include <array>    // std::array
#include <cstddef>  // std::size_t
#include <cstdint>  // std::int64_t, std::uint64_t
#include <vector>   // std::vector

namespace ipclab {

/// Keeps every sample; percentiles are exact (nearest-rank on the sorted samples).
class Samples {
 public:
  void add(double v) {
    values_.push_back(v);
    sorted_ = false;
  }
  void reserve(std::size_t n) { values_.reserve(n); }
  std::size_t count() const { return values_.size(); }
  bool empty() const { return values_.empty(); }
  double min() const;
  double max() const;
  double mean() const;
  double stddev() const;
  /// p in [0, 100]; nearest-rank. Throws std::logic_error when empty.
  double percentile(double p) const;
  double median() const { return percentile(50); }

 private:
  void sort() const;
  mutable std::vector<double> values_;
  mutable bool sorted_ = true;
};

/// Log-linear histogram of non-negative integers (nanoseconds): 32 sub-buckets per
/// power of two, so any percentile is within 1/32 (about 3%) of the true value.
class Histogram {
 public:
  void record(std::int64_t value);
  void merge(const Histogram& other);
  std::uint64_t count() const { return count_; }
  std::int64_t min() const { return count_ ? min_ : 0; }
  std::int64_t max() const { return max_; }
  double mean() const {
    return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0;
  }
  /// p in [0, 100]: the upper bound of the bucket holding the p-th percentile sample.
  std::int64_t percentile(double p) const;

 private:
  static constexpr int kSubBits = 5;  // 32 sub-buckets per power of two
  static constexpr int kBuckets = (64 - kSubBits + 1) << kSubBits;
  static std::size_t index_of(std::uint64_t v);
  static std::uint64_t upper_of(std::size_t idx);
  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  std::int64_t min_ = INT64_MAX;
  std::int64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace ipclab
