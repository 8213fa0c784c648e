// The control plane end to end: ferryctl local (2 nodes, real CNI, ferry-cni, controller over
// gRPC, one agent per node), policy applied and removed with `ferryctl local apply/delete`.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ferryctl_fixture.h"

namespace ferry::vmtest {
namespace {

using std::chrono::milliseconds;
using MeshE2eTest = FerryctlFixture;

TEST_F(MeshE2eTest, PodsArePlacedOnBothNodesAndEnrolled) {
  auto pods = Pods();
  ASSERT_EQ(pods.size(), 3u) << pods;
  std::set<std::string> nodes;
  for (const auto& p : pods) {
    nodes.insert(p.value("node", ""));
    EXPECT_EQ(p.value("enrolled", false), true) << p;
    std::string subnet = p.value("node", "") == "node-1" ? "198.18.1." : "198.18.2.";
    EXPECT_EQ(p.value("ip", "").rfind(subnet, 0), 0u) << p;
  }
  EXPECT_EQ(nodes, (std::set<std::string>{"node-1", "node-2"}));
  // Each agent runs the controller's current snapshot for its node: ACKed, nothing NACKed.
  nlohmann::json nodes_status;
  auto acked = WaitFor([&] {
    std::ifstream in(state_ + "/controller-status.json");
    auto status = nlohmann::json::parse(in, nullptr, false);
    if (!status.is_object()) return false;
    nodes_status = status.value("nodes", nlohmann::json::array());
    std::set<std::string> current;
    for (const auto& n : nodes_status)
      if (n.value("version", 0ull) > 0 && n.value("ackedVersion", 0ull) == n.value("version", 1ull) &&
          n.value("nackError", "").empty())
        current.insert(n.value("node", ""));
    return current == std::set<std::string>{"node-1", "node-2"};
  });
  EXPECT_TRUE(acked) << "not every agent ACKed its current snapshot: " << nodes_status;
}

TEST_F(MeshE2eTest, TrafficTargetAllowsAndItsDeletionDeniesAgain) {
  EXPECT_EQ(Outcome("deploy/frontend", "api:80"), "reset") << "denied by default";
  auto policy = WriteManifest("policy", AllowFrontendToApi("[8080]"));
  ASSERT_EQ(Ctl({"local", "apply", "-f", policy}).exit_code, 0);
  auto allowed = WaitFor([&] { return Outcome("deploy/frontend", "api:80") == "ok"; });
  ASSERT_TRUE(allowed) << "TrafficTarget not enforced within 10 s";
  auto data = ProbeIn("deploy/frontend", {"send", "--to", "api:80", "--bytes", "262144"});
  EXPECT_EQ(data.value("intact", false), true) << data;
  ASSERT_EQ(Ctl({"local", "delete", "-f", policy}).exit_code, 0);
  auto denied = WaitFor([&] { return Outcome("deploy/frontend", "api:80") == "reset"; });
  ASSERT_TRUE(denied) << "deleted TrafficTarget still allowing after 10 s";
  std::cout << "allow took effect after " << allowed->count() << " ms, deny after " << denied->count()
            << " ms (including the probe's own round trips)\n";
}

TEST_F(MeshE2eTest, NamespaceRemoveReleasesAndAddEnrollsRunningPods) {
  std::string api_ip = PodByName("api").value("ip", "");
  ASSERT_EQ(Ctl({"namespace", "remove", "shop"}).exit_code, 0);
  auto released = WaitFor([&] { return PodByName("frontend").value("enrolled", true) == false; });
  ASSERT_TRUE(released) << "frontend still enrolled 10 s after namespace remove";
  EXPECT_EQ(Outcome("deploy/frontend", api_ip + ":8080"), "ok") << "outside the mesh, traffic flows directly";
  ASSERT_EQ(Ctl({"namespace", "add", "shop"}).exit_code, 0);
  auto enrolled = WaitFor([&] { return PodByName("frontend").value("enrolled", false) == true; });
  ASSERT_TRUE(enrolled) << "frontend not re-enrolled 10 s after namespace add";
  EXPECT_TRUE(WaitFor([&] { return Outcome("deploy/frontend", api_ip + ":8080") == "reset"; }));
  std::cout << "released after " << released->count() << " ms, re-enrolled after " << enrolled->count() << " ms\n";
}

TEST_F(MeshE2eTest, MalformedManifestKeepsThePreviousPolicyAndIsReported) {
  auto policy = WriteManifest("policy", AllowFrontendToApi("[8080]"));
  ASSERT_EQ(Ctl({"local", "apply", "-f", policy}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return Outcome("deploy/frontend", "api:80") == "ok"; }));
  // Same TrafficTarget, now referring to a route that does not exist.
  auto broken = WriteManifest("broken", R"(apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: api-from-frontend, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: api, namespace: shop}
  sources: [{kind: ServiceAccount, name: frontend, namespace: shop}]
  rules: [{kind: TCPRoute, name: no-such-route}]
)");
  Ctl({"local", "apply", "-f", broken});
  std::string status_file = state_ + "/controller-status.json";
  auto reported = WaitFor([&] {
    std::ifstream in(status_file);
    auto doc = nlohmann::json::parse(in, nullptr, false);
    if (!doc.is_object()) return false;
    for (const auto& r : doc.value("rejections", nlohmann::json::array()))
      if (r.value("name", "") == "api-from-frontend") return true;
    return false;
  });
  EXPECT_TRUE(reported) << "the controller did not report the rejected TrafficTarget";
  EXPECT_EQ(Outcome("deploy/frontend", "api:80"), "ok") << "the last good TrafficTarget must stay in force";
}

// While policy flips between two versions, connections that neither allows never get through.
TEST_F(MeshE2eTest, PolicyChurnNeverAllowsWhatNeitherVersionAllows) {
  std::string api_ip = PodByName("api").value("ip", "");
  auto allow_8080 = WriteManifest("p8080", AllowFrontendToApi("[8080]"));
  auto allow_9090 = WriteManifest("p9090", AllowFrontendToApi("[9090]"));
  std::atomic<bool> done{false};
  std::atomic<int> attempts{0}, leaked{0};
  std::thread prober([&] {
    while (!done) {
      ++attempts;
      if (Outcome("deploy/frontend", api_ip + ":7070") == "ok") ++leaked;
    }
  });
  for (int i = 0; i < 6; ++i) {
    Ctl({"local", "apply", "-f", i % 2 ? allow_9090 : allow_8080});
    std::this_thread::sleep_for(milliseconds(300));
  }
  done = true;
  prober.join();
  std::cout << attempts << " attempts to a port no version allows during 6 policy changes\n";
  EXPECT_GT(attempts.load(), 3);
  EXPECT_EQ(leaked.load(), 0);
}

TEST_F(MeshE2eTest, ControllerDownKeepsPolicyEnforcedAndRestartResyncs) {
  auto policy = WriteManifest("policy", AllowFrontendToApi("[8080]"));
  ASSERT_EQ(Ctl({"local", "apply", "-f", policy}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return Outcome("deploy/frontend", "api:80") == "ok"; }));
  ASSERT_EQ(Ctl({"local", "stop", "controller", "--kill"}).exit_code, 0);
  std::string api_ip = PodByName("api").value("ip", "");
  EXPECT_EQ(Outcome("deploy/frontend", "api:80"), "ok") << "allowed traffic must keep flowing";
  EXPECT_EQ(Outcome("deploy/frontend", api_ip + ":7070"), "reset") << "denied traffic must stay denied";
  // Deleting the policy while the controller is down changes nothing until it is back.
  ASSERT_EQ(Ctl({"local", "delete", "-f", policy}).exit_code, 0);
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(Outcome("deploy/frontend", "api:80"), "ok");
  ASSERT_EQ(Ctl({"local", "start", "controller"}).exit_code, 0);
  auto resynced = WaitFor([&] { return Outcome("deploy/frontend", "api:80") == "reset"; }, std::chrono::seconds(30));
  ASSERT_TRUE(resynced) << "agents did not resync with the restarted controller";
  std::cout << "resynced " << resynced->count() << " ms after the controller restarted\n";
}

