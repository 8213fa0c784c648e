// Reads samples back out of a rendered exposition, for assertions.
#pragma once

#include <optional>
#include <sstream>
#include <string>

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

// Lines of `text` that start with `prefix`.
inline int CountLines(const std::string& text, const std::string& prefix) {
  std::istringstream lines(text);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) n += line.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

}  // namespace ferry::metrics::testing
