#include "agent/metrics/agent_gauges.h"

namespace ferry::metrics {

void AddProxyGauges(const proxy::ProxyStats& stats, const std::vector<proxy::LiveConnection>& live,
                    AgentGauges& gauges) {
  for (const auto& connection : live) gauges.live_connections_by_tls_mode[connection.tls_mode] += 1;
  gauges.legs_ktls_total = stats.legs_ktls;
  gauges.legs_userspace_total = stats.legs_userspace;
  gauges.legs_resumed_total = stats.legs_resumed;
}

}  // namespace ferry::metrics
