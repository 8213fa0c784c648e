#include "agent/metrics/controller_metrics.h"

#include <array>
#include <map>
#include <set>
#include <string_view>
#include <tuple>

#include "agent/metrics/exposition.h"
#include "controlplane/smi/resources.h"

namespace ferry::metrics {

namespace {

using controlplane::ControllerStatus;
using controlplane::NodeStatus;

// Label values come from manifests (kind) and from code (reason): both are mapped onto fixed
// sets so a typo in a manifest cannot mint a new series.
std::string_view KindLabel(const std::string& kind) {
  static const std::set<std::string, std::less<>> kKnown = {
      "TrafficTarget", "HTTPRouteGroup", "TCPRoute",  "TrafficSplit", "Service",
      "ServiceAccount", "Namespace",     "ConfigMap", "Pod",          "Deployment"};
  if (kind.empty()) return "unknown";
  return kKnown.contains(kind) ? std::string_view(kind) : std::string_view("other");
}

const std::array<std::string_view, 6>& RejectionCodes() {
  namespace code = smi::rejection_code;
  static const std::array<std::string_view, 6> kCodes = {code::kInvalidYaml, code::kUnreadableFile,
                                                         code::kInvalidSpec, code::kDuplicate,
                                                         code::kConflict,    code::kUnresolvedReference};
  return kCodes;
}

std::string_view ReasonLabel(const std::string& code) {
  for (std::string_view known : RejectionCodes())
    if (known == code) return known;
  return "other";
}

void RenderRejections(const ControllerStatus& status, ExpositionWriter& out) {
  std::map<std::tuple<std::string_view, std::string_view, bool>, uint64_t> now;
  for (const auto& r : status.rejections) {
    now[{KindLabel(r.rejection.kind), ReasonLabel(r.rejection.code), r.kept_from.has_value()}] += 1;
  }
  out.BeginFamily("ferry_controller_rejected_resources", MetricType::kGauge,
                  "Resources the last reload rejected, by kind and reason; kept_last_good=true when an earlier "
                  "version of the resource stays in force.");
  for (const auto& [key, count] : now) {
    const auto& [kind, reason, kept] = key;
    std::array<Label, 3> labels{Label{"kind", kind}, Label{"reason", reason},
                                Label{"kept_last_good", kept ? "true" : "false"}};
    out.Sample("ferry_controller_rejected_resources", labels, count);
  }
  // Every known reason is exported (0 until it happens) so rate() and alerts see the series.
  std::map<std::string_view, uint64_t> total;
  for (std::string_view code : RejectionCodes()) total[code] = 0;
  for (const auto& [code, count] : status.rejected_total_by_code) total[ReasonLabel(code)] += count;
  out.BeginFamily("ferry_controller_resources_rejected_total", MetricType::kCounter,
                  "Resource rejections since the controller started, by reason; a rejection that persists "
                  "across reloads counts once.");
  for (const auto& [reason, count] : total) {
    std::array<Label, 1> labels{Label{"reason", reason}};
    out.Sample("ferry_controller_resources_rejected_total", labels, count);
  }
}

struct NodeSeries {
  const char* name;
  MetricType type;
  const char* help;
  uint64_t (*value)(const NodeStatus&);
};

void RenderNodes(const ControllerStatus& status, ExpositionWriter& out) {
  const NodeSeries series[] = {
      {"ferry_controller_snapshots_served_total", MetricType::kCounter,
       "Policy snapshots written to the node's agent streams.",
       [](const NodeStatus& n) { return n.snapshots_sent; }},
      {"ferry_controller_acks_total", MetricType::kCounter, "Snapshots the node's agents ACKed.",
       [](const NodeStatus& n) { return n.acks; }},
      {"ferry_controller_nacks_total", MetricType::kCounter,
       "Snapshots the node's agents NACKed (could not apply; they keep the previous one).",
       [](const NodeStatus& n) { return n.nacks; }},
      {"ferry_controller_node_snapshot_version", MetricType::kGauge,
       "Policy snapshot version the controller serves the node.", [](const NodeStatus& n) { return n.version; }},
      {"ferry_controller_node_acked_version", MetricType::kGauge,
       "Last snapshot version the node's agent ACKed (0: none).",
       [](const NodeStatus& n) { return n.acked_version; }},
      {"ferry_controller_node_nacked_version", MetricType::kGauge,
       "Last snapshot version the node's agent NACKed, 0 when none or ACKed since.",
       [](const NodeStatus& n) { return n.nacked_version; }},
      {"ferry_controller_node_streams", MetricType::kGauge, "Agent streams subscribed as the node.",
       [](const NodeStatus& n) { return static_cast<uint64_t>(n.streams < 0 ? 0 : n.streams); }},
  };
  for (const auto& s : series) {
    out.BeginFamily(s.name, s.type, s.help);
    for (const auto& node : status.nodes) {
      std::array<Label, 1> labels{Label{"node", node.node}};
      out.Sample(s.name, labels, s.value(node));
    }
  }
  uint64_t nacking = 0;
  for (const auto& node : status.nodes) nacking += node.nacked_version != 0 ? 1 : 0;
  out.BeginFamily("ferry_controller_nodes_nacking", MetricType::kGauge,
                  "Nodes whose agent NACKed the snapshot it was last sent.");
  out.Sample("ferry_controller_nodes_nacking", {}, nacking);
}

void RenderCertificates(const ControllerStatus& status, ExpositionWriter& out) {
  out.BeginFamily("ferry_controller_certificates_signed_total", MetricType::kCounter,
                  "Workload certificate signing requests the controller signed.");
  out.Sample("ferry_controller_certificates_signed_total", {}, status.certificates.signed_count);
  out.BeginFamily("ferry_controller_certificates_refused_total", MetricType::kCounter,
                  "Workload certificate signing requests the controller refused, by reason.");
  std::map<std::string, uint64_t> refused = status.certificates.refused_by_reason;
  for (const char* reason : {"not-on-node", "invalid-request", "ca-failure"}) refused.try_emplace(reason, 0);
  for (const auto& [reason, count] : refused) {
    std::array<Label, 1> labels{Label{"reason", reason}};
    out.Sample("ferry_controller_certificates_refused_total", labels, count);
  }
}

}  // namespace

std::string RenderControllerMetrics(const ControllerStatus& status) {
  ExpositionWriter out;
  out.BeginFamily("ferry_controller_reloads_total", MetricType::kCounter,
                  "Completed reloads of the controller's inputs, the initial load included.");
  out.Sample("ferry_controller_reloads_total", {}, status.reloads);
  out.BeginFamily("ferry_controller_reload_failures_total", MetricType::kCounter,
                  "Reloads that could not read the manifests (the previous policy stayed in force).");
  out.Sample("ferry_controller_reload_failures_total", {}, status.reload_failures);
  out.BeginFamily("ferry_controller_reload_failing", MetricType::kGauge,
                  "1 when the last reload could not read its inputs (the previous policy stays in force).");
  out.Sample("ferry_controller_reload_failing", {}, static_cast<uint64_t>(status.last_error.empty() ? 0 : 1));
  RenderRejections(status, out);
  out.BeginFamily("ferry_controller_kept_resources", MetricType::kGauge,
                  "Resources in force from an earlier read because their current version was rejected.");
  out.Sample("ferry_controller_kept_resources", {}, static_cast<uint64_t>(status.kept.size()));
  RenderNodes(status, out);
  RenderCertificates(status, out);
  return out.Take();
}

}  // namespace ferry::metrics
