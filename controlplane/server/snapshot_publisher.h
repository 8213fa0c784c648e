// Per-node snapshot versions and who is subscribed to them. When a new CompiledPolicy is set,
// every node's snapshot is rebuilt and compared byte for byte (deterministic serialization,
// version excluded) with the one it has: only a node whose policy really changed gets a new
// version, and only its subscribers are told. Also the ledger of ACKs and NACKs per node.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controlplane/server/policy_compiler.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::controlplane {

class SnapshotSubscriber {
 public:
  virtual ~SnapshotSubscriber() = default;
  // The node's newest snapshot. Called without the publisher's lock held, possibly concurrently
  // with another call carrying an older or newer version: keep the highest version. Must not block.
  virtual void OnSnapshot(std::shared_ptr<const v1::PolicySnapshot> snapshot) = 0;
};

struct NodeStatus {
  std::string node;
  uint64_t version = 0;         // what the controller serves this node now
  int streams = 0;              // connected agents subscribed as this node
  uint64_t acked_version = 0;   // last version an agent ACKed; 0 = none yet
  uint64_t nacked_version = 0;  // last version an agent NACKed; 0 = none (or ACKed since)
  std::string nack_error;
  std::string agent_version;  // as the agent reported it
  // Cumulative since the controller started (Prometheus counters); they restart if the node is
  // forgotten and comes back.
  uint64_t snapshots_sent = 0;  // responses written to the node's streams
  uint64_t acks = 0;
  uint64_t nacks = 0;
};

class SnapshotPublisher {
 public:
  // Versions are `first_version + 1, + 2, ...` across all nodes; the controller seeds it with
  // the wall clock in milliseconds so versions keep growing across controller restarts.
  explicit SnapshotPublisher(uint64_t first_version);
  SnapshotPublisher(const SnapshotPublisher&) = delete;
  SnapshotPublisher& operator=(const SnapshotPublisher&) = delete;

  // Installs a new policy; returns the nodes whose snapshot changed (and were pushed).
  std::vector<std::string> SetPolicy(std::shared_ptr<const CompiledPolicy> policy);

  // Subscribes to `node` (building its snapshot on first sight) and returns its current snapshot.
  std::shared_ptr<const v1::PolicySnapshot> Subscribe(const std::string& node,
                                                      std::shared_ptr<SnapshotSubscriber> subscriber,
                                                      const std::string& agent_version);
  void Unsubscribe(const std::string& node, const SnapshotSubscriber* subscriber);

  // A stream started writing a snapshot to `node`'s agent. Counted only: no status change.
  void RecordSent(const std::string& node);
  void RecordAck(const std::string& node, uint64_t version);
  void RecordNack(const std::string& node, uint64_t version, const std::string& error);

  std::vector<NodeStatus> Nodes() const;
  std::shared_ptr<const v1::PolicySnapshot> Current(const std::string& node) const;

  // Called (outside any lock) after each change of what Nodes() returns.
  void SetStatusObserver(std::function<void()> observer);

 private:
  struct NodeState {
    std::shared_ptr<const v1::PolicySnapshot> snapshot;
    std::string content;  // deterministic bytes of the snapshot with version 0
    std::vector<std::shared_ptr<SnapshotSubscriber>> subscribers;
    NodeStatus status;
  };

  // Rebuilds `node`'s snapshot from policy_; true when its content changed (new version).
  bool RefreshLocked(const std::string& node, NodeState& state);
  void NotifyStatus();

  mutable std::mutex mu_;
  uint64_t last_version_;
  std::shared_ptr<const CompiledPolicy> policy_;
  std::map<std::string, NodeState> nodes_;
  std::function<void()> observer_;
};

// Serialization with map entries in a fixed order, for comparing snapshots.
std::string DeterministicBytes(const v1::PolicySnapshot& snapshot);

}  // namespace ferry::controlplane
