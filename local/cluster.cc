#include "local/cluster.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/enroll/enroll_protocol.h"
#include "common/ipv4.h"
#include "local/cgroup.h"
#include "local/ip_command.h"

namespace ferry::local {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kPinBase = "/sys/fs/bpf/ferry";

}  // namespace

std::string UnderlayIp(int node_index) { return "198.19.0." + std::to_string(10 + node_index); }
std::string PodSubnet(int node_index) { return "198.18." + std::to_string(node_index) + ".0/24"; }

std::string Pod::Ip() const { return FormatIpv4(ip); }

LocalCluster::LocalCluster(ClusterOptions options) : options_(std::move(options)) {}

LocalCluster::~LocalCluster() {
  if (!owned_) return;
  if (auto r = Down(); !r.ok()) spdlog::warn("local cluster teardown: {}", r.error().Message());
}

Result<std::unique_ptr<LocalCluster>> LocalCluster::Create(const ClusterOptions& options) {
  if (options.nodes < 1 || options.nodes > 200) return MakeError("nodes must be between 1 and 200");
  if (options.state_dir.empty()) return MakeError("state_dir is required");
  auto cluster = std::unique_ptr<LocalCluster>(new LocalCluster(options));
  auto root = FindCgroup2Root();
  if (!root.ok()) return root.error();
  cluster->cgroup_root_ = *root + "/" + options.name;
  if (fs::exists(cluster->cgroup_root_))
    return MakeError("cgroup " + cluster->cgroup_root_ + " already exists: is another local cluster running?");
  if (options.underlay && HostLinkExists(kUnderlayBridge))
    return MakeError(std::string("link ") + kUnderlayBridge + " already exists: is another local cluster running?");
  for (int i = 1; i <= options.nodes; ++i) {
    std::string netns = options.name + "-node-" + std::to_string(i);
    if (NetnsExists(netns)) return MakeError("netns " + netns + " already exists: is another local cluster running?");
  }
  std::error_code ec;
  fs::create_directories(options.state_dir + "/logs", ec);
  if (ec) return MakeError("create " + options.state_dir + ": " + ec.message());
  // From here on a failure tears down whatever exists (~LocalCluster).
  for (int i = 1; i <= options.nodes; ++i) FERRY_TRY(cluster->CreateNode(i));
  if (options.policy_source == PolicySource::kController) {
    std::vector<std::string> names;
    for (const auto& n : cluster->nodes_) names.push_back(n.name);
    auto pki = CreateLocalPki(cluster->pki().dir, options.trust_domain, names);
    if (!pki.ok()) return pki.error();
  }
  if (options.underlay) {
    FERRY_TRY(cluster->CreateUnderlay());
    for (const auto& n : cluster->nodes_) FERRY_TRY(cluster->ConnectNode(n));
  }
  return cluster;
}

Result<void> LocalCluster::CreateNode(int index) {
  Node n;
  n.index = index;
  n.name = "node-" + std::to_string(index);
  n.netns_name = options_.name + "-" + n.name;
  n.netns_path = NetnsPath(n.netns_name);
  n.cgroup = cgroup_root_ + "/" + n.name;
  n.pod_cgroup = n.cgroup + "/pods";
  n.agent_cgroup = n.cgroup + "/agent";
  n.pin_dir = std::string(kPinBase) + "/" + options_.name + "-" + n.name;
  n.state_dir = options_.state_dir + "/" + n.name;
  n.enroll_socket = n.state_dir + "/agent.sock";
  n.policy_file = n.state_dir + "/policy.yaml";
  n.agent_log = LogPath(n.name + "-agent");
  n.pod_subnet = PodSubnet(index);
  if (options_.underlay) n.underlay_ip = UnderlayIp(index);
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

Node* LocalCluster::FindNode(const std::string& name) {
  for (auto& n : nodes_)
    if (n.name == name) return &n;
  return nullptr;
}

json LocalCluster::CniConfig(const Node& n) const {
  // The route covers every pod subnet and the service VIPs (198.18.0.0/15) through the node.
  json ipam = {{"type", "host-local"},
               {"ranges", json::array({json::array({{{"subnet", n.pod_subnet}}})})},
               {"routes", json::array({{{"dst", "198.18.0.0/15"}}})},
               {"dataDir", n.state_dir + "/ipam"}};
  json bridge = {{"type", "bridge"}, {"bridge", "ferry0"}, {"isGateway", true},
                 {"ipMasq", false},   {"hairpinMode", false}, {"ipam", ipam}};
  json plugins = json::array({bridge});
  if (options_.chain_ferry_cni) plugins.push_back({{"type", "ferry-cni"}, {"agentSocket", n.enroll_socket}});
  return {{"cniVersion", "1.0.0"}, {"name", options_.name + "-" + n.name}, {"plugins", plugins}};
}

CniRuntime LocalCluster::Cni(const Node& n) const {
  return CniRuntime(options_.cni_plugin_dirs, n.netns_path, n.state_dir + "/cni-cache");
}

std::string LocalCluster::LogPath(const std::string& what) const {
  return options_.state_dir + "/logs/" + what + ".log";
}

std::string AccessLogPath(const Node& node) { return node.state_dir + "/access.log"; }

std::vector<std::string> LocalCluster::AgentArgs(const Node& n) const {
  std::vector<std::string> argv = {options_.agent_binary, "--node",      n.name,      "--pod-cgroup",
                                   n.pod_cgroup,          "--pin-dir",   n.pin_dir,   "--state-dir",
                                   n.state_dir,           "--enroll-socket", n.enroll_socket};
  if (options_.policy_source == PolicySource::kController) {
    LocalPki p = pki();
    argv.insert(argv.end(), {"--controller", options_.controller_address, "--controller-ca", p.ca_cert,
                             "--node-token-file", p.NodeTokenFile(n.name), "--trust-domain", options_.trust_domain});
  } else {
    argv.insert(argv.end(), {"--policy-file", n.policy_file});
  }
  // Metrics and readiness on the node's underlay address, so the host (Prometheus) can scrape
  // them; the debug endpoint (15000) stays on the node's loopback.
  if (!n.underlay_ip.empty()) argv.insert(argv.end(), {"--stats-address", n.underlay_ip});
  if (options_.access_log) argv.insert(argv.end(), {"--access-log", AccessLogPath(n)});
  return argv;
}

Result<void> LocalCluster::StartAgent(int index, const std::vector<std::string>& extra_args) {
  Node& n = node(index);
  if (AgentRunning(index)) return MakeError(n.name + ": agent already running");
  SpawnOptions o;
  o.argv = AgentArgs(n);
  o.argv.insert(o.argv.end(), extra_args.begin(), extra_args.end());
  o.netns_path = n.netns_path;
  o.cgroup = n.agent_cgroup;
  o.stdout_path = n.agent_log;
  o.detach = true;
  auto pid = Spawn(o);
  if (!pid.ok()) return pid.error();
  n.agent_pid = *pid;
  auto id = IdentifyProcess(*pid);
  n.agent_start_time = id.ok() ? id->start_time : 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto code = WaitExit(*pid, std::chrono::milliseconds(0))) {
      n.agent_pid = -1;
      return MakeError(n.name + ": agent exited with status " + std::to_string(*code) + " (log: " + n.agent_log + ")");
    }
    if (EnrolledPods(index).ok()) return Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return MakeError(n.name + ": agent did not answer on " + n.enroll_socket + " within 20 s (log: " + n.agent_log + ")");
}

