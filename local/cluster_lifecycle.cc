// LocalCluster: the underlay between nodes, teardown, and the state file that lets a cluster
// outlive the process that created it.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "local/cgroup.h"
#include "local/cluster.h"
#include "local/ip_command.h"

namespace ferry::local {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kPinBase = "/sys/fs/bpf/ferry";
constexpr const char* kNodeUnderlayLink = "ul0";

std::string HostVethName(int node_index) { return "ferry-ul-n" + std::to_string(node_index); }

}  // namespace

Result<void> LocalCluster::CreateUnderlay() {
  FERRY_TRY(RunIp({"link", "add", kUnderlayBridge, "type", "bridge"}));
  FERRY_TRY(RunIp({"addr", "add", std::string(kUnderlayHostIp) + "/24", "dev", kUnderlayBridge}));
  FERRY_TRY(RunIp({"link", "set", kUnderlayBridge, "up"}));
  return Ok();
}

// Node i gets a veth from the underlay bridge, 198.19.0.(10+i)/24, a route to every other node's
// pod subnet via that node's underlay address, and forwarding between its pods and the underlay.
Result<void> LocalCluster::ConnectNode(const Node& n) {
  std::string host_veth = HostVethName(n.index);
  FERRY_TRY(RunIp({"link", "add", host_veth, "type", "veth", "peer", "name", kNodeUnderlayLink, "netns", n.netns_name}));
  FERRY_TRY(RunIp({"link", "set", host_veth, "master", kUnderlayBridge, "up"}));
  FERRY_TRY(RunIp({"-n", n.netns_name, "addr", "add", n.underlay_ip + "/24", "dev", kNodeUnderlayLink}));
  FERRY_TRY(RunIp({"-n", n.netns_name, "link", "set", kNodeUnderlayLink, "up"}));
  FERRY_TRY(SetNetnsSysctl(n.netns_path, "net/ipv4/ip_forward", "1"));
  for (const auto& other : nodes_) {
    if (other.index == n.index) continue;
    FERRY_TRY(RunIp({"-n", n.netns_name, "route", "add", other.pod_subnet, "via", other.underlay_ip, "dev",
                     kNodeUnderlayLink}));
  }
  return Ok();
}

Result<void> LocalCluster::TearDownNodes(std::string& errors) {
  for (const auto& n : nodes_) {
    if (IsAlive({n.agent_pid, n.agent_start_time})) StopDetached({n.agent_pid, n.agent_start_time});
    if (NetnsExists(n.netns_name)) {
      if (auto r = RunIp({"netns", "del", n.netns_name}); !r.ok()) errors += r.error().Message() + "; ";
    }
    if (HostLinkExists(HostVethName(n.index))) (void)RunIp({"link", "del", HostVethName(n.index)});
    std::error_code ec;
    fs::remove_all(n.pin_dir, ec);  // bpffs: unlinking pins detaches links whose last reference this was
    if (ec) errors += "remove " + n.pin_dir + ": " + ec.message() + "; ";
  }
  return Ok();
}

Result<void> LocalCluster::Down() {
  if (down_) return Ok();
  down_ = true;
  std::string errors;
  if (controller_) StopDetached(controller_->process);
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& [k, p] : pods_) keys.emplace_back(p->options.namespace_name, p->options.name);
  for (const auto& [ns, name] : keys) {
    if (auto r = RemovePod(ns, name); !r.ok()) errors += r.error().Message() + "; ";
  }
  (void)TearDownNodes(errors);
  if (options_.underlay && HostLinkExists(kUnderlayBridge)) {
    if (auto r = RunIp({"link", "del", kUnderlayBridge}); !r.ok()) errors += r.error().Message() + "; ";
  }
  // Anything still in the cluster's cgroups was started by the cluster (cgroup.kill).
  if (auto r = RemoveCgroupTree(cgroup_root_); !r.ok()) errors += r.error().Message() + "; ";
  std::error_code ec;
  if (fs::is_empty(kPinBase, ec)) fs::remove(kPinBase, ec);
  fs::remove(StatePath(), ec);
  if (!errors.empty()) return MakeError(errors);
  return Ok();
}

// ---- state file -------------------------------------------------------------------------

