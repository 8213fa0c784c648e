// Prometheus text exposition format 0.0.4: HELP/TYPE lines, escaped label values, and numbers
// written the way Prometheus parses them (integers exactly, +Inf/-Inf/NaN spelled out).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace ferry::metrics {

// One label of a sample: name (a valid Prometheus label name) and value (any UTF-8).
using Label = std::pair<std::string_view, std::string_view>;

// Backslash, double quote and line feed escaped, as the format requires inside "...".
std::string EscapeLabelValue(std::string_view value);
// A sample value: shortest round-trip decimal, "+Inf", "-Inf" or "NaN".
std::string FormatSampleValue(double value);

enum class MetricType { kCounter, kGauge, kHistogram };

// Appends families to one exposition. Callers write each family's samples right after its
// BeginFamily; the writer never reorders.
class ExpositionWriter {
 public:
  void BeginFamily(std::string_view name, MetricType type, std::string_view help);
  // `name` is the family name, or the family name plus _bucket/_sum/_count for histograms.
  void Sample(std::string_view name, std::span<const Label> labels, double value);
  void Sample(std::string_view name, std::span<const Label> labels, uint64_t value);

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void WriteSeries(std::string_view name, std::span<const Label> labels);

  std::string out_;
};

}  // namespace ferry::metrics
