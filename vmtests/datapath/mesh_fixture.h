// A one-node local cluster with an agent and three pods, for the datapath tests:
//   app/frontend (sa frontend, enrolled)   the client
//   app/api      (sa api, enrolled)        runs `ferry-probe serve` on 8080 (echo) and 8081 (sink)
//   plain/other  (not enrolled)            outside the mesh
// plus plain/peer (not enrolled) running an echo server, for the untouched-path case.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "local/cluster.h"

namespace ferry::vmtest {

class MeshFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Replaces the node's policy file and has the agent reload it; returns how long that took.
  std::chrono::milliseconds SetPolicy(const std::string& yaml);
  // Runs ferry-probe in a pod and returns its last JSON line (an object with "outcome" etc.).
  nlohmann::json Probe(const local::Pod& pod, std::vector<std::string> args,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Lines the api pod's echo server logged, one per accepted connection.
  std::vector<nlohmann::json> ApiAccepts() const;
  pid_t AgentPid() { return cluster_->node(1).agent_pid; }
  void RestartAgent();

  static std::string AllowFrontendToApi(const std::string& ports);  // e.g. "[8080]" or "[]"

  std::unique_ptr<local::LocalCluster> cluster_;
  std::string state_dir_;
  local::Pod* frontend_ = nullptr;
  local::Pod* api_ = nullptr;
  local::Pod* other_ = nullptr;
  local::Pod* peer_ = nullptr;
  std::string api_events_;
};

}  // namespace ferry::vmtest
