// Thread-safe metric families keyed by label values: counters and histograms that the data path
// records into and the exposition reads. Recording an existing series takes one mutex and one
// map lookup with the caller's string_views (no allocation); only a new series allocates.
//
// Cardinality is bounded twice: callers pass only low-cardinality labels, and each family holds
// at most `max_series` series; values for further label sets land in one series whose labels are
// all "overflow" (so a bug upstream shows as that series rather than as unbounded memory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/metrics/exposition.h"

namespace ferry::metrics {

inline constexpr size_t kDefaultMaxSeries = 10000;
inline constexpr std::string_view kOverflowLabelValue = "overflow";

// Orders series by their label values, and lets a lookup use string_views.
struct LabelValuesLess {
  using is_transparent = void;
  bool operator()(const std::vector<std::string>& a, const std::vector<std::string>& b) const { return a < b; }
  bool operator()(const std::vector<std::string>& a, std::span<const std::string_view> b) const;
  bool operator()(std::span<const std::string_view> a, const std::vector<std::string>& b) const;
};

// The fields every family has: name, help, label names, and the overflow key.
class FamilyShape {
 public:
  FamilyShape(std::string name, std::string help, std::vector<std::string> label_names, size_t max_series);
  const std::string& name() const { return name_; }

 protected:
  // Labels of one series, in label-name order, for the writer.
  std::vector<Label> LabelsOf(const std::vector<std::string>& values) const;
  void CheckArity(std::span<const std::string_view> values) const;

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  size_t max_series_;
  std::vector<std::string> overflow_key_;
};

// Monotonic integer counters (events, bytes).
class CounterFamily : public FamilyShape {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names,
                size_t max_series = kDefaultMaxSeries);
  void Add(std::span<const std::string_view> label_values, uint64_t amount = 1);
  // 0 for a series never recorded.
  uint64_t Value(std::span<const std::string_view> label_values) const;
  size_t series_count() const;
  void Render(ExpositionWriter& out) const;

 private:
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, uint64_t, LabelValuesLess> series_;
};

// Histograms with fixed upper bounds (seconds); +Inf is implicit.
class HistogramFamily : public FamilyShape {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> upper_bounds, size_t max_series = kDefaultMaxSeries);
  void Observe(std::span<const std::string_view> label_values, double value);
  size_t series_count() const;
  void Render(ExpositionWriter& out) const;
  const std::vector<double>& upper_bounds() const { return bounds_; }

 private:
  struct Series {
    std::vector<uint64_t> counts;  // per bucket, not cumulative; the last one is +Inf
    double sum = 0;
    uint64_t count = 0;
  };

  std::vector<double> bounds_;  // ascending
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, Series, LabelValuesLess> series_;
};

// Prometheus' default buckets with two finer ones below 5 ms: mesh hops are often sub-millisecond.
std::vector<double> DefaultLatencyBuckets();

}  // namespace ferry::metrics
