#include "agent/policy/explain.h"

#include <algorithm>
#include <set>

#include "agent/http/path_normalizer.h"

namespace ferry::policy {

namespace {

// IsReservedPort of agent/dispatch (which this library cannot depend on): the agent's own ports.
bool IsAgentPort(uint32_t port) { return port >= 15000 && port <= 15099; }

struct Context {
  const PolicyEvaluator& policy;
  const ExplainQuery& query;
  std::optional<Identity> source;      // nullopt: the source is outside the mesh
  std::optional<uint32_t> source_ip;
  std::optional<http::NormalizedTarget> request_target;  // the query's path, as the proxy normalises it
  std::string request_error;           // why the proxy would refuse the request itself (400/405)
};

ExplainVerdict Make(Decision decision, Branch branch, std::string reason, const Verdict* from = nullptr) {
  ExplainVerdict v;
  v.decision = decision;
  v.branch = branch;
  v.reason = std::move(reason);
  if (from != nullptr) {
    v.traffic_target = from->traffic_target;
    v.rule = from->rule;
  }
  return v;
}

// A request to a destination whose port carries HTTPRouteGroup rules (the proxy's HTTP session).
ExplainVerdict HttpVerdict(const Context& ctx, const Identity& src, const Identity& dst, uint16_t port,
                           const Verdict& l4) {
  if (ctx.query.method.empty()) {
    return Make(Decision::kNeedsRequest, Branch::kHttpPolicy,
                "HTTP rules apply to " + dst.ToString() + ":" + std::to_string(port) +
                    ": each request is decided by its method and path, give them to know (" + l4.reason + ")",
                &l4);
  }
  if (!ctx.request_error.empty()) return Make(Decision::kDeny, Branch::kBadRequest, ctx.request_error);
  Verdict v = ctx.policy.EvaluateHttp(src, dst, port, ctx.query.method, ctx.request_target->path, ctx.query.headers);
  return Make(v.allow ? Decision::kAllow : Decision::kDeny, Branch::kHttpPolicy, v.reason, &v);
}

// A connection from a mesh workload to `endpoint` (a pod IP and the port on it), as Outbound()
// decides it after any Service resolution: the same decision is taken by the destination's agent
// when the endpoint is on another node (the tunnel's OnLegRequest).
ExplainVerdict FromMesh(const Context& ctx, const Identity& src, Ipv4Endpoint endpoint) {
  const Identity* dst = ctx.policy.WorkloadIdentity(endpoint.addr);
  if (dst == nullptr) {
    if (ctx.policy.DenyEgress())
      return Make(Decision::kDeny, Branch::kEgress,
                  endpoint.ToString() + " is not a mesh workload and the mesh denies egress");
    return Make(Decision::kAllow, Branch::kEgress,
                endpoint.ToString() + " is not a mesh workload: the connection leaves the mesh (egress pass-through, "
                                      "no TrafficTarget applies)");
  }
  if (IsAgentPort(endpoint.port))
    return Make(Decision::kDeny, Branch::kReservedPort,
                "port " + std::to_string(endpoint.port) + " is reserved for the Ferry agent (15000-15099)");
  Verdict l4 = ctx.policy.EvaluateL4(src, *dst, endpoint.port);
  if (l4.allow) return Make(Decision::kAllow, Branch::kPolicy, l4.reason, &l4);
  if (!l4.needs_l7) return Make(Decision::kDeny, Branch::kPolicy, l4.reason, &l4);
  return HttpVerdict(ctx, src, *dst, endpoint.port, l4);
}

// Plaintext from outside the mesh, not captured at the source: Inbound() at a mesh destination.
ExplainVerdict FromOutside(const Context& ctx, Ipv4Endpoint endpoint) {
  const Identity* dst = ctx.policy.WorkloadIdentity(endpoint.addr);
  if (dst == nullptr)
    return Make(Decision::kAllow, Branch::kPassThrough,
                "neither the source nor " + endpoint.ToString() + " is in the mesh: Ferry is not involved");
  if (IsAgentPort(endpoint.port))
    return Make(Decision::kDeny, Branch::kReservedPort,
                "port " + std::to_string(endpoint.port) + " is reserved for the Ferry agent (15000-15099)");
  std::string from = ctx.source_ip ? FormatIpv4(*ctx.source_ip) : std::string("the source");
  if (ctx.source_ip && ctx.policy.IsInboundExempt(*ctx.source_ip))
    return Make(Decision::kAllow, Branch::kInboundPlaintext,
                from + " is exempt from inbound policy (e.g. a node's own address, for probes)");
  if (ctx.policy.Permissive())
    return Make(Decision::kAllow, Branch::kInboundPlaintext,
                "the mesh is permissive: plaintext from outside the mesh reaches " + dst->ToString());
  return Make(Decision::kDeny, Branch::kInboundPlaintext,
              "plaintext from " + from + " (outside the mesh) to " + dst->ToString() +
                  " is refused as unauthenticated: only mesh workloads reach it, over mTLS");
}

ExplainVerdict ForEndpoint(const Context& ctx, Ipv4Endpoint endpoint) {
  return ctx.source ? FromMesh(ctx, *ctx.source, endpoint) : FromOutside(ctx, endpoint);
}

// One verdict per distinct destination identity among `endpoints` (the non-mesh ones together):
// whichever endpoint a connection is given, its identity alone decides.
void AddEndpointVerdicts(const Context& ctx, const std::vector<Ipv4Endpoint>& endpoints, const std::string& backend,
                         uint32_t weight, std::vector<ExplainVerdict>& out) {
  std::map<std::string, size_t> by_identity;  // index into out
  for (Ipv4Endpoint endpoint : endpoints) {
    const Identity* id = ctx.policy.WorkloadIdentity(endpoint.addr);
    std::string key = id ? id->ToString() : "";
    auto it = by_identity.find(key);
    if (it == by_identity.end()) {
      ExplainVerdict v = ForEndpoint(ctx, endpoint);
      v.identity = key;
      v.port = endpoint.port;
      v.backend = backend;
      v.weight = weight;
      it = by_identity.emplace(key, out.size()).first;
      out.push_back(std::move(v));
    }
    out[it->second].endpoints.push_back(endpoint.ToString());
  }
}

const v1::Service* FindService(const PolicyEvaluator& policy, const std::string& ns, const std::string& name) {
  for (const v1::Service& svc : policy.snapshot().services())
    if (svc.namespace_() == ns && svc.name() == name) return &svc;
  return nullptr;
}

// "80 (http), 8080" — the TCP ports a service can be reached on.
std::string PortsOf(const v1::Service& svc) {
  std::string out;
  for (const v1::ServicePort& p : svc.ports()) {
    if (!p.protocol().empty() && p.protocol() != "TCP") continue;
    out += (out.empty() ? "" : ", ") + std::to_string(p.port()) + (p.name().empty() ? "" : " (" + p.name() + ")");
  }
  return out.empty() ? "none" : out;
}

Result<uint32_t> ServicePort(const v1::Service& svc, uint32_t port) {
  if (port != 0) return port;
  std::vector<uint32_t> tcp;
  for (const v1::ServicePort& p : svc.ports())
    if (p.protocol().empty() || p.protocol() == "TCP") tcp.push_back(p.port());
  if (tcp.size() == 1) return tcp.front();
  return MakeError("service " + svc.namespace_() + "/" + svc.name() + " has " +
                   (tcp.empty() ? std::string("no TCP port") : "several ports: " + PortsOf(svc)) +
                   "; say which (port=N, or --to NS/SVC:PORT)");
}

// A TrafficSplit root: one verdict per backend, each over its own endpoints (SplitRouter::Choose,
// or the per-connection split of a port declared not HTTP).
void ExplainSplit(const Context& ctx, const v1::TrafficSplit& split, uint32_t port, Explanation& out) {
  out.split = split.namespace_() + "/" + split.name();
  for (const v1::TrafficSplitBackend& backend : split.backends()) {
    const auto* target = ctx.policy.ResolveServicePort(split.namespace_(), backend.service(), port);
    if (target == nullptr || target->endpoints.empty()) {
      ExplainVerdict v = Make(Decision::kDeny, Branch::kNoEndpoints,
                              "TrafficSplit " + out.split + " backend " + backend.service() +
                                  (target == nullptr ? " has no port " + std::to_string(port) : " has no ready endpoint"));
      v.backend = backend.service();
      v.weight = backend.weight();
      out.verdicts.push_back(std::move(v));
      continue;
    }
    AddEndpointVerdicts(ctx, target->endpoints, backend.service(), backend.weight(), out.verdicts);
  }
}

Result<void> ExplainService(const Context& ctx, Explanation& out) {
  const ExplainQuery& q = ctx.query;
  const v1::Service* svc = FindService(ctx.policy, q.service_ns, q.service_name);
  if (svc == nullptr)
    return MakeError("no service " + q.service_ns + "/" + q.service_name + " in this agent's policy snapshot (version " +
                     std::to_string(ctx.policy.version()) + ")");
  auto resolved_port = ServicePort(*svc, q.port);
  if (!resolved_port.ok()) return resolved_port.error();
  uint32_t port = *resolved_port;
  out.destination = "service " + q.service_ns + "/" + q.service_name + ":" + std::to_string(port);
  const auto* target = ctx.policy.ResolveServicePort(q.service_ns, q.service_name, port);
  if (target == nullptr) {
    // The VIP is not resolved on that port: the connection goes nowhere.
    out.verdicts.push_back(Make(Decision::kDeny, Branch::kNoEndpoints,
                                "service " + q.service_ns + "/" + q.service_name + " has no port " +
                                    std::to_string(port) + " (its ports: " + PortsOf(*svc) + ")"));
    return Ok();
  }
  out.http_declared = target->http_declared;
  // Only a mesh source's agent resolves the VIP and applies the split; outside the mesh, the
  // name leads to an endpoint directly.
  const v1::TrafficSplit* split = ctx.source ? ctx.policy.SplitFor(target->ns, target->name) : nullptr;
  if (split != nullptr) {
    ExplainSplit(ctx, *split, port, out);
  } else if (target->endpoints.empty()) {
    out.verdicts.push_back(Make(Decision::kDeny, Branch::kNoEndpoints,
                                "service " + q.service_ns + "/" + q.service_name + " has no ready endpoint"));
  } else {
    AddEndpointVerdicts(ctx, target->endpoints, "", 0, out.verdicts);
  }
  return Ok();
}

// The overall decision: the same for every verdict that can be reached (a split backend with
// weight 0 never is), else "mixed" (it depends on the endpoint or backend a connection gets).
void Summarize(Explanation& out) {
  std::vector<const ExplainVerdict*> live;
  bool any_weight = std::any_of(out.verdicts.begin(), out.verdicts.end(), [](auto& v) { return v.weight > 0; });
  for (const auto& v : out.verdicts)
    if (out.split.empty() || v.weight > 0 || !any_weight) live.push_back(&v);
  if (live.empty()) return;
  out.decision = live.front()->decision;
  for (const auto* v : live)
    if (v->decision != out.decision) out.decision = Decision::kMixed;
  std::set<std::string> targets, rules;
  for (const auto* v : live) {
    if (!v->traffic_target.empty()) targets.insert(v->traffic_target);
    if (!v->rule.empty()) rules.insert(v->rule);
  }
  auto join = [](const std::set<std::string>& s) {
    std::string out;
    for (const auto& x : s) out += (out.empty() ? "" : ", ") + x;
    return out;
  };
  out.traffic_target = join(targets);
  out.rule = join(rules);
  if (live.size() == 1) {
    out.reason = live.front()->reason;
  } else {
    out.reason = std::to_string(live.size()) + (out.split.empty() ? " destination identities" : " backends") +
                 (out.decision == Decision::kMixed ? " decided differently" : ", all " + std::string(DecisionName(out.decision))) +
                 ": see verdicts";
  }
}

Result<void> Prepare(const PolicyEvaluator& policy, const ExplainQuery& query, Context& ctx, Explanation& out) {
  if (query.source_ip) {
    out.source_ip = FormatIpv4(*query.source_ip);
    if (const Identity* id = policy.WorkloadIdentity(*query.source_ip)) ctx.source = *id;
  } else if (query.source_identity) {
    ctx.source = *query.source_identity;
  } else {
    return MakeError("no source: give a pod IP or NS/SERVICEACCOUNT");
  }
  out.source_in_mesh = ctx.source.has_value();
  if (ctx.source) out.source_identity = ctx.source->ToString();
  if (query.method.empty() != query.path.empty()) return MakeError("a request needs both a method and a path");
  if (!query.method.empty()) {
    auto target = http::NormalizePath(query.path);
    if (!target.ok()) {
      ctx.request_error = "the proxy refuses the request (400): " + target.error().Message();
    } else {
      ctx.request_target = std::move(target).value();
    }
    if (query.method == "CONNECT") ctx.request_error = "the proxy refuses CONNECT through the mesh (405)";
  }
  return Ok();
}

}  // namespace

const char* DecisionName(Decision decision) {
  switch (decision) {
    case Decision::kAllow: return "allow";
    case Decision::kDeny: return "deny";
    case Decision::kNeedsRequest: return "needs-request";
    case Decision::kMixed: return "mixed";
  }
  return "deny";
}

const char* BranchName(Branch branch) {
  switch (branch) {
    case Branch::kPolicy: return "policy";
    case Branch::kHttpPolicy: return "http-policy";
    case Branch::kEgress: return "egress";
    case Branch::kInboundPlaintext: return "inbound-plaintext";
    case Branch::kPassThrough: return "pass-through";
    case Branch::kReservedPort: return "reserved-port";
    case Branch::kNoEndpoints: return "no-endpoints";
    case Branch::kBadRequest: return "bad-request";
  }
  return "policy";
}

Result<Explanation> Explain(const PolicyEvaluator& policy, const ExplainQuery& query) {
  Explanation out;
  out.policy_version = policy.version();
  out.method = query.method;
  out.path = query.path;
  Context ctx{policy, query, std::nullopt, query.source_ip, std::nullopt, {}};
  FERRY_TRY(Prepare(policy, query, ctx, out));
  if (!query.service_name.empty()) {
    FERRY_TRY(ExplainService(ctx, out));
  } else if (query.destination_ip) {
    if (query.port == 0 || query.port > 65535) return MakeError("a destination address needs a port (1-65535)");
    Ipv4Endpoint endpoint{*query.destination_ip, static_cast<uint16_t>(query.port)};
    out.destination = endpoint.ToString();
    AddEndpointVerdicts(ctx, {endpoint}, "", 0, out.verdicts);
  } else {
    return MakeError("no destination: give NS/SERVICE or a pod IP");
  }
  Summarize(out);
  return out;
}

}  // namespace ferry::policy
