// A Ferry cluster on one Linux machine: each node is a network namespace with its own agent and
// cgroup subtree; each pod is a network namespace attached to its node by the real CNI plugins
// (bridge + host-local, optionally chained with ferry-cni), with its processes in a per-pod cgroup
// under the node's pod cgroup and its own /etc/hosts.
//
// This is the one mechanism behind both the privileged tests and `ferryctl local`. A test creates
// a cluster that lives as long as the object; ferryctl creates one, saves its state to
// <state>/cluster.json and lets it run (KeepRunning), and later invocations Open() it again.
//
// Addresses: pods of node i get 198.18.i.0/24 (the node's CNI bridge ferry0 is .1). With the
// underlay, a host bridge holds 198.19.0.1/24 and node i sits at 198.19.0.(10+i) with routes to
// every other node's pod subnet; nothing is routed off the machine.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "local/cni.h"
#include "local/pki.h"
#include "local/process.h"
#include "local/services.h"

namespace ferry::local {

enum class PolicySource {
  kPolicyFile,  // standalone agents reading <node state>/policy.yaml (the datapath tests)
  kController,  // agents subscribed to the cluster's ferry-controller (--controller ADDR)
};

struct ClusterOptions {
  std::string name = "ferry";  // prefix of every netns, cgroup and pin directory the cluster makes
  std::string state_dir;       // files: agent state, IPAM, logs, hosts files, cluster.json
  int nodes = 1;
  std::string agent_binary;  // path to ferry-agent
  std::vector<std::string> cni_plugin_dirs = {"/usr/lib/cni"};
  // Chain {"type":"ferry-cni"} after bridge + host-local; ferry-cni must be in cni_plugin_dirs.
  // Without it the cluster enrolls pods with the agent itself (PodOptions::enroll).
  bool chain_ferry_cni = false;
  bool underlay = false;  // connect the nodes through the host bridge (see above)
  PolicySource policy_source = PolicySource::kPolicyFile;
  std::string controller_address;  // ADDR for --controller (kController)
  // kController: the mesh's PKI is made in <state_dir>/pki at Create (local/pki.h); workload
  // certificates are issued for `trust_domain`, valid `cert_ttl` ("" = the controller's default).
  std::string trust_domain = "cluster.local";
  std::string cert_ttl;
  // Agents write their access log (one JSON line per connection and HTTP request) to
  // <node state>/access.log.
  bool access_log = false;
};

// The underlay's fixed addresses: one local cluster per machine.
constexpr const char* kUnderlayBridge = "ferry-ul0";
constexpr const char* kUnderlayHostIp = "198.19.0.1";
std::string UnderlayIp(int node_index);  // 198.19.0.(10+i)
std::string PodSubnet(int node_index);   // 198.18.i.0/24
// The ports the host's Prometheus scrapes with the underlay: each agent's metrics on its node's
// underlay address (--stats-address), the controller's on the host side of the underlay.
constexpr int kAgentMetricsPort = 15020;
constexpr int kControllerMetricsPort = 15014;

struct Node {
  int index = 0;  // 1-based
  std::string name;  // "node-1"
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
  std::string pod_subnet;   // "198.18.<i>.0/24"
  std::string underlay_ip;  // empty without the underlay
  pid_t agent_pid = -1;
  uint64_t agent_start_time = 0;
};

struct PodOptions {
  std::string namespace_name;
  std::string name;
  std::string service_account = "default";
  int node = 1;
  bool enroll = true;  // ask the node's agent to enroll it (when ferry-cni is not chained)
  std::map<std::string, std::string> labels;
};

// Where the node's agent writes its access log when ClusterOptions::access_log is set.
std::string AccessLogPath(const Node& node);

struct Pod {
  PodOptions options;
  std::string netns_name;
  std::string netns_path;
  std::string cgroup;
  std::string hosts_file;  // bind-mounted over /etc/hosts for everything run in the pod
  uint32_t ip = 0;         // host byte order
  std::vector<ProcessId> processes;  // started with StartInPod
  std::string fingerprint;           // opaque, set by the owner of the spec to notice changes
  std::string Ip() const;
  std::string Key() const { return options.namespace_name + "/" + options.name; }
  std::string FileKey() const { return options.namespace_name + "_" + options.name; }
};

struct ControllerProcess {
  std::string binary;
  std::string manifest_dir;
  std::string listen_address;  // "198.19.0.1:15012"
  std::string mesh_name;
  std::string status_file;
  std::string log;
  ProcessId process;
  // --metrics-address: Prometheus /metrics ("198.19.0.1:15014" on the underlay); empty leaves
  // the controller's default (127.0.0.1:15014).
  std::string metrics_address;
};

// One endpoint a Prometheus on the host scrapes.
struct ScrapeTarget {
  std::string job;      // "ferry-agent" | "ferry-controller"
  std::string address;  // "198.19.0.11:15020"
  std::string node;     // the agent's node; empty for the controller
};

class LocalCluster;
// The agents' metrics (only with the underlay: without it they listen on their node's
// loopback, out of the host's reach) and the controller's, if one was started.
std::vector<ScrapeTarget> ScrapeTargets(const LocalCluster& cluster);
// A prometheus.yml scraping ScrapeTargets() every `interval` (`promtool check config` accepts it).
std::string LocalScrapeConfig(const LocalCluster& cluster, std::chrono::seconds interval = std::chrono::seconds(15));

class LocalCluster {
 public:
  // A new cluster owned by the returned object (torn down on destruction unless KeepRunning()).
  // On failure everything made so far is removed.
  static Result<std::unique_ptr<LocalCluster>> Create(const ClusterOptions& options);
  // The cluster recorded in <state_dir>/cluster.json; not owned (never torn down implicitly).
  static Result<std::unique_ptr<LocalCluster>> Open(const std::string& state_dir);
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  void KeepRunning() { owned_ = false; }
  Result<void> Save() const;  // <state_dir>/cluster.json, atomically
  std::string StatePath() const { return options_.state_dir + "/cluster.json"; }

