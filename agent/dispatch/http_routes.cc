#include "agent/dispatch/http_routes.h"

#include <utility>

namespace ferry::dispatch {

namespace {

http::RequestVerdict Refuse(int status, std::string reason) {
  http::RequestVerdict verdict;
  verdict.forward = false;
  verdict.status = status;
  verdict.reason = std::move(reason);
  return verdict;
}

http::RequestVerdict ForwardTo(std::string key) {
  http::RequestVerdict verdict;
  verdict.forward = true;
  verdict.upstream_key = std::move(key);
  return verdict;
}

const char* GuessName(http::ProtocolGuess guess) {
  return guess == http::ProtocolGuess::kHttp2 ? "HTTP/2" : "a protocol other than HTTP/1.x";
}

// ferry_denied_total reasons of the routers (beside the dispatcher's DenyReason names).
constexpr const char* kDeniedHttpRoute = "http_route";        // 403 from HTTPRouteGroup rules
constexpr const char* kDeniedHttpProtocol = "http_protocol";  // not HTTP/1 where HTTP rules apply
constexpr const char* kDeniedPolicy = "policy";
constexpr const char* kDeniedNoEndpoints = "no_endpoints";

void CountDenied(const RouterMetrics& config, const char* reason) {
  if (config.sink != nullptr) config.sink->Denied(reason);
}

void Report(const RouterMetrics& config, metrics::Reporter reporter, const metrics::Peer& destination,
            const http::RequestRecord& record) {
  metrics::TrafficLabels labels{reporter, config.source, destination};
  config.sink->RequestDone(labels, record.status, record.duration);
}

void LogRequest(const RouterMetrics& config, metrics::LoggedEnds ends, const metrics::Peer& destination,
                const http::RequestRecord& record) {
  if (config.access_log == nullptr) return;
  metrics::RequestLogEntry entry;
  entry.ends = ends;
  entry.source = config.source;
  entry.destination = destination;
  entry.method = record.method;
  entry.path = record.path;
  entry.status = record.status;
  entry.refused = record.local_response;
  entry.upstream = record.upstream_key;
  entry.request_body_bytes = record.request_body_bytes;
  entry.response_body_bytes = record.response_body_bytes;
  entry.duration = record.duration;
  config.access_log->Request(entry);
}

}  // namespace

std::string SplitPickers::Pick(const ferry::v1::TrafficSplit& split) {
  std::vector<http::SplitBackend> backends;
  for (const auto& backend : split.backends()) backends.push_back({backend.service(), backend.weight()});
  std::lock_guard lock(mutex_);
  std::string key = split.namespace_() + "/" + split.name();
  auto it = pickers_.find(key);
  if (it == pickers_.end()) {
    auto created = http::SplitPicker::Create(backends);
    if (!created.ok()) return {};
    it = pickers_.emplace(key, std::move(created).value()).first;
  } else if (!it->second.SetWeights(backends).ok()) {
    return {};  // every weight is 0 now: nowhere to go
  }
  return it->second.backends()[it->second.Pick()].service;
}

DestinationRouter::DestinationRouter(policy::PolicyStore& policy, policy::Identity source,
                                     policy::Identity destination, uint16_t port, std::string upstream_key,
                                     RouterMetrics metrics)
    : policy_(policy),
      source_(std::move(source)),
      destination_(std::move(destination)),
      port_(port),
      upstream_key_(std::move(upstream_key)),
      metrics_(std::move(metrics)) {}

http::RequestVerdict DestinationRouter::RouteRequest(const http::MessageHead& head, std::string_view path) {
  // The policy of the moment: a TrafficTarget change applies to the next request.
  auto verdict = policy_.Current()->EvaluateHttp(source_, destination_, port_, head.method, path, head.headers);
  if (!verdict.allow) {
    CountDenied(metrics_, kDeniedHttpRoute);
    return Refuse(403, verdict.reason);
  }
  return ForwardTo(upstream_key_);
}

http::RequestVerdict DestinationRouter::RouteStream(http::ProtocolGuess guess) {
  CountDenied(metrics_, kDeniedHttpProtocol);
  return Refuse(0, std::string("HTTPRouteGroup rules apply to ") + destination_.ToString() + ":" +
                       std::to_string(port_) + " and the client speaks " + GuessName(guess));
}

void DestinationRouter::OnRequestDone(const http::RequestRecord& record) {
  if (metrics_.sink == nullptr) return;
  Report(metrics_, metrics::Reporter::kDestination, metrics_.destination, record);
  if (metrics_.same_node) Report(metrics_, metrics::Reporter::kSource, metrics_.destination, record);
  LogRequest(metrics_, metrics_.same_node ? metrics::LoggedEnds::kBoth : metrics::LoggedEnds::kDestination,
             metrics_.destination, record);
}

SplitRouter::SplitRouter(policy::PolicyStore& policy, const inpod::PodRegistry& pods, SplitPickers& pickers,
                         policy::Identity source, std::string service_ns, std::string root_service,
                         uint32_t service_port, RouterMetrics metrics)
    : policy_(policy),
      pods_(pods),
      pickers_(pickers),
      source_(std::move(source)),
      service_ns_(std::move(service_ns)),
      root_service_(std::move(root_service)),
      service_port_(service_port),
      metrics_(std::move(metrics)) {}

http::RequestVerdict SplitRouter::RouteRequest(const http::MessageHead& head, std::string_view path) {
  return Choose(&head, path);
}

http::RequestVerdict SplitRouter::RouteStream(http::ProtocolGuess /*guess*/) { return Choose(nullptr, {}); }

http::RequestVerdict SplitRouter::Choose(const http::MessageHead* head, std::string_view path) {
  auto current = policy_.Current();
  // The split of the moment: weight changes apply to the next request. Without a split (it was
  // deleted) requests go to the root service itself.
  std::string service = root_service_;
  if (const auto* split = current->SplitFor(service_ns_, root_service_)) {
    service = pickers_.Pick(*split);
    if (service.empty()) return Denied(kDeniedNoEndpoints, 503, "TrafficSplit " + service_ns_ + "/" + split->name() + " has no backend with weight");
  }
  const auto* target = current->ResolveServicePort(service_ns_, service, service_port_);
  if (target == nullptr || target->endpoints.empty())
    return Denied(kDeniedNoEndpoints, 503, "no endpoints for service " + service_ns_ + "/" + service + " port " + std::to_string(service_port_));
  Ipv4Endpoint endpoint = target->endpoints[next_endpoint_.fetch_add(1) % target->endpoints.size()];
  auto dest = pods_.ByIp(endpoint.addr);
  if (!dest) return ForwardTo(EndpointKey(endpoint));  // another node's agent decides
  // This node is the destination too: its policy is decided here.
  policy::Identity dest_identity{dest->spec.namespace_name, dest->spec.service_account};
  auto l4 = current->EvaluateL4(source_, dest_identity, endpoint.port);
  if (l4.allow) return ForwardTo(EndpointKey(endpoint));
  if (!l4.needs_l7) return Denied(kDeniedPolicy, 403, l4.reason);
  if (head == nullptr) return Denied(kDeniedHttpProtocol, 0, "HTTPRouteGroup rules apply to " + dest_identity.ToString() + " and the client does not speak HTTP/1.x");
  auto l7 = current->EvaluateHttp(source_, dest_identity, endpoint.port, head->method, path, head->headers);
  if (!l7.allow) return Denied(kDeniedHttpRoute, 403, l7.reason);
  return ForwardTo(EndpointKey(endpoint));
}

http::RequestVerdict SplitRouter::Denied(const char* reason, int status, std::string message) {
  CountDenied(metrics_, reason);
  return Refuse(status, std::move(message));
}

void SplitRouter::OnRequestDone(const http::RequestRecord& record) {
  if (metrics_.sink == nullptr) return;
  // Refused before an endpoint was chosen: only the namespace of the destination is known.
  metrics::Peer destination{"", service_ns_, ""};
  if (auto endpoint = ParseIpv4Endpoint(record.upstream_key)) {
    if (auto pod = pods_.ByIp(endpoint->addr)) {
      destination = metrics::Peer{metrics::WorkloadFromPodName(pod->spec.name), pod->spec.namespace_name,
                                  pod->spec.service_account};
    } else {
      destination = metrics::PeerFor(record.upstream_key, "", "", metrics_.sink->workloads(),
                                     policy_.Current()->snapshot());
    }
  }
  Report(metrics_, metrics::Reporter::kSource, destination, record);
  LogRequest(metrics_, metrics::LoggedEnds::kSource, destination, record);
}

}  // namespace ferry::dispatch
