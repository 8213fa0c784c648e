// Where ferryctl finds the programs a local cluster runs: next to ferryctl itself (an install),
// else where this build tree put them.
#pragma once

#include <string>

#include "common/result.h"

namespace ferry::cli {

struct Binaries {
  std::string agent;       // ferry-agent
  std::string controller;  // ferry-controller
  std::string cni;         // ferry-cni; empty when not built
};

// Explicit paths (non-empty arguments) win; each must then exist and be executable.
Result<Binaries> FindBinaries(const std::string& agent, const std::string& controller, const std::string& cni);

// True when `ferry-agent --help` lists --controller (agents that can subscribe to the controller).
bool AgentSupportsController(const std::string& agent_binary);

}  // namespace ferry::cli
