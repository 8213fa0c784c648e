#include "cli/proxy_get.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <optional>
#include <ostream>

#include "cli/admin_client.h"
#include "cli/state_lock.h"
#include "local/workloads.h"

namespace ferry::cli {

namespace {

using nlohmann::json;

std::string Cell(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  return v.dump();
}

std::string UnixTime(const json& v) {
  if (!v.is_number_integer()) return "-";
  std::time_t t = v.get<int64_t>();
  char buf[32];
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Columns padded to their widest cell, like kubectl's tables.
std::string Columns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 3, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::vector<std::vector<std::string>> TableRows(const std::string& what, const json& a) {
  std::vector<std::vector<std::string>> rows;
  auto items = [&](const char* key) { return a.contains(key) && a[key].is_array() ? a[key] : json::array(); };
  if (what == "workloads") {
    rows.push_back({"NAMESPACE", "NAME", "IP", "SERVICE-ACCOUNT", "ENROLLED"});
    for (const auto& w : items("workloads"))
      rows.push_back({Cell(w.value("namespace", json())), Cell(w.value("name", json())), Cell(w.value("ip", json())),
                      Cell(w.value("serviceAccount", json())), w.value("enrolled", false) ? "yes" : "no"});
  } else if (what == "certs") {
    rows.push_back({"WORKLOAD", "SPIFFE-ID", "SERIAL", "NOT-AFTER", "SERVING"});
    for (const auto& c : items("certificates"))
      rows.push_back({Cell(c.value("workload", json())), Cell(c.value("spiffeId", json())),
                      Cell(c.value("serial", json())), UnixTime(c.value("notAfter", json())),
                      c.value("serving", false) ? "yes" : "no"});
  } else if (what == "connections") {
    rows.push_back({"SOURCE", "DESTINATION", "SOURCE-ID", "DESTINATION-ID", "TLS", "BYTES-OUT", "BYTES-BACK", "AGE"});
    for (const auto& c : items("connections"))
      rows.push_back({Cell(c.value("source", c.value("client", json()))),
                      Cell(c.value("destination", c.value("target", json()))), Cell(c.value("sourceIdentity", json())),
                      Cell(c.value("destinationIdentity", json())), Cell(c.value("tlsMode", json())),
                      Cell(c.value("bytesOut", json())), Cell(c.value("bytesBack", json())),
                      std::to_string(c.value("ageMs", int64_t{0}) / 1000) + "s"});
  } else {
    const json& s = a.contains("snapshot") && a["snapshot"].is_object() ? a["snapshot"] : json::object();
    auto count = [&](const char* key) { return std::to_string(s.contains(key) ? s[key].size() : 0); };
    const json& ack = a.contains("ack") ? a["ack"] : json::object();
    rows.push_back({"VERSION", "SOURCE", "CONNECTED", "ACKS", "NACKS", "WORKLOADS", "SERVICES", "AUTHORIZATIONS", "SPLITS"});
    rows.push_back({Cell(a.value("version", json())), Cell(ack.value("mode", json())), Cell(ack.value("connected", json())),
                    Cell(ack.value("acks", json())), Cell(ack.value("nacks", json())), count("workloads"),
                    count("services"), count("authorizations"), count("splits")});
  }
  return rows;
}

void EmitYaml(YAML::Emitter& e, const json& v) {
  if (v.is_object()) {
    e << YAML::BeginMap;
    for (const auto& [key, value] : v.items()) {
      e << YAML::Key << key << YAML::Value;
      EmitYaml(e, value);
    }
    e << YAML::EndMap;
  } else if (v.is_array()) {
    e << YAML::BeginSeq;
    for (const auto& item : v) EmitYaml(e, item);
    e << YAML::EndSeq;
  } else if (v.is_string()) {
    e << YAML::DoubleQuoted << v.get<std::string>();
  } else if (v.is_null()) {
    e << YAML::Null;
  } else {
    e << v.dump();  // numbers and booleans print the same in both
  }
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

// Reads the cluster's state under its lock, which is released before the agent is asked.
Result<LocalContext> OpenState(const std::string& state_dir) {
  std::string state = AbsoluteStateDir(state_dir);
  if (!std::filesystem::exists(state + "/cluster.json"))
    return MakeError("no local cluster recorded in " + state + " (run `ferryctl local up` first)");
  auto lock = StateLock::Acquire(state);
  if (!lock.ok()) return lock.error();
  return OpenContext(state);
}

}  // namespace

std::string RenderTable(const std::string& what, const json& answer) { return Columns(TableRows(what, answer)); }

std::string RenderYaml(const json& answer) {
  YAML::Emitter e;
  EmitYaml(e, answer);
  return std::string(e.c_str()) + "\n";
}

int ProxyGet(const ProxyGetOptions& options, std::ostream& out, std::ostream& err) {
  auto ctx = OpenState(options.state_dir);
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
  auto answer = FetchFromNetns(n.netns_path, options.admin_port, "/" + options.what);
  if (!answer.ok()) {
    err << "error: the agent of " << n.name << " did not answer on 127.0.0.1:" << options.admin_port << " ("
        << answer.error().Message() << "); is it running (`ferryctl local get nodes`)?\n";
    return 1;
  }
  json body = json::parse(answer->body, nullptr, false);
  if (answer->status != 200) {
    std::string why = body.is_object() && body.contains("error") ? Cell(body["error"]) : answer->body;
    err << "error: the agent of " << n.name << " answered " << answer->status << ": " << why << "\n";
    return 1;
  }
  if (body.is_discarded()) {
    err << "error: the agent of " << n.name << " answered something that is not JSON\n";
    return 1;
  }
  if (options.output == "table") out << RenderTable(options.what, body);
  else if (options.output == "yaml") out << RenderYaml(body);
  else out << body.dump(2) << "\n";
  return 0;
}

}  // namespace ferry::cli
