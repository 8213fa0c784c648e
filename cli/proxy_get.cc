#include "cli/proxy_get.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <ostream>

#include "cli/admin_client.h"
#include "cli/render.h"
#include "common/utc_time.h"
#include "local/workloads.h"

namespace ferry::cli {

namespace {

using nlohmann::json;

std::string UnixTime(const json& v) {
  if (!v.is_number_integer()) return "-";
  return FormatUtc(std::chrono::system_clock::time_point(std::chrono::seconds(v.get<int64_t>())));
}

std::vector<std::vector<std::string>> TableRows(const std::string& what, const json& a) {
  std::vector<std::vector<std::string>> rows;
  auto items = [&](const char* key) { return a.contains(key) && a[key].is_array() ? a[key] : json::array(); };
  if (what == "workloads") {
    rows.push_back({"NAMESPACE", "NAME", "IP", "SERVICE-ACCOUNT", "ENROLLED"});
    for (const auto& w : items("workloads"))
      rows.push_back({CellText(w.value("namespace", json())), CellText(w.value("name", json())), CellText(w.value("ip", json())),
                      CellText(w.value("serviceAccount", json())), w.value("enrolled", false) ? "yes" : "no"});
  } else if (what == "certs") {
    rows.push_back({"WORKLOAD", "SPIFFE-ID", "SERIAL", "NOT-AFTER", "SERVING"});
    for (const auto& c : items("certificates"))
      rows.push_back({CellText(c.value("workload", json())), CellText(c.value("spiffeId", json())),
                      CellText(c.value("serial", json())), UnixTime(c.value("notAfter", json())),
                      c.value("serving", false) ? "yes" : "no"});
  } else if (what == "connections") {
    rows.push_back({"SOURCE", "DESTINATION", "SOURCE-ID", "DESTINATION-ID", "TLS", "BYTES-OUT", "BYTES-BACK", "AGE"});
    for (const auto& c : items("connections"))
      rows.push_back({CellText(c.value("source", c.value("client", json()))),
                      CellText(c.value("destination", c.value("target", json()))), CellText(c.value("sourceIdentity", json())),
                      CellText(c.value("destinationIdentity", json())), CellText(c.value("tlsMode", json())),
                      CellText(c.value("bytesOut", json())), CellText(c.value("bytesBack", json())),
                      std::to_string(c.value("ageMs", int64_t{0}) / 1000) + "s"});
  } else {
    const json& s = a.contains("snapshot") && a["snapshot"].is_object() ? a["snapshot"] : json::object();
    auto count = [&](const char* key) { return std::to_string(s.contains(key) ? s[key].size() : 0); };
    const json& ack = a.contains("ack") ? a["ack"] : json::object();
    rows.push_back({"VERSION", "SOURCE", "CONNECTED", "ACKS", "NACKS", "WORKLOADS", "SERVICES", "AUTHORIZATIONS", "SPLITS"});
    rows.push_back({CellText(a.value("version", json())), CellText(ack.value("mode", json())), CellText(ack.value("connected", json())),
                    CellText(ack.value("acks", json())), CellText(ack.value("nacks", json())), count("workloads"),
                    count("services"), count("authorizations"), count("splits")});
  }
  return rows;
}

// The node a target names: a node itself, or the node of a pod (NAME, pod/NAME, deploy/NAME).
// A node by name or node/NAME; otherwise a pod (ResolvePod's forms), which means its node.
Result<const local::Node*> ResolveNode(LocalContext& ctx, const std::string& ns, const std::string& target) {
  if (local::Node* node = ctx.cluster->FindNode(target)) return node;
  auto slash = target.find('/');
  std::string kind = slash == std::string::npos ? "" : target.substr(0, slash);
  if (kind == "node" || kind == "nodes" || kind == "no") {
    std::string name = target.substr(slash + 1);
    if (local::Node* node = ctx.cluster->FindNode(name)) return node;
    return MakeError("no node " + name + " (see `ferryctl local get nodes`)");
  }
  auto pod = ResolvePod(ctx, ns, target);
  if (!pod.ok()) return pod.error();
  return &ctx.cluster->node((*pod)->options.node);
}

}  // namespace

std::string RenderTable(const std::string& what, const json& answer) { return Columns(TableRows(what, answer)); }

int ProxyGet(const ProxyGetOptions& options, std::ostream& out, std::ostream& err) {
  auto ctx = OpenRecorded(options.state_dir);
  if (!ctx.ok()) {
    err << "error: " << ctx.error().Message() << "\n";
    return 1;
  }
  auto node = ResolveNode(*ctx, options.namespace_name, options.target);
  if (!node.ok()) {
    err << "error: " << node.error().Message() << "\n";
    return 1;
  }
  const local::Node& n = **node;
  auto body = AskAgent(n.name, n.netns_path, options.admin_port, "/" + options.what);
  if (!body.ok()) {
    err << "error: " << body.error().Message() << "\n";
    return 1;
  }
  if (options.output == "table") out << RenderTable(options.what, *body);
  else if (options.output == "yaml") out << RenderYaml(*body);
  else out << body->dump(2) << "\n";
  return 0;
}

}  // namespace ferry::cli
