// Decides what happens to each connection the proxy accepts on a pod's listeners:
//
//   outbound (15001): original destination from the sockops record (none → reset: fail closed);
//     a Service VIP is resolved to one of its endpoints first (the agent serves VIPs), then
//     → a pod enrolled on this node: L4 SMI policy with the source identity taken from the
//       listener's pod (kernel-derived, never from an IP) → deliver from inside the destination
//       pod's netns;
//     → a mesh pod on another node: through the mTLS tunnel, dialled from inside the source pod's
//       netns to <destination pod ip>:15008 with the source workload's certificate, expecting the
//       destination's identity; the destination agent decides (without tunnels — standalone
//       mode — it goes as plaintext and the destination denies it as unauthenticated);
//     → anything else (a non-mesh host): egress from inside the source pod's netns, counted,
//       unless the mesh denies egress.
//   tunnel (15008): TLS with the peer's certificate verified, then CONNECT <this pod ip>:<port>:
//     L4 SMI policy with the source identity from that certificate → deliver from inside this
//     pod's netns; refused with 403 and the reason.
//   inbound (15006): plaintext that did not come through a Ferry agent: its source address proves
//     nothing, so it is denied unless the mesh is permissive or the source is exempt (probes).
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "agent/dispatch/http_routes.h"
#include "agent/dispatch/tunnel_legs.h"
#include "agent/inpod/pod_registry.h"
#include "agent/metrics/mesh_metrics.h"
#include "agent/policy/policy_store.h"
#include "agent/proxy/proxy_types.h"
#include "common/ipv4.h"
#include "common/result.h"

namespace ferry::dispatch {

// The sockops record of where a captured client wanted to go (BpfDatapath in production).
class OriginalDestinations {
 public:
  virtual ~OriginalDestinations() = default;
  virtual Result<std::optional<Ipv4Endpoint>> Take(uint64_t netns_cookie, Ipv4Endpoint client) = 0;
};

// Creates an unconnected, marked TCP socket inside a pod's netns.
class SocketFactory {
 public:
  virtual ~SocketFactory() = default;
  virtual Result<UniqueFd> CreateIn(const inpod::EnrolledPod& pod) = 0;
};

enum class DenyReason : unsigned {
  kNoOriginalDestination,
  kPolicy,
  kUnauthenticated,
  kReservedPort,
  kEgressDenied,
  kUnknownListener,
  kNoEndpoints,
  kNoCertificate,
  kPeerIdentity,
  kInternalError,
  kCount,
};
const char* DenyReasonName(DenyReason reason);

struct DispatchCounters {
  std::array<std::atomic<uint64_t>, static_cast<size_t>(DenyReason::kCount)> denied{};
  std::atomic<uint64_t> local_allowed{0};
  std::atomic<uint64_t> remote_plaintext{0};
  std::atomic<uint64_t> remote_tunnel{0};
  std::atomic<uint64_t> tunnel_allowed{0};
  std::atomic<uint64_t> egress{0};
  std::atomic<uint64_t> inbound_exempt{0};
  std::atomic<uint64_t> service_resolved{0};
  std::atomic<uint64_t> http_enforced{0};  // connections whose requests are checked one by one
  std::atomic<uint64_t> http_split{0};     // connections to a TrafficSplit root, split per request
};

// Kinds stored in proxy::ConnectionInfo::kind.
inline constexpr const char* kKindLocal = "local";          // pod → pod on this node, policy-checked
inline constexpr const char* kKindRemote = "remote";        // pod → mesh pod on another node
inline constexpr const char* kKindEgress = "egress";        // pod → non-mesh destination
inline constexpr const char* kKindInbound = "inbound";      // plaintext in, exempt or permissive
inline constexpr const char* kKindTunnel = "tunnel";        // mTLS in from another node's agent
inline constexpr const char* kKindHttp = "http";            // requests checked/split one by one
inline constexpr const char* kKindHttpUpstream = "http-upstream";  // the relay behind one of them

// Which end of the mesh an L7 connection's upstream opener works for.
enum class UpstreamSide {
  kFromSource,       // a split at the source: endpoints anywhere, dialled as the source pod
  kIntoDestination,  // requests to one pod on this node: delivered inside its netns
};

class Dispatcher : public proxy::ConnectionHandler {
 public:
  // `tunnels` may be null (standalone mode): remote mesh pods are then dialled as plaintext.
  Dispatcher(const inpod::PodRegistry& pods, policy::PolicyStore& policy, OriginalDestinations& orig_dsts,
             SocketFactory& sockets, TunnelLegs* tunnels = nullptr);

