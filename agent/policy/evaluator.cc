#include "agent/policy/evaluator.h"

#include <algorithm>

#include "common/ipv4.h"

namespace ferry::policy {
namespace {

// How far an authorization got before it failed to allow; the deepest one explains a deny best.
enum class Stage { kNoTarget, kSourceNotListed, kPortRestricted, kNoRule, kTcpPortsMismatch, kHttpOnly };

struct DenyExplanation {
  Stage stage = Stage::kNoTarget;
  std::string reason;

  void Offer(Stage s, std::string text) {
    if (!reason.empty() && s <= stage) return;
    stage = s;
    reason = std::move(text);
  }
};

std::string PortList(const std::vector<uint32_t>& ports) {
  std::string out;
  for (uint32_t p : ports) out += (out.empty() ? "" : ",") + std::to_string(p);
  return out;
}

}  // namespace

PolicyEvaluator::CompiledAuthorization PolicyEvaluator::CompileAuthorization(const v1::Authorization& auth) {
  CompiledAuthorization out;
  out.label = "TrafficTarget " + auth.namespace_() + "/" + auth.name();
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
    } else {
      continue;  // a rule with neither body allows nothing
    }
    out.rules.push_back(std::move(compiled));
  }
  return out;
}

PolicyEvaluator::PolicyEvaluator(v1::PolicySnapshot snapshot) : snapshot_(std::move(snapshot)) {
  for (const v1::Authorization& auth : snapshot_.authorizations()) {
    if (auth.destination().namespace_() != auth.namespace_()) {
      ++ignored_authorizations_;
      continue;
    }
    by_destination_[auth.namespace_()][auth.destination().name()].push_back(CompileAuthorization(auth));
  }
  for (const std::string& ip : snapshot_.mesh().inbound_exempt_ips()) {
    if (auto addr = ParseIpv4(ip)) inbound_exempt_ips_.insert(*addr);
  }
  std::map<std::string, uint32_t> ip_by_uid;
  for (const v1::Workload& w : snapshot_.workloads()) {
    if (auto addr = ParseIpv4(w.ip())) {
      workload_ips_[*addr] = Identity{w.namespace_(), w.service_account()};
      ip_by_uid[w.uid()] = *addr;
    }
  }
  for (const v1::Service& svc : snapshot_.services()) {
    auto vip = ParseIpv4(svc.vip());
    if (!vip) continue;
    for (const v1::ServicePort& port : svc.ports()) {
      if (port.port() == 0 || port.port() > 65535 || (!port.protocol().empty() && port.protocol() != "TCP")) continue;
      ServiceTarget target{svc.namespace_(), svc.name(), {}};
      uint32_t target_port = port.target_port() ? port.target_port() : port.port();
      for (const std::string& uid : svc.endpoint_uids()) {
        auto ip = ip_by_uid.find(uid);
        if (ip != ip_by_uid.end()) target.endpoints.push_back({ip->second, static_cast<uint16_t>(target_port)});
      }
      services_by_vip_[{*vip, static_cast<uint16_t>(port.port())}] = std::move(target);
    }
  }
}

const PolicyEvaluator::ServiceTarget* PolicyEvaluator::ResolveService(Ipv4Endpoint vip) const {
  auto it = services_by_vip_.find({vip.addr, vip.port});
  return it == services_by_vip_.end() ? nullptr : &it->second;
}

Verdict PolicyEvaluator::EvaluateL4(const Identity& src, const Identity& dst, uint16_t port) const {
  const std::vector<CompiledAuthorization>* candidates = nullptr;
  if (auto ns = by_destination_.find(dst.ns); ns != by_destination_.end()) {
    if (auto sa = ns->second.find(dst.service_account); sa != ns->second.end()) candidates = &sa->second;
  }
  if (candidates == nullptr) {
    return Verdict{false, "no TrafficTarget in namespace " + dst.ns + " for service account " + dst.service_account,
                   false};
  }
  DenyExplanation deny;
  const std::pair<std::string, std::string> source{src.ns, src.service_account};
  for (const CompiledAuthorization& auth : *candidates) {
    if (!std::binary_search(auth.sources.begin(), auth.sources.end(), source)) {
      deny.Offer(Stage::kSourceNotListed, "no TrafficTarget for " + dst.ToString() + " lists source " + src.ToString());
      continue;
    }
    if (auth.destination_port != 0 && auth.destination_port != port) {
      deny.Offer(Stage::kPortRestricted, auth.label + " allows " + src.ToString() + " only on port " +
                                             std::to_string(auth.destination_port) + ", not " + std::to_string(port));
      continue;
    }
    if (auth.rules.empty()) deny.Offer(Stage::kNoRule, auth.label + " has no rules");
    for (const CompiledRule& rule : auth.rules) {
      if (rule.is_http) {
        deny.Offer(Stage::kHttpOnly,
                   "L7 (HTTPRouteGroup) rules are not enforced yet: " + auth.label + " " + rule.label);
        continue;
      }
      if (rule.tcp_ports.empty() || std::binary_search(rule.tcp_ports.begin(), rule.tcp_ports.end(), port)) {
        return Verdict{true, "allowed by " + auth.label + " rule " + rule.label, false};
      }
      deny.Offer(Stage::kTcpPortsMismatch, "port " + std::to_string(port) + " is not in " + auth.label + " " +
                                               rule.label + " ports [" + PortList(rule.tcp_ports) + "]");
    }
  }
  return Verdict{false, deny.reason, deny.stage == Stage::kHttpOnly};
}

}  // namespace ferry::policy
