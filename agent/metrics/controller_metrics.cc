#include "agent/metrics/controller_metrics.h"

#include <array>
#include <map>
#include <utility>

#include "agent/metrics/exposition.h"

namespace ferry::metrics {

namespace {

using controlplane::ControllerStatus;

void RenderRejections(const ControllerStatus& status, ExpositionWriter& out) {
  // Rejection reasons are free text naming the resource: the kind is the bounded label.
  std::map<std::pair<std::string, bool>, uint64_t> by_kind;
  for (const auto& r : status.rejections)
    by_kind[{r.rejection.kind.empty() ? "unknown" : r.rejection.kind, r.kept_from.has_value()}] += 1;
  out.BeginFamily("ferry_controller_rejected_resources", MetricType::kGauge,
                  "Resources the last reload rejected, by kind; kept_last_good=true when an earlier version "
                  "of the resource stays in force.");
  for (const auto& [key, count] : by_kind) {
    std::array<Label, 2> labels{Label{"kind", key.first}, Label{"kept_last_good", key.second ? "true" : "false"}};
    out.Sample("ferry_controller_rejected_resources", labels, count);
  }
}

void RenderNodes(const ControllerStatus& status, ExpositionWriter& out) {
  struct Gauge {
    const char* name;
    const char* help;
    uint64_t (*value)(const controlplane::NodeStatus&);
  };
  const Gauge gauges[] = {
      {"ferry_controller_node_snapshot_version", "Policy snapshot version the controller serves the node.",
       [](const controlplane::NodeStatus& n) { return n.version; }},
      {"ferry_controller_node_acked_version", "Last snapshot version the node's agent ACKed (0: none).",
       [](const controlplane::NodeStatus& n) { return n.acked_version; }},
      {"ferry_controller_node_nacked_version",
       "Last snapshot version the node's agent NACKed, 0 when none or ACKed since.",
       [](const controlplane::NodeStatus& n) { return n.nacked_version; }},
      {"ferry_controller_node_streams", "Agent streams subscribed as the node.",
       [](const controlplane::NodeStatus& n) { return static_cast<uint64_t>(n.streams < 0 ? 0 : n.streams); }},
  };
  for (const auto& gauge : gauges) {
    out.BeginFamily(gauge.name, MetricType::kGauge, gauge.help);
    for (const auto& node : status.nodes) {
      std::array<Label, 1> labels{Label{"node", node.node}};
      out.Sample(gauge.name, labels, gauge.value(node));
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
