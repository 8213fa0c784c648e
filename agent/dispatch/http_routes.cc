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
                                     policy::Identity destination, uint16_t port, std::string upstream_key)
    : policy_(policy),
      source_(std::move(source)),
      destination_(std::move(destination)),
      port_(port),
      upstream_key_(std::move(upstream_key)) {}

http::RequestVerdict DestinationRouter::RouteRequest(const http::MessageHead& head, std::string_view path) {
  // The policy of the moment: a TrafficTarget change applies to the next request.
  auto verdict = policy_.Current()->EvaluateHttp(source_, destination_, port_, head.method, path, head.headers);
  if (!verdict.allow) return Refuse(403, verdict.reason);
  return ForwardTo(upstream_key_);
}

http::RequestVerdict DestinationRouter::RouteStream(http::ProtocolGuess guess) {
  return Refuse(0, std::string("HTTPRouteGroup rules apply to ") + destination_.ToString() + ":" +
                       std::to_string(port_) + " and the client speaks " + GuessName(guess));
}

SplitRouter::SplitRouter(policy::PolicyStore& policy, const inpod::PodRegistry& pods, SplitPickers& pickers,
                         policy::Identity source, std::string service_ns, std::string root_service,
                         uint32_t service_port)
    : policy_(policy),
      pods_(pods),
      pickers_(pickers),
      source_(std::move(source)),
      service_ns_(std::move(service_ns)),
      root_service_(std::move(root_service)),
      service_port_(service_port) {}

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
    if (service.empty()) return Refuse(503, "TrafficSplit " + service_ns_ + "/" + split->name() + " has no backend with weight");
  }
  const auto* target = current->ResolveServicePort(service_ns_, service, service_port_);
  if (target == nullptr || target->endpoints.empty())
    return Refuse(503, "no endpoints for service " + service_ns_ + "/" + service + " port " + std::to_string(service_port_));
  Ipv4Endpoint endpoint = target->endpoints[next_endpoint_.fetch_add(1) % target->endpoints.size()];
  auto dest = pods_.ByIp(endpoint.addr);
  if (!dest) return ForwardTo(EndpointKey(endpoint));  // another node's agent decides
  // This node is the destination too: its policy is decided here.
  policy::Identity dest_identity{dest->spec.namespace_name, dest->spec.service_account};
  auto l4 = current->EvaluateL4(source_, dest_identity, endpoint.port);
  if (l4.allow) return ForwardTo(EndpointKey(endpoint));
  if (!l4.needs_l7) return Refuse(403, l4.reason);
  if (head == nullptr) return Refuse(0, "HTTPRouteGroup rules apply to " + dest_identity.ToString() + " and the client does not speak HTTP/1.x");
  auto l7 = current->EvaluateHttp(source_, dest_identity, endpoint.port, head->method, path, head->headers);
  if (!l7.allow) return Refuse(403, l7.reason);
  return ForwardTo(EndpointKey(endpoint));
}

}  // namespace ferry::dispatch
