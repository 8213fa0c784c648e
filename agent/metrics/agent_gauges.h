// Fills MeshMetrics' scrape-time gauges from the relay engine's counters and live connections.
#pragma once

#include <vector>

#include "agent/metrics/mesh_metrics.h"
#include "agent/proxy/proxy_types.h"

namespace ferry::metrics {

void AddProxyGauges(const proxy::ProxyStats& stats, const std::vector<proxy::LiveConnection>& live,
                    AgentGauges& gauges);

}  // namespace ferry::metrics
