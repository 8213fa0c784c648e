// The agent-side client on its own: the last good snapshot survives a restart, an unreachable
// controller neither blocks Stop() nor loses the persisted policy, and backoff is jittered.
#include <gtest/gtest.h>

#include <fstream>

#include "agent/xds/backoff.h"
#include "agent/xds/snapshot_file.h"
#include "controller_fixture.h"
#include "test_manifests.h"
#include "test_result.h"

namespace ferry::controlplane {
namespace {

using namespace testing;  // NOLINT

TEST(PolicyClient, PersistedSnapshotLoadsAfterRestartWithoutController) {
  TempDir dir;
  dir.Write("shop.yaml", Docs({Namespace("shop"), TcpRoute("db-port"), Target("api-to-db")}));
  const std::filesystem::path persisted = dir.path() / "agent-state" / "policy.pb";
  std::filesystem::create_directories(persisted.parent_path());
  uint64_t version = 0;
  std::string address;
  std::string bundle;
  {
    Result<std::unique_ptr<Controller>> controller = Controller::Start(TestControllerOptions(dir));
    ASSERT_OK(controller);
    address = controller.value()->address();
    bundle = controller.value()->ca().trust_bundle_pem;
    RecordingAgent agent;
    xds::PolicyClientOptions options = TestClientOptions(address, "node-a", bundle);
    options.persist_path = persisted;
    xds::PolicyClient client(options, agent.Callback());
    client.Start();
    ASSERT_TRUE(WaitFor([&] { return agent.LastVersion() > 0; }));
    version = agent.LastVersion();
    ASSERT_TRUE(WaitFor([&] {
      std::optional<NodeStatus> n = FindNode(controller.value()->Status(), "node-a");
      return n && n->acked_version == version;  // ACK is sent after the snapshot is on disk
    }));
  }  // agent and controller gone

  RecordingAgent restarted;
  xds::PolicyClientOptions options = TestClientOptions(address, "node-a", bundle);
  options.persist_path = persisted;
  xds::PolicyClient client(options, restarted.Callback());
  Result<std::optional<v1::PolicySnapshot>> loaded = client.LoadPersisted();
  ASSERT_OK(loaded);
  ASSERT_TRUE(loaded.value().has_value());
  EXPECT_EQ(loaded.value()->version(), version);
  EXPECT_TRUE(HasAuthorization(**loaded, "api-to-db"));
  EXPECT_EQ(client.Status().applied_version, version) << "reported to the controller as in force";

  // The controller is unreachable: the client keeps retrying and Stop() is still prompt.
  client.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto before_stop = std::chrono::steady_clock::now();
  client.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before_stop, std::chrono::seconds(5));
  EXPECT_EQ(restarted.Count(), 0u);
  EXPECT_FALSE(client.Status().connected);
}

TEST(PolicyClient, NoPersistedSnapshotIsNotAnError) {
  TempDir dir;
  xds::PolicyClientOptions options = TestClientOptions("127.0.0.1:1", "node-a", "");
  options.persist_path = dir.path() / "policy.pb";
  RecordingAgent agent;
  xds::PolicyClient client(options, agent.Callback());
  Result<std::optional<v1::PolicySnapshot>> loaded = client.LoadPersisted();
  ASSERT_OK(loaded);
  EXPECT_FALSE(loaded.value().has_value());
}

TEST(SnapshotFile, RoundTripsAndRejectsGarbage) {
  TempDir dir;
  v1::PolicySnapshot snapshot;
  snapshot.set_version(42);
  snapshot.mutable_mesh()->set_trust_domain("example.org");
  ASSERT_OK(xds::PersistSnapshot(dir.path() / "p.pb", snapshot));
  Result<std::optional<v1::PolicySnapshot>> loaded = xds::LoadSnapshotFile(dir.path() / "p.pb");
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded.value()->mesh().trust_domain(), "example.org");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "p.pb.tmp"));

  std::ofstream(dir.path() / "bad.pb") << "\xff\xff\xff not a protobuf";
  EXPECT_ERR(xds::LoadSnapshotFile(dir.path() / "bad.pb"));
}

TEST(JitteredBackoff, GrowsToTheCapWithJitterAndResets) {
  using std::chrono::milliseconds;
  xds::JitteredBackoff backoff(milliseconds(100), milliseconds(1000), 7);
  std::vector<milliseconds> delays;
  for (int i = 0; i < 8; ++i) delays.push_back(backoff.Next());
  EXPECT_GE(delays[0], milliseconds(50));
  EXPECT_LE(delays[0], milliseconds(100));
  for (milliseconds d : delays) EXPECT_LE(d, milliseconds(1000));
  EXPECT_GE(delays[7], milliseconds(500)) << "capped, not reset";
  backoff.Reset();
  EXPECT_LE(backoff.Next(), milliseconds(100));
  // Two agents with different seeds do not retry in lockstep.
  xds::JitteredBackoff other(milliseconds(100), milliseconds(1000), 8);
  bool differs = false;
  xds::JitteredBackoff same_start(milliseconds(100), milliseconds(1000), 7);
  for (int i = 0; i < 8; ++i) differs = differs || other.Next() != same_start.Next();
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace ferry::controlplane
