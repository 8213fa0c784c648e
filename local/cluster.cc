#include "local/cluster.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/enroll/enroll_protocol.h"
#include "common/ipv4.h"
#include "local/cgroup.h"

namespace ferry::local {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kPinBase = "/sys/fs/bpf/ferry";

Result<void> RunIp(const std::vector<std::string>& args) {
  SpawnOptions o;
  o.argv = {"/usr/sbin/ip"};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  auto r = RunCommand(o, std::chrono::seconds(20));
  if (!r.ok()) return r.error();
  if (r->exit_code != 0) {
    std::string cmd;
    for (const auto& a : o.argv) cmd += a + " ";
    return MakeError(cmd + "failed: " + r->errors + r->output);
  }
  return Ok();
}

bool NetnsExists(const std::string& name) { return fs::exists("/var/run/netns/" + name); }

}  // namespace

std::string Pod::Ip() const { return FormatIpv4(ip); }

LocalCluster::LocalCluster(ClusterOptions options) : options_(std::move(options)) {}

LocalCluster::~LocalCluster() {
  if (auto r = Down(); !r.ok()) spdlog::warn("local cluster teardown: {}", r.error().Message());
}

Result<std::unique_ptr<LocalCluster>> LocalCluster::Create(const ClusterOptions& options) {
  if (options.nodes < 1 || options.nodes > 200) return MakeError("nodes must be between 1 and 200");
  if (options.state_dir.empty()) return MakeError("state_dir is required");
  auto cluster = std::unique_ptr<LocalCluster>(new LocalCluster(options));
  auto root = FindCgroup2Root();
  if (!root.ok()) return root.error();
  cluster->cgroup_root_ = *root + "/ferry-" + options.name;
  std::error_code ec;
  fs::create_directories(options.state_dir + "/logs", ec);
  if (ec) return MakeError("create " + options.state_dir + ": " + ec.message());
  for (int i = 1; i <= options.nodes; ++i) {
    if (auto r = cluster->CreateNode(i); !r.ok()) return r.error();  // ~LocalCluster cleans up
  }
  return cluster;
}

Result<void> LocalCluster::CreateNode(int index) {
  Node n;
  n.index = index;
  n.name = "node-" + std::to_string(index);
  n.netns_name = options_.name + "-" + n.name;
  n.netns_path = "/var/run/netns/" + n.netns_name;
  n.cgroup = cgroup_root_ + "/" + n.name;
  n.pod_cgroup = n.cgroup + "/pods";
  n.agent_cgroup = n.cgroup + "/agent";
  n.pin_dir = std::string(kPinBase) + "/" + options_.name + "-" + n.name;
  n.state_dir = options_.state_dir + "/" + n.name;
  n.enroll_socket = n.state_dir + "/agent.sock";
  n.policy_file = n.state_dir + "/policy.yaml";
  n.agent_log = LogPath(n.name + "-agent");
  n.pod_subnet = "198.18." + std::to_string(index) + ".0/24";
  if (NetnsExists(n.netns_name)) return MakeError("netns " + n.netns_name + " already exists: is another local cluster running?");
  nodes_.push_back(n);  // from here on Down() removes whatever exists
  FERRY_TRY(RunIp({"netns", "add", n.netns_name}));
  FERRY_TRY(RunIp({"-n", n.netns_name, "link", "set", "lo", "up"}));
  FERRY_TRY(MakeCgroup(n.pod_cgroup));
  FERRY_TRY(MakeCgroup(n.agent_cgroup));
  std::error_code ec;
  fs::create_directories(n.state_dir + "/cni-cache", ec);
  if (ec) return MakeError("create " + n.state_dir + ": " + ec.message());
  if (!fs::exists(n.policy_file)) std::ofstream(n.policy_file) << "# no policy: every connection is denied\n";
  return Ok();
}

json LocalCluster::CniConfig(const Node& n) const {
  json ipam = {{"type", "host-local"},
               {"ranges", json::array({json::array({{{"subnet", n.pod_subnet}}})})},
               {"dataDir", n.state_dir + "/ipam"}};
  json bridge = {{"type", "bridge"}, {"bridge", "ferry0"}, {"isGateway", true},
                 {"ipMasq", false},   {"hairpinMode", false}, {"ipam", ipam}};
  return {{"cniVersion", "1.0.0"}, {"name", options_.name + "-" + n.name}, {"plugins", json::array({bridge})}};
}

