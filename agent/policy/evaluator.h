// Deny-by-default SMI access evaluation over one immutable PolicySnapshot: per connection (L4)
// and per HTTP request (HTTPRouteGroup rules), plus the service and TrafficSplit lookups the
// proxy needs to route. Indexes and regexes are built once at construction; every query is const
// and safe on any number of threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "agent/http/http_message.h"
#include "agent/http/route_matcher.h"
#include "common/ipv4.h"
#include "ferry/v1/policy.pb.h"

namespace ferry::policy {

// A workload identity: Kubernetes namespace + service account (the SPIFFE ns/sa pair).
struct Identity {
  std::string ns;
  std::string service_account;

  std::string ToString() const { return ns + "/" + service_account; }
  bool operator==(const Identity&) const = default;
};

struct Verdict {
  bool allow = false;
  // Allowed: names the TrafficTarget and the rule. Denied: why, e.g.
  // "no TrafficTarget in namespace X for service account Y".
  std::string reason;
  // EvaluateL4 only: denied because the rules that could allow are HTTP (HTTPRouteGroup) rules,
  // which need the request to decide. A caller that cannot read HTTP requests keeps the deny
  // (fail closed); an HTTP proxy asks EvaluateHttp per request instead.
  bool needs_l7 = false;
  // What decided, for operators (`ferryctl policy explain`). Allowed: the TrafficTarget
  // ("ns/name") and its rule ("TCPRoute name", "HTTPRouteGroup ns/name match m") that allowed.
  // Denied: the TrafficTarget (and rule) that came closest, empty when none lists the source.
  std::string traffic_target;
  std::string rule;
};

class PolicyEvaluator {
 public:
  explicit PolicyEvaluator(v1::PolicySnapshot snapshot);
  PolicyEvaluator(const PolicyEvaluator&) = delete;
  PolicyEvaluator& operator=(const PolicyEvaluator&) = delete;

  // Allow iff some Authorization in dst's namespace has destination dst, lists src among its
  // sources, has destination_port 0 or == port, and has a TCP rule whose ports are empty or
  // contain port. Policy is additive; no matching authorization = deny. `port` is the port on
  // the destination workload (after a Service's port -> targetPort translation).
  Verdict EvaluateL4(const Identity& src, const Identity& dst, uint16_t port) const;

  // One HTTP request. Same Authorization selection as EvaluateL4 (destination dst, src among the
  // sources, destination_port 0 or == port); allow iff one of them has a TCP rule allowing
  // `port` (L4 already allows the whole connection) or an HTTP rule one of whose matches allows
  // (method, path, headers). `port` is the destination workload's port, as for EvaluateL4;
  // `path` is the normalised path without the query. An HTTP rule with
  // an invalid regex never allows (fail closed). needs_l7 is always false: this decides.
  Verdict EvaluateHttp(const Identity& src, const Identity& dst, uint16_t port, std::string_view method,
                       std::string_view path, std::span<const http::Header> headers) const;
  // True when some Authorization for dst that applies to `port` (destination_port 0 or == port)
  // has an HTTP rule, whatever its sources: the port then carries HTTP and L7 enforcement applies.
  bool HasHttpRules(const Identity& dst, uint16_t port) const;
  // HTTP rules skipped because a regex did not compile (logged once, at construction).
  size_t invalid_http_rules() const { return invalid_http_rules_; }

  const v1::PolicySnapshot& snapshot() const { return snapshot_; }
  uint64_t version() const { return snapshot_.version(); }
  // Authorizations skipped because their destination is outside their own namespace (a
  // TrafficTarget counts only in its destination's namespace; the compiler never emits these).
  size_t ignored_authorizations() const { return ignored_authorizations_; }

