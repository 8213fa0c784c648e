// Deny-by-default SMI access evaluation at L4 over one immutable PolicySnapshot.
// Indexes are built once at construction; EvaluateL4 is const and safe on any number of threads.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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
  // Denied only because the rules that could allow are HTTP (HTTPRouteGroup) rules, which need
  // the request to decide. L7 is not enforced yet, so this is a deny (fail closed).
  bool needs_l7 = false;
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
  };
  // nullptr when vip:port is not a service port.
  const ServiceTarget* ResolveService(Ipv4Endpoint vip) const;

 private:
  struct CompiledRule {
    std::string label;  // "TCPRoute db-ports"
    bool is_http = false;
    std::vector<uint32_t> tcp_ports;  // sorted; empty = all ports
  };
  struct CompiledAuthorization {
    std::string label;  // "TrafficTarget ns/name"
    std::vector<std::pair<std::string, std::string>> sources;  // sorted (ns, sa)
    uint32_t destination_port = 0;
    std::vector<CompiledRule> rules;
  };
  // namespace -> service account -> authorizations whose destination it is. Transparent
  // comparators let lookups use the caller's strings without copying them.
  using BySa = std::map<std::string, std::vector<CompiledAuthorization>, std::less<>>;
  using ByNamespace = std::map<std::string, BySa, std::less<>>;

  static CompiledAuthorization CompileAuthorization(const v1::Authorization& auth);

  v1::PolicySnapshot snapshot_;
  ByNamespace by_destination_;
  size_t ignored_authorizations_ = 0;
  std::set<uint32_t> inbound_exempt_ips_;
  std::map<uint32_t, Identity> workload_ips_;
  std::map<std::pair<uint32_t, uint16_t>, ServiceTarget> services_by_vip_;
};

}  // namespace ferry::policy
