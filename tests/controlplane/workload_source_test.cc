// The workload inventory file the local cluster tool writes.
#include "controlplane/server/workload_source.h"

#include <gtest/gtest.h>

#include "test_result.h"

namespace ferry::controlplane {
namespace {

TEST(WorkloadInventory, ParsesTheListForm) {
  Result<WorkloadInventory> inv = ParseWorkloadInventory(
      R"([{"uid":"u1","name":"api-0","namespace":"shop","serviceAccount":"api","ip":"198.18.1.2",
           "node":"node-a","labels":{"app":"api"}}])",
      "w.json");
  ASSERT_OK(inv);
  ASSERT_EQ(inv->workloads.size(), 1u);
  const v1::Workload& w = inv->workloads[0];
  EXPECT_EQ(w.uid(), "u1");
  EXPECT_EQ(w.service_account(), "api");
  EXPECT_EQ(w.ip(), "198.18.1.2");
  EXPECT_EQ(w.node(), "node-a");
  EXPECT_EQ(w.labels().at("app"), "api");
}

TEST(WorkloadInventory, ParsesTheObjectFormWithNodesAndDefaults) {
  Result<WorkloadInventory> inv = ParseWorkloadInventory(
      R"({"workloads":[{"name":"db-0","namespace":"shop"}],"nodes":[{"name":"node-a","ip":"198.18.0.2"}]})", "w.json");
  ASSERT_OK(inv);
  EXPECT_EQ(inv->workloads[0].uid(), "shop/db-0");
  EXPECT_EQ(inv->workloads[0].service_account(), "default");
  EXPECT_EQ(inv->node_ips.at("node-a"), "198.18.0.2");
}

TEST(WorkloadInventory, RejectsBadInputWithTheFileName) {
  for (const char* bad : {R"([{"name":"x","namespace":"shop","ip":"999.1.1.1"}])", R"([{"name":"x"}])",
                          R"({"workloads":{}})", R"([{"name":"x","namespace":"s","labels":{"a":1}}])", "[{"}) {
    Result<WorkloadInventory> inv = ParseWorkloadInventory(bad, "inv.json");
    ASSERT_FALSE(inv.ok()) << bad;
    EXPECT_NE(inv.error().Message().find("inv.json"), std::string::npos);
  }
}

TEST(WorkloadInventory, MissingFileIsAnEmptyInventory) {
  FileWorkloadSource source("/nonexistent-ferry-cphelper/workloads.json");
  Result<WorkloadInventory> inv = source.Load();
  ASSERT_OK(inv);
  EXPECT_TRUE(inv->workloads.empty());
}

}  // namespace
}  // namespace ferry::controlplane
