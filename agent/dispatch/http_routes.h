// The HTTP side of the dispatcher: request routers for HttpSession (what each request may do)
// and upstream openers for the engine's L7 connections (what relay carries an upstream key).
//
//   DestinationRouter  HTTPRouteGroup rules of one destination for one source identity, per
//                      request, against the current policy (same node, or behind the tunnel).
//   SplitRouter        a TrafficSplit root service at the source: each request picks a backend
//                      service by weight, then an endpoint; an endpoint on this node is also
//                      checked here (it is this agent's destination), a remote one by its agent.
// Upstream keys are endpoints ("198.18.1.5:8080"); the engine pools one idle upstream per key
// inside each client connection, so clients of different identities never share one.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/http/request_router.h"
#include "agent/http/split_picker.h"
#include "agent/inpod/pod_registry.h"
#include "agent/metrics/access_log.h"
#include "agent/metrics/mesh_metrics.h"
#include "agent/policy/policy_store.h"
#include "agent/proxy/proxy_types.h"
#include "common/ipv4.h"

namespace ferry::dispatch {

// Smooth weighted round-robin state per TrafficSplit, shared by every connection and worker of
// the agent, so the shares hold across connections as well as within one keep-alive connection.
class SplitPickers {
 public:
  // The backend service to use next for `split` (weights as of the caller's snapshot); empty
  // when the split has no backend with a positive weight.
  std::string Pick(const ferry::v1::TrafficSplit& split);

 private:
  std::mutex mutex_;
  std::map<std::string, http::SplitPicker> pickers_;  // by "namespace/name"
};

// Where a router reports finished exchanges and refusals; a null sink records nothing.
struct RouterMetrics {
  metrics::MeshMetrics* sink = nullptr;
  metrics::Peer source;       // the client's workload
  metrics::Peer destination;  // DestinationRouter: the destination's workload
  bool same_node = false;     // DestinationRouter: this agent serves the source end too
  metrics::AccessLog* access_log = nullptr;  // null: requests are not logged
};

// Per-request HTTPRouteGroup enforcement for one (source identity, destination pod, port).
class DestinationRouter : public http::RequestRouter {
 public:
  DestinationRouter(policy::PolicyStore& policy, policy::Identity source, policy::Identity destination,
                    uint16_t port, std::string upstream_key, RouterMetrics metrics = {});
  http::RequestVerdict RouteRequest(const http::MessageHead& head, std::string_view path) override;
  http::RequestVerdict RouteStream(http::ProtocolGuess guess) override;
  // Reported as the destination (and as the source too when both ends are on this node).
  void OnRequestDone(const http::RequestRecord& record) override;

 private:
  policy::PolicyStore& policy_;
  policy::Identity source_, destination_;
  uint16_t port_;
  std::string upstream_key_;
  RouterMetrics metrics_;
};

// Per-request TrafficSplit for requests to a root service, at the source.
class SplitRouter : public http::RequestRouter {
 public:
  SplitRouter(policy::PolicyStore& policy, const inpod::PodRegistry& pods, SplitPickers& pickers,
              policy::Identity source, std::string service_ns, std::string root_service, uint32_t service_port,
              RouterMetrics metrics = {});
  http::RequestVerdict RouteRequest(const http::MessageHead& head, std::string_view path) override;
  // Not HTTP: the whole connection goes to one backend, chosen by weight (a TCP split).
  http::RequestVerdict RouteStream(http::ProtocolGuess guess) override;
  // Reported as the source, the destination named from the endpoint the request went to.
  void OnRequestDone(const http::RequestRecord& record) override;

 private:
  // Chooses the endpoint for the next request; `head` null for a stream (no L7 check possible).
  http::RequestVerdict Choose(const http::MessageHead* head, std::string_view path);
  // Counts the refusal by `reason` (a ferry_denied_total reason), then refuses.
  http::RequestVerdict Denied(const char* reason, int status, std::string message);

  policy::PolicyStore& policy_;
  const inpod::PodRegistry& pods_;
  SplitPickers& pickers_;
  policy::Identity source_;
  std::string service_ns_, root_service_;
  uint32_t service_port_;
  std::atomic<uint64_t> next_endpoint_{0};
  RouterMetrics metrics_;
};

// "a.b.c.d:port" keys of the routers above.
inline std::string EndpointKey(Ipv4Endpoint endpoint) { return endpoint.ToString(); }

}  // namespace ferry::dispatch
