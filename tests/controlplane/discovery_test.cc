// Controller and agent clients in one process over 127.0.0.1: snapshots are pushed on change
// (never polled), ACKed or NACKed, survive broken manifests and controller restarts, and may be
// larger than gRPC's default 4 MiB message limit.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "controller_fixture.h"
#include "test_manifests.h"
#include "test_result.h"

namespace ferry::controlplane {
namespace {

using namespace testing;  // NOLINT
using namespace std::chrono_literals;  // NOLINT

const std::string kBase = Docs({Namespace("shop"), TcpRoute("db-port")});

struct Running {
  std::unique_ptr<Controller> controller;
  std::shared_ptr<RecordingAgent> agent = std::make_shared<RecordingAgent>();
  std::unique_ptr<xds::PolicyClient> client;
};

Running StartWithOneAgent(const TempDir& dir, const std::string& node = "node-a") {
  Running r;
  Result<std::unique_ptr<Controller>> c = Controller::Start(TestControllerOptions(dir));
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().Message());
  if (!c.ok()) return r;
  r.controller = std::move(c).value();
  r.client = std::make_unique<xds::PolicyClient>(TestClientOptions(*r.controller, node), r.agent->Callback());
  r.client->Start();
  return r;
}

bool AckedAtController(const Controller& controller, const std::string& node, uint64_t version) {
  std::optional<NodeStatus> n = FindNode(controller.Status(), node);
  return n && n->acked_version == version;
}

nlohmann::json ReadStatusFile(const TempDir& dir) {
  std::ifstream in(dir.path() / ".ferry-status.json");
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

TEST(PolicyDiscovery, FirstSnapshotIsDeliveredAndAcked) {
  TempDir dir;
  dir.Write("shop.yaml", kBase + "---\n" + Target("api-to-db"));
  Running r = StartWithOneAgent(dir);
  ASSERT_TRUE(r.controller);
  ASSERT_TRUE(WaitFor([&] { return r.agent->Count() >= 1; }));
  const v1::PolicySnapshot first = r.agent->Snapshots()[0];
  EXPECT_TRUE(HasAuthorization(first, "api-to-db"));
  EXPECT_GT(first.version(), 0u);
  ASSERT_TRUE(WaitFor([&] { return AckedAtController(*r.controller, "node-a", first.version()); }));
  // The status file tells an operator the same.
  ASSERT_TRUE(WaitFor([&] {
    nlohmann::json status = ReadStatusFile(dir);
    return !status.is_discarded() && status["nodes"].size() == 1 &&
           status["nodes"][0]["ackedVersion"] == first.version() && status["nodes"][0]["streams"] == 1;
  }));
}

TEST(PolicyDiscovery, ManifestChangeIsPushedAndQuietMeansNothingIsSent) {
  TempDir dir;
  dir.Write("shop.yaml", kBase + "---\n" + Target("api-to-db"));
  Running r = StartWithOneAgent(dir);
  ASSERT_TRUE(r.controller);
  ASSERT_TRUE(WaitFor([&] { return r.agent->Count() == 1; }));

  // No timer re-sends or re-reads anything: a quiet period delivers nothing new.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(r.agent->Count(), 1u);
  EXPECT_EQ(r.controller->Status().reloads, 1u);

  // A new file dropped into the directory is pushed.
  dir.Write("web.yaml", Target("web-to-db", "web"));
  ASSERT_TRUE(WaitFor([&] { return r.agent->Count() == 2; }));
  std::vector<v1::PolicySnapshot> got = r.agent->Snapshots();
  EXPECT_TRUE(HasAuthorization(got[1], "web-to-db"));
  EXPECT_GT(got[1].version(), got[0].version());
  ASSERT_TRUE(WaitFor([&] { return AckedAtController(*r.controller, "node-a", got[1].version()); }));

  // Touching a file without changing what it means reloads but pushes nothing.
  dir.WriteInPlace("web.yaml", Target("web-to-db", "web"));
  ASSERT_TRUE(WaitFor([&] { return r.controller->Status().reloads >= 3; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(r.agent->Count(), 2u);

  // Deleting the file withdraws its policy.
  std::filesystem::remove(dir.path() / "web.yaml");
  ASSERT_TRUE(WaitFor([&] { return r.agent->Count() == 3; }));
  EXPECT_FALSE(HasAuthorization(r.agent->Snapshots()[2], "web-to-db"));
}

TEST(PolicyDiscovery, NackIsVisibleAtTheController) {
  TempDir dir;
  dir.Write("shop.yaml", kBase + "---\n" + Target("api-to-db"));
  Running r = StartWithOneAgent(dir);
  ASSERT_TRUE(r.controller);
  ASSERT_TRUE(WaitFor([&] { return r.agent->LastVersion() > 0; }));
  const uint64_t good = r.agent->LastVersion();
  r.agent->RefuseWhen([](const v1::PolicySnapshot& s) -> std::optional<std::string> {
    if (HasAuthorization(s, "too-much")) return "policy too large for this node";
    return std::nullopt;
  });

  dir.Write("more.yaml", Target("too-much", "web"));
  ASSERT_TRUE(WaitFor([&] {
    std::optional<NodeStatus> n = FindNode(r.controller->Status(), "node-a");
    return n && n->nacked_version > good;
  }));
  std::optional<NodeStatus> n = FindNode(r.controller->Status(), "node-a");
  EXPECT_NE(n->nack_error.find("policy too large for this node"), std::string::npos) << n->nack_error;
  EXPECT_EQ(n->acked_version, good);
  EXPECT_EQ(r.agent->LastVersion(), good) << "the agent keeps enforcing the previous version";
  EXPECT_EQ(r.client->Status().nacks, 1u);
  ASSERT_TRUE(WaitFor([&] {
    nlohmann::json status = ReadStatusFile(dir);
    return !status.is_discarded() && status["nodes"][0]["nackError"].get<std::string>().find("too large") != std::string::npos;
  }));
}

TEST(PolicyDiscovery, MalformedManifestLeavesThePreviousPolicyInForce) {
  TempDir dir;
  dir.Write("shop.yaml", kBase);
  dir.Write("targets.yaml", Target("api-to-db"));
  Running r = StartWithOneAgent(dir);
  ASSERT_TRUE(r.controller);
  ASSERT_TRUE(WaitFor([&] { return r.agent->LastVersion() > 0; }));
  const uint64_t version = r.agent->LastVersion();

  dir.Write("targets.yaml", BrokenTarget("api-to-db"));
  ASSERT_TRUE(WaitFor([&] { return !r.controller->Status().rejections.empty(); }));
  const ReportedRejection rejection = r.controller->Status().rejections[0];
  EXPECT_NE(rejection.rejection.origin.source.find("targets.yaml"), std::string::npos);
  EXPECT_EQ(rejection.rejection.kind, "TrafficTarget");
  EXPECT_EQ(rejection.rejection.name, "api-to-db");
  EXPECT_TRUE(rejection.kept_from.has_value());
  // The node's policy did not change, so nothing new was pushed and the target still applies.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(r.agent->LastVersion(), version);
  EXPECT_TRUE(HasAuthorization(*r.controller->publisher().Current("node-a"), "api-to-db"));

  // The status file names file, kind and name for ferryctl.
  ASSERT_TRUE(WaitFor([&] {
    nlohmann::json status = ReadStatusFile(dir);
    if (status.is_discarded() || status["rejections"].empty()) return false;
    const nlohmann::json& rj = status["rejections"][0];
    return rj["kind"] == "TrafficTarget" && rj["name"] == "api-to-db" && rj["keptLastGood"] == true &&
           rj["file"].get<std::string>().find("targets.yaml") != std::string::npos;
  }));

  // A YAML syntax error in the whole file: same outcome.
  dir.Write("targets.yaml", "kind: [oops\n");
  ASSERT_TRUE(WaitFor([&] {
    ControllerStatus s = r.controller->Status();
    return !s.rejections.empty() && s.rejections[0].rejection.kind.empty();
  }));
  EXPECT_TRUE(HasAuthorization(*r.controller->publisher().Current("node-a"), "api-to-db"));
  EXPECT_EQ(r.agent->LastVersion(), version);
}

TEST(PolicyDiscovery, AgentReconnectsAfterTheControllerRestarts) {
  TempDir dir;
  dir.Write("shop.yaml", kBase + "---\n" + Target("api-to-db"));
  Running r = StartWithOneAgent(dir);
  ASSERT_TRUE(r.controller);
  ASSERT_TRUE(WaitFor([&] { return r.agent->LastVersion() > 0; }));
  const uint64_t before = r.agent->LastVersion();
  const std::string address = r.controller->address();

  r.controller->Stop();
  r.controller.reset();
  ASSERT_TRUE(WaitFor([&] { return !r.client->Status().connected; }));
  dir.Write("web.yaml", Target("web-to-db", "web"));  // changed while the controller was away

  Result<std::unique_ptr<Controller>> again = Controller::Start(TestControllerOptions(dir, address));
  ASSERT_OK(again);
  ASSERT_TRUE(WaitFor([&] { return r.agent->LastVersion() > before; }));
  EXPECT_TRUE(HasAuthorization(r.agent->Snapshots().back(), "web-to-db"));
  EXPECT_EQ(r.client->Status().streams, 2u);
  ASSERT_TRUE(WaitFor([&] { return AckedAtController(*again.value(), "node-a", r.agent->LastVersion()); }));
}

TEST(PolicyDiscovery, SnapshotLargerThanFourMebibytesIsDelivered) {
  TempDir dir;
  dir.Write("shop.yaml", kBase + "---\n" + Target("api-to-db"));
  // 40 workloads with a 128 KiB label each: ~5 MiB of snapshot.
  nlohmann::json workloads = nlohmann::json::array();
  const std::string big(128 * 1024, 'x');
  for (int i = 0; i < 40; ++i) {
    workloads.push_back({{"name", "api-" + std::to_string(i)},
                         {"namespace", "shop"},
                         {"ip", "198.18.1." + std::to_string(i + 2)},
                         {"node", "node-a"},
                         {"labels", {{"blob", big}}}});
  }
  dir.Write(".ferry/workloads.json", workloads.dump());
  Running r = StartWithOneAgent(dir);
  ASSERT_TRUE(r.controller);
  ASSERT_TRUE(WaitFor([&] { return r.agent->LastVersion() > 0; }));
  const v1::PolicySnapshot got = r.agent->Snapshots().back();
  EXPECT_GT(got.ByteSizeLong(), 4u << 20);
  EXPECT_EQ(got.workloads_size(), 40);
  ASSERT_TRUE(WaitFor([&] { return AckedAtController(*r.controller, "node-a", got.version()); }));
}

TEST(PolicyDiscovery, EachNodeGetsItsOwnSnapshot) {
  TempDir dir;
  dir.Write("shop.yaml", kBase + "---\n" + Target("api-to-db"));
  auto inventory = [](const std::string& b_ip) {
    return nlohmann::json{{"workloads", nlohmann::json::array()},
                          {"nodes", {{{"name", "node-a"}, {"ip", "198.18.0.2"}}, {{"name", "node-b"}, {"ip", b_ip}}}}}
        .dump();
  };
  dir.Write(".ferry/workloads.json", inventory("198.18.0.3"));
  ControllerOptions options = TestControllerOptions(dir);
  options.compiler.exempt_node_ip = true;
  Result<std::unique_ptr<Controller>> controller = Controller::Start(std::move(options));
  ASSERT_OK(controller);
  const std::string address = controller.value()->address();
  auto agent_a = std::make_shared<RecordingAgent>();
  auto agent_b = std::make_shared<RecordingAgent>();
  xds::PolicyClient a(TestClientOptions(*controller.value(), "node-a"), agent_a->Callback());
  xds::PolicyClient b(TestClientOptions(*controller.value(), "node-b"), agent_b->Callback());
  a.Start();
  b.Start();
  ASSERT_TRUE(WaitFor([&] { return agent_a->Count() == 1 && agent_b->Count() == 1; }));
  EXPECT_EQ(agent_a->Snapshots()[0].mesh().inbound_exempt_ips(0), "198.18.0.2");
  EXPECT_EQ(agent_b->Snapshots()[0].mesh().inbound_exempt_ips(0), "198.18.0.3");

  // Only node-b's part of the inventory changes: only node-b gets a new version.
  dir.Write(".ferry/workloads.json", inventory("198.18.0.9"));
  ASSERT_TRUE(WaitFor([&] { return agent_b->Count() == 2; }));
  EXPECT_EQ(agent_b->Snapshots()[1].mesh().inbound_exempt_ips(0), "198.18.0.9");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(agent_a->Count(), 1u);
  ASSERT_TRUE(WaitFor([&] {
    return AckedAtController(*controller.value(), "node-a", agent_a->LastVersion()) &&
           AckedAtController(*controller.value(), "node-b", agent_b->LastVersion());
  }));
  a.Stop();
  b.Stop();
}

TEST(PolicyDiscovery, InventoryWrittenAfterStartIsPickedUp) {
  TempDir dir;  // no .ferry directory yet: the cluster tool creates it when it schedules pods
  dir.Write("shop.yaml", kBase + "---\n" + Target("api-to-db"));
  Running r = StartWithOneAgent(dir);
  ASSERT_TRUE(r.controller);
  ASSERT_TRUE(WaitFor([&] { return r.agent->Count() == 1; }));
  EXPECT_EQ(r.agent->Snapshots()[0].workloads_size(), 0);
  dir.Write(".ferry/workloads.json",
            R"([{"name":"db-0","namespace":"shop","serviceAccount":"db","ip":"198.18.1.5","node":"node-a"}])");
  ASSERT_TRUE(WaitFor([&] { return r.agent->Count() == 2; }));
  const v1::PolicySnapshot latest = r.agent->Snapshots()[1];
  ASSERT_EQ(latest.workloads_size(), 1);
  EXPECT_EQ(latest.workloads(0).ip(), "198.18.1.5");
}

TEST(PolicyDiscovery, ControllerRefusesWildcardAndMissingDirectory) {
  TempDir dir;
  EXPECT_ERR(Controller::Start(TestControllerOptions(dir, "0.0.0.0:15012")));
  ControllerOptions missing = TestControllerOptions(dir);
  missing.manifest_dir = dir.path() / "nope";
  EXPECT_ERR(Controller::Start(std::move(missing)));
}

}  // namespace
}  // namespace ferry::controlplane