CniRuntime LocalCluster::Cni(const Node& n) const {
  return CniRuntime(options_.cni_plugin_dir, n.netns_path, n.state_dir + "/cni-cache");
}

std::string LocalCluster::LogPath(const std::string& what) const {
  return options_.state_dir + "/logs/" + what + ".log";
}

Result<void> LocalCluster::StartAgent(int index, const std::vector<std::string>& extra_args) {
  Node& n = node(index);
  if (n.agent_pid > 0 && AgentRunning(index)) return MakeError(n.name + ": agent already running");
  SpawnOptions o;
  o.argv = {options_.agent_binary,  "--node",         n.name,
            "--pod-cgroup",         n.pod_cgroup,     "--pin-dir",
            n.pin_dir,              "--state-dir",    n.state_dir,
            "--enroll-socket",      n.enroll_socket,  "--policy-file",
            n.policy_file};
  o.argv.insert(o.argv.end(), extra_args.begin(), extra_args.end());
  o.netns_path = n.netns_path;
  o.cgroup = n.agent_cgroup;
  o.stdout_path = n.agent_log;
  auto pid = Spawn(o);
  if (!pid.ok()) return pid.error();
  n.agent_pid = *pid;
  Track(*pid);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto code = WaitExit(*pid, std::chrono::milliseconds(0))) {
      n.agent_pid = -1;
      return MakeError(n.name + ": agent exited with status " + std::to_string(*code) + " (log: " + n.agent_log + ")");
    }
    auto reply = enroll::SendRequest(n.enroll_socket, R"({"op":"list"})", 1000);
    if (reply.ok()) return Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return MakeError(n.name + ": agent did not answer on " + n.enroll_socket + " within 20 s");
}

bool LocalCluster::AgentRunning(int index) {
  Node& n = node(index);
  return n.agent_pid > 0 && ::kill(n.agent_pid, 0) == 0 && !WaitExit(n.agent_pid, std::chrono::milliseconds(0));
}

Result<void> LocalCluster::StopAgent(int index, int signal) {
  Node& n = node(index);
  if (n.agent_pid <= 0) return MakeError(n.name + ": no agent running");
  ::kill(n.agent_pid, signal);
  if (!WaitExit(n.agent_pid, std::chrono::seconds(10))) StopProcess(n.agent_pid);
  n.agent_pid = -1;
  return Ok();
}

