#include "agent/metrics/metric_families.h"

#include <algorithm>

#include "common/result.h"

namespace ferry::metrics {

namespace {

std::vector<std::string> ToKey(std::span<const std::string_view> values) {
  return std::vector<std::string>(values.begin(), values.end());
}

// Finds the series for `values`, creating it (or the overflow series when full).
template <typename Map>
typename Map::iterator FindOrCreate(Map& series, std::span<const std::string_view> values, size_t max_series,
                                    const std::vector<std::string>& overflow_key) {
  auto it = series.find(values);
  if (it != series.end()) return it;
  if (series.size() >= max_series) return series.try_emplace(overflow_key).first;
  return series.try_emplace(ToKey(values)).first;
}

}  // namespace

bool LabelValuesLess::operator()(const std::vector<std::string>& a, std::span<const std::string_view> b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](std::string_view x, std::string_view y) { return x < y; });
}

bool LabelValuesLess::operator()(std::span<const std::string_view> a, const std::vector<std::string>& b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [](std::string_view x, std::string_view y) { return x < y; });
}

FamilyShape::FamilyShape(std::string name, std::string help, std::vector<std::string> label_names, size_t max_series)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      max_series_(std::max<size_t>(max_series, 1)),
      overflow_key_(label_names_.size(), std::string(kOverflowLabelValue)) {}

std::vector<Label> FamilyShape::LabelsOf(const std::vector<std::string>& values) const {
  std::vector<Label> labels;
  labels.reserve(values.size() + 1);
  for (size_t i = 0; i < values.size(); ++i) labels.emplace_back(label_names_[i], values[i]);
  return labels;
}

// A wrong arity is a programming error that would corrupt the exposition: fail loudly.
void FamilyShape::CheckArity(std::span<const std::string_view> values) const {
  FERRY_ASSERT(values.size() == label_names_.size());
}

CounterFamily::CounterFamily(std::string name, std::string help, std::vector<std::string> label_names,
                             size_t max_series)
    : FamilyShape(std::move(name), std::move(help), std::move(label_names), max_series) {}

void CounterFamily::Add(std::span<const std::string_view> label_values, uint64_t amount) {
  CheckArity(label_values);
  std::lock_guard lock(mu_);
  FindOrCreate(series_, label_values, max_series_, overflow_key_)->second += amount;
}

uint64_t CounterFamily::Value(std::span<const std::string_view> label_values) const {
  std::lock_guard lock(mu_);
  auto it = series_.find(label_values);
  return it == series_.end() ? 0 : it->second;
}

size_t CounterFamily::series_count() const {
  std::lock_guard lock(mu_);
  return series_.size();
}

void CounterFamily::Render(ExpositionWriter& out) const {
  out.BeginFamily(name_, MetricType::kCounter, help_);
  std::lock_guard lock(mu_);
  for (const auto& [values, value] : series_) out.Sample(name_, LabelsOf(values), value);
}

HistogramFamily::HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                 std::vector<double> upper_bounds, size_t max_series)
    : FamilyShape(std::move(name), std::move(help), std::move(label_names), max_series),
      bounds_(std::move(upper_bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
}

void HistogramFamily::Observe(std::span<const std::string_view> label_values, double value) {
  CheckArity(label_values);
  // The first bucket whose upper bound holds the value (le is inclusive); past the last: +Inf.
  size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard lock(mu_);
  Series& series = FindOrCreate(series_, label_values, max_series_, overflow_key_)->second;
  if (series.counts.empty()) series.counts.assign(bounds_.size() + 1, 0);
  series.counts[bucket] += 1;
  series.sum += value;
  series.count += 1;
}

size_t HistogramFamily::series_count() const {
  std::lock_guard lock(mu_);
  return series_.size();
}

void HistogramFamily::Render(ExpositionWriter& out) const {
  out.BeginFamily(name_, MetricType::kHistogram, help_);
  std::string bucket_name = name_ + "_bucket";
  std::string sum_name = name_ + "_sum";
  std::string count_name = name_ + "_count";
  std::lock_guard lock(mu_);
  for (const auto& [values, series] : series_) {
    std::vector<Label> labels = LabelsOf(values);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += series.counts[i];
      std::string le = i < bounds_.size() ? FormatSampleValue(bounds_[i]) : "+Inf";
      labels.emplace_back("le", le);
      out.Sample(bucket_name, labels, cumulative);
      labels.pop_back();
    }
    out.Sample(sum_name, labels, series.sum);
    out.Sample(count_name, labels, series.count);
  }
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace ferry::metrics
