#include "agent/dispatch/dispatcher.h"

#include <spdlog/spdlog.h>

namespace ferry::dispatch {

namespace {

policy::Identity IdentityOf(const inpod::EnrolledPod& pod) {
  return policy::Identity{pod.spec.namespace_name, pod.spec.service_account};
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
    case DenyReason::kInternalError: return "internal_error";
    case DenyReason::kCount: break;
  }
  return "unknown";
}

Dispatcher::Dispatcher(const inpod::PodRegistry& pods, policy::PolicyStore& policy,
                       OriginalDestinations& orig_dsts, SocketFactory& sockets)
    : pods_(pods), policy_(policy), orig_dsts_(orig_dsts), sockets_(sockets) {}

proxy::Decision Dispatcher::Deny(DenyReason reason, std::string detail) {
  counters_.denied[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  spdlog::debug("deny ({}): {}", DenyReasonName(reason), detail);
  return proxy::DenyPlan{std::string(DenyReasonName(reason)) + ": " + detail};
}

proxy::Decision Dispatcher::OnAccept(const proxy::AcceptedConnection& conn) {
  auto pod = pods_.ByListener(conn.listener_id);
  if (!pod) return Deny(DenyReason::kUnknownListener, "listener " + std::to_string(conn.listener_id));
  if (conn.listener_id == pod->outbound_listener_id) return Outbound(conn, *pod);
  return Inbound(conn, *pod);
}

proxy::Decision Dispatcher::Outbound(const proxy::AcceptedConnection& conn, const inpod::EnrolledPod& source) {
  auto orig = orig_dsts_.Take(source.netns_cookie, conn.peer);
  if (!orig.ok()) return Deny(DenyReason::kInternalError, orig.error().Message());
  if (!orig->has_value())
    return Deny(DenyReason::kNoOriginalDestination, "from " + conn.peer.ToString() + " in " + source.spec.Key());
  Ipv4Endpoint target = **orig;
  auto current = policy_.Current();
  if (const auto* service = current->ResolveService(target)) {
    if (service->endpoints.empty())
      return Deny(DenyReason::kNoEndpoints, "service " + service->ns + "/" + service->name + " (" + target.ToString() + ")");
    target = PickEndpoint(*service);
    counters_.service_resolved.fetch_add(1, std::memory_order_relaxed);
  }

  auto info = std::make_shared<proxy::ConnectionInfo>();
  info->source = source.spec.Key();
  info->source_ns = source.spec.namespace_name;
  info->source_sa = source.spec.service_account;
  info->destination_port = target.port;
  info->destination = target.ToString();

  auto dest = pods_.ByIp(target.addr);
  if (dest) {
    if (IsReservedPort(target.port))
      return Deny(DenyReason::kReservedPort, source.spec.Key() + " -> " + target.ToString());
    auto verdict = current->EvaluateL4(IdentityOf(source), IdentityOf(*dest), target.port);
    if (!verdict.allow)
      return Deny(DenyReason::kPolicy, source.spec.Key() + " -> " + dest->spec.Key() + ":" +
                                           std::to_string(target.port) + ": " + verdict.reason);
    info->destination = dest->spec.Key();
    info->destination_ns = dest->spec.namespace_name;
    info->destination_sa = dest->spec.service_account;
    info->kind = kKindLocal;
    counters_.local_allowed.fetch_add(1, std::memory_order_relaxed);
    return Forward(*dest, target, std::move(info));
  }

  if (current->IsMeshWorkloadIp(target.addr)) {
    // Until the mTLS tunnel exists, a mesh pod on another node receives this as plaintext and
    // denies it as unauthenticated; never reaching it unmeshed.
    info->kind = kKindRemote;
    counters_.remote_plaintext.fetch_add(1, std::memory_order_relaxed);
  } else {
    if (current->DenyEgress())
      return Deny(DenyReason::kEgressDenied, source.spec.Key() + " -> " + target.ToString());
    info->kind = kKindEgress;
    counters_.egress.fetch_add(1, std::memory_order_relaxed);
  }
  return Forward(source, target, std::move(info));
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

void Dispatcher::OnClosed(const proxy::ConnectionInfo& info, const proxy::ConnectionStats& stats) {
  spdlog::debug("closed {} {} -> {} ({}): {} B out, {} B back, {}", info.kind, info.source, info.destination,
                info.destination_port, stats.bytes_client_to_upstream, stats.bytes_upstream_to_client,
                proxy::CloseReasonName(stats.reason));
}

bool Dispatcher::NoLongerAllowed(const proxy::ConnectionInfo& info) const {
  auto current = policy_.Current();
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
  return !pods_.ByKey(info.source);
}

}  // namespace ferry::dispatch
