#include "cli/policy_explain.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <iostream>
#include <optional>

#include "cli/admin_client.h"
#include "cli/render.h"  // Columns, RenderYaml
#include "common/ipv4.h"

namespace ferry::cli {

namespace {

using nlohmann::json;

struct Resolved {
  const local::Node* node = nullptr;  // the agent to ask
  std::string query;                  // the /explain query string
  std::string source_ip;
};

// "NS/REST[:PORT]" → ns, rest, port (0 when absent).
Result<void> SplitTarget(const std::string& flag, const std::string& text, std::string& ns, std::string& rest,
                         uint32_t& port) {
  auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size())
    return MakeError(flag + " \"" + text + "\": write NAMESPACE/NAME (e.g. shop/frontend)");
  ns = text.substr(0, slash);
  rest = text.substr(slash + 1);
  port = 0;
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    std::string digits = rest.substr(colon + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc() || end != digits.data() + digits.size() || port == 0 || port > 65535)
      return MakeError(flag + " \"" + text + "\": \"" + digits + "\" is not a port (1-65535)");
    rest.resize(colon);
  }
  return Ok();
}

const local::ServiceRecord* FindService(LocalContext& ctx, const std::string& ns, const std::string& name) {
  for (const auto& s : ctx.cluster->services())
    if (s.namespace_name == ns && s.name == name) return &s;
  return nullptr;
}

std::string PortList(const local::ServiceRecord& svc) {
  std::string out;
  for (const auto& p : svc.ports)
    out += (out.empty() ? "" : ", ") + std::to_string(p.port) + (p.name.empty() ? "" : " (" + p.name + ")");
  return out.empty() ? "none" : out;
}

// The service's port: the one given, or its only one.
Result<uint32_t> ServicePort(const local::ServiceRecord& svc, uint32_t given) {
  if (given != 0) return given;
  if (svc.ports.size() == 1) return svc.ports.front().port;
  return MakeError("service " + svc.Key() + " has " +
                   (svc.ports.empty() ? std::string("no ports") : "several ports: " + PortList(svc)) +
                   "; say which with --to " + svc.Key() + ":PORT");
}

// --to: a service (NS/SVC, NS/svc/NAME) or a pod (NS/pod/NAME, NS/deploy/NAME, or NS/POD when no
// service has that name). A service is asked of the source's agent, a pod of its own node's.
Result<void> ResolveDestination(LocalContext& ctx, const std::string& to, const local::Node& source_node,
                                Resolved& out) {
  std::string ns, rest;
  uint32_t port = 0;
  FERRY_TRY(SplitTarget("--to", to, ns, rest, port));
  std::string kind, name = rest;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    kind = rest.substr(0, slash);
    name = rest.substr(slash + 1);
  }
  bool service_kind = kind == "svc" || kind == "service" || kind == "services";
  const local::ServiceRecord* svc = kind.empty() || service_kind ? FindService(ctx, ns, name) : nullptr;
  if (service_kind && svc == nullptr) return MakeError("service " + name + " not found in namespace " + ns);
  if (svc != nullptr) {
    auto resolved = ServicePort(*svc, port);
    if (!resolved.ok()) return resolved.error();
    out.node = &source_node;
    out.query += "&dst=" + PercentEncode(svc->Key()) + "&port=" + std::to_string(*resolved);
    return Ok();
  }
  auto pod = ResolvePod(ctx, ns, rest);
  if (!pod.ok())
    return MakeError(pod.error().Message() + (kind.empty() ? " (and no service " + name + " either)" : std::string()));
  if (port == 0) return MakeError("--to " + to + " is a pod: give the port, as " + ns + "/" + rest + ":PORT");
  out.node = &ctx.cluster->node((*pod)->options.node);
  out.query += "&dst=" + (*pod)->Ip() + "&port=" + std::to_string(port);
  return Ok();
}

Result<Resolved> Resolve(LocalContext& ctx, const PolicyExplainOptions& o) {
  Resolved r;
  std::string ns, rest;
  uint32_t port = 0;
  FERRY_TRY(SplitTarget("--from", o.from, ns, rest, port));
  if (port != 0) return MakeError("--from " + o.from + ": a source has no port");
  auto pod = ResolvePod(ctx, ns, rest);
  if (!pod.ok()) return pod.error();
  r.source_ip = (*pod)->Ip();
  r.query = "src=" + r.source_ip;
  FERRY_TRY(ResolveDestination(ctx, o.to, ctx.cluster->node((*pod)->options.node), r));
  if (!o.method.empty()) r.query += "&method=" + PercentEncode(o.method);
  if (!o.path.empty()) r.query += "&path=" + PercentEncode(o.path);
  for (const std::string& h : o.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) return MakeError("--header \"" + h + "\": write NAME: VALUE");
    std::string value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    r.query += "&header." + PercentEncode(h.substr(0, colon)) + "=" + PercentEncode(value);
  }
  return r;
}

std::string Str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}
std::string Or(const std::string& s) { return s.empty() ? "-" : s; }