  // Removes every netns, veth, bridge, cgroup, pinned object and process the cluster made.
  // Files under the state directory other than logs are the caller's to remove.
  Result<void> Down();

  Node& node(int index) { return nodes_.at(static_cast<size_t>(index - 1)); }
  const std::vector<Node>& nodes() const { return nodes_; }
  Node* FindNode(const std::string& name);

  // Starts ferry-controller on the host (in the cluster's controller cgroup, detached) and waits
  // until it has written its status file.
  Result<void> StartController(ControllerProcess controller);
  const std::optional<ControllerProcess>& controller() const { return controller_; }
  // The cluster's PKI (controller mode).
  LocalPki pki() const { return PkiPaths(options_.state_dir + "/pki"); }
  // Waits until every node's agent has ACKed a snapshot, per the controller's status file.
  Result<void> WaitForAcks(std::chrono::milliseconds timeout);

  // Starts (or restarts) the node's agent and waits until its enrollment socket answers.
  Result<void> StartAgent(int node, const std::vector<std::string>& extra_args = {});
  // Sends `signal` to the agent and waits for it to end.
  Result<void> StopAgent(int node, int signal);
  bool AgentRunning(int node);
  // The pods the node's agent reports as enrolled ({"op":"list"}), as "ns/name" keys.
  Result<std::vector<std::string>> EnrolledPods(int node);

  Result<Pod*> AddPod(const PodOptions& options);
  Result<void> RemovePod(const std::string& namespace_name, const std::string& name);
  Pod* FindPod(const std::string& namespace_name, const std::string& name);
  std::vector<Pod*> pods();
  Result<void> EnrollPod(const Pod& pod);
  Result<void> UnenrollPod(const Pod& pod);

  // Runs a program inside the pod (its netns, cgroup and hosts file). StartInPod detaches it
  // (it outlives the caller) and records it in the pod.
  Result<pid_t> StartInPod(Pod& pod, const std::vector<std::string>& argv, const std::string& log_path,
                           const std::map<std::string, std::string>& env = {});
  Result<CommandResult> RunInPod(const Pod& pod, const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Runs in the foreground with the caller's stdin/stdout/stderr; returns the exit status.
  Result<int> ExecInPod(const Pod& pod, const std::vector<std::string>& argv);

  std::vector<ServiceRecord>& services() { return services_; }
  const ClusterOptions& options() const { return options_; }
  std::string LogPath(const std::string& what) const;

 private:
  explicit LocalCluster(ClusterOptions options);
  Result<void> CreateNode(int index);
  Result<void> CreateUnderlay();
  Result<void> ConnectNode(const Node& node);
  nlohmann::json CniConfig(const Node& node) const;
  CniRuntime Cni(const Node& node) const;
  std::vector<std::string> AgentArgs(const Node& node) const;
  Result<void> TearDownNodes(std::string& errors);
  nlohmann::json ToJson() const;
  static Result<std::unique_ptr<LocalCluster>> FromJson(const nlohmann::json& doc);

  ClusterOptions options_;
  std::string cgroup_root_;
  std::vector<Node> nodes_;
  std::map<std::string, std::unique_ptr<Pod>> pods_;  // key: ns/name
  std::vector<ServiceRecord> services_;
  std::optional<ControllerProcess> controller_;
  bool owned_ = true;
  bool down_ = false;
};

}  // namespace ferry::local
