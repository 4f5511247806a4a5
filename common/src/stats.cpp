#include "ipclab/stats.hpp"

#include <algorithm>  // std::sort, std::min, std::max
#include <bit>        // std::bit_width
#include <cmath>      // std::sqrt, std::ceil
#include <numeric>    // std::accumulate
#include <stdexcept>  // std::logic_error

namespace ipclab {

void Samples::sort() const {
  if (!sorted_) {
    std::sort(values_.begin(), values_.end());
    sorted_ = true;
  }
}

double Samples::min() const {
  if (empty()) throw std::logic_error("Samples::min of no samples");
  sort();
  return values_.front();
}

double Samples::max() const {
  if (empty()) throw std::logic_error("Samples::max of no samples");
  sort();
  return values_.back();
}

double Samples::mean() const {
  if (empty()) throw std::logic_error("Samples::mean of no samples");
  return std::accumulate(values_.begin(), values_.end(), 0.0) / static_cast<double>(values_.size());
}

double Samples::stddev() const {
  if (empty()) throw std::logic_error("Samples::stddev of no samples");
  if (values_.size() < 2) return 0;
  const double m = mean();
  double acc = 0;
  for (double v : values_) acc += (v - m) * (v - m);
  return std::sqrt(acc / static_cast<double>(values_.size() - 1));
}

double Samples::percentile(double p) const {
  if (empty()) throw std::logic_error("Samples::percentile of no samples");
  sort();
  p = std::clamp(p, 0.0, 100.0);
  // Nearest rank: the smallest value with at least p% of the samples at or below it.
  const auto n = values_.size();
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
  rank = std::clamp<std::size_t>(rank, 1, n);
  return values_[rank - 1];
}

// Bucket layout: values below 2^kSubBits map one-to-one; above, each power of two
// [2^k, 2^(k+1)) is split into 2^kSubBits equal sub-buckets.
std::size_t Histogram::index_of(std::uint64_t v) {
  constexpr std::uint64_t kSub = 1u << kSubBits;
  if (v < kSub) return static_cast<std::size_t>(v);
  const int width = std::bit_width(v);  // v in [2^(width-1), 2^width)
  const int shift = width - 1 - kSubBits;
  const std::uint64_t sub = (v >> shift) - kSub;  // 0 .. kSub-1
  return static_cast<std::size_t>((static_cast<std::uint64_t>(shift + 1) << kSubBits) + sub);
}

std::uint64_t Histogram::upper_of(std::size_t idx) {
  constexpr std::uint64_t kSub = 1u << kSubBits;
  if (idx < kSub) return idx;
  const int shift = static_cast<int>(idx >> kSubBits) - 1;
  const std::uint64_t sub = idx & (kSub - 1);
  return ((kSub + sub + 1) << shift) - 1;
}

void Histogram::record(std::int64_t value) {
  const std::uint64_t v = value < 0 ? 0 : static_cast<std::uint64_t>(value);
  ++buckets_[index_of(v)];
  ++count_;
  min_ = std::min<std::int64_t>(min_, static_cast<std::int64_t>(v));
  max_ = std::max<std::int64_t>(max_, static_cast<std::int64_t>(v));
  sum_ += static_cast<long double>(v);
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

std::int64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min<std::int64_t>(static_cast<std::int64_t>(upper_of(i)), max_);
  }
  return max_;
}

}  // namespace ipclab
