#include "cli/dashboard_model.h"

#include <algorithm>
#include <set>

#include "agent/metrics/workload_names.h"

namespace ferry::cli {

namespace {

using nlohmann::json;

const std::string kUnknown = "unknown";

bool IsUnknown(const std::string& v) { return v.empty() || v == kUnknown; }

// The edge a sample counts for, or "" when it counts for none (see the header).
std::string EdgeIdOf(const PrometheusSample& s) {
  const std::string& reporter = s.Label("reporter", kUnknown);
  const std::string& src_workload = s.Label("source_workload", kUnknown);
  const std::string& src_ns = s.Label("source_namespace", kUnknown);
  std::string dst = WorkloadId(s.Label("destination_namespace", kUnknown), s.Label("destination_workload", kUnknown));
  if (reporter == "source") return WorkloadId(src_ns, src_workload) + "->" + dst;
  bool outside = IsUnknown(src_workload) && IsUnknown(src_ns) && IsUnknown(s.Label("source_principal", kUnknown));
  if (reporter == "destination" && outside) return kUnknown + "->" + dst;
  return "";
}

void Count(EdgeCounters& c, const PrometheusSample& s) {
  if (s.name == "ferry_requests_total") {
    c.requests += s.value;
    int code = std::atoi(s.Label("response_code", "0").c_str());
    if (code >= 200 && code < 300) c.responses_2xx += s.value;
    if (code == 0 || code >= 500) c.failures += s.value;
  } else if (s.name == "ferry_tcp_connections_opened_total") {
    c.connections += s.value;
  } else if (s.name == "ferry_tcp_received_bytes_total") {
    c.bytes_sent += s.value;  // received from the client = sent towards the destination
  } else if (s.name == "ferry_tcp_sent_bytes_total") {
    c.bytes_received += s.value;
  }
}

std::pair<std::string, std::string> SplitId(const std::string& id) {
  auto slash = id.find('/');
  if (slash == std::string::npos) return {"", id};
  return {id.substr(0, slash), id.substr(slash + 1)};
}

std::string SourceOf(const std::string& edge_id) { return edge_id.substr(0, edge_id.find("->")); }
std::string TargetOf(const std::string& edge_id) { return edge_id.substr(edge_id.find("->") + 2); }

json Snapshot(const json& config_dump) {
  return config_dump.is_object() && config_dump.contains("snapshot") && config_dump["snapshot"].is_object()
             ? config_dump["snapshot"]
             : json::object();
}

// Per-second increase of a counter; a counter that went down restarted (its agent did).
json Rate(double now, double before, double seconds) {
  if (seconds <= 0) return nullptr;
  double delta = now >= before ? now - before : now;
  return delta / seconds;
}

// The mesh's workloads and which services select them, from the snapshot.
struct SnapshotIndex {
  std::map<std::string, json> workloads;                          // id → node json
  std::map<std::string, std::set<std::string>> service_workloads;  // "ns/service" → workload ids
};

SnapshotIndex IndexSnapshot(const json& config_dump) {
  SnapshotIndex index;
  json snap = Snapshot(config_dump);
  std::map<std::string, std::string> by_uid;
  for (const auto& w : snap.value("workloads", json::array())) {
    std::string ns = w.value("namespace", ""), workload = metrics::WorkloadFromPodName(w.value("name", ""));
    std::string id = WorkloadId(ns, workload);
    by_uid[w.value("uid", "")] = id;
    json& node = index.workloads[id];
    if (node.is_null()) node = {{"pods", 0}, {"hosts", json::array()}, {"services", json::array()}};
    node["pods"] = node["pods"].get<int>() + 1;
    std::string host = w.value("node", "");
    if (!host.empty() && std::find(node["hosts"].begin(), node["hosts"].end(), host) == node["hosts"].end())
      node["hosts"].push_back(host);
  }
  for (const auto& svc : snap.value("services", json::array())) {
    std::string key = svc.value("namespace", "") + "/" + svc.value("name", "");
    for (const auto& uid : svc.value("endpointUids", json::array())) {
      auto it = by_uid.find(uid.get<std::string>());
      if (it == by_uid.end()) continue;
      index.service_workloads[key].insert(it->second);
      json& services = index.workloads[it->second]["services"];
      if (std::find(services.begin(), services.end(), svc.value("name", "")) == services.end())
        services.push_back(svc.value("name", ""));
    }
  }
  return index;
}

bool Contains(const json& list, const json& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// The backends of one split: which workloads serve each, and what they got.
json SplitBackends(const json& split, const SnapshotIndex& index, const std::map<std::string, EdgeCounters>& edges,
                   bool& http) {
  std::string ns = split.value("namespace", "");
  double weight_sum = 0;
  json backends = json::array();
  for (const auto& b : split.value("backends", json::array())) {
    weight_sum += b.value("weight", 0.0);
    std::string service = b.value("service", "");
    auto it = index.service_workloads.find(ns + "/" + service);
    // A backend without endpoints in the snapshot: assume its workload is named like it.
    std::set<std::string> targets =
        it != index.service_workloads.end() ? it->second : std::set<std::string>{WorkloadId(ns, service)};
    backends.push_back({{"service", service}, {"workloads", targets}, {"weight", b.value("weight", 0.0)}});
  }
  // A split of HTTP traffic is per request, of TCP traffic per connection.
  http = false;
  for (const auto& [id, c] : edges)
    for (const auto& b : backends) http = http || (Contains(b["workloads"], TargetOf(id)) && c.requests > 0);
  double total = 0;
  for (auto& b : backends) {
    double count = 0;
    for (const auto& [id, c] : edges)
      if (Contains(b["workloads"], TargetOf(id))) count += http ? c.requests : c.connections;
    b["count"] = count;
    b["weightShare"] = weight_sum > 0 ? b["weight"].get<double>() / weight_sum : 0.0;
    total += count;
  }
  for (auto& b : backends) b["share"] = total > 0 ? json(b["count"].get<double>() / total) : json(nullptr);
  return backends;
}

// Marks each edge into a split's backend with the share of its source's split traffic it carried.
void AnnotateSplitEdges(const json& split, const json& backends, bool http, json& edges_json) {
  const char* unit = http ? "requests" : "connections";
  auto backend_of = [&](const json& edge) -> const json* {
    for (const auto& b : backends)
      if (Contains(b["workloads"], edge["target"])) return &b;
    return nullptr;
  };
  for (auto& e : edges_json) {
    const json* b = backend_of(e);
    if (!b) continue;
    double from_source = 0;
    for (const auto& other : edges_json)
      if (other["source"] == e["source"] && backend_of(other)) from_source += other[unit].get<double>();
    e["split"] = {{"namespace", split["namespace"]}, {"name", split["name"]}, {"root", split["root"]},
                  {"service", (*b)["service"]}, {"weight", (*b)["weight"]}, {"weightShare", (*b)["weightShare"]},
                  {"share", from_source > 0 ? json(e[unit].get<double>() / from_source) : json(nullptr)}};
  }
}

json SplitsJson(const json& config_dump, const SnapshotIndex& index, const std::map<std::string, EdgeCounters>& edges,
                json& edges_json) {
  json out = json::array();
  for (const auto& split : Snapshot(config_dump).value("splits", json::array())) {
    bool http = false;
    json backends = SplitBackends(split, index, edges, http);
    double total = 0;
    for (const auto& b : backends) total += b["count"].get<double>();
    json entry = {{"namespace", split.value("namespace", "")}, {"name", split.value("name", "")},
                  {"root", split.value("rootService", "")}, {"unit", http ? "requests" : "connections"},
                  {"total", total}, {"backends", backends}};
    AnnotateSplitEdges(entry, backends, http, edges_json);
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace

std::string WorkloadId(const std::string& ns, const std::string& workload) {
  if (IsUnknown(workload) && IsUnknown(ns)) return kUnknown;
  return (ns.empty() ? kUnknown : ns) + "/" + (workload.empty() ? kUnknown : workload);
}

std::map<std::string, EdgeCounters> EdgeCountersFromSamples(const std::vector<PrometheusSample>& samples) {
  std::map<std::string, EdgeCounters> edges;
  for (const auto& s : samples) {
    if (s.name.rfind("ferry_", 0) != 0) continue;
    std::string id = EdgeIdOf(s);
    if (!id.empty()) Count(edges[id], s);
  }
  return edges;
}

namespace {

void AddCounters(EdgeCounters& sum, const EdgeCounters& c) {
  sum.requests += c.requests;
  sum.responses_2xx += c.responses_2xx;
  sum.failures += c.failures;
  sum.connections += c.connections;
  sum.bytes_sent += c.bytes_sent;
  sum.bytes_received += c.bytes_received;
}

// Sums every node's edges; `status` gets one entry per node saying whether it was read now. A
// node that did not answer counts with what it last reported (its counters cannot have gone
// back), so its traffic neither vanishes from the graph nor comes back later as a burst of rate.
std::map<std::string, EdgeCounters> SumScrapes(const std::vector<NodeScrape>& scrapes,
                                               std::map<std::string, std::map<std::string, EdgeCounters>>& last_good,
                                               json& status) {
  std::map<std::string, EdgeCounters> edges;
  status = json::array();
  for (const auto& scrape : scrapes) {
    json entry = {{"node", scrape.node}, {"ok", scrape.error.empty()}, {"error", scrape.error}};
    if (scrape.error.empty()) {
      auto samples = ParsePrometheusText(scrape.metrics_text);
      if (samples.ok()) last_good[scrape.node] = EdgeCountersFromSamples(*samples);
      else entry = {{"node", scrape.node}, {"ok", false}, {"error", "unreadable metrics: " + samples.error().Message()}};
    }
    auto known = last_good.find(scrape.node);
    if (known != last_good.end())
      for (const auto& [id, c] : known->second) AddCounters(edges[id], c);
    status.push_back(std::move(entry));
  }
  return edges;
}

json EdgeJson(const std::string& id, const EdgeCounters& c, const EdgeCounters* before, double seconds) {
  bool http = c.requests > 0;
  json e = {{"id", id}, {"source", SourceOf(id)}, {"target", TargetOf(id)}, {"protocol", http ? "http" : "tcp"},
            {"requests", c.requests}, {"responses2xx", c.responses_2xx}, {"failures", c.failures},
            {"successRate", http ? json((c.requests - c.failures) / c.requests) : json(nullptr)},
            {"connections", c.connections}, {"bytesSent", c.bytes_sent}, {"bytesReceived", c.bytes_received},
            {"rps", nullptr}, {"cps", nullptr}};
  if (seconds > 0) {
    EdgeCounters prev = before ? *before : EdgeCounters{};  // a new edge started from zero
    e["rps"] = Rate(c.requests, prev.requests, seconds);
    e["cps"] = Rate(c.connections, prev.connections, seconds);
  }
  return e;
}

// Fills a node's traffic totals from the edges into and out of it.
void AddNodeTotals(const std::string& id, json& node, const json& edges_json, bool have_rates) {
  auto [ns, name] = SplitId(id);
  double in = 0, out = 0, failures_in = 0;
  json rps_in = have_rates ? json(0.0) : json(nullptr);
  for (const auto& e : edges_json) {
    if (e["target"] == id) {
      in += e["requests"].get<double>();
      failures_in += e["failures"].get<double>();
      if (!e["rps"].is_null()) rps_in = rps_in.get<double>() + e["rps"].get<double>();
    }
    if (e["source"] == id) out += e["requests"].get<double>();
  }
  node["id"] = id;
  node["namespace"] = id == kUnknown ? "" : ns;
  node["name"] = name;  // "unknown": a peer without a mesh identity
  node["requestsIn"] = in;
  node["requestsOut"] = out;
  node["rpsIn"] = rps_in;
  node["successRateIn"] = in > 0 ? json((in - failures_in) / in) : json(nullptr);
}

}  // namespace

json ServiceGraphModel::Update(const std::vector<NodeScrape>& scrapes, const json& config_dump,
                               Clock::time_point now) {
  json scrape_status;
  std::map<std::string, EdgeCounters> edges = SumScrapes(scrapes, last_good_by_node_, scrape_status);
  double seconds = have_previous_ ? std::chrono::duration<double>(now - previous_at_).count() : 0;

  SnapshotIndex index = IndexSnapshot(config_dump);
  std::map<std::string, json> nodes = index.workloads;
  for (auto& [id, node] : nodes) node["inMesh"] = true;
  json edges_json = json::array();
  for (const auto& [id, c] : edges) {
    auto before = previous_.find(id);
    edges_json.push_back(EdgeJson(id, c, before != previous_.end() ? &before->second : nullptr, seconds));
    for (const auto& end : {SourceOf(id), TargetOf(id)})
      if (!nodes.count(end))
        nodes[end] = {{"inMesh", false}, {"pods", 0}, {"hosts", json::array()}, {"services", json::array()}};
  }
  json splits = SplitsJson(config_dump, index, edges, edges_json);
  // A split's root service usually selects no pods: clients' connections end there (as far as
  // L4 knows) and the split decides per request. Show it as what it is.
  for (const auto& split : splits) {
    json& root = nodes[WorkloadId(split["namespace"], split["root"])];
    if (root.is_null()) root = {{"inMesh", false}, {"pods", 0}, {"hosts", json::array()}, {"services", json::array()}};
    json backends = json::array();
    for (const auto& b : split["backends"]) backends.push_back(b["service"]);
    root["splitRoot"] = {{"name", split["name"]}, {"backends", backends}};
  }
  json nodes_json = json::array();
  for (auto& [id, node] : nodes) {
    AddNodeTotals(id, node, edges_json, seconds > 0);
    nodes_json.push_back(node);
  }

  previous_ = std::move(edges);
  previous_at_ = now;
  have_previous_ = true;
  return {{"nodes", nodes_json}, {"edges", edges_json}, {"splits", splits}, {"scrapes", scrape_status},
          {"snapshotVersion", config_dump.is_object() && config_dump.contains("version") ? config_dump["version"]
                                                                                         : json(nullptr)},
          {"rateWindowSeconds", seconds > 0 ? json(seconds) : json(nullptr)}};
}

}  // namespace ferry::cli