bool LocalCluster::AgentRunning(int index) {
  Node& n = node(index);
  return IsAlive({n.agent_pid, n.agent_start_time});
}

Result<void> LocalCluster::StopAgent(int index, int signal) {
  Node& n = node(index);
  if (!AgentRunning(index)) return MakeError(n.name + ": no agent running");
  ProcessId agent{n.agent_pid, n.agent_start_time};
  ::kill(n.agent_pid, signal);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (IsAlive(agent) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  StopDetached(agent);  // reaps it, or forces it when it ignored `signal`
  n.agent_pid = -1;
  return Ok();
}

Result<void> LocalCluster::StartController(ControllerProcess c) {
  std::string cgroup = cgroup_root_ + "/controller";
  FERRY_TRY(MakeCgroup(cgroup));
  std::error_code ec;
  fs::remove(c.status_file, ec);  // its reappearance says the controller is up
  SpawnOptions o;
  o.argv = {c.binary, "--manifests", c.manifest_dir, "--listen", c.listen_address, "--status-file", c.status_file};
  if (!c.mesh_name.empty()) o.argv.insert(o.argv.end(), {"--mesh-name", c.mesh_name});
  LocalPki p = pki();
  o.argv.insert(o.argv.end(), {"--ca-cert", p.ca_cert, "--ca-key", p.ca_key, "--node-tokens", p.node_tokens,
                               "--trust-domain", options_.trust_domain});
  if (!options_.cert_ttl.empty()) o.argv.insert(o.argv.end(), {"--cert-ttl", options_.cert_ttl});
  if (!c.metrics_address.empty()) o.argv.insert(o.argv.end(), {"--metrics-address", c.metrics_address});
  o.cgroup = cgroup;
  o.stdout_path = c.log;
  o.detach = true;
  auto pid = Spawn(o);
  if (!pid.ok()) return pid.error();
  auto id = IdentifyProcess(*pid);
  c.process = id.ok() ? *id : ProcessId{*pid, 0};
  controller_ = c;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto code = WaitExit(*pid, std::chrono::milliseconds(0)))
      return MakeError("ferry-controller exited with status " + std::to_string(*code) + " (log: " + c.log + ")");
    if (fs::exists(c.status_file)) return Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return MakeError("ferry-controller wrote no status file within 20 s (log: " + c.log + ")");
}

Result<void> LocalCluster::WaitForAcks(std::chrono::milliseconds timeout) {
  if (!controller_) return MakeError("no controller running");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string waiting;
  for (;;) {
    std::ifstream in(controller_->status_file);
    json status = json::parse(in, nullptr, false);
    std::map<std::string, bool> acked;
    if (!status.is_discarded()) {
      for (const auto& n : status.value("nodes", json::array())) {
        const json version = n.value("version", json());
        const json acked_version = n.value("ackedVersion", json());
        acked[n.value("node", "")] = !acked_version.is_null() && acked_version == version &&
                                     acked_version != json(0) && acked_version != json("");
      }
    }
    waiting.clear();
    for (const auto& n : nodes_)
      if (!acked[n.name]) waiting += " " + n.name;
    if (waiting.empty()) return Ok();
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return MakeError("agents that have not ACKed a snapshot:" + waiting + " (status: " + controller_->status_file + ")");
}

Result<std::vector<std::string>> LocalCluster::EnrolledPods(int index) {
  auto reply = enroll::SendRequest(node(index).enroll_socket, R"({"op":"list"})", 2000);
  if (!reply.ok()) return reply.error();
  auto doc = json::parse(*reply, nullptr, false);
  if (doc.is_discarded() || !doc.value("ok", false)) return MakeError("agent list: " + *reply);
  std::vector<std::string> keys;
  for (const auto& p : doc.value("pods", json::array()))
    keys.push_back(p.value("namespace", "") + "/" + p.value("name", ""));
  return keys;
}

}  // namespace ferry::local
