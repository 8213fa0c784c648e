// Reads samples back out of a rendered exposition, for assertions.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace ferry::metrics::testing {

// The value of the sample whose series is exactly `series` (name plus {labels} as rendered).
inline std::optional<double> SampleValue(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

// The sum of every sample of `family` whose labels contain each of `labels` (e.g.
// "reporter=\"source\""), over whatever other labels the series have.
inline double SumSamples(const std::string& text, const std::string& family, const std::vector<std::string>& labels) {
  double sum = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(family + "{", 0) != 0) continue;
    bool all = true;
    for (const auto& l : labels) all = all && line.find(l) != std::string::npos;
    if (all) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// Lines of `text` that start with `prefix`.
inline int CountLines(const std::string& text, const std::string& prefix) {
  std::istringstream lines(text);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

}  // namespace ferry::metrics::testing
