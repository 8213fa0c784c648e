// The Prometheus config `ferryctl local` renders for its cluster (LocalScrapeConfig): both
// agents on their underlay addresses, the controller where it was told to serve metrics, and
// promtool accepts it. The controller's metrics address survives the cluster's state file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../metrics/promtool.h"
#include "local/cluster.h"
#include "test_result.h"

namespace ferry::local {
namespace {

nlohmann::json NodeJson(int i) {
  const std::string n = std::to_string(i);
  return {{"index", i}, {"name", "node-" + n}, {"netns", "ferry-node-" + n}, {"netnsPath", "/var/run/netns/ferry-node-" + n},
          {"cgroup", "/cg/node-" + n}, {"podCgroup", "/cg/node-" + n + "/pods"}, {"agentCgroup", "/cg/node-" + n + "/agent"},
          {"pinDir", "/sys/fs/bpf/ferry/node-" + n}, {"stateDir", "/s/node-" + n},
          {"enrollSocket", "/s/node-" + n + "/agent.sock"}, {"policyFile", "/s/node-" + n + "/policy.yaml"},
          {"agentLog", "/s/logs/node-" + n + "-agent.log"}, {"podSubnet", "198.18." + n + ".0/24"},
          {"underlayIp", "198.19.0.1" + n}, {"agentPid", -1}, {"agentStartTime", 0}};
}

class LocalScrapeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("prom-scrape-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    nlohmann::json doc = {
        {"version", 1},
        {"options", {{"name", "ferry"}, {"stateDir", dir_.string()}, {"nodes", 2}, {"underlay", true},
                     {"policySource", "controller"}, {"controllerAddress", "198.19.0.1:15012"}}},
        {"cgroupRoot", "/sys/fs/cgroup/ferry"},
        {"nodes", {NodeJson(1), NodeJson(2)}},
        {"controller", {{"binary", "/bin/ferry-controller"}, {"listen", "198.19.0.1:15012"},
                        {"metricsAddress", "198.19.0.1:15014"}, {"process", {{"pid", -1}, {"startTime", 0}}}}}};
    std::ofstream(dir_ / "cluster.json") << doc.dump();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(LocalScrapeConfigTest, TargetsBothAgentsAndTheControllerAndPassesPromtool) {
  auto cluster = LocalCluster::Open(dir_.string());
  ASSERT_OK(cluster);
  ASSERT_OK((*cluster)->Save());  // the metrics address is written back, not dropped
  cluster = LocalCluster::Open(dir_.string());
  ASSERT_OK(cluster);
  ASSERT_TRUE((*cluster)->controller().has_value());
  EXPECT_EQ((*cluster)->controller()->metrics_address, "198.19.0.1:15014");

  std::vector<ScrapeTarget> targets = ScrapeTargets(**cluster);
  ASSERT_EQ(targets.size(), 3u);
  EXPECT_EQ(targets[0].address, "198.19.0.11:15020");
  EXPECT_EQ(targets[0].node, "node-1");
  EXPECT_EQ(targets[1].address, "198.19.0.12:15020");
  EXPECT_EQ(targets[2].job, "ferry-controller");
  EXPECT_EQ(targets[2].address, "198.19.0.1:15014");

  std::string config = LocalScrapeConfig(**cluster, std::chrono::seconds(1));
  EXPECT_NE(config.find("scrape_interval: 1s"), std::string::npos) << config;
  FERRY_REQUIRE_PROMTOOL(promtool);
  std::filesystem::path file = dir_ / "prometheus.yml";
  std::ofstream(file) << config;
  std::string command = "'" + promtool + "' check config '" + file.string() + "' > /dev/null 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << config;
}

}  // namespace
}  // namespace ferry::local