namespace {

json ProcessToJson(const ProcessId& p) { return {{"pid", p.pid}, {"startTime", p.start_time}}; }
ProcessId ProcessFromJson(const json& j) { return {j.value("pid", -1), j.value("startTime", uint64_t{0})}; }

json NodeToJson(const Node& n) {
  return {{"index", n.index},           {"name", n.name},
          {"netns", n.netns_name},      {"netnsPath", n.netns_path},
          {"cgroup", n.cgroup},         {"podCgroup", n.pod_cgroup},
          {"agentCgroup", n.agent_cgroup}, {"pinDir", n.pin_dir},
          {"stateDir", n.state_dir},    {"enrollSocket", n.enroll_socket},
          {"policyFile", n.policy_file}, {"agentLog", n.agent_log},
          {"podSubnet", n.pod_subnet},  {"underlayIp", n.underlay_ip},
          {"agentPid", n.agent_pid},    {"agentStartTime", n.agent_start_time}};
}

Node NodeFromJson(const json& j) {
  Node n;
  n.index = j.at("index").get<int>();
  n.name = j.at("name").get<std::string>();
  n.netns_name = j.at("netns").get<std::string>();
  n.netns_path = j.at("netnsPath").get<std::string>();
  n.cgroup = j.at("cgroup").get<std::string>();
  n.pod_cgroup = j.at("podCgroup").get<std::string>();
  n.agent_cgroup = j.at("agentCgroup").get<std::string>();
  n.pin_dir = j.at("pinDir").get<std::string>();
  n.state_dir = j.at("stateDir").get<std::string>();
  n.enroll_socket = j.at("enrollSocket").get<std::string>();
  n.policy_file = j.at("policyFile").get<std::string>();
  n.agent_log = j.at("agentLog").get<std::string>();
  n.pod_subnet = j.at("podSubnet").get<std::string>();
  n.underlay_ip = j.value("underlayIp", "");
  n.agent_pid = j.value("agentPid", -1);
  n.agent_start_time = j.value("agentStartTime", uint64_t{0});
  return n;
}

json PodToJson(const Pod& p) {
  json processes = json::array();
  for (const auto& proc : p.processes) processes.push_back(ProcessToJson(proc));
  return {{"namespace", p.options.namespace_name}, {"name", p.options.name},
          {"serviceAccount", p.options.service_account}, {"node", p.options.node},
          {"enroll", p.options.enroll},        {"labels", p.options.labels},
          {"netns", p.netns_name},             {"netnsPath", p.netns_path},
          {"cgroup", p.cgroup},                {"hostsFile", p.hosts_file},
          {"ip", p.ip},                        {"processes", processes},
          {"fingerprint", p.fingerprint}};
}

std::unique_ptr<Pod> PodFromJson(const json& j) {
  auto p = std::make_unique<Pod>();
  p->options.namespace_name = j.at("namespace").get<std::string>();
  p->options.name = j.at("name").get<std::string>();
  p->options.service_account = j.value("serviceAccount", "default");
  p->options.node = j.at("node").get<int>();
  p->options.enroll = j.value("enroll", false);
  p->options.labels = j.value("labels", std::map<std::string, std::string>{});
  p->netns_name = j.at("netns").get<std::string>();
  p->netns_path = j.at("netnsPath").get<std::string>();
  p->cgroup = j.at("cgroup").get<std::string>();
  p->hosts_file = j.value("hostsFile", "");
  p->ip = j.value("ip", 0u);
  for (const auto& proc : j.value("processes", json::array())) p->processes.push_back(ProcessFromJson(proc));
  p->fingerprint = j.value("fingerprint", "");
  return p;
}

}  // namespace

json LocalCluster::ToJson() const {
  json nodes = json::array(), pods = json::array(), services = json::array();
  for (const auto& n : nodes_) nodes.push_back(NodeToJson(n));
  for (const auto& [k, p] : pods_) pods.push_back(PodToJson(*p));
  for (const auto& s : services_) services.push_back(ServiceToJson(s));
  json options = {{"name", options_.name},
                  {"stateDir", options_.state_dir},
                  {"nodes", options_.nodes},
                  {"agentBinary", options_.agent_binary},
                  {"cniPluginDirs", options_.cni_plugin_dirs},
                  {"chainFerryCni", options_.chain_ferry_cni},
                  {"underlay", options_.underlay},
                  {"policySource", options_.policy_source == PolicySource::kController ? "controller" : "policy-file"},
                  {"controllerAddress", options_.controller_address},
                  {"trustDomain", options_.trust_domain},
                  {"certTtl", options_.cert_ttl},
                  {"accessLog", options_.access_log}};
  json doc = {{"version", 1}, {"options", options}, {"cgroupRoot", cgroup_root_},
              {"nodes", nodes}, {"pods", pods}, {"services", services}};
  if (controller_) {
    doc["controller"] = {{"binary", controller_->binary},         {"manifestDir", controller_->manifest_dir},
                         {"listen", controller_->listen_address}, {"meshName", controller_->mesh_name},
                         {"statusFile", controller_->status_file}, {"log", controller_->log},
                         {"process", ProcessToJson(controller_->process)},
                         {"metricsAddress", controller_->metrics_address}};
  }
  return doc;
}

