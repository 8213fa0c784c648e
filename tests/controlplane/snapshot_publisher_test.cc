// Per-node versions: a node gets a new version only when its own snapshot changed, and only its
// subscribers hear about it. ACK/NACK bookkeeping.
#include "controlplane/server/snapshot_publisher.h"

#include <gtest/gtest.h>

#include <mutex>

namespace ferry::controlplane {
namespace {

class RecordingSubscriber : public SnapshotSubscriber {
 public:
  void OnSnapshot(std::shared_ptr<const v1::PolicySnapshot> snapshot) override {
    std::lock_guard lock(mu);
    versions.push_back(snapshot->version());
  }
  std::mutex mu;
  std::vector<uint64_t> versions;
};

std::shared_ptr<const CompiledPolicy> PolicyWithNodes(std::map<std::string, std::string> node_ips,
                                                      bool permissive = false) {
  auto p = std::make_shared<CompiledPolicy>();
  p->exempt_node_ip = true;
  p->node_ips = std::move(node_ips);
  for (const auto& [node, ip] : p->node_ips) p->nodes.insert(node);
  p->base.mutable_mesh()->set_permissive(permissive);
  return p;
}

TEST(SnapshotPublisher, OnlyNodesWhoseSnapshotChangedGetANewVersion) {
  SnapshotPublisher publisher(1000);
  publisher.SetPolicy(PolicyWithNodes({{"a", "198.18.0.2"}, {"b", "198.18.0.3"}}));
  auto sub_a = std::make_shared<RecordingSubscriber>();
  auto sub_b = std::make_shared<RecordingSubscriber>();
  const uint64_t a0 = publisher.Subscribe("a", sub_a, "")->version();
  const uint64_t b0 = publisher.Subscribe("b", sub_b, "")->version();
  EXPECT_GT(a0, 1000u);
  EXPECT_GT(b0, 1000u);

  // Recompiled to the same content: nothing to push.
  EXPECT_TRUE(publisher.SetPolicy(PolicyWithNodes({{"a", "198.18.0.2"}, {"b", "198.18.0.3"}})).empty());
  // Only b's IP changed: only b gets a new version.
  EXPECT_EQ(publisher.SetPolicy(PolicyWithNodes({{"a", "198.18.0.2"}, {"b", "198.18.0.9"}})),
            std::vector<std::string>{"b"});
  EXPECT_TRUE(sub_a->versions.empty());
  ASSERT_EQ(sub_b->versions.size(), 1u);
  EXPECT_GT(sub_b->versions[0], b0);
  // A mesh-wide change reaches both, with versions that keep growing.
  publisher.SetPolicy(PolicyWithNodes({{"a", "198.18.0.2"}, {"b", "198.18.0.9"}}, true));
  ASSERT_EQ(sub_a->versions.size(), 1u);
  ASSERT_EQ(sub_b->versions.size(), 2u);
  EXPECT_GT(sub_b->versions[1], sub_b->versions[0]);
  EXPECT_EQ(publisher.Current("a")->version(), sub_a->versions[0]);
}

TEST(SnapshotPublisher, AcksAndNacksAreRecordedPerNode) {
  SnapshotPublisher publisher(0);
  publisher.SetPolicy(PolicyWithNodes({{"a", "198.18.0.2"}}));
  auto sub = std::make_shared<RecordingSubscriber>();
  const uint64_t v = publisher.Subscribe("a", sub, "agent-1.0")->version();
  publisher.RecordNack("a", v, "no room for the policy");
  std::vector<NodeStatus> nodes = publisher.Nodes();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].node, "a");
  EXPECT_EQ(nodes[0].streams, 1);
  EXPECT_EQ(nodes[0].agent_version, "agent-1.0");
  EXPECT_EQ(nodes[0].nacked_version, v);
  EXPECT_EQ(nodes[0].nack_error, "no room for the policy");

  publisher.SetPolicy(PolicyWithNodes({{"a", "198.18.0.2"}}, true));
  const uint64_t v2 = publisher.Current("a")->version();
  publisher.RecordAck("a", v2);
  nodes = publisher.Nodes();
  EXPECT_EQ(nodes[0].acked_version, v2);
  EXPECT_EQ(nodes[0].nacked_version, 0u) << "a later ACK clears the NACK";
  publisher.Unsubscribe("a", sub.get());
  EXPECT_EQ(publisher.Nodes()[0].streams, 0);
}

TEST(SnapshotPublisher, DeterministicBytesIgnoreMapInsertionOrder) {
  v1::PolicySnapshot a, b;
  v1::Workload* wa = a.add_workloads();
  v1::Workload* wb = b.add_workloads();
  for (int i = 0; i < 50; ++i) (*wa->mutable_labels())["k" + std::to_string(i)] = "v";
  for (int i = 49; i >= 0; --i) (*wb->mutable_labels())["k" + std::to_string(i)] = "v";
  EXPECT_EQ(DeterministicBytes(a), DeterministicBytes(b));
}

}  // namespace
}  // namespace ferry::controlplane
