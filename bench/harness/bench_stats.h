// Statistics of the #7 benchmark harness: the median of repeated measurements, percentiles of a
// latency sample, and each row's ratio to the direct path measured in the same run. Header-only
// and free of Ferry libraries so the report tool builds with a plain compiler call.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace ferry::bench {

// The p-th percentile (0..100) by linear interpolation between closest ranks; nullopt when empty.
inline std::optional<double> Percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  p = std::clamp(p, 0.0, 100.0);
  double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  auto lower = static_cast<size_t>(std::floor(rank));
  size_t upper = std::min(lower + 1, values.size() - 1);
  double fraction = rank - static_cast<double>(lower);
  return values[lower] + (values[upper] - values[lower]) * fraction;
}

inline std::optional<double> Median(std::vector<double> values) { return Percentile(std::move(values), 50.0); }

// One measurement of one repetition, as bench.sh records it.
struct Sample {
  std::string workload;  // rtt64_p50, throughput, ...
  std::string path;      // direct, ferry-same-node, ...
  std::string layout;    // same-node | cross-node: which direct row a path is compared with
  double value = 0;
  std::string unit;
};

// One row of the report: the median over repetitions and its ratio to direct.
struct Row {
  std::string workload, path, layout, unit;
  double value = 0;
  size_t repetitions = 0;
  std::optional<double> ratio_to_direct;  // none when the run has no direct row to compare with
};

// Groups samples by (workload, path, layout), takes medians, and divides each by the direct
// row of the same workload and layout. Rows keep the order in which their first sample came.
inline std::vector<Row> Summarize(const std::vector<Sample>& samples) {
  using Key = std::tuple<std::string, std::string, std::string>;
  std::vector<Key> order;
  std::map<Key, std::vector<double>> values;
  std::map<Key, std::string> units;
  for (const auto& s : samples) {
    Key key{s.workload, s.path, s.layout};
    if (!values.count(key)) order.push_back(key);
    values[key].push_back(s.value);
    units[key] = s.unit;
  }
  std::vector<Row> rows;
  for (const auto& key : order) {
    Row r{std::get<0>(key), std::get<1>(key), std::get<2>(key), units[key], *Median(values[key]),
          values[key].size(), std::nullopt};
    auto direct = values.find(Key{r.workload, "direct", r.layout});
    if (direct != values.end()) {
      double base = *Median(direct->second);
      if (base != 0) r.ratio_to_direct = r.value / base;
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

// What each path adds to the direct path of its layout: for every row of `workload` that has a
// direct counterpart, a row named `added_workload` with value (row − direct), the same unit,
// repetitions and ratio. Latency percentiles read better this way ("p99 + 80 µs") than as ratios
// of two noisy tails.
inline std::vector<Row> AddedOverDirect(const std::vector<Row>& rows, const std::string& workload,
                                        const std::string& added_workload) {
  std::vector<Row> added;
  for (const auto& r : rows) {
    if (r.workload != workload) continue;
    auto direct = std::find_if(rows.begin(), rows.end(), [&](const Row& d) {
      return d.workload == workload && d.path == "direct" && d.layout == r.layout;
    });
    if (direct == rows.end()) continue;
    Row a = r;
    a.workload = added_workload;
    a.value = r.value - direct->value;
    added.push_back(std::move(a));
  }
  return added;
}

}  // namespace ferry::bench
