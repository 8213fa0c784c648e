// A Ferry cluster on one Linux machine: each node is a network namespace with its own agent and
// cgroup subtree; each pod is a network namespace attached to its node by the real CNI plugins
// (bridge + host-local), with its processes in a per-pod cgroup under the node's pod cgroup.
//
// This is the one mechanism behind both the privileged tests and `ferryctl local`.
// Addresses: pods of node i get 198.18.i.0/24; nothing is routed off the machine.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "local/cni.h"
#include "local/process.h"

namespace ferry::local {

struct ClusterOptions {
  std::string name = "ferry";  // prefix of every netns, cgroup and pin directory the cluster makes
  std::string state_dir;       // files: agent state, IPAM, logs
  int nodes = 1;
  std::string agent_binary;    // path to ferry-agent
  std::string cni_plugin_dir = "/usr/lib/cni";
};

struct Node {
  int index = 0;         // 1-based
  std::string name;      // "node-1"
  std::string netns_name;
  std::string netns_path;
  std::string cgroup;      // the node's subtree
  std::string pod_cgroup;  // parent of the node's pod cgroups: where the agent attaches its hooks
  std::string agent_cgroup;
  std::string pin_dir;
  std::string state_dir;
  std::string enroll_socket;
  std::string policy_file;
  std::string agent_log;
  std::string pod_subnet;  // "198.18.<i>.0/24"
  pid_t agent_pid = -1;
};

struct PodOptions {
  std::string namespace_name;
  std::string name;
  std::string service_account = "default";
  int node = 1;
  bool enroll = true;  // ask the node's agent to enroll it
};

struct Pod {
  PodOptions options;
  std::string netns_name;
  std::string netns_path;
  std::string cgroup;
  uint32_t ip = 0;  // host byte order
  std::string Ip() const;
  std::string Key() const { return options.namespace_name + "/" + options.name; }
};

class LocalCluster {
 public:
  static Result<std::unique_ptr<LocalCluster>> Create(const ClusterOptions& options);
  ~LocalCluster();  // Down()
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // Removes every netns, cgroup, pinned object, process and file the cluster made.
  Result<void> Down();

  Node& node(int index) { return nodes_.at(static_cast<size_t>(index - 1)); }
  const std::vector<Node>& nodes() const { return nodes_; }

  // Starts (or restarts) the node's agent and waits until its enrollment socket answers.
  Result<void> StartAgent(int node, const std::vector<std::string>& extra_args = {});
  // Sends `signal` to the agent and reaps it.
  Result<void> StopAgent(int node, int signal);
  bool AgentRunning(int node);

  Result<Pod*> AddPod(const PodOptions& options);
  Result<void> RemovePod(const std::string& namespace_name, const std::string& name);
  Pod* FindPod(const std::string& namespace_name, const std::string& name);
  Result<void> EnrollPod(const Pod& pod);
  Result<void> UnenrollPod(const Pod& pod);

  // Runs a program inside the pod (its netns and cgroup).
  Result<pid_t> StartInPod(const Pod& pod, const std::vector<std::string>& argv, const std::string& log_path,
                           const std::map<std::string, std::string>& env = {});
  Result<CommandResult> RunInPod(const Pod& pod, const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30));

  const ClusterOptions& options() const { return options_; }
  std::string LogPath(const std::string& what) const;

 private:
  explicit LocalCluster(ClusterOptions options);
  Result<void> CreateNode(int index);
  nlohmann::json CniConfig(const Node& node) const;
  CniRuntime Cni(const Node& node) const;
  void Track(pid_t pid) { processes_.push_back(pid); }

  ClusterOptions options_;
  std::string cgroup_root_;
  std::vector<Node> nodes_;
  std::map<std::string, std::unique_ptr<Pod>> pods_;  // key: ns/name
  std::vector<pid_t> processes_;                        // everything we started, stopped on Down()
  bool down_ = false;
};

}  // namespace ferry::local