Result<std::unique_ptr<LocalCluster>> LocalCluster::FromJson(const json& doc) {
  try {
    if (doc.value("version", 0) != 1) return MakeError("unsupported cluster state version");
    const json& o = doc.at("options");
    ClusterOptions options;
    options.name = o.at("name").get<std::string>();
    options.state_dir = o.at("stateDir").get<std::string>();
    options.nodes = o.at("nodes").get<int>();
    options.agent_binary = o.value("agentBinary", "");
    options.cni_plugin_dirs = o.value("cniPluginDirs", std::vector<std::string>{"/usr/lib/cni"});
    options.chain_ferry_cni = o.value("chainFerryCni", false);
    options.underlay = o.value("underlay", false);
    options.policy_source = o.value("policySource", "") == "controller" ? PolicySource::kController
                                                                         : PolicySource::kPolicyFile;
    options.controller_address = o.value("controllerAddress", "");
    options.trust_domain = o.value("trustDomain", "cluster.local");
    options.cert_ttl = o.value("certTtl", "");
    options.access_log = o.value("accessLog", false);
    auto cluster = std::unique_ptr<LocalCluster>(new LocalCluster(options));
    cluster->owned_ = false;
    cluster->cgroup_root_ = doc.at("cgroupRoot").get<std::string>();
    for (const auto& n : doc.at("nodes")) cluster->nodes_.push_back(NodeFromJson(n));
    for (const auto& p : doc.value("pods", json::array())) {
      auto pod = PodFromJson(p);
      cluster->pods_[pod->Key()] = std::move(pod);
    }
    for (const auto& s : doc.value("services", json::array())) {
      auto service = ServiceFromJson(s);
      if (!service.ok()) return service.error();
      cluster->services_.push_back(*service);
    }
    if (doc.contains("controller")) {
      const json& c = doc["controller"];
      cluster->controller_ = ControllerProcess{c.value("binary", ""),     c.value("manifestDir", ""),
                                               c.value("listen", ""),     c.value("meshName", ""),
                                               c.value("statusFile", ""), c.value("log", ""),
                                               ProcessFromJson(c.value("process", json::object())),
                                               c.value("metricsAddress", "")};
    }
    return cluster;
  } catch (const json::exception& e) {
    return MakeError(std::string("cluster state is damaged: ") + e.what());
  }
}

Result<void> LocalCluster::Save() const {
  std::string tmp = StatePath() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << ToJson().dump(2) << "\n";
    if (!out.flush()) return MakeError("write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, StatePath(), ec);
  if (ec) return MakeError("rename " + tmp + ": " + ec.message());
  return Ok();
}

Result<std::unique_ptr<LocalCluster>> LocalCluster::Open(const std::string& state_dir) {
  std::string path = state_dir + "/cluster.json";
  std::ifstream in(path);
  if (!in) return MakeError("no local cluster recorded in " + state_dir + " (run `ferryctl local up` first)");
  json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded()) return MakeError(path + " is not JSON");
  return FromJson(doc);
}

std::vector<ScrapeTarget> ScrapeTargets(const LocalCluster& cluster) {
  std::vector<ScrapeTarget> targets;
  for (const Node& n : cluster.nodes()) {
    if (!n.underlay_ip.empty())
      targets.push_back({"ferry-agent", n.underlay_ip + ":" + std::to_string(kAgentMetricsPort), n.name});
  }
  if (const auto& c = cluster.controller()) {
    std::string address = c->metrics_address.empty() ? "127.0.0.1:" + std::to_string(kControllerMetricsPort)
                                                      : c->metrics_address;
    targets.push_back({"ferry-controller", address, ""});
  }
  return targets;
}

std::string LocalScrapeConfig(const LocalCluster& cluster, std::chrono::seconds interval) {
  const std::string every = std::to_string(interval.count()) + "s";
  std::string out = "# Prometheus scrape config for the local Ferry cluster (" + cluster.options().state_dir +
                    ").\nglobal:\n  scrape_interval: " + every + "\n  evaluation_interval: " + every +
                    "\nscrape_configs:\n";
  std::string job;
  for (const ScrapeTarget& t : ScrapeTargets(cluster)) {
    if (t.job != job) {
      job = t.job;
      out += "  - job_name: " + job + "\n    static_configs:\n";
    }
    out += "      - targets: ['" + t.address + "']\n";
    if (!t.node.empty()) out += "        labels:\n          node: " + t.node + "\n";
  }
  return out;
}

}  // namespace ferry::local
