// The dashboard's service graph, built from what the node agents report: every agent's
// Prometheus scrape (:15020/metrics) and one agent's policy snapshot (/config_dump on :15000).
//
// Edges come from the series the *source* side reports (reporter="source"): the source's agent
// knows both ends, while a destination on another node only sees the peer's certificate (its
// namespace and service account, not its workload). Traffic from outside the mesh has no source
// agent, so destination series whose source is entirely unknown become edges from "unknown".
// Nothing is counted twice: every request has exactly one source-side series.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/prometheus_text.h"

namespace ferry::cli {

// What one node's agent answered this round.
struct NodeScrape {
  std::string node;          // "node-1"
  std::string metrics_text;  // the /metrics body ("" when the scrape failed)
  std::string error;         // why the scrape failed; "" = it worked
};

// Per ordered pair of workloads (source → destination), as of one scrape.
struct EdgeCounters {
  double requests = 0;       // HTTP requests, any outcome
  double responses_2xx = 0;
  double failures = 0;       // 5xx and 0 (no response: the connection broke)
  double connections = 0;    // TCP connections opened (every relayed connection, HTTP or not)
  double bytes_sent = 0;     // towards the destination (request direction)
  double bytes_received = 0;  // back to the source
};

class ServiceGraphModel {
 public:
  using Clock = std::chrono::steady_clock;

  // One refresh: parses the scrapes, joins them with the snapshot's workloads, services and
  // TrafficSplits, and returns the graph as JSON (the page's /api/graph). Rates are per second
  // between this call and the previous one; the first call has none (null).
  nlohmann::json Update(const std::vector<NodeScrape>& scrapes, const nlohmann::json& config_dump,
                        Clock::time_point now);

 private:
  std::map<std::string, EdgeCounters> previous_;  // key: edge id
  std::map<std::string, std::map<std::string, EdgeCounters>> last_good_by_node_;  // node → edge id → counters
  Clock::time_point previous_at_{};
  bool have_previous_ = false;
};

// "ns/workload", the id of a graph node; "unknown" for sources outside the mesh.
std::string WorkloadId(const std::string& ns, const std::string& workload);

// Source-side (and outside-the-mesh) counters per edge id "SRC->DST" from parsed samples.
std::map<std::string, EdgeCounters> EdgeCountersFromSamples(const std::vector<PrometheusSample>& samples);

}  // namespace ferry::cli
