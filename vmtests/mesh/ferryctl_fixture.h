// A two-node local cluster driven only through `ferryctl`, the way an operator would:
//   namespace shop (in the mesh): frontend (node-1), api (node-1, echo on 8080 and 7070,
//   Service api:80 -> 8080), worker (node-2, echo on 8080)
// Pods run ferry-probe; tests exec ferry-probe clients in them.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "local/process.h"

namespace ferry::vmtest {

class FerryctlFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  local::CommandResult Ctl(std::vector<std::string> args, std::chrono::seconds timeout = std::chrono::seconds(120));
  // ferry-probe inside a pod of namespace shop (via `ferryctl local exec`); returns its last JSON line.
  nlohmann::json ProbeIn(const std::string& pod, std::vector<std::string> args) {
    return ExecJson("shop", pod, FERRY_PROBE_BIN, std::move(args));
  }
  // Any program inside a pod; returns the last line of its output parsed as JSON ({} if none).
  nlohmann::json ExecJson(const std::string& ns, const std::string& pod, const std::string& program,
                          std::vector<std::string> args, std::chrono::seconds timeout = std::chrono::seconds(60));
  // Any program inside a pod; its standard output ("" when it could not run).
  std::string ExecText(const std::string& ns, const std::string& pod, const std::string& program,
                       std::vector<std::string> args, std::chrono::seconds timeout = std::chrono::seconds(60));
  std::string Outcome(const std::string& pod, const std::string& target) {
    return ProbeIn(pod, {"connect", "--to", target, "--timeout-ms", "2000"}).value("outcome", "no-output");
  }
  nlohmann::json Pods();
  nlohmann::json PodByName(const std::string& prefix);
  std::string WriteManifest(const std::string& name, const std::string& yaml);
  // Polls until pred() or the deadline; returns the time it took, or nullopt.
  std::optional<std::chrono::milliseconds> WaitFor(const std::function<bool()>& pred,
                                                   std::chrono::seconds deadline = std::chrono::seconds(10));

  static std::string AllowFrontendToApi(const std::string& ports);

  std::string state_;
  std::string manifests_;
  std::vector<std::string> extra_up_args_;  // set by a derived fixture's constructor
  bool deploy_shop_ = true;  // false: a derived fixture deploys its own apps
};

}  // namespace ferry::vmtest
