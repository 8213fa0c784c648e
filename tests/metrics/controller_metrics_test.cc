// The controller's exposition, rendered from the status it already keeps.
#include "agent/metrics/controller_metrics.h"

#include <gtest/gtest.h>

#include "metrics_text.h"
#include "promtool.h"

namespace ferry::metrics {
namespace {

using testing::SampleValue;

controlplane::ControllerStatus PopulatedStatus() {
  controlplane::ControllerStatus status;
  status.reloads = 3;
  controlplane::ReportedRejection split;
  split.rejection.kind = "TrafficSplit";
  split.rejection.reason = "weights must have a positive sum";
  controlplane::ReportedRejection target = split;
  target.rejection.kind = "TrafficTarget";
  target.rejection.code = smi::rejection_code::kUnresolvedReference;
  target.kept_from = smi::SourceLocation{};
  // A manifest's made-up kind and an unknown code must not mint label values.
  controlplane::ReportedRejection odd = split;
  odd.rejection.kind = "Frobnicator";
  odd.rejection.code = "something-new";
  status.rejections = {split, split, target, odd};
  status.rejected_total_by_code = {{"invalid-spec", 5}, {"unresolved-reference", 1}};
  status.reload_failures = 1;
  controlplane::NodeStatus node1;
  node1.node = "node-1";
  node1.version = 12;
  node1.acked_version = 12;
  node1.streams = 1;
  node1.snapshots_sent = 4;
  node1.acks = 4;
  controlplane::NodeStatus node2 = node1;
  node2.node = "node-2";
  node2.nacked_version = 12;
  node2.acked_version = 11;
  node2.nacks = 1;
  status.nodes = {node1, node2};
  status.certificates.signed_count = 7;
  status.certificates.refused_count = 2;
  status.certificates.refused_by_reason = {{"not-on-node", 2}};
  return status;
}

TEST(ControllerMetrics, ReportsReloadsRejectionsNodesAndCertificates) {
  std::string text = RenderControllerMetrics(PopulatedStatus());
  EXPECT_EQ(SampleValue(text, "ferry_controller_reloads_total"), 3);
  const std::string rejected = "ferry_controller_rejected_resources";
  EXPECT_EQ(SampleValue(text, "ferry_controller_reload_failures_total"), 1);
  EXPECT_EQ(SampleValue(text, rejected + "{kind=\"TrafficSplit\",reason=\"invalid-spec\",kept_last_good=\"false\"}"), 2);
  EXPECT_EQ(
      SampleValue(text, rejected + "{kind=\"TrafficTarget\",reason=\"unresolved-reference\",kept_last_good=\"true\"}"),
      1);
  EXPECT_EQ(SampleValue(text, rejected + "{kind=\"other\",reason=\"other\",kept_last_good=\"false\"}"), 1);
  EXPECT_EQ(text.find("Frobnicator"), std::string::npos);
  const std::string total = "ferry_controller_resources_rejected_total";
  EXPECT_EQ(SampleValue(text, total + "{reason=\"invalid-spec\"}"), 5);
  EXPECT_EQ(SampleValue(text, total + "{reason=\"unresolved-reference\"}"), 1);
  EXPECT_EQ(SampleValue(text, total + "{reason=\"duplicate\"}"), 0) << "every known reason is exported";
  EXPECT_EQ(SampleValue(text, "ferry_controller_snapshots_served_total{node=\"node-1\"}"), 4);
  EXPECT_EQ(SampleValue(text, "ferry_controller_acks_total{node=\"node-1\"}"), 4);
  EXPECT_EQ(SampleValue(text, "ferry_controller_nacks_total{node=\"node-2\"}"), 1);
  EXPECT_EQ(SampleValue(text, "ferry_controller_node_acked_version{node=\"node-2\"}"), 11);
  EXPECT_EQ(SampleValue(text, "ferry_controller_nodes_nacking"), 1);
  EXPECT_EQ(SampleValue(text, "ferry_controller_certificates_signed_total"), 7);
  EXPECT_EQ(SampleValue(text, "ferry_controller_certificates_refused_total{reason=\"not-on-node\"}"), 2);
  EXPECT_EQ(SampleValue(text, "ferry_controller_certificates_refused_total{reason=\"ca-failure\"}"), 0);
}

TEST(ControllerMetrics, PassesPromtool) {
  FERRY_REQUIRE_PROMTOOL(promtool);
  for (const auto& status : {controlplane::ControllerStatus{}, PopulatedStatus()}) {
    std::string text = RenderControllerMetrics(status);
    auto result = testing::RunPromtool(promtool, text);
    EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- exposition ---\n" << text;
  }
}

}  // namespace
}  // namespace ferry::metrics
