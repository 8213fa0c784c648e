#include "controlplane/server/metrics_endpoint.h"

#include <utility>

#include "agent/metrics/controller_metrics.h"

namespace ferry::controlplane {

Result<std::optional<Ipv4Endpoint>> ParseMetricsAddress(const std::string& text) {
  if (text.empty()) return std::optional<Ipv4Endpoint>();
  const size_t colon = text.rfind(':');
  // ParseIpv4Endpoint refuses port 0, which here means "off".
  if (colon != std::string::npos && text.substr(colon + 1) == "0" && ParseIpv4(text.substr(0, colon)))
    return std::optional<Ipv4Endpoint>();
  std::optional<Ipv4Endpoint> endpoint = ParseIpv4Endpoint(text);
  if (!endpoint) return MakeError("--metrics-address \"" + text + "\" is not IPv4:port", EINVAL);
  if (endpoint->addr == 0) {
    return MakeError("refusing to serve metrics on " + text + ": give the loopback or node address, not a wildcard",
                     EINVAL);
  }
  return endpoint;
}

Result<std::unique_ptr<admin::AdminServer>> StartMetricsEndpoint(Ipv4Endpoint listen,
                                                                 std::function<ControllerStatus()> status) {
  admin::AdminServerOptions options;
  options.listen = listen;
  options.name = "metrics";
  admin::AdminRoutes routes;
  routes["/metrics"] = [status = std::move(status)](const admin::AdminRequest&) {
    return admin::AdminResponse::Text(metrics::RenderControllerMetrics(status()),
                                      "text/plain; version=0.0.4; charset=utf-8");
  };
  return admin::AdminServer::Start(std::move(options), std::move(routes));
}

}  // namespace ferry::controlplane