  proxy::Decision OnAccept(const proxy::AcceptedConnection& conn) override;
  proxy::Decision OnLegRequest(const proxy::AcceptedConnection& conn, const proxy::LegRequest& request,
                               const proxy::ConnectionInfo& info) override;
  void OnClosed(const proxy::ConnectionInfo& info, const proxy::ConnectionStats& stats) override;

  // True when a live connection is no longer allowed by the current policy or enrollment.
  bool NoLongerAllowed(const proxy::ConnectionInfo& info) const;

  // For an L7 connection of pod `pod_key`: the relay that carries upstream `key` (an endpoint,
  // http_routes.h). Requests were already decided by the connection's router.
  proxy::Decision OpenUpstream(UpstreamSide side, const std::string& pod_key, const std::string& key);

  const DispatchCounters& counters() const { return counters_; }

  // Where connections, requests and denials are recorded; null (the default) records nothing.
  // Set before the proxy starts: the workers read it without synchronisation.
  void SetMetrics(metrics::MeshMetrics* metrics) { metrics_ = metrics; }
  // Where each connection and HTTP exchange is logged as a JSON line; null (the default) logs
  // nothing. Needs SetMetrics (the workloads are named from its directory). Set before the
  // proxy starts.
  void SetAccessLog(metrics::AccessLog* access_log) { access_log_ = access_log; }

 private:
  proxy::Decision Outbound(const proxy::AcceptedConnection& conn, const inpod::EnrolledPod& source);
  proxy::Decision Inbound(const proxy::AcceptedConnection& conn, const inpod::EnrolledPod& dest);
  proxy::Decision Remote(const inpod::EnrolledPod& source, Ipv4Endpoint target, const policy::Identity& dest,
                         std::shared_ptr<proxy::ConnectionInfo> info);
  proxy::Decision TunnelAccept(const inpod::EnrolledPod& dest);
  proxy::Decision Forward(const inpod::EnrolledPod& socket_pod, Ipv4Endpoint target,
                          std::shared_ptr<proxy::ConnectionInfo> info);
  proxy::Decision Deny(DenyReason reason, std::string detail);
  // Requests to `dest` (on this node) are checked one by one against its HTTPRouteGroup rules.
  proxy::Decision HttpToDestination(const policy::Identity& source, const inpod::EnrolledPod& dest,
                                    Ipv4Endpoint target, std::shared_ptr<proxy::ConnectionInfo> info);
  // A connection to a TrafficSplit root service: split per request (HTTP) or per connection.
  proxy::Decision SplitConnection(const inpod::EnrolledPod& source, const policy::PolicyEvaluator::ServiceTarget& root,
                                  uint16_t port);
  // Picks one endpoint of the service (round robin per dispatcher).
  Ipv4Endpoint PickEndpoint(const policy::PolicyEvaluator::ServiceTarget& service);
  // Counts a relayed connection as opened when `decision` relays it; returns `decision`.
  // `client_leg`: the client came through the mTLS tunnel (OnLegRequest).
  proxy::Decision RecordOpened(proxy::Decision decision, bool client_leg);
  metrics::TrafficLabels LabelsFor(const proxy::ConnectionInfo& info, metrics::Reporter reporter) const;
  void LogClosed(const proxy::ConnectionInfo& info, const proxy::ConnectionStats& stats, metrics::LoggedEnds ends,
                 metrics::TrafficLabels labels);
  // Labels the routers of an L7 connection report requests with.
  RouterMetrics RouterMetricsFor(const proxy::ConnectionInfo& info) const;

  const inpod::PodRegistry& pods_;
  policy::PolicyStore& policy_;
  OriginalDestinations& orig_dsts_;
  SocketFactory& sockets_;
  TunnelLegs* tunnels_;
  DispatchCounters counters_;
  std::atomic<uint64_t> next_endpoint_{0};
  SplitPickers split_pickers_;
  metrics::MeshMetrics* metrics_ = nullptr;
  metrics::AccessLog* access_log_ = nullptr;
};

// True for the agent's own ports (15000-15099) that no application traffic may target.
inline bool IsReservedPort(uint16_t port) { return port >= 15000 && port <= 15099; }

}  // namespace ferry::dispatch