std::string VerdictTable(const json& verdicts, bool split) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"DECISION", "IDENTITY", "ENDPOINTS", "TRAFFIC-TARGET", "RULE", "REASON"});
  if (split) rows[0].insert(rows[0].begin(), {"BACKEND", "WEIGHT"});
  for (const auto& v : verdicts) {
    std::string endpoints;
    for (const auto& e : v.value("endpoints", json::array())) endpoints += (endpoints.empty() ? "" : ",") + e.get<std::string>();
    std::vector<std::string> row = {Str(v, "decision"), Or(Str(v, "identity")), Or(endpoints),
                                    Or(Str(v, "trafficTarget")), Or(Str(v, "rule")), Str(v, "reason")};
    if (split) row.insert(row.begin(), {Str(v, "backend"), std::to_string(v.value("weight", 0))});
    rows.push_back(std::move(row));
  }
  return Columns(rows);
}

}  // namespace

std::string PercentEncode(const std::string& value) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string RenderExplanation(const json& a) {
  std::string out = Str(a, "decision") + ": " + Str(a, "reason") + "\n";
  const json& src = a.contains("source") ? a["source"] : json::object();
  const json& dst = a.contains("destination") ? a["destination"] : json::object();
  std::string source = Str(src, "identity").empty() ? "outside the mesh" : Str(src, "identity");
  if (!Str(src, "ip").empty()) source += " (" + Str(src, "ip") + ")";
  std::vector<std::vector<std::string>> rows = {{"  source:", source}, {"  destination:", Or(Str(dst, "target"))}};
  if (a.contains("request") && a["request"].is_object())
    rows.push_back({"  request:", Str(a["request"], "method") + " " + Str(a["request"], "path")});
  if (!Str(dst, "trafficSplit").empty()) rows.push_back({"  traffic split:", Str(dst, "trafficSplit")});
  rows.push_back({"  traffic target:", Or(Str(a, "trafficTarget"))});
  rows.push_back({"  rule:", Or(Str(a, "rule"))});
  rows.push_back({"  decided by:", "the agent of " + Or(Str(a, "node")) + ", policy version " +
                                       std::to_string(a.value("policyVersion", uint64_t{0}))});
  out += Columns(rows);
  const json& verdicts = a.contains("verdicts") ? a["verdicts"] : json::array();
  if (verdicts.size() > 1 || !Str(dst, "trafficSplit").empty()) out += "\n" + VerdictTable(verdicts, !Str(dst, "trafficSplit").empty());
  return out;
}

int PolicyExplain(const PolicyExplainOptions& options, std::ostream& out, std::ostream& err) {
  auto ctx = OpenRecorded(options.state_dir);
  if (!ctx.ok()) {
    err << "error: " << ctx.error().Message() << "\n";
    return 1;
  }
  auto resolved = Resolve(*ctx, options);
  if (!resolved.ok()) {
    err << "error: " << resolved.error().Message() << "\n";
    return 1;
  }
  const local::Node& node = *resolved->node;
  auto body = AskAgent(node.name, node.netns_path, options.admin_port, "/explain?" + resolved->query);
  if (!body.ok()) {
    err << "error: " << body.error().Message() << "\n";
    return 1;
  }
  if (options.output == "json") out << body->dump(2) << "\n";
  else if (options.output == "yaml") out << RenderYaml(*body);
  else out << RenderExplanation(*body);
  return 0;
}

void AddPolicyCommands(CLI::App& app, std::function<int()>& run, std::string& state_dir) {
  CLI::App* policy = app.add_subcommand("policy", "ask the mesh's policy about traffic");
  policy->require_subcommand(1);
  static PolicyExplainOptions o;
  CLI::App* cmd = policy->add_subcommand(
      "explain", "would a connection (or HTTP request) from a pod be allowed, and which TrafficTarget and rule decide?");
  cmd->footer(
      "The first line says allow, deny, needs-request (HTTP rules apply: give --method and --path) or mixed (it\n"
      "depends on the endpoint or TrafficSplit backend a connection gets), then why.\n\n"
      "Examples:\n"
      "  ferryctl policy explain --from shop/deploy/frontend --to shop/db:5432\n"
      "  ferryctl policy explain --from shop/frontend-0 --to shop/api --method GET --path /api/values\n"
      "  ferryctl policy explain --from shop/deploy/frontend --to shop/deploy/api:8080 -o json");
  cmd->add_option("--from", o.from, "the source: NS/POD, NS/pod/NAME or NS/deploy/NAME")->required();
  cmd->add_option("--to", o.to,
                  "the destination: NS/SVC[:PORT] (the port may be left out when the service has one), "
                  "NS/svc/NAME[:PORT], or a pod NS/POD:PORT, NS/deploy/NAME:PORT")
      ->required();
  cmd->add_option("--method", o.method, "an HTTP request's method (with --path; default GET when only --path is given)");
  cmd->add_option("--path", o.path, "an HTTP request's path, e.g. /api/values");
  cmd->add_option("-H,--header", o.headers, "an HTTP request header, \"NAME: VALUE\" (repeatable)");
  cmd->add_option("-o,--output", o.output, "table | json | yaml")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  cmd->add_option("--admin-port", o.admin_port, "the agents' debug port")->capture_default_str();
  cmd->add_option("--state", state_dir, "state directory of the local cluster")->capture_default_str();
  cmd->callback([&] {
    run = [&] {
      o.state_dir = state_dir;
      return PolicyExplain(o, std::cout, std::cerr);
    };
  });
}

}  // namespace ferry::cli