  // Mesh config, indexed once per snapshot for the data path (addresses in host byte order).
  bool Permissive() const { return snapshot_.mesh().permissive(); }
  bool DenyEgress() const { return snapshot_.mesh().deny_egress(); }
  bool IsInboundExempt(uint32_t ip) const { return inbound_exempt_ips_.count(ip) > 0; }
  // True when ip belongs to a workload the control plane says is in the mesh (any node).
  bool IsMeshWorkloadIp(uint32_t ip) const { return workload_ips_.count(ip) > 0; }
  // The identity of the mesh workload at `ip` (any node); nullptr when it is not one.
  const Identity* WorkloadIdentity(uint32_t ip) const {
    auto it = workload_ips_.find(ip);
    return it == workload_ips_.end() ? nullptr : &it->second;
  }
  const std::string& TrustDomain() const { return snapshot_.mesh().trust_domain(); }

  // A Service's VIP and port, resolved to the endpoints behind it (pod IP and target port).
  struct ServiceTarget {
    std::string ns;
    std::string name;
    std::vector<Ipv4Endpoint> endpoints;  // empty: the service selects no ready pod
    uint32_t port = 0;                    // the service port (endpoints carry the target port)
    std::string port_name;
    std::string app_protocol;
    // The port says it carries HTTP/1: appProtocol "http" (any case); or, when appProtocol is
    // not set, a port name "http" or "http-..." (the Kubernetes/Istio naming convention). A set
    // appProtocol wins over the name, as in Istio.
    bool http_declared = false;
  };
  // nullptr when vip:port is not a service port.
  const ServiceTarget* ResolveService(Ipv4Endpoint vip) const;
  // The TCP port `port` (the service port, not the target port) of service ns/service; nullptr
  // when there is no such service or port. No guessing: a single-port service is not assumed.
  // Services without a VIP (headless) resolve here too.
  const ServiceTarget* ResolveServicePort(std::string_view ns, std::string_view service, uint32_t port) const;
  // The TrafficSplit whose root service is ns/root_service (a bare name), or nullptr. Backends
  // name bare services in the split's namespace (the controller normalises both).
  const v1::TrafficSplit* SplitFor(std::string_view ns, std::string_view root_service) const;

 private:
  struct CompiledRule {
    std::string label;  // "TCPRoute db-ports"
    bool is_http = false;
    std::vector<uint32_t> tcp_ports;  // sorted; empty = all ports
    // HTTP rules: compiled once here, never per request. Null when a regex is invalid: then the
    // rule allows nothing.
    std::unique_ptr<http::RouteMatcher> http;
  };
  struct CompiledAuthorization {
    std::string label;  // "TrafficTarget ns/name"
    std::string name;   // "ns/name"
    std::string ns;     // the TrafficTarget's namespace (its routes live there too)
    std::vector<std::pair<std::string, std::string>> sources;  // sorted (ns, sa)
    uint32_t destination_port = 0;
    std::vector<CompiledRule> rules;
  };
  // namespace -> service account -> authorizations whose destination it is. Transparent
  // comparators let lookups use the caller's strings without copying them.
  using BySa = std::map<std::string, std::vector<CompiledAuthorization>, std::less<>>;
  using ByNamespace = std::map<std::string, BySa, std::less<>>;

  static CompiledAuthorization CompileAuthorization(const v1::Authorization& auth);
  static std::unique_ptr<http::RouteMatcher> CompileHttpRule(const CompiledAuthorization& auth,
                                                             const v1::AuthorizationRule& rule);
  // The authorizations whose destination is dst; nullptr when none.
  const std::vector<CompiledAuthorization>* AuthorizationsFor(const Identity& dst) const;
  void IndexServices();

  v1::PolicySnapshot snapshot_;
  // (namespace, name, port). std::less<> compares against string_view tuples without copying.
  using ServiceKey = std::tuple<std::string, std::string, uint32_t>;
  using SplitKey = std::tuple<std::string, std::string>;

  ByNamespace by_destination_;
  size_t ignored_authorizations_ = 0;
  size_t invalid_http_rules_ = 0;
  std::set<uint32_t> inbound_exempt_ips_;
  std::map<uint32_t, Identity> workload_ips_;
  std::map<ServiceKey, ServiceTarget, std::less<>> services_by_name_;
  std::map<std::pair<uint32_t, uint16_t>, const ServiceTarget*> services_by_vip_;  // into services_by_name_
  std::map<SplitKey, const v1::TrafficSplit*, std::less<>> splits_by_root_;       // into snapshot_
};

}  // namespace ferry::policy
