// Helpers for running a Controller and PolicyClients in one process over 127.0.0.1.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/xds/policy_client.h"
#include "controlplane/server/controller.h"

namespace ferry::controlplane::testing {

// A temporary manifest directory, removed with everything in it at the end.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Written to a hidden temporary name and renamed into place, as editors and kubectl do.
  void Write(const std::string& name, const std::string& content) const;
  // Truncated and rewritten in place.
  void WriteInPlace(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

// Stands in for the agent: records every snapshot the client hands over, and refuses those a
// test says to refuse (NACK).
class RecordingAgent {
 public:
  // Returns the refusal reason for a snapshot, or nullopt to accept it.
  using Refusal = std::function<std::optional<std::string>(const v1::PolicySnapshot&)>;

  xds::PolicyClient::ApplyFn Callback();
  void RefuseWhen(Refusal refusal);
  std::vector<v1::PolicySnapshot> Snapshots() const;
  size_t Count() const;
  uint64_t LastVersion() const;  // of the last accepted snapshot; 0 when none

 private:
  mutable std::mutex mu_;
  std::vector<v1::PolicySnapshot> snapshots_;
  uint64_t last_accepted_ = 0;
  Refusal refusal_;
};

// Polls `condition` (test code only) until it holds or the generous deadline passes.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A controller on `listen` with a CA generated into <dir>/.ferry-ca (kept across restarts in the
// same directory) and node tokens for TestNodes() (secure_channel.h).
ControllerOptions TestControllerOptions(const TempDir& dir, const std::string& listen = "127.0.0.1:0");
// A policy client that reaches the controller as an agent must: TLS verified against
// `trust_bundle_pem` as "ferry-controller", with `node`'s token.
xds::PolicyClientOptions TestClientOptions(const std::string& address, const std::string& node,
                                           const std::string& trust_bundle_pem);
xds::PolicyClientOptions TestClientOptions(const Controller& controller, const std::string& node);

bool HasAuthorization(const v1::PolicySnapshot& snapshot, const std::string& name);
std::optional<NodeStatus> FindNode(const ControllerStatus& status, const std::string& node);

}  // namespace ferry::controlplane::testing
