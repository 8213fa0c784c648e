// ferry-bench-report: turns the samples bench.sh recorded into the table on stdout and
// bench/results/latest.json (issue #7's schema), with each row's ratio to the direct path of the
// same run and the goal it is held to.
//
//   ferry-bench-report --samples FILE --json OUT --date D --machine M --kernel K [--note TEXT]...
//                      [--markdown OUT]
//
// FILE has one sample per line, tab-separated: workload, path, layout, value, unit. Workloads
// outside the stable list (e.g. rtt64_p999, http1k_p99) are printed but not written to
// the JSON. http1k_added_p99 is derived here: each path's http1k_p99 minus direct's (same layout).
#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bench_stats.h"

namespace {

using ferry::bench::Row;
using ferry::bench::Sample;

const std::set<std::string> kJsonWorkloads = {"rtt64_p50",      "rtt64_p99",          "throughput",
                                              "connrate",       "http1k_added_p99",   "http1k_max_rps",
                                              "cpu_us_per_request", "rss_idle",       "rss_per_conn"};

// The goals of issue #7 for Ferry's rows: on the ratio to direct, or on the value itself.
struct Goal {
  bool on_ratio;
  bool at_most;
  double bound;
};

// Ferry's rows: the walkthrough's paths, and their "-l4" variants (the HTTP rows under a TCPRoute).
std::optional<Goal> GoalFor(const Row& r) {
  bool same = r.path == "ferry-same-node" || r.path == "ferry-same-node-l4";
  bool cross = r.path == "ferry-cross-node" || r.path == "ferry-cross-node-l4";
  if (r.workload == "rtt64_p50" && same) return Goal{true, true, 1.5};
  if (r.workload == "rtt64_p50" && cross) return Goal{true, true, 2.0};
  if (r.workload == "throughput" && same) return Goal{true, false, 0.8};
  if (r.workload == "throughput" && cross) return Goal{true, false, 0.5};
  if (r.workload == "connrate" && same) return Goal{true, false, 0.6};
  if (r.workload == "connrate" && cross) return Goal{true, false, 0.2};
  if (r.workload == "http1k_added_p99" && (same || cross)) return Goal{false, true, 100.0};  // µs
  if (r.workload == "http1k_max_rps" && cross) return Goal{true, false, 0.6};
  if (r.workload == "cpu_us_per_request" && (same || cross)) return Goal{false, true, 30.0};
  if (r.workload == "rss_idle" && (same || cross)) return Goal{false, true, 12.0};
  if (r.workload == "rss_per_conn" && (same || cross)) return Goal{false, true, 8.0};  // KiB
  return std::nullopt;
}

std::string GoalText(const Row& r) {
  auto goal = GoalFor(r);
  if (!goal) return "";
  std::optional<double> measured = goal->on_ratio ? r.ratio_to_direct : std::optional<double>(r.value);
  char text[96];
  std::snprintf(text, sizeof(text), "%s %.2f%s", goal->at_most ? "<=" : ">=", goal->bound, goal->on_ratio ? "x" : "");
  std::string verdict = !measured ? "?"
                        : (goal->at_most ? *measured <= goal->bound : *measured >= goal->bound) ? "met"
                                                                                                 : "MISSED";
  return std::string(text) + " " + verdict;
}

std::vector<Sample> ReadSamples(const std::string& path) {
  std::vector<Sample> samples;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    Sample s;
    std::string value;
    if (std::getline(fields, s.workload, '\t') && std::getline(fields, s.path, '\t') &&
        std::getline(fields, s.layout, '\t') && std::getline(fields, value, '\t') && std::getline(fields, s.unit)) {
      try {
        s.value = std::stod(value);
        samples.push_back(s);
      } catch (const std::exception&) {
        std::cerr << "ferry-bench-report: skipping malformed line: " << line << "\n";
      }
    }
  }
  return samples;
}

// Position of `name` in `order` (unknown names last), for a stable, readable table.
size_t Rank(const std::vector<std::string>& order, const std::string& name) {
  return static_cast<size_t>(std::find(order.begin(), order.end(), name) - order.begin());
}

// Workload, then layout, then path: each Ferry or HAProxy row right under its direct row.
void SortForReading(std::vector<Row>& rows) {
  static const std::vector<std::string> workloads = {
      "rtt64_p50",      "rtt64_p99",          "rtt64_p999", "throughput",   "connrate",
      "http1k_p50",     "http1k_p99",         "http1k_p99_from_send", "http1k_added_p99",           "http1k_max_rps",
      "cpu_us_per_request", "rss_idle",       "rss_per_conn"};
  static const std::vector<std::string> layouts = {"same-node", "cross-node"};
  static const std::vector<std::string> paths = {"direct",        "ferry-same-node",   "ferry-cross-node",
                                                 "ferry-same-node-l4", "ferry-cross-node-l4", "haproxy-relay",
                                                 "haproxy-mtls-pair"};
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tuple(Rank(workloads, a.workload), Rank(layouts, a.layout), Rank(paths, a.path)) <
           std::tuple(Rank(workloads, b.workload), Rank(layouts, b.layout), Rank(paths, b.path));
  });
}

