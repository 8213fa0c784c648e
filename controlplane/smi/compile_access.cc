#include <algorithm>

#include "controlplane/smi/compile_internal.h"

namespace ferry::smi::internal {
namespace {

void FillSubject(const SubjectRef& ref, v1::ServiceAccountRef* out) {
  out->set_namespace_(ref.ns);
  out->set_name(ref.name);
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string RuleLabel(size_t index, const TrafficTargetRule& rule) {
  return "spec.rules[" + std::to_string(index) + "] (" + rule.kind + " " + rule.name + ")";
}

Result<void> CompileHttpRule(size_t index, const TrafficTargetRule& rule, const HttpRouteGroup& group,
                             v1::HttpRule* out) {
  for (const std::string& wanted : rule.matches) {
    bool found = std::any_of(group.matches.begin(), group.matches.end(),
                             [&](const HttpRouteMatch& m) { return m.name == wanted; });
    if (!found) return MakeError(RuleLabel(index, rule) + ": the HTTPRouteGroup has no match named \"" + wanted + "\"");
  }
  for (const HttpRouteMatch& match : group.matches) {
    if (!rule.matches.empty() && !Contains(rule.matches, match.name)) continue;
    v1::HttpMatch* m = out->add_matches();
    m->set_name(match.name);
    m->set_path_regex(match.path_regex);
    for (const std::string& method : match.methods) m->add_methods(method);
    for (const auto& [name, value] : match.headers) (*m->mutable_headers())[name] = value;
  }
  return Ok();
}

Result<void> CompileTcpRule(size_t index, const TrafficTargetRule& rule, const TcpRoute& route, v1::TcpRule* out) {
  // A v1alpha4 TCPRoute has a single (optionally named) match; a rule may select it by name.
  for (const std::string& wanted : rule.matches) {
    if (wanted != route.match_name) {
      return MakeError(RuleLabel(index, rule) + ": the TCPRoute has no match named \"" + wanted + "\"");
    }
  }
  for (uint32_t port : route.ports) out->add_ports(port);
  return Ok();
}

}  // namespace

Result<v1::Authorization> CompileTrafficTarget(const TrafficTarget& target, const RouteIndex& routes) {
  v1::Authorization auth;
  auth.set_namespace_(target.meta.ns);
  auth.set_name(target.meta.name);
  auth.set_api_version(target.meta.api_version);
  FillSubject(target.destination, auth.mutable_destination());
  auth.set_destination_port(target.destination_port.value_or(0));
  for (const SubjectRef& source : target.sources) FillSubject(source, auth.add_sources());

  for (size_t i = 0; i < target.rules.size(); ++i) {
    const TrafficTargetRule& rule = target.rules[i];
    const NamespacedName key{target.meta.ns, rule.name};
    v1::AuthorizationRule* out = auth.add_rules();
    out->set_route_kind(rule.kind);
    out->set_route_name(rule.name);
    if (rule.kind == "HTTPRouteGroup") {
      auto it = routes.http.find(key);
      if (it == routes.http.end()) {
        return MakeError(RuleLabel(i, rule) + ": no HTTPRouteGroup \"" + rule.name + "\" in namespace \"" +
                         target.meta.ns + "\"");
      }
      FERRY_TRY(CompileHttpRule(i, rule, *it->second, out->mutable_http()));
    } else {
      auto it = routes.tcp.find(key);
      if (it == routes.tcp.end()) {
        return MakeError(RuleLabel(i, rule) + ": no TCPRoute \"" + rule.name + "\" in namespace \"" +
                         target.meta.ns + "\"");
      }
      FERRY_TRY(CompileTcpRule(i, rule, *it->second, out->mutable_tcp()));
    }
  }
  return auth;
}

}  // namespace ferry::smi::internal
