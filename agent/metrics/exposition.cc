#include "agent/metrics/exposition.h"

#include <charconv>
#include <cmath>

namespace ferry::metrics {

namespace {

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

// HELP text escapes only backslash and line feed (quotes are literal there).
void AppendHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc{}) return "NaN";  // cannot happen with 64 bytes; never emit garbage
  return std::string(buf, end);
}

void ExpositionWriter::BeginFamily(std::string_view name, MetricType type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  AppendHelp(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += TypeName(type);
  out_ += '\n';
}

void ExpositionWriter::WriteSeries(std::string_view name, std::span<const Label> labels) {
  out_ += name;
  if (labels.empty()) return;
  out_ += '{';
  bool first = true;
  for (const auto& [label, value] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += label;
    out_ += "=\"";
    out_ += EscapeLabelValue(value);
    out_ += '"';
  }
  out_ += '}';
}

void ExpositionWriter::Sample(std::string_view name, std::span<const Label> labels, double value) {
  WriteSeries(name, labels);
  out_ += ' ';
  out_ += FormatSampleValue(value);
  out_ += '\n';
}

void ExpositionWriter::Sample(std::string_view name, std::span<const Label> labels, uint64_t value) {
  WriteSeries(name, labels);
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

}  // namespace ferry::metrics
