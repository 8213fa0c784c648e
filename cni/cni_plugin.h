// ferry-cni: a chained CNI plugin. On ADD it tells the node's agent about the pod (netns, IP from
// the previous plugin's result, namespace/name/service account from CNI_ARGS) and fails the ADD
// unless the agent confirms: a pod never starts unmeshed because the agent was down. DEL and
// CHECK are idempotent and succeed while the agent is down (there is nothing to undo or verify).
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"

namespace ferry::cni {

struct CniEnv {
  std::string command;      // CNI_COMMAND
  std::string container_id; // CNI_CONTAINERID
  std::string netns;        // CNI_NETNS
  std::string ifname;       // CNI_IFNAME
  std::string args;         // CNI_ARGS
};

// "K=V;K2=V2" -> map. Malformed pairs are an error (CNI_ARGS is a runtime contract, not user text).
Result<std::map<std::string, std::string>> ParseCniArgs(const std::string& args);

struct PluginOutput {
  int exit_code = 0;
  std::string stdout_text;  // the result, or a CNI error object
};

// Sends one request line to the agent and returns its reply line (a seam for tests).
using AgentCall = std::function<Result<std::string>(const std::string& socket, const std::string& request)>;

PluginOutput RunPlugin(const CniEnv& env, const std::string& stdin_config, const AgentCall& call_agent);

// A CNI error object (spec: code, msg, details) as JSON text.
std::string CniError(const std::string& cni_version, int code, const std::string& msg, const std::string& details = "");

// Error codes from 100 up are plugin-specific (the CNI spec reserves 1-99).
inline constexpr int kErrAgentUnavailable = 100;
inline constexpr int kErrAgentRefused = 101;
inline constexpr int kErrBadInput = 102;

}  // namespace ferry::cni
