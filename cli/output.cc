// `ferryctl local get pods|services|nodes`.
#include <algorithm>
#include <map>
#include <ostream>
#include <set>

#include "cli/local_commands.h"
#include "cli/render.h"
#include "common/ipv4.h"

namespace ferry::cli {

using nlohmann::json;

namespace {

std::string PodStatus(const local::Pod& pod) {
  for (const auto& p : pod.processes)
    if (!local::IsAlive(p)) return "Exited";
  return "Running";
}

json PodsJson(LocalContext& ctx, const std::string& ns) {
  std::map<int, std::set<std::string>> enrolled;  // node → keys; absent = agent unreachable
  for (const auto& n : ctx.cluster->nodes()) {
    auto list = ctx.cluster->EnrolledPods(n.index);
    if (list.ok()) enrolled[n.index] = std::set<std::string>(list->begin(), list->end());
  }
  json out = json::array();
  for (local::Pod* pod : ctx.cluster->pods()) {
    if (!ns.empty() && pod->options.namespace_name != ns) continue;
    json pids = json::array();
    for (const auto& p : pod->processes) pids.push_back(p.pid);
    auto e = enrolled.find(pod->options.node);
    out.push_back({{"name", pod->options.name},
                   {"namespace", pod->options.namespace_name},
                   {"node", ctx.cluster->node(pod->options.node).name},
                   {"ip", pod->Ip()},
                   {"serviceAccount", pod->options.service_account},
                   {"enrolled", e != enrolled.end() ? json(e->second.count(pod->Key()) > 0) : json(nullptr)},
                   {"status", PodStatus(*pod)},
                   {"netns", pod->netns_name},
                   {"pids", pids}});
  }
  return out;
}

json NodesJson(LocalContext& ctx) {
  json out = json::array();
  for (const auto& n : ctx.cluster->nodes()) {
    out.push_back({{"name", n.name},
                   {"netns", n.netns_name},
                   {"agentPid", n.agent_pid},
                   {"agent", ctx.cluster->AgentRunning(n.index) ? "Running" : "Down"},
                   {"underlayIp", n.underlay_ip},
                   {"podSubnet", n.pod_subnet}});
  }
  return out;
}

json ServicesJson(LocalContext& ctx, const std::string& ns) {
  json out = json::array();
  for (const auto& s : ctx.cluster->services()) {
    if (!ns.empty() && s.namespace_name != ns) continue;
    json ports = json::array();
    for (const auto& p : s.ports)
      ports.push_back({{"name", p.name}, {"port", p.port}, {"targetPort", p.target_port}, {"protocol", p.protocol}});
    out.push_back({{"name", s.name},
                   {"namespace", s.namespace_name},
                   {"vip", s.vip ? FormatIpv4(s.vip) : std::string("None")},
                   {"ports", ports}});
  }
  return out;
}

std::string PortsCell(const json& ports) {
  std::string s;
  for (const auto& p : ports) s += (s.empty() ? "" : ",") + std::to_string(p.value("port", 0u)) + "/" + p.value("protocol", "TCP");
  return s.empty() ? "<none>" : s;
}

}  // namespace

int LocalGet(const GetOptions& options, std::ostream& out, std::ostream& err) {
  std::string state = AbsoluteStateDir(options.state_dir);
  auto ctx = OpenContext(state);  // read-only: no lock needed, cluster.json is replaced atomically
  if (!ctx.ok()) {
    err << "error: " << ctx.error().Message() << "\n";
    return 1;
  }
  json rows;
  std::vector<Column> columns;
  if (options.what == "pods" || options.what == "pod" || options.what == "po") {
    rows = PodsJson(*ctx, options.namespace_name);
    columns = {{"NAMESPACE", "namespace"}, {"NAME", "name"},       {"STATUS", "status"}, {"IP", "ip"},
               {"NODE", "node"},           {"ENROLLED", "enrolled"}, {"SERVICEACCOUNT", "serviceAccount"}};
  } else if (options.what == "services" || options.what == "service" || options.what == "svc") {
    rows = ServicesJson(*ctx, options.namespace_name);
    columns = {{"NAMESPACE", "namespace"}, {"NAME", "name"}, {"VIP", "vip"}, {"PORTS", "portsText"}};
  } else if (options.what == "nodes" || options.what == "node" || options.what == "no") {
    rows = NodesJson(*ctx);
    columns = {{"NAME", "name"}, {"AGENT", "agent"}, {"AGENT PID", "agentPid"}, {"UNDERLAY IP", "underlayIp"},
               {"POD SUBNET", "podSubnet"}, {"NETNS", "netns"}};
  } else {
    err << "error: unknown resource type \"" << options.what << "\" (pods, services or nodes)\n";
    return 2;
  }
  json table_rows = rows;
  for (auto& row : table_rows)
    if (row.contains("ports")) row["portsText"] = PortsCell(row["ports"]);
  if (!PrintAs(options.output, rows, table_rows, columns, out)) {
    err << "error: -o must be table, json or yaml\n";
    return 2;
  }
  return 0;
}

}  // namespace ferry::cli