TEST_F(MeshE2eTest, AgentRestartedWithoutControllerEnforcesLastGoodPolicy) {
  auto policy = WriteManifest("policy", AllowFrontendToApi("[8080]"));
  ASSERT_EQ(Ctl({"local", "apply", "-f", policy}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return Outcome("deploy/frontend", "api:80") == "ok"; }));
  std::string api_ip = PodByName("api").value("ip", "");
  ASSERT_EQ(Ctl({"local", "stop", "controller", "--kill"}).exit_code, 0);
  ASSERT_EQ(Ctl({"local", "stop", "agent", "node-1", "--kill"}).exit_code, 0);
  EXPECT_NE(Outcome("deploy/frontend", "api:80"), "ok") << "agent down: fail closed";
  ASSERT_EQ(Ctl({"local", "start", "agent", "node-1"}).exit_code, 0);
  EXPECT_TRUE(WaitFor([&] { return Outcome("deploy/frontend", "api:80") == "ok"; }))
      << "the restarted agent must enforce its last good snapshot without the controller";
  EXPECT_EQ(Outcome("deploy/frontend", api_ip + ":7070"), "reset");
}

TEST_F(MeshE2eTest, PodInMeshNamespaceIsNotCreatedWhileItsAgentIsDown) {
  ASSERT_EQ(Ctl({"local", "stop", "agent", "node-1"}).exit_code, 0);
  auto late = WriteManifest("late", R"(apiVersion: v1
kind: Pod
metadata: {name: late, namespace: shop}
spec:
  serviceAccountName: frontend
  nodeName: node-1
  containers: [{name: main, image: local, command: ["/bin/sleep", "1000"]}]
)");
  auto r = Ctl({"local", "apply", "-f", late});
  EXPECT_NE(r.exit_code, 0) << "creating a mesh pod with its agent down must fail: " << r.output;
  EXPECT_NE((r.output + r.errors).find("late"), std::string::npos) << r.output << r.errors;
  auto pod = PodByName("late");
  EXPECT_TRUE(pod.empty() || pod.value("status", "") != "Running") << pod;
}

}  // namespace
}  // namespace ferry::vmtest