void PrintTable(const std::vector<Row>& rows) {
  std::printf("%-20s %-19s %-10s %12s %-8s %9s %3s  %s\n", "workload", "path", "layout", "median", "unit",
              "vs direct", "n", "goal (#7)");
  for (const auto& r : rows) {
    char ratio[32] = "-";
    if (r.ratio_to_direct) std::snprintf(ratio, sizeof(ratio), "%.2fx", *r.ratio_to_direct);
    std::printf("%-20s %-19s %-10s %12.2f %-8s %9s %3zu  %s\n", r.workload.c_str(), r.path.c_str(), r.layout.c_str(),
                r.value, r.unit.c_str(), ratio, r.repetitions, GoalText(r).c_str());
  }
}

nlohmann::json ToJson(const std::vector<Row>& rows, const std::map<std::string, std::string>& meta,
                      const std::vector<std::string>& notes) {
  nlohmann::json results = nlohmann::json::array();
  for (const auto& r : rows) {
    if (!kJsonWorkloads.count(r.workload)) continue;
    results.push_back({{"workload", r.workload},
                       {"path", r.path},
                       {"layout", r.layout},
                       {"value", r.value},
                       {"unit", r.unit},
                       {"repetitions", r.repetitions},
                       {"ratio_to_direct", r.ratio_to_direct ? nlohmann::json(*r.ratio_to_direct) : nlohmann::json()}});
  }
  return {{"date", meta.at("date")}, {"machine", meta.at("machine")}, {"kernel", meta.at("kernel")},
          {"notes", notes},          {"results", results}};
}

// Which column of the README's table a path goes to; the layout picks Ferry's and HAProxy's row.
int ColumnOf(const std::string& path) {
  if (path == "direct") return 0;
  if (path == "ferry-same-node" || path == "ferry-cross-node") return 1;
  if (path == "ferry-same-node-l4" || path == "ferry-cross-node-l4") return 2;
  if (path == "haproxy-relay" || path == "haproxy-mtls-pair") return 3;
  return -1;
}

std::string Cell(const Row& r) {
  char text[96];
  std::snprintf(text, sizeof(text), r.value >= 100 ? "%.0f %s" : "%.1f %s", r.value, r.unit.c_str());
  std::string cell = text;
  if (r.ratio_to_direct && r.path != "direct") {
    std::snprintf(text, sizeof(text), " (%.2f×)", *r.ratio_to_direct);
    cell += text;
  }
  return cell;
}

// The README's results: a line per workload and layout (issue #7's workloads only), a column
// per kind of path, and the goal with its verdict for Ferry's own path.
void WriteMarkdown(std::ostream& out, const std::vector<Row>& rows, const std::map<std::string, std::string>& meta) {
  out << "Latest run: " << meta.at("date") << ", " << meta.at("machine") << ", kernel " << meta.at("kernel")
      << ". Medians; in brackets the ratio to direct in the same run and layout.\n\n"
      << "| workload | layout | direct | Ferry | Ferry at L4 | HAProxy | goal for Ferry |\n"
      << "|---|---|---:|---:|---:|---:|---|\n";
  for (size_t i = 0; i < rows.size();) {
    size_t end = i;
    std::array<std::string, 4> cells;
    std::string goal;
    for (; end < rows.size() && rows[end].workload == rows[i].workload && rows[end].layout == rows[i].layout; ++end) {
      int column = ColumnOf(rows[end].path);
      if (column < 0) continue;
      cells[static_cast<size_t>(column)] = Cell(rows[end]);
      if (column == 1) goal = GoalText(rows[end]);
    }
    if (kJsonWorkloads.count(rows[i].workload)) {
      out << "| " << rows[i].workload << " | " << rows[i].layout;
      for (const auto& cell : cells) out << " | " << cell;
      out << " | " << goal << " |\n";
    }
    i = end;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> meta = {{"date", ""}, {"machine", ""}, {"kernel", ""}};
  std::string samples_path, json_path, markdown_path;
  std::vector<std::string> notes;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i], value = argv[i + 1];
    if (key == "--samples") samples_path = value;
    else if (key == "--json") json_path = value;
    else if (key == "--markdown") markdown_path = value;
    else if (key == "--note") notes.push_back(value);
    else if (key.rfind("--", 0) == 0 && meta.count(key.substr(2))) meta[key.substr(2)] = value;
    else {
      std::cerr << "ferry-bench-report: unknown option " << key << "\n";
      return 2;
    }
  }
  if (samples_path.empty()) {
    std::cerr << "usage: ferry-bench-report --samples FILE [--json OUT] [--date D --machine M --kernel K] [--note T]\n";
    return 2;
  }
  auto rows = ferry::bench::Summarize(ReadSamples(samples_path));
  auto added = ferry::bench::AddedOverDirect(rows, "http1k_p99", "http1k_added_p99");
  rows.insert(rows.end(), added.begin(), added.end());
  SortForReading(rows);
  PrintTable(rows);
  for (const auto& n : notes) std::printf("note: %s\n", n.c_str());
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << ToJson(rows, meta, notes).dump(2) << "\n";
    if (!out) {
      std::cerr << "ferry-bench-report: cannot write " << json_path << "\n";
      return 1;
    }
  }
  if (!markdown_path.empty()) {
    std::ofstream out(markdown_path);
    WriteMarkdown(out, rows, meta);
    if (!out) {
      std::cerr << "ferry-bench-report: cannot write " << markdown_path << "\n";
      return 1;
    }
  }
  return rows.empty() ? 1 : 0;
}
