// The state file: a cluster recorded by one ferryctl invocation is read back by the next.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/ipv4.h"
#include "local/cluster.h"
#include "local/manifests.h"
#include "test_result.h"

namespace ferry::local {
namespace {

class StateDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ferry-local-state-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(StateDir, ClusterStateRoundTrip) {
  nlohmann::json doc = {
      {"version", 1},
      {"options", {{"name", "ferry"}, {"stateDir", dir_.string()}, {"nodes", 1}, {"agentBinary", "/bin/agent"},
                   {"cniPluginDirs", {"/usr/lib/cni", "/opt/ferry"}}, {"chainFerryCni", true}, {"underlay", true},
                   {"policySource", "controller"}, {"controllerAddress", "198.19.0.1:15012"}}},
      {"cgroupRoot", "/sys/fs/cgroup/ferry"},
      {"nodes", {{{"index", 1}, {"name", "node-1"}, {"netns", "ferry-node-1"}, {"netnsPath", "/var/run/netns/ferry-node-1"},
                  {"cgroup", "/cg/node-1"}, {"podCgroup", "/cg/node-1/pods"}, {"agentCgroup", "/cg/node-1/agent"},
                  {"pinDir", "/sys/fs/bpf/ferry/ferry-node-1"}, {"stateDir", "/s/node-1"},
                  {"enrollSocket", "/s/node-1/agent.sock"}, {"policyFile", "/s/node-1/policy.yaml"},
                  {"agentLog", "/s/logs/node-1-agent.log"}, {"podSubnet", "198.18.1.0/24"},
                  {"underlayIp", "198.19.0.11"}, {"agentPid", 4242}, {"agentStartTime", 99}}}},
      {"pods", {{{"namespace", "shop"}, {"name", "api-0"}, {"serviceAccount", "api"}, {"node", 1}, {"enroll", true},
                 {"labels", {{"app", "api"}}}, {"netns", "ferry-shop-api-0"}, {"netnsPath", "/var/run/netns/ferry-shop-api-0"},
                 {"cgroup", "/cg/node-1/pods/shop_api-0"}, {"hostsFile", "/s/pods/shop_api-0/hosts"},
                 {"ip", 3323068674u}, {"processes", {{{"pid", 77}, {"startTime", 5}}}}, {"fingerprint", "fp"}}}},
      {"services", {{{"namespace", "shop"}, {"name", "api"}, {"vip", "198.19.128.1"},
                     {"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", "8080"}, {"protocol", "TCP"}}}},
                     {"selector", {{"app", "api"}}}}}}};
  std::ofstream(dir_ / "cluster.json") << doc.dump();

  auto opened = LocalCluster::Open(dir_.string());
  ASSERT_OK(opened);
  LocalCluster& cluster = **opened;
  EXPECT_EQ(cluster.options().policy_source, PolicySource::kController);
  EXPECT_TRUE(cluster.options().chain_ferry_cni);
  ASSERT_EQ(cluster.nodes().size(), 1u);
  EXPECT_EQ(cluster.node(1).underlay_ip, "198.19.0.11");
  EXPECT_EQ(cluster.node(1).agent_pid, 4242);
  Pod* pod = cluster.FindPod("shop", "api-0");
  ASSERT_NE(pod, nullptr);
  EXPECT_EQ(pod->Ip(), "198.18.1.2");
  EXPECT_EQ(pod->options.labels.at("app"), "api");
  ASSERT_EQ(pod->processes.size(), 1u);
  EXPECT_EQ(pod->processes[0].pid, 77);
  ASSERT_EQ(cluster.services().size(), 1u);
  EXPECT_EQ(FormatIpv4(cluster.services()[0].vip), "198.19.128.1");
  EXPECT_EQ(cluster.services()[0].ports[0].target_port, "8080");

  // Saved and reopened, nothing is lost.
  ASSERT_OK(cluster.Save());
  auto again = LocalCluster::Open(dir_.string());
  ASSERT_OK(again);
  EXPECT_EQ((*again)->FindPod("shop", "api-0")->fingerprint, "fp");
  EXPECT_EQ((*again)->services(), cluster.services());
  EXPECT_EQ((*again)->node(1).enroll_socket, "/s/node-1/agent.sock");
}

TEST_F(StateDir, MissingStateSaysHowToStart) {
  auto opened = LocalCluster::Open((dir_ / "nothing").string());
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.error().Message().find("ferryctl local up"), std::string::npos);
}

TEST_F(StateDir, ManifestStoreOneFilePerResource) {
  ManifestStore store((dir_ / "manifests").string());
  auto parsed = ParseManifests("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
                               "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop}\n"
                               "spec: {clusterIP: 198.19.128.1}\n",
                               "x.yaml");
  ASSERT_EQ(parsed.manifests.size(), 2u);
  for (const auto& m : parsed.manifests) ASSERT_OK(store.Put(m));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "manifests/Namespace__cluster_shop.yaml"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "manifests/Service_shop_api.yaml"));
  auto all = store.LoadAll();
  ASSERT_OK(all);
  EXPECT_EQ(all->size(), 2u);
  auto svc = store.Get("Service", "shop", "api");
  ASSERT_TRUE(svc.has_value());
  EXPECT_EQ(ScalarOr(svc->doc["spec"]["clusterIP"]), "198.19.128.1");
  auto removed = store.Remove("Service", "shop", "api");
  ASSERT_OK(removed);
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(store.Get("Service", "shop", "api").has_value());
}

}  // namespace
}  // namespace ferry::local
