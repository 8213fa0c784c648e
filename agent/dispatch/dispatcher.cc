#include "agent/dispatch/dispatcher.h"

#include <spdlog/spdlog.h>

#include <linux/types.h>

#include "agent/http/http_session.h"
#include "bpf/ferry_abi.h"  // FERRY_PORT_TUNNEL

namespace ferry::dispatch {

namespace {

policy::Identity IdentityOf(const inpod::EnrolledPod& pod) {
  return policy::Identity{pod.spec.namespace_name, pod.spec.service_account};
}

class EndpointOpener : public proxy::UpstreamOpener {
 public:
  EndpointOpener(Dispatcher& dispatcher, UpstreamSide side, std::string pod_key)
      : dispatcher_(dispatcher), side_(side), pod_key_(std::move(pod_key)) {}
  proxy::Decision Open(const std::string& key) override { return dispatcher_.OpenUpstream(side_, pod_key_, key); }

 private:
  Dispatcher& dispatcher_;
  UpstreamSide side_;
  std::string pod_key_;
};

// A connection's info with its source filled in from the pod it comes from.
std::shared_ptr<proxy::ConnectionInfo> InfoFromSource(const inpod::EnrolledPod& source) {
  auto info = std::make_shared<proxy::ConnectionInfo>();
  info->source = source.spec.Key();
  info->source_ns = source.spec.namespace_name;
  info->source_sa = source.spec.service_account;
  return info;
}

bool IsHttpKind(const std::string& kind) { return kind == kKindHttp || kind == kKindHttpUpstream; }

// The source of a connection that came through the tunnel is the peer's SPIFFE id.
bool FromTunnel(const proxy::ConnectionInfo& info) { return info.source.starts_with("spiffe://"); }

// Which ends of a connection this agent reports in metrics. A same-node connection is reported
// as both (this agent is both ends); upstream relays behind an HTTP session are not reported:
// their bytes are the session's, counted on its client connection.
struct Reporters {
  bool source = false;
  bool destination = false;
};
Reporters ReportersOf(const proxy::ConnectionInfo& info) {
  if (info.kind == kKindLocal) return {true, true};
  if (info.kind == kKindRemote || info.kind == kKindEgress) return {true, false};
  if (info.kind == kKindInbound || info.kind == kKindTunnel) return {false, true};
  if (info.kind == kKindHttp) {
    if (FromTunnel(info)) return {false, true};
    // To a pod on this node (its identity is known) or to a TrafficSplit root (it is not).
    return {true, !info.destination_sa.empty()};
  }
  return {};
}

// Calls report(labels) once per end this agent reports, with labels.reporter set to that end;
// the rest of the labels are the connection's and the same for both.
template <typename Report>
void ForEachReportingEnd(Reporters reporters, metrics::TrafficLabels& labels, Report report) {
  if (reporters.source) {
    labels.reporter = metrics::Reporter::kSource;
    report(labels);
  }
  if (reporters.destination) {
    labels.reporter = metrics::Reporter::kDestination;
    report(labels);
  }
}

}  // namespace

const char* DenyReasonName(DenyReason reason) {
  switch (reason) {
    case DenyReason::kNoOriginalDestination: return "no_original_destination";
    case DenyReason::kPolicy: return "policy";
    case DenyReason::kUnauthenticated: return "unauthenticated";
    case DenyReason::kReservedPort: return "reserved_port";
    case DenyReason::kEgressDenied: return "egress_denied";
    case DenyReason::kUnknownListener: return "unknown_listener";
    case DenyReason::kNoEndpoints: return "no_endpoints";
    case DenyReason::kNoCertificate: return "no_certificate";
    case DenyReason::kPeerIdentity: return "peer_identity";
    case DenyReason::kInternalError: return "internal_error";
    case DenyReason::kCount: break;
  }
  return "unknown";
}

Dispatcher::Dispatcher(const inpod::PodRegistry& pods, policy::PolicyStore& policy,
                       OriginalDestinations& orig_dsts, SocketFactory& sockets, TunnelLegs* tunnels)
    : pods_(pods), policy_(policy), orig_dsts_(orig_dsts), sockets_(sockets), tunnels_(tunnels) {}

proxy::Decision Dispatcher::Deny(DenyReason reason, std::string detail) {
  counters_.denied[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  if (metrics_ != nullptr) metrics_->Denied(DenyReasonName(reason));
  if (access_log_ != nullptr) access_log_->Refused(DenyReasonName(reason), detail);
  spdlog::debug("deny ({}): {}", DenyReasonName(reason), detail);
  return proxy::DenyPlan{std::string(DenyReasonName(reason)) + ": " + detail};
}

proxy::Decision Dispatcher::OnAccept(const proxy::AcceptedConnection& conn) {
  auto pod = pods_.ByListener(conn.listener_id);
  if (!pod) return Deny(DenyReason::kUnknownListener, "listener " + std::to_string(conn.listener_id));
  if (conn.listener_id == pod->outbound_listener_id) return RecordOpened(Outbound(conn, *pod), false);
  // A tunnel connection is counted when its request is allowed (OnLegRequest).
  if (conn.listener_id == pod->tunnel_listener_id) return TunnelAccept(*pod);
  return RecordOpened(Inbound(conn, *pod), false);
}

proxy::Decision Dispatcher::Outbound(const proxy::AcceptedConnection& conn, const inpod::EnrolledPod& source) {
  auto orig = orig_dsts_.Take(source.netns_cookie, conn.peer);
  if (!orig.ok()) return Deny(DenyReason::kInternalError, orig.error().Message());
  if (!orig->has_value())
    return Deny(DenyReason::kNoOriginalDestination, "from " + conn.peer.ToString() + " in " + source.spec.Key());
  Ipv4Endpoint target = **orig;
  auto current = policy_.Current();
  if (const auto* service = current->ResolveService(target)) {
    const auto* split = current->SplitFor(service->ns, service->name);
    if (split != nullptr && !service->app_protocol.empty() && !service->http_declared) {
      // Declared not HTTP (e.g. appProtocol: tcp): split once per connection, no session, no
      // waiting for the client's first bytes (server-speaks-first protocols work).
      std::string backend = split_pickers_.Pick(*split);
      service = backend.empty() ? nullptr : current->ResolveServicePort(service->ns, backend, target.port);
      if (service == nullptr)
        return Deny(DenyReason::kNoEndpoints, "TrafficSplit " + split->namespace_() + "/" + split->name() +
                                                  ": no backend port " + std::to_string(target.port));
    } else if (split != nullptr) {
      return SplitConnection(source, *service, target.port);
    }
    if (service->endpoints.empty())
      return Deny(DenyReason::kNoEndpoints, "service " + service->ns + "/" + service->name + " (" + target.ToString() + ")");
    target = PickEndpoint(*service);
    counters_.service_resolved.fetch_add(1, std::memory_order_relaxed);
  }

  auto info = InfoFromSource(source);
  info->destination_port = target.port;
  info->destination = target.ToString();

  auto dest = pods_.ByIp(target.addr);
  if (dest) {
    if (IsReservedPort(target.port))
      return Deny(DenyReason::kReservedPort, source.spec.Key() + " -> " + target.ToString());
    auto verdict = current->EvaluateL4(IdentityOf(source), IdentityOf(*dest), target.port);
    info->destination = dest->spec.Key();
    info->destination_ns = dest->spec.namespace_name;
    info->destination_sa = dest->spec.service_account;
    if (!verdict.allow && verdict.needs_l7) return HttpToDestination(IdentityOf(source), *dest, target, std::move(info));
    if (!verdict.allow)
      return Deny(DenyReason::kPolicy, source.spec.Key() + " -> " + dest->spec.Key() + ":" +
                                           std::to_string(target.port) + ": " + verdict.reason);
    info->kind = kKindLocal;
    counters_.local_allowed.fetch_add(1, std::memory_order_relaxed);
    return Forward(*dest, target, std::move(info));
  }

  if (const policy::Identity* remote = current->WorkloadIdentity(target.addr)) {
    if (IsReservedPort(target.port))
      return Deny(DenyReason::kReservedPort, source.spec.Key() + " -> " + target.ToString());
    info->kind = kKindRemote;
    info->destination_ns = remote->ns;
    info->destination_sa = remote->service_account;
    if (tunnels_) return Remote(source, target, *remote, std::move(info));
    // Standalone mode has no identities: the destination denies this plaintext as
    // unauthenticated, so it never reaches a mesh pod unmeshed.
    counters_.remote_plaintext.fetch_add(1, std::memory_order_relaxed);
  } else {
    if (current->DenyEgress())
      return Deny(DenyReason::kEgressDenied, source.spec.Key() + " -> " + target.ToString());
    info->kind = kKindEgress;
    counters_.egress.fetch_add(1, std::memory_order_relaxed);
  }
  return Forward(source, target, std::move(info));
}

proxy::Decision Dispatcher::Remote(const inpod::EnrolledPod& source, Ipv4Endpoint target,
                                   const policy::Identity& dest, std::shared_ptr<proxy::ConnectionInfo> info) {
  auto leg = tunnels_->Client(source, dest, target);
  if (!leg.ok()) return Deny(DenyReason::kNoCertificate, source.spec.Key() + ": " + leg.error().Message());
  auto sock = sockets_.CreateIn(source);
  if (!sock.ok()) return Deny(DenyReason::kInternalError, "upstream socket in " + source.spec.Key() + ": " + sock.error().Message());
  counters_.remote_tunnel.fetch_add(1, std::memory_order_relaxed);
  proxy::ForwardPlan plan{std::move(sock).value(), Ipv4Endpoint{target.addr, FERRY_PORT_TUNNEL}, std::move(info)};
  plan.upstream_leg = std::move(leg).value();
  return plan;
}

proxy::Decision Dispatcher::TunnelAccept(const inpod::EnrolledPod& dest) {
  if (!tunnels_) return Deny(DenyReason::kNoCertificate, "no tunnel on " + dest.spec.Key());
  auto leg = tunnels_->Server(dest);
  if (!leg.ok()) return Deny(DenyReason::kNoCertificate, dest.spec.Key() + ": " + leg.error().Message());
  auto info = std::make_shared<proxy::ConnectionInfo>();
  info->destination = dest.spec.Key();
  info->destination_ns = dest.spec.namespace_name;
  info->destination_sa = dest.spec.service_account;
  info->kind = kKindTunnel;
  return proxy::AcceptLegPlan{std::move(leg).value(), std::move(info)};
}

// The leg has verified the peer's certificate and checked that the CONNECT target is this pod's
// own IP and not a mesh port; what is left is the policy, with the identity from the certificate.
proxy::Decision Dispatcher::OnLegRequest(const proxy::AcceptedConnection& conn, const proxy::LegRequest& request,
                                         const proxy::ConnectionInfo& accepted) {
  auto dest = pods_.ByListener(conn.listener_id);
  if (!dest || dest->tunnel_listener_id != conn.listener_id || request.target.addr != dest->spec.ip)
    return Deny(DenyReason::kUnknownListener, "tunnel to " + request.target.ToString() + " on listener " +
                                                  std::to_string(conn.listener_id));
  if (IsReservedPort(request.target.port))
    return Deny(DenyReason::kReservedPort, request.peer_identity + " -> " + request.target.ToString());
  auto peer = tunnels_ ? tunnels_->PeerIdentity(request.peer_identity) : Result<policy::Identity>(MakeError("no tunnel"));
  if (!peer.ok()) return Deny(DenyReason::kPeerIdentity, request.peer_identity + ": " + peer.error().Message());
  auto verdict = policy_.Current()->EvaluateL4(*peer, IdentityOf(*dest), request.target.port);
  auto info = std::make_shared<proxy::ConnectionInfo>(accepted);
  info->source = request.peer_identity;
  info->source_ns = peer->ns;
  info->source_sa = peer->service_account;
  info->destination_port = request.target.port;
  if (!verdict.allow && verdict.needs_l7)
    return RecordOpened(HttpToDestination(*peer, *dest, request.target, std::move(info)), true);
  if (!verdict.allow)
    return Deny(DenyReason::kPolicy, peer->ToString() + " -> " + dest->spec.Key() + ":" +
                                         std::to_string(request.target.port) + ": " + verdict.reason);
  counters_.tunnel_allowed.fetch_add(1, std::memory_order_relaxed);
  return RecordOpened(Forward(*dest, request.target, std::move(info)), true);
}

Ipv4Endpoint Dispatcher::PickEndpoint(const policy::PolicyEvaluator::ServiceTarget& service) {
  uint64_t n = next_endpoint_.fetch_add(1, std::memory_order_relaxed);
  return service.endpoints[n % service.endpoints.size()];
}

proxy::Decision Dispatcher::Inbound(const proxy::AcceptedConnection& conn, const inpod::EnrolledPod& dest) {
  // sk_lookup steered this here; getsockname() of the accepted socket is what the client dialled.
  Ipv4Endpoint target = conn.local;
  if (target.addr != dest.spec.ip || IsReservedPort(target.port))
    return Deny(DenyReason::kReservedPort, conn.peer.ToString() + " -> " + target.ToString());
  auto current = policy_.Current();
  bool exempt = current->IsInboundExempt(conn.peer.addr);
  if (!exempt && !current->Permissive())
    return Deny(DenyReason::kUnauthenticated, "plaintext from " + conn.peer.ToString() + " to " + dest.spec.Key() +
                                                  ":" + std::to_string(target.port));
  auto info = std::make_shared<proxy::ConnectionInfo>();
  info->source = conn.peer.ToString();
  info->destination = dest.spec.Key();
  info->destination_ns = dest.spec.namespace_name;
  info->destination_sa = dest.spec.service_account;
  info->destination_port = target.port;
  info->kind = kKindInbound;
  counters_.inbound_exempt.fetch_add(1, std::memory_order_relaxed);
  return Forward(dest, target, std::move(info));
}

proxy::Decision Dispatcher::Forward(const inpod::EnrolledPod& socket_pod, Ipv4Endpoint target,
                                    std::shared_ptr<proxy::ConnectionInfo> info) {
  auto sock = sockets_.CreateIn(socket_pod);
  if (!sock.ok()) return Deny(DenyReason::kInternalError, "upstream socket in " + socket_pod.spec.Key() + ": " + sock.error().Message());
  return proxy::ForwardPlan{std::move(sock).value(), target, std::move(info)};
}

proxy::Decision Dispatcher::HttpToDestination(const policy::Identity& source, const inpod::EnrolledPod& dest,
                                              Ipv4Endpoint target, std::shared_ptr<proxy::ConnectionInfo> info) {
  info->kind = kKindHttp;
  counters_.http_enforced.fetch_add(1, std::memory_order_relaxed);
  auto router = std::make_shared<DestinationRouter>(policy_, source, IdentityOf(dest), target.port, EndpointKey(target),
                                                    RouterMetricsFor(*info));
  // HTTP rules make the port HTTP: whatever else the client speaks is refused (RouteStream).
  auto session = std::make_unique<http::HttpSession>(std::move(router), http::HttpSessionOptions{});
  auto opener = std::make_shared<EndpointOpener>(*this, UpstreamSide::kIntoDestination, dest.spec.Key());
  return proxy::L7Plan{std::move(session), std::move(opener), std::move(info)};
}

proxy::Decision Dispatcher::SplitConnection(const inpod::EnrolledPod& source,
                                            const policy::PolicyEvaluator::ServiceTarget& root, uint16_t port) {
  auto info = InfoFromSource(source);
  info->destination = root.ns + "/" + root.name;
  info->destination_ns = root.ns;
  info->destination_port = port;
  info->kind = kKindHttp;
  counters_.http_split.fetch_add(1, std::memory_order_relaxed);
  auto router = std::make_shared<SplitRouter>(policy_, pods_, split_pickers_, IdentityOf(source), root.ns, root.name,
                                              info->destination_port, RouterMetricsFor(*info));
  http::HttpSessionOptions options;
  // A port declared HTTP is HTTP; otherwise the first bytes decide (TCP is split per connection).
  options.sniff = !root.http_declared;
  auto session = std::make_unique<http::HttpSession>(std::move(router), std::move(options));
  auto opener = std::make_shared<EndpointOpener>(*this, UpstreamSide::kFromSource, source.spec.Key());
  return proxy::L7Plan{std::move(session), std::move(opener), std::move(info)};
}

proxy::Decision Dispatcher::OpenUpstream(UpstreamSide side, const std::string& pod_key, const std::string& key) {
  auto target = ParseIpv4Endpoint(key);
  if (!target) return Deny(DenyReason::kInternalError, "bad upstream key " + key);
  auto pod = pods_.ByKey(pod_key);
  if (!pod) return Deny(DenyReason::kUnknownListener, pod_key + " left the mesh");
  if (side == UpstreamSide::kIntoDestination && target->addr != pod->spec.ip)
    return Deny(DenyReason::kInternalError, key + " is not " + pod_key);
  // Into a destination, the pod is the far end, not the source: only its key is recorded.
  auto info = side == UpstreamSide::kFromSource ? InfoFromSource(*pod) : std::make_shared<proxy::ConnectionInfo>();
  info->source = pod->spec.Key();
  info->destination = key;
  info->destination_port = target->port;
  info->kind = kKindHttpUpstream;
  if (side == UpstreamSide::kIntoDestination) return Forward(*pod, *target, std::move(info));
  if (auto dest = pods_.ByIp(target->addr)) {
    info->destination = dest->spec.Key();
    return Forward(*dest, *target, std::move(info));
  }
  auto current = policy_.Current();
  if (const policy::Identity* remote = current->WorkloadIdentity(target->addr)) {
    info->destination_ns = remote->ns;
    info->destination_sa = remote->service_account;
    if (tunnels_) return Remote(*pod, *target, *remote, std::move(info));
  }
  return Forward(*pod, *target, std::move(info));
}

void Dispatcher::OnClosed(const proxy::ConnectionInfo& info, const proxy::ConnectionStats& stats) {
  spdlog::debug("closed {} {} -> {} ({}): {} B out, {} B back, {}", info.kind, info.source, info.destination,
                info.destination_port, stats.bytes_client_to_upstream, stats.bytes_upstream_to_client,
                proxy::CloseReasonName(stats.reason));
  if (metrics_ == nullptr) return;
  // A tunnel connection refused at its request (or whose handshake failed) was never opened.
  if (info.kind == kKindTunnel && info.source_sa.empty()) return;
  // An HTTP session behind a tunnel leg closes twice with the same info: the leg's close (with
  // its TLS mode) is the one that counts.
  if (info.kind == kKindHttp && FromTunnel(info) && stats.tls_mode == "none") return;
  Reporters reporters = ReportersOf(info);
  auto security = metrics::SecurityFromTlsMode(stats.tls_mode);
  auto labels = LabelsFor(info, metrics::Reporter::kSource);
  ForEachReportingEnd(reporters, labels, [&](const metrics::TrafficLabels& l) {
    metrics_->ConnectionClosed(l, security, stats.bytes_client_to_upstream, stats.bytes_upstream_to_client);
  });
  if (access_log_ == nullptr) return;
  LogClosed(info, stats,
            reporters.source && reporters.destination ? metrics::LoggedEnds::kBoth
            : reporters.source                        ? metrics::LoggedEnds::kSource
                                                      : metrics::LoggedEnds::kDestination,
            std::move(labels));
}

void Dispatcher::LogClosed(const proxy::ConnectionInfo& info, const proxy::ConnectionStats& stats,
                           metrics::LoggedEnds ends, metrics::TrafficLabels labels) {
  metrics::ConnectionLogEntry entry;
  entry.ends = ends;
  entry.source = std::move(labels.source);
  entry.destination = std::move(labels.destination);
  entry.source_address = info.source;
  entry.destination_address = info.destination;
  entry.destination_port = info.destination_port;
  entry.tls_mode = stats.tls_mode;
  entry.bytes_from_client = stats.bytes_client_to_upstream;
  entry.bytes_to_client = stats.bytes_upstream_to_client;
  entry.duration = stats.duration;
  entry.close_reason = proxy::CloseReasonName(stats.reason);
  access_log_->Connection(entry);
}

proxy::Decision Dispatcher::RecordOpened(proxy::Decision decision, bool client_leg) {
  if (metrics_ == nullptr) return decision;
  const proxy::ConnectionInfo* info = nullptr;
  bool upstream_leg = false;
  if (const auto* forward = std::get_if<proxy::ForwardPlan>(&decision)) {
    info = forward->info.get();
    upstream_leg = forward->upstream_leg != nullptr;
  } else if (const auto* l7 = std::get_if<proxy::L7Plan>(&decision)) {
    info = l7->info.get();
  }
  if (info == nullptr) return decision;
  auto security = client_leg || upstream_leg ? metrics::ConnectionSecurity::kMtls : metrics::ConnectionSecurity::kNone;
  Reporters reporters = ReportersOf(*info);
  auto labels = LabelsFor(*info, metrics::Reporter::kSource);
  ForEachReportingEnd(reporters, labels, [&](const metrics::TrafficLabels& l) { metrics_->ConnectionOpened(l, security); });
  return decision;
}

metrics::TrafficLabels Dispatcher::LabelsFor(const proxy::ConnectionInfo& info, metrics::Reporter reporter) const {
  auto current = policy_.Current();
  metrics::TrafficLabels labels;
  labels.reporter = reporter;
  labels.source =
      metrics::PeerFor(info.source, info.source_ns, info.source_sa, metrics_->workloads(), current->snapshot());
  labels.destination = metrics::PeerFor(info.destination, info.destination_ns, info.destination_sa,
                                        metrics_->workloads(), current->snapshot());
  return labels;
}

RouterMetrics Dispatcher::RouterMetricsFor(const proxy::ConnectionInfo& info) const {
  if (metrics_ == nullptr) return {};
  auto labels = LabelsFor(info, metrics::Reporter::kDestination);
  return RouterMetrics{metrics_, std::move(labels.source), std::move(labels.destination), !FromTunnel(info),
                       access_log_};
}

bool Dispatcher::NoLongerAllowed(const proxy::ConnectionInfo& info) const {
  auto current = policy_.Current();
  // Each request is checked against the policy of its moment; only a pod leaving ends these.
  if (IsHttpKind(info.kind)) return !pods_.ByKey(info.source) && !pods_.ByKey(info.destination);
  if (info.kind == kKindLocal) {
    auto src = pods_.ByKey(info.source);
    auto dst = pods_.ByKey(info.destination);
    if (!src || !dst) return true;  // a pod left the mesh: its connections go with it
    return !current->EvaluateL4(IdentityOf(*src), IdentityOf(*dst), info.destination_port).allow;
  }
  if (info.kind == kKindInbound) {
    if (!pods_.ByKey(info.destination)) return true;
    auto peer = ParseIpv4Endpoint(info.source);
    return !current->Permissive() && !(peer && current->IsInboundExempt(peer->addr));
  }
  if (info.kind == kKindEgress) return current->DenyEgress() || !pods_.ByKey(info.source);
  if (info.kind == kKindTunnel) {
    auto dst = pods_.ByKey(info.destination);
    if (!dst) return true;
    if (info.destination_port == 0) return false;  // still in setup: decided when the request arrives
    policy::Identity src{info.source_ns, info.source_sa};
    return !current->EvaluateL4(src, IdentityOf(*dst), info.destination_port).allow;
  }
  return !pods_.ByKey(info.source);
}

}  // namespace ferry::dispatch
