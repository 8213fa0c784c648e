#include "agent/policy/evaluator.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/ipv4.h"

namespace ferry::policy {
namespace {

// How far an authorization got before it failed to allow; the deepest one explains a deny best.
// kHttpOnly is EvaluateL4's; kHttpInvalid and kHttpNoMatch are EvaluateHttp's.
enum class Stage {
  kNoTarget,
  kSourceNotListed,
  kPortRestricted,
  kNoRule,
  kTcpPortsMismatch,
  kHttpOnly,
  kHttpInvalid,
  kHttpNoMatch
};

struct DenyExplanation {
  Stage stage = Stage::kNoTarget;
  std::string reason;
  std::string traffic_target;  // the TrafficTarget of the deepest stage, when it listed the source
  std::string rule;

  void Offer(Stage s, std::string text, std::string target = {}, std::string rule_label = {}) {
    if (!reason.empty() && s <= stage) return;
    stage = s;
    reason = std::move(text);
    traffic_target = std::move(target);
    rule = std::move(rule_label);
  }
  Verdict ToVerdict(bool needs_l7) const { return Verdict{false, reason, needs_l7, traffic_target, rule}; }
};

std::string PortList(const std::vector<uint32_t>& ports) {
  std::string out;
  for (uint32_t p : ports) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

// Kubernetes/Istio conventions for "this port speaks HTTP/1". A set appProtocol is explicit and
// wins; only without one does the port name count.
bool DeclaresHttp(const v1::ServicePort& port) {
  if (!port.app_protocol().empty()) return http::EqualsIgnoreCase(port.app_protocol(), "http");
  const std::string& name = port.name();
  return name == "http" || name.starts_with("http-");
}

// RouteMatcher explains a denial as "<METHOD> <path>: <detail>"; the detail is worth keeping
// only when it says more than "the path matched nothing" (which the caller's sentence says).
std::string MatchDetail(const std::string& matcher_reason, std::string_view method, std::string_view path) {
  std::string prefix = std::string(method) + " " + std::string(path) + ": ";
  std::string detail = matcher_reason.starts_with(prefix) ? matcher_reason.substr(prefix.size()) : matcher_reason;
  if (detail.starts_with("path matches no")) return "";
  return detail;
}

using SourceKey = std::pair<std::string, std::string>;  // (ns, sa), as CompiledAuthorization::sources

// Whether `auth` lets src reach dst on `port` at all (before its rules); explains why not.
template <typename CompiledAuthorization>
bool AppliesTo(const CompiledAuthorization& auth, const SourceKey& source, const Identity& src, const Identity& dst,
               uint16_t port, DenyExplanation& deny) {
  if (!std::binary_search(auth.sources.begin(), auth.sources.end(), source)) {
    deny.Offer(Stage::kSourceNotListed, "no TrafficTarget for " + dst.ToString() + " lists source " + src.ToString());
    return false;
  }
  if (auth.destination_port != 0 && auth.destination_port != port) {
    deny.Offer(Stage::kPortRestricted,
               auth.label + " allows " + src.ToString() + " only on port " + std::to_string(auth.destination_port) +
                   ", not " + std::to_string(port),
               auth.name);
    return false;
  }
  if (auth.rules.empty()) deny.Offer(Stage::kNoRule, auth.label + " has no rules", auth.name);
  return true;
}

template <typename CompiledAuthorization, typename CompiledRule>
bool TcpRuleAllows(const CompiledAuthorization& auth, const CompiledRule& rule, uint16_t port, DenyExplanation& deny) {
  if (rule.tcp_ports.empty() || std::binary_search(rule.tcp_ports.begin(), rule.tcp_ports.end(), port)) return true;
  deny.Offer(Stage::kTcpPortsMismatch,
             "port " + std::to_string(port) + " is not in " + auth.label + " " + rule.label + " ports [" +
                 PortList(rule.tcp_ports) + "]",
             auth.name, rule.label);
  return false;
}

// A RouteMatcher rule label is "<TrafficTarget label> HTTPRouteGroup ns/name[ match m]": the rule
// alone is what follows the TrafficTarget's label.
std::string MatchedRule(const std::string& auth_label, const std::string& matched) {
  if (matched.starts_with(auth_label + " ")) return matched.substr(auth_label.size() + 1);
  return matched;
}

// A denial reason ends up in a 403 body and a response header: a client's huge path must not.
std::string Abbreviate(std::string_view path) {
  constexpr size_t kMax = 160;
  if (path.size() <= kMax) return std::string(path);
  return std::string(path.substr(0, kMax)) + "...";
}

}  // namespace

PolicyEvaluator::CompiledAuthorization PolicyEvaluator::CompileAuthorization(const v1::Authorization& auth) {
  CompiledAuthorization out;
  out.name = auth.namespace_() + "/" + auth.name();
  out.label = "TrafficTarget " + out.name;
  out.ns = auth.namespace_();
  out.destination_port = auth.destination_port();
  for (const v1::ServiceAccountRef& src : auth.sources()) out.sources.emplace_back(src.namespace_(), src.name());
  std::sort(out.sources.begin(), out.sources.end());
  for (const v1::AuthorizationRule& rule : auth.rules()) {
    CompiledRule compiled;
    compiled.label = rule.route_kind() + " " + rule.route_name();
    if (rule.has_tcp()) {
      compiled.tcp_ports.assign(rule.tcp().ports().begin(), rule.tcp().ports().end());
      std::sort(compiled.tcp_ports.begin(), compiled.tcp_ports.end());
    } else if (rule.has_http()) {
      compiled.is_http = true;
      compiled.http = CompileHttpRule(out, rule);
    } else {
      continue;  // a rule with neither body allows nothing
    }
    out.rules.push_back(std::move(compiled));
  }
  return out;
}

std::unique_ptr<http::RouteMatcher> PolicyEvaluator::CompileHttpRule(const CompiledAuthorization& auth,
                                                                       const v1::AuthorizationRule& rule) {
  // HTTPRouteGroups live in the TrafficTarget's namespace; the controller names them bare.
  const std::string label = auth.label + " " + rule.route_kind() + " " + auth.ns + "/" + rule.route_name();
  auto matcher = std::make_unique<http::RouteMatcher>();
  if (auto added = matcher->AddRule(label, rule.http()); !added.ok()) {
    // The controller validates regexes, so this is a hand-made or corrupt snapshot. A partly
    // compiled rule would allow less or more than written: drop it whole and fail closed.
    spdlog::warn("policy: HTTP rule dropped, it allows nothing: {}", added.error().Message());
    return nullptr;
  }
  return matcher;
}

PolicyEvaluator::PolicyEvaluator(v1::PolicySnapshot snapshot) : snapshot_(std::move(snapshot)) {
  for (const v1::Authorization& auth : snapshot_.authorizations()) {
    if (auth.destination().namespace_() != auth.namespace_()) {
      ++ignored_authorizations_;
      continue;
    }
    CompiledAuthorization compiled = CompileAuthorization(auth);
    for (const CompiledRule& rule : compiled.rules) {
      if (rule.is_http && !rule.http) ++invalid_http_rules_;
    }
    by_destination_[auth.namespace_()][auth.destination().name()].push_back(std::move(compiled));
  }
  for (const v1::TrafficSplit& split : snapshot_.splits()) {
    // The controller rejects a second split of one root service; keep the first if one slips by.
    splits_by_root_.emplace(SplitKey{split.namespace_(), split.root_service()}, &split);
  }
  for (const std::string& ip : snapshot_.mesh().inbound_exempt_ips()) {
    if (auto addr = ParseIpv4(ip)) inbound_exempt_ips_.insert(*addr);
  }
  for (const v1::Workload& w : snapshot_.workloads()) {
    if (auto addr = ParseIpv4(w.ip())) workload_ips_[*addr] = Identity{w.namespace_(), w.service_account()};
  }
  IndexServices();
}

void PolicyEvaluator::IndexServices() {
  std::map<std::string, uint32_t> ip_by_uid;
  for (const v1::Workload& w : snapshot_.workloads()) {
    if (auto addr = ParseIpv4(w.ip())) ip_by_uid[w.uid()] = *addr;
  }
  for (const v1::Service& svc : snapshot_.services()) {
    auto vip = ParseIpv4(svc.vip());  // none for a headless service: resolvable by name only
    for (const v1::ServicePort& port : svc.ports()) {
      if (port.port() == 0 || port.port() > 65535 || (!port.protocol().empty() && port.protocol() != "TCP")) continue;
      ServiceTarget target;
      target.ns = svc.namespace_();
      target.name = svc.name();
      target.port = port.port();
      target.port_name = port.name();
      target.app_protocol = port.app_protocol();
      target.http_declared = DeclaresHttp(port);
      uint32_t target_port = port.target_port() ? port.target_port() : port.port();
      for (const std::string& uid : svc.endpoint_uids()) {
        auto ip = ip_by_uid.find(uid);
        if (ip != ip_by_uid.end()) target.endpoints.push_back({ip->second, static_cast<uint16_t>(target_port)});
      }
      auto& slot = services_by_name_[ServiceKey{svc.namespace_(), svc.name(), port.port()}];
      slot = std::move(target);
      if (vip) services_by_vip_[{*vip, static_cast<uint16_t>(port.port())}] = &slot;
    }
  }
}

const PolicyEvaluator::ServiceTarget* PolicyEvaluator::ResolveService(Ipv4Endpoint vip) const {
  auto it = services_by_vip_.find({vip.addr, vip.port});
  return it == services_by_vip_.end() ? nullptr : it->second;
}

const PolicyEvaluator::ServiceTarget* PolicyEvaluator::ResolveServicePort(std::string_view ns, std::string_view service,
                                                                          uint32_t port) const {
  auto it = services_by_name_.find(std::tuple<std::string_view, std::string_view, uint32_t>{ns, service, port});
  return it == services_by_name_.end() ? nullptr : &it->second;
}

const v1::TrafficSplit* PolicyEvaluator::SplitFor(std::string_view ns, std::string_view root_service) const {
  auto it = splits_by_root_.find(std::tuple<std::string_view, std::string_view>{ns, root_service});
  return it == splits_by_root_.end() ? nullptr : it->second;
}

const std::vector<PolicyEvaluator::CompiledAuthorization>* PolicyEvaluator::AuthorizationsFor(
    const Identity& dst) const {
  auto ns = by_destination_.find(dst.ns);
  if (ns == by_destination_.end()) return nullptr;
  auto sa = ns->second.find(dst.service_account);
  return sa == ns->second.end() ? nullptr : &sa->second;
}

Verdict PolicyEvaluator::EvaluateL4(const Identity& src, const Identity& dst, uint16_t port) const {
  const std::vector<CompiledAuthorization>* candidates = AuthorizationsFor(dst);
  if (candidates == nullptr) {
    return Verdict{false, "no TrafficTarget in namespace " + dst.ns + " for service account " + dst.service_account, false, "", ""};
  }
  DenyExplanation deny;
  const SourceKey source{src.ns, src.service_account};
  for (const CompiledAuthorization& auth : *candidates) {
    if (!AppliesTo(auth, source, src, dst, port, deny)) continue;
    for (const CompiledRule& rule : auth.rules) {
      if (rule.is_http) {
        deny.Offer(Stage::kHttpOnly,
                   "only HTTPRouteGroup rules apply, decided per HTTP request: " + auth.label + " " + rule.label,
                   auth.name, rule.label);
        continue;
      }
      if (TcpRuleAllows(auth, rule, port, deny)) {
        return Verdict{true, "allowed by " + auth.label + " rule " + rule.label, false, auth.name, rule.label};
      }
    }
  }
  return deny.ToVerdict(deny.stage == Stage::kHttpOnly);
}

Verdict PolicyEvaluator::EvaluateHttp(const Identity& src, const Identity& dst, uint16_t port, std::string_view method,
                                      std::string_view path, std::span<const http::Header> headers) const {
  const std::vector<CompiledAuthorization>* candidates = AuthorizationsFor(dst);
  if (candidates == nullptr) {
    return Verdict{false,
                   "no TrafficTarget in namespace " + dst.ns + " lets " + src.ToString() + " reach " + dst.ToString(), false, "", ""};
  }
  DenyExplanation deny;
  const SourceKey source{src.ns, src.service_account};
  for (const CompiledAuthorization& auth : *candidates) {
    if (!AppliesTo(auth, source, src, dst, port, deny)) continue;
    bool tried_http = false;
    std::string detail;  // why the first HTTP rule that came close did not allow
    for (const CompiledRule& rule : auth.rules) {
      if (!rule.is_http) {
        // A TCP rule allows the whole connection, so every request on it.
        if (TcpRuleAllows(auth, rule, port, deny)) {
          return Verdict{true, "allowed by " + auth.label + " rule " + rule.label, false, auth.name, rule.label};
        }
        continue;
      }
      if (!rule.http) {
        deny.Offer(Stage::kHttpInvalid, auth.label + " " + rule.label + " has an invalid regex and allows nothing",
                   auth.name, rule.label);
        continue;
      }
      http::RouteDecision decision = rule.http->Match(method, path, headers);
      if (decision.allowed) return Verdict{true, decision.rule, false, auth.name, MatchedRule(auth.label, decision.rule)};
      tried_http = true;
      if (detail.empty()) detail = MatchDetail(decision.reason, method, path);
    }
    if (tried_http) {
      deny.Offer(Stage::kHttpNoMatch,
                 std::string(method) + " " + Abbreviate(path) + " matches no HTTPRouteGroup rule of " + auth.label +
                     " for " + src.ToString() + (detail.empty() ? "" : ": " + detail),
                 auth.name);
    }
  }
  return deny.ToVerdict(false);
}

bool PolicyEvaluator::HasHttpRules(const Identity& dst, uint16_t port) const {
  const std::vector<CompiledAuthorization>* candidates = AuthorizationsFor(dst);
  if (candidates == nullptr) return false;
  for (const CompiledAuthorization& auth : *candidates) {
    if (auth.destination_port != 0 && auth.destination_port != port) continue;
    for (const CompiledRule& rule : auth.rules) {
      if (rule.is_http) return true;
    }
  }
  return false;
}

}  // namespace ferry::policy
