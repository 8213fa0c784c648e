#include "controlplane/server/snapshot_publisher.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <utility>

namespace ferry::controlplane {

std::string DeterministicBytes(const v1::PolicySnapshot& snapshot) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    snapshot.SerializeToCodedStream(&coded);
  }  // the coded stream flushes into `out` when destroyed
  return out;
}

SnapshotPublisher::SnapshotPublisher(uint64_t first_version)
    : last_version_(first_version), policy_(std::make_shared<CompiledPolicy>()) {}

bool SnapshotPublisher::RefreshLocked(const std::string& node, NodeState& state) {
  v1::PolicySnapshot snapshot = BuildNodeSnapshot(*policy_, node);
  std::string content = DeterministicBytes(snapshot);
  if (state.snapshot && content == state.content) return false;
  snapshot.set_version(++last_version_);
  state.snapshot = std::make_shared<const v1::PolicySnapshot>(std::move(snapshot));
  state.content = std::move(content);
  state.status.version = state.snapshot->version();
  return true;
}

std::vector<std::string> SnapshotPublisher::SetPolicy(std::shared_ptr<const CompiledPolicy> policy) {
  std::vector<std::pair<std::shared_ptr<SnapshotSubscriber>, std::shared_ptr<const v1::PolicySnapshot>>> pushes;
  std::vector<std::string> changed;
  {
    std::lock_guard lock(mu_);
    policy_ = std::move(policy);
    for (const std::string& node : policy_->nodes) nodes_.try_emplace(node);
    for (auto it = nodes_.begin(); it != nodes_.end();) {
      // A node nobody serves any more and no agent listens for: forget it.
      if (it->second.subscribers.empty() && !policy_->nodes.contains(it->first)) {
        it = nodes_.erase(it);
        continue;
      }
      if (RefreshLocked(it->first, it->second)) {
        changed.push_back(it->first);
        for (const auto& subscriber : it->second.subscribers) pushes.emplace_back(subscriber, it->second.snapshot);
      }
      ++it;
    }
  }
  for (auto& [subscriber, snapshot] : pushes) subscriber->OnSnapshot(snapshot);
  NotifyStatus();
  return changed;
}

std::shared_ptr<const v1::PolicySnapshot> SnapshotPublisher::Subscribe(const std::string& node,
                                                                       std::shared_ptr<SnapshotSubscriber> subscriber,
                                                                       const std::string& agent_version) {
  std::shared_ptr<const v1::PolicySnapshot> current;
  {
    std::lock_guard lock(mu_);
    NodeState& state = nodes_[node];
    if (!state.snapshot) RefreshLocked(node, state);
    state.subscribers.push_back(std::move(subscriber));
    state.status.streams = static_cast<int>(state.subscribers.size());
    if (!agent_version.empty()) state.status.agent_version = agent_version;
    current = state.snapshot;
  }
  NotifyStatus();
  return current;
}

void SnapshotPublisher::Unsubscribe(const std::string& node, const SnapshotSubscriber* subscriber) {
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return;
    std::erase_if(it->second.subscribers, [&](const auto& s) { return s.get() == subscriber; });
    it->second.status.streams = static_cast<int>(it->second.subscribers.size());
  }
  NotifyStatus();
}

void SnapshotPublisher::RecordSent(const std::string& node) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it != nodes_.end()) ++it->second.status.snapshots_sent;
}

void SnapshotPublisher::RecordAck(const std::string& node, uint64_t version) {
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return;
    NodeStatus& status = it->second.status;
    ++status.acks;
    status.acked_version = std::max(status.acked_version, version);
    if (status.acked_version >= status.nacked_version) {
      status.nacked_version = 0;
      status.nack_error.clear();
    }
  }
  NotifyStatus();
}

void SnapshotPublisher::RecordNack(const std::string& node, uint64_t version, const std::string& error) {
  {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return;
    ++it->second.status.nacks;
    it->second.status.nacked_version = version;
    it->second.status.nack_error = error;
  }
  NotifyStatus();
}

std::vector<NodeStatus> SnapshotPublisher::Nodes() const {
  std::lock_guard lock(mu_);
  std::vector<NodeStatus> out;
  for (const auto& [name, state] : nodes_) {
    out.push_back(state.status);
    out.back().node = name;
  }
  return out;
}

std::shared_ptr<const v1::PolicySnapshot> SnapshotPublisher::Current(const std::string& node) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? nullptr : it->second.snapshot;
}

void SnapshotPublisher::SetStatusObserver(std::function<void()> observer) {
  std::lock_guard lock(mu_);
  observer_ = std::move(observer);
}

void SnapshotPublisher::NotifyStatus() {
  std::function<void()> observer;
  {
    std::lock_guard lock(mu_);
    observer = observer_;
  }
  if (observer) observer();
}

}  // namespace ferry::controlplane
