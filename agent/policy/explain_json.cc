// The wire side of explain.h: the debug endpoint's query string in, JSON out.
#include <charconv>

#include "agent/policy/explain.h"

namespace ferry::policy {

namespace {

using nlohmann::json;

constexpr const char* kHeaderPrefix = "header.";
constexpr const char* kUsage = "use src=IP|NS/SA, dst=NS/SVC|IP, port=N, method=M, path=/p, header.NAME=VALUE";

Result<uint32_t> ParsePort(const std::string& text) {
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port == 0 || port > 65535)
    return MakeError("port \"" + text + "\" is not a port number (1-65535)");
  return port;
}

// "ns/name" with both parts non-empty and no further slash.
bool SplitNamespaced(const std::string& text, std::string& ns, std::string& name) {
  auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) return false;
  if (text.find('/', slash + 1) != std::string::npos) return false;
  ns = text.substr(0, slash);
  name = text.substr(slash + 1);
  return true;
}

Result<void> ParseSource(const std::string& src, ExplainQuery& q) {
  if (auto ip = ParseIpv4(src)) {
    q.source_ip = *ip;
    return Ok();
  }
  // A SPIFFE id spiffe://TD/ns/NS/sa/SA names the same identity.
  std::string text = src;
  if (text.starts_with("spiffe://")) {
    auto ns_at = text.find("/ns/");
    auto sa_at = text.find("/sa/");
    if (ns_at != std::string::npos && sa_at != std::string::npos && ns_at < sa_at)
      text = text.substr(ns_at + 4, sa_at - ns_at - 4) + "/" + text.substr(sa_at + 4);
  }
  Identity id;
  if (!SplitNamespaced(text, id.ns, id.service_account))
    return MakeError("src \"" + src + "\" is neither an IPv4 address nor NAMESPACE/SERVICEACCOUNT");
  q.source_identity = std::move(id);
  return Ok();
}

Result<void> ParseDestination(std::string dst, ExplainQuery& q) {
  // An optional ":PORT" suffix, as in 198.18.1.5:8080 or shop/api:80.
  if (auto colon = dst.rfind(':'); colon != std::string::npos) {
    auto port = ParsePort(dst.substr(colon + 1));
    if (!port.ok()) return MakeError("dst \"" + dst + "\": " + port.error().Message());
    if (q.port != 0 && q.port != *port) return MakeError("dst \"" + dst + "\" and port=" + std::to_string(q.port) + " disagree");
    q.port = *port;
    dst.resize(colon);
  }
  if (auto ip = ParseIpv4(dst)) {
    q.destination_ip = *ip;
    return Ok();
  }
  if (!SplitNamespaced(dst, q.service_ns, q.service_name))
    return MakeError("dst \"" + dst + "\" is neither a pod IPv4 address nor NAMESPACE/SERVICE");
  return Ok();
}

json VerdictJson(const ExplainVerdict& v) {
  json j = {{"decision", DecisionName(v.decision)}, {"branch", BranchName(v.branch)}, {"reason", v.reason},
            {"endpoints", v.endpoints}};
  if (!v.identity.empty()) j["identity"] = v.identity;
  if (v.port != 0) j["port"] = v.port;
  if (!v.backend.empty()) {
    j["backend"] = v.backend;
    j["weight"] = v.weight;
  }
  if (!v.traffic_target.empty()) j["trafficTarget"] = v.traffic_target;
  if (!v.rule.empty()) j["rule"] = v.rule;
  return j;
}

}  // namespace

Result<ExplainQuery> ParseExplainQuery(const std::map<std::string, std::string>& params) {
  ExplainQuery q;
  for (const auto& [key, value] : params) {
    if (key == "src" || key == "dst" || key == "method" || key == "path") continue;
    if (key == "port") {
      auto port = ParsePort(value);
      if (!port.ok()) return port.error();
      q.port = *port;
    } else if (key.starts_with(kHeaderPrefix) && key.size() > std::string_view(kHeaderPrefix).size()) {
      q.headers.push_back({key.substr(std::string_view(kHeaderPrefix).size()), value});
    } else {
      return MakeError("unknown parameter \"" + key + "\"; " + kUsage);
    }
  }
  auto src = params.find("src");
  auto dst = params.find("dst");
  if (src == params.end() || src->second.empty()) return MakeError(std::string("src is required; ") + kUsage);
  if (dst == params.end() || dst->second.empty()) return MakeError(std::string("dst is required; ") + kUsage);
  FERRY_TRY(ParseSource(src->second, q));
  FERRY_TRY(ParseDestination(dst->second, q));
  if (auto m = params.find("method"); m != params.end()) q.method = m->second;
  if (auto p = params.find("path"); p != params.end()) q.path = p->second;
  // curl's default: a path alone is a GET.
  if (q.method.empty() && !q.path.empty()) q.method = "GET";
  if (!q.method.empty() && q.path.empty()) return MakeError("method=" + q.method + " needs a path (path=/...)");
  if (q.destination_ip && q.port == 0) return MakeError("dst " + dst->second + " is an address: give port=N");
  return q;
}

json ExplanationToJson(const Explanation& e) {
  json verdicts = json::array();
  for (const auto& v : e.verdicts) verdicts.push_back(VerdictJson(v));
  json source = {{"inMesh", e.source_in_mesh}};
  if (!e.source_ip.empty()) source["ip"] = e.source_ip;
  if (!e.source_identity.empty()) source["identity"] = e.source_identity;
  json destination = {{"target", e.destination}, {"httpDeclared", e.http_declared}};
  if (!e.split.empty()) destination["trafficSplit"] = e.split;
  json out = {{"decision", DecisionName(e.decision)},
              {"reason", e.reason},
              {"trafficTarget", e.traffic_target},
              {"rule", e.rule},
              {"source", std::move(source)},
              {"destination", std::move(destination)},
              {"verdicts", std::move(verdicts)},
              {"request", e.method.empty() ? json(nullptr) : json{{"method", e.method}, {"path", e.path}}},
              {"policyVersion", e.policy_version}};
  return out;
}

}  // namespace ferry::policy