Result<Pod*> LocalCluster::AddPod(const PodOptions& options) {
  std::string key = options.namespace_name + "/" + options.name;
  if (pods_.count(key)) return MakeError("pod " + key + " already exists");
  if (options.node < 1 || options.node > static_cast<int>(nodes_.size())) return MakeError("no node " + std::to_string(options.node));
  Node& n = node(options.node);
  auto pod = std::make_unique<Pod>();
  pod->options = options;
  pod->netns_name = options_.name + "-" + options.namespace_name + "-" + options.name;
  pod->netns_path = "/var/run/netns/" + pod->netns_name;
  pod->cgroup = n.pod_cgroup + "/" + options.namespace_name + "_" + options.name;
  Pod* raw = pod.get();
  pods_[key] = std::move(pod);
  auto fail = [&](Error e) -> Result<Pod*> {
    (void)RemovePod(options.namespace_name, options.name);
    return e;
  };
  if (auto r = RunIp({"netns", "add", raw->netns_name}); !r.ok()) return fail(r.error());
  if (auto r = RunIp({"-n", raw->netns_name, "link", "set", "lo", "up"}); !r.ok()) return fail(r.error());
  if (auto r = MakeCgroup(raw->cgroup); !r.ok()) return fail(r.error());
  CniAttachment att{raw->netns_name, raw->netns_path, "eth0",
                    "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + options.namespace_name + ";K8S_POD_NAME=" + options.name};
  auto added = Cni(n).Add(CniConfig(n), att);
  if (!added.ok()) return fail(added.error());
  raw->ip = added->ip;
  if (options.enroll) {
    if (auto r = EnrollPod(*raw); !r.ok()) return fail(r.error());
  }
  return raw;
}

Result<void> LocalCluster::EnrollPod(const Pod& pod) {
  inpod::PodSpec spec{pod.options.namespace_name, pod.options.name, pod.options.service_account, pod.netns_path, pod.ip};
  auto reply = enroll::SendRequest(node(pod.options.node).enroll_socket, enroll::AddRequest(spec), 10000);
  if (!reply.ok()) return MakeError("enroll " + pod.Key() + ": " + reply.error().Message());
  auto doc = json::parse(*reply, nullptr, false);
  if (doc.is_discarded() || !doc.value("ok", false))
    return MakeError("enroll " + pod.Key() + ": agent refused: " + *reply);
  return Ok();
}

Result<void> LocalCluster::UnenrollPod(const Pod& pod) {
  auto reply = enroll::SendRequest(node(pod.options.node).enroll_socket,
                                   enroll::RemoveRequest(pod.options.namespace_name, pod.options.name), 10000);
  if (!reply.ok()) return MakeError("unenroll " + pod.Key() + ": " + reply.error().Message());
  auto doc = json::parse(*reply, nullptr, false);
  if (doc.is_discarded() || !doc.value("ok", false)) return MakeError("unenroll " + pod.Key() + ": " + *reply);
  return Ok();
}

Result<void> LocalCluster::RemovePod(const std::string& namespace_name, const std::string& name) {
  auto it = pods_.find(namespace_name + "/" + name);
  if (it == pods_.end()) return Ok();
  Pod& pod = *it->second;
  Node& n = node(pod.options.node);
  std::string errors;
  if (pod.options.enroll && AgentRunning(pod.options.node)) (void)UnenrollPod(pod);
  if (auto r = RemoveCgroupTree(pod.cgroup); !r.ok()) errors += r.error().Message() + "; ";
  if (NetnsExists(pod.netns_name)) {
    CniAttachment att{pod.netns_name, pod.netns_path, "eth0", ""};
    if (auto r = Cni(n).Del(CniConfig(n), att); !r.ok()) errors += r.error().Message() + "; ";
    if (auto r = RunIp({"netns", "del", pod.netns_name}); !r.ok()) errors += r.error().Message() + "; ";
  }
  pods_.erase(it);
  if (!errors.empty()) return MakeError("remove pod " + namespace_name + "/" + name + ": " + errors);
  return Ok();
}

Pod* LocalCluster::FindPod(const std::string& namespace_name, const std::string& name) {
  auto it = pods_.find(namespace_name + "/" + name);
  return it == pods_.end() ? nullptr : it->second.get();
}

Result<pid_t> LocalCluster::StartInPod(const Pod& pod, const std::vector<std::string>& argv,
                                       const std::string& log_path, const std::map<std::string, std::string>& env) {
  SpawnOptions o;
  o.argv = argv;
  o.env = env;
  o.netns_path = pod.netns_path;
  o.cgroup = pod.cgroup;
  o.stdout_path = log_path;
  auto pid = Spawn(o);
  if (pid.ok()) Track(*pid);
  return pid;
}

Result<CommandResult> LocalCluster::RunInPod(const Pod& pod, const std::vector<std::string>& argv,
                                             std::chrono::milliseconds timeout) {
  SpawnOptions o;
  o.argv = argv;
  o.netns_path = pod.netns_path;
  o.cgroup = pod.cgroup;
  return RunCommand(o, timeout);
}

Result<void> LocalCluster::Down() {
  if (down_) return Ok();
  down_ = true;
  std::string errors;
  for (pid_t pid : processes_) StopProcess(pid, std::chrono::seconds(2));
  processes_.clear();
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& [k, p] : pods_) keys.emplace_back(p->options.namespace_name, p->options.name);
  for (const auto& [ns, name] : keys) {
    if (auto r = RemovePod(ns, name); !r.ok()) errors += r.error().Message() + "; ";
  }
  for (const auto& n : nodes_) {
    if (NetnsExists(n.netns_name)) {
      if (auto r = RunIp({"netns", "del", n.netns_name}); !r.ok()) errors += r.error().Message() + "; ";
    }
    std::error_code ec;
    fs::remove_all(n.pin_dir, ec);  // bpffs: unlinking pins detaches links whose last reference this was
    if (ec) errors += "remove " + n.pin_dir + ": " + ec.message() + "; ";
  }
  if (auto r = RemoveCgroupTree(cgroup_root_); !r.ok()) errors += r.error().Message() + "; ";
  std::error_code ec;
  if (fs::is_empty(kPinBase, ec)) fs::remove(kPinBase, ec);
  if (!errors.empty()) return MakeError(errors);
  return Ok();
}

}  // namespace ferry::local
