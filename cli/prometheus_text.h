// A reader for the Prometheus text exposition format (0.0.4), enough to consume the agents'
// /metrics: sample lines with optional labels (escaped values) and an optional timestamp;
// comment lines (# HELP, # TYPE, ...) and blank lines are skipped.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace ferry::cli {

struct PrometheusSample {
  std::string name;  // the series name as written (histograms keep _bucket/_sum/_count)
  std::map<std::string, std::string> labels;  // values unescaped
  double value = 0;

  // The label's value, or `fallback` when the sample has no such label.
  const std::string& Label(const std::string& key, const std::string& fallback) const;
};

// Every sample of `text`, in order. A malformed line fails the whole parse (with its line
// number): a scrape that is half understood would show wrong numbers without saying so.
Result<std::vector<PrometheusSample>> ParsePrometheusText(std::string_view text);

}  // namespace ferry::cli
