// The service graph from fixed scrapes: what an operator reads off the dashboard.
#include "cli/dashboard_model.h"

#include <gtest/gtest.h>

namespace ferry::cli {
namespace {

using nlohmann::json;

std::string Series(const std::string& family, const std::string& reporter, const std::string& src_ns,
                   const std::string& src, const std::string& dst, const std::string& extra, double value) {
  return family + "{reporter=\"" + reporter + "\",source_workload=\"" + src + "\",source_namespace=\"" + src_ns +
         "\",source_principal=\"" + (src == "unknown" ? "unknown" : src) + "\",destination_workload=\"" + dst +
         "\",destination_namespace=\"canary-app\",destination_principal=\"" + dst + "\"" + extra + "} " +
         std::to_string(value) + "\n";
}

// node-1 runs frontend and api-v1; api-v2 is on node-2. Every request of frontend is reported
// by node-1 (reporter="source"); node-2 sees frontend only by its certificate (workload unknown).
std::string Node1(double v1_ok, double v1_503, double v2_ok) {
  return "# TYPE ferry_requests_total counter\n" +
         Series("ferry_requests_total", "source", "canary-app", "frontend", "api-v1", ",response_code=\"200\"", v1_ok) +
         Series("ferry_requests_total", "source", "canary-app", "frontend", "api-v1", ",response_code=\"503\"", v1_503) +
         Series("ferry_requests_total", "source", "canary-app", "frontend", "api-v2", ",response_code=\"200\"", v2_ok) +
         Series("ferry_requests_total", "destination", "canary-app", "frontend", "api-v1", ",response_code=\"200\"", v1_ok) +
         Series("ferry_tcp_connections_opened_total", "source", "canary-app", "frontend", "api-v1",
                ",connection_security=\"none\"", 1) +
         Series("ferry_tcp_connections_opened_total", "source", "canary-app", "frontend", "api-v2",
                ",connection_security=\"mtls\"", 1) +
         "ferry_policy_snapshot_version 3\n";
}
std::string Node2(double v2_ok) {
  // Across nodes the destination knows the caller's namespace and account, not its workload;
  // a plaintext client from outside the mesh is unknown altogether.
  std::string s = "ferry_requests_total{reporter=\"destination\",source_workload=\"unknown\",source_namespace="
                  "\"canary-app\",source_principal=\"frontend\",destination_workload=\"api-v2\","
                  "destination_namespace=\"canary-app\",destination_principal=\"api-v2\",response_code=\"200\"} " +
                  std::to_string(v2_ok) + "\n";
  s += Series("ferry_tcp_connections_opened_total", "destination", "unknown", "unknown", "api-v2",
              ",connection_security=\"none\"", 4);
  s += Series("ferry_tcp_received_bytes_total", "destination", "unknown", "unknown", "api-v2",
              ",connection_security=\"none\"", 1000);
  return s;
}

json ConfigDump() {
  auto workload = [](const std::string& uid, const std::string& pod, const std::string& node) {
    return json{{"uid", uid}, {"name", pod}, {"namespace", "canary-app"}, {"serviceAccount", pod}, {"node", node}};
  };
  return {{"version", "3"},
          {"snapshot",
           {{"workloads",
             {workload("u1", "frontend-0", "node-1"), workload("u2", "api-v1-0", "node-1"),
              workload("u3", "api-v2-0", "node-2")}},
            {"services",
             {{{"name", "api"}, {"namespace", "canary-app"}},
              {{"name", "api-v1"}, {"namespace", "canary-app"}, {"endpointUids", {"u2"}}},
              {{"name", "api-v2"}, {"namespace", "canary-app"}, {"endpointUids", {"u3"}}}}},
            {"splits",
             {{{"namespace", "canary-app"}, {"name", "api-split"}, {"rootService", "api"},
               {"backends", {{{"service", "api-v1"}, {"weight", 90}}, {{"service", "api-v2"}, {"weight", 10}}}}}}}}}};
}

const json* Find(const json& list, const std::string& key, const std::string& value) {
  for (const auto& item : list)
    if (item.value(key, "") == value) return &item;
  return nullptr;
}

TEST(ServiceGraphModel, EdgesCountEachRequestOnceFromTheSourceSide) {
  ServiceGraphModel model;
  auto now = ServiceGraphModel::Clock::now();
  json g = model.Update({{"node-1", Node1(85, 5, 10), ""}, {"node-2", Node2(10), ""}}, ConfigDump(), now);

  const json* v1 = Find(g["edges"], "id", "canary-app/frontend->canary-app/api-v1");
  const json* v2 = Find(g["edges"], "id", "canary-app/frontend->canary-app/api-v2");
  ASSERT_TRUE(v1 && v2) << g.dump(2);
  EXPECT_EQ((*v1)["requests"], 90);  // not 175: the destination's own series are not added
  EXPECT_EQ((*v1)["failures"], 5);
  EXPECT_NEAR((*v1)["successRate"].get<double>(), 85.0 / 90, 1e-9);
  EXPECT_EQ((*v1)["protocol"], "http");
  EXPECT_EQ((*v2)["requests"], 10);
  EXPECT_EQ((*v2)["successRate"], 1.0);
  EXPECT_TRUE((*v1)["rps"].is_null()) << "no rate before a second scrape";

  // The plaintext client from outside the mesh is an edge of its own, TCP only.
  const json* outside = Find(g["edges"], "id", "unknown->canary-app/api-v2");
  ASSERT_TRUE(outside) << g.dump(2);
  EXPECT_EQ((*outside)["protocol"], "tcp");
  EXPECT_EQ((*outside)["connections"], 4);
  EXPECT_EQ((*outside)["bytesSent"], 1000);
  EXPECT_EQ(g["edges"].size(), 3u) << g.dump(2);

  // Nodes: the snapshot's workloads (named by their owner, not the pod) and "outside the mesh".
  const json* api_v2 = Find(g["nodes"], "id", "canary-app/api-v2");
  ASSERT_TRUE(api_v2) << g.dump(2);
  EXPECT_EQ((*api_v2)["name"], "api-v2");
  EXPECT_EQ((*api_v2)["namespace"], "canary-app");
  EXPECT_EQ((*api_v2)["hosts"], json({"node-2"}));
  EXPECT_EQ((*api_v2)["services"], json({"api-v2"}));
  EXPECT_EQ((*api_v2)["inMesh"], true);
  const json* unknown = Find(g["nodes"], "id", "unknown");
  ASSERT_TRUE(unknown);
  EXPECT_EQ((*unknown)["inMesh"], false);
  EXPECT_TRUE(Find(g["nodes"], "id", "canary-app/frontend"));
  // The split's root service selects no pods; it is shown as the split it stands for.
  const json* root = Find(g["nodes"], "id", "canary-app/api");
  ASSERT_TRUE(root) << g.dump(2);
  EXPECT_EQ((*root)["splitRoot"]["name"], "api-split");
  EXPECT_EQ((*root)["splitRoot"]["backends"], json({"api-v1", "api-v2"}));
  EXPECT_EQ(g["nodes"].size(), 5u) << g.dump(2);
}

TEST(ServiceGraphModel, SplitSharesAreComparedWithTheirWeights) {
  ServiceGraphModel model;
  json g = model.Update({{"node-1", Node1(85, 5, 10), ""}}, ConfigDump(), ServiceGraphModel::Clock::now());
  ASSERT_EQ(g["splits"].size(), 1u) << g.dump(2);
  const json& split = g["splits"][0];
  EXPECT_EQ(split["name"], "api-split");
  EXPECT_EQ(split["root"], "api");
  EXPECT_EQ(split["unit"], "requests");
  EXPECT_EQ(split["total"], 100);
  const json* v1 = Find(split["backends"], "service", "api-v1");
  ASSERT_TRUE(v1);
  EXPECT_NEAR((*v1)["share"].get<double>(), 0.9, 1e-9);
  EXPECT_NEAR((*v1)["weightShare"].get<double>(), 0.9, 1e-9);
  EXPECT_EQ((*v1)["workloads"], json({"canary-app/api-v1"}));
  // The edge into each backend carries the split too.
  const json* edge = Find(g["edges"], "id", "canary-app/frontend->canary-app/api-v2");
  ASSERT_TRUE(edge && edge->contains("split"));
  EXPECT_NEAR((*edge)["split"]["share"].get<double>(), 0.1, 1e-9);
  EXPECT_EQ((*edge)["split"]["weight"], 10);
}

TEST(ServiceGraphModel, RatesComeFromSuccessiveScrapesAndSurviveAgentRestarts) {
  ServiceGraphModel model;
  auto t0 = ServiceGraphModel::Clock::now();
  model.Update({{"node-1", Node1(85, 5, 10), ""}}, ConfigDump(), t0);
  json g = model.Update({{"node-1", Node1(105, 5, 14), ""}}, ConfigDump(), t0 + std::chrono::seconds(2));
  const json* v1 = Find(g["edges"], "id", "canary-app/frontend->canary-app/api-v1");
  ASSERT_TRUE(v1);
  EXPECT_NEAR((*v1)["rps"].get<double>(), 10.0, 1e-9);  // 20 more requests in 2 s
  const json* api_v1 = Find(g["nodes"], "id", "canary-app/api-v1");
  EXPECT_NEAR((*api_v1)["rpsIn"].get<double>(), 10.0, 1e-9);
  // The agent restarted: its counters began again; the rate is what the new counters show.
  g = model.Update({{"node-1", Node1(4, 0, 0), ""}}, ConfigDump(), t0 + std::chrono::seconds(4));
  v1 = Find(g["edges"], "id", "canary-app/frontend->canary-app/api-v1");
  EXPECT_NEAR((*v1)["rps"].get<double>(), 2.0, 1e-9);
}

TEST(ServiceGraphModel, AFailedOrUnreadableScrapeIsReportedAndTheRestStillCounts) {
  ServiceGraphModel model;
  json g = model.Update({{"node-1", Node1(85, 5, 10), ""}, {"node-2", "", "no answer on 127.0.0.1:15020"},
                         {"node-3", "garbage{ 1\n", ""}},
                        json::object(), ServiceGraphModel::Clock::now());
  ASSERT_EQ(g["scrapes"].size(), 3u);
  EXPECT_EQ(g["scrapes"][0]["ok"], true);
  EXPECT_EQ(g["scrapes"][1]["ok"], false);
  EXPECT_NE(g["scrapes"][1]["error"].get<std::string>().find("no answer"), std::string::npos);
  EXPECT_EQ(g["scrapes"][2]["ok"], false);
  EXPECT_NE(g["scrapes"][2]["error"].get<std::string>().find("line 1"), std::string::npos);
  // Without a snapshot the graph still has the services traffic names (just no splits).
  EXPECT_TRUE(Find(g["edges"], "id", "canary-app/frontend->canary-app/api-v1"));
  EXPECT_TRUE(Find(g["nodes"], "id", "canary-app/api-v1"));
  EXPECT_TRUE(g["splits"].empty());
}

TEST(ServiceGraphModel, ANodeThatStopsAnsweringKeepsItsLastCountsWithoutAFakeRate) {
  ServiceGraphModel model;
  auto t0 = ServiceGraphModel::Clock::now();
  model.Update({{"node-1", Node1(85, 5, 10), ""}}, ConfigDump(), t0);
  json g = model.Update({{"node-1", "", "no answer"}}, ConfigDump(), t0 + std::chrono::seconds(2));
  const json* v1 = Find(g["edges"], "id", "canary-app/frontend->canary-app/api-v1");
  ASSERT_TRUE(v1) << g.dump(2);
  EXPECT_EQ((*v1)["requests"], 90);
  EXPECT_EQ((*v1)["rps"], 0.0);
  EXPECT_EQ(g["scrapes"][0]["ok"], false);
  g = model.Update({{"node-1", Node1(87, 5, 10), ""}}, ConfigDump(), t0 + std::chrono::seconds(4));
  v1 = Find(g["edges"], "id", "canary-app/frontend->canary-app/api-v1");
  EXPECT_NEAR((*v1)["rps"].get<double>(), 1.0, 1e-9);  // 2 more requests in 2 s, not 92
}

}  // namespace
}  // namespace ferry::cli
