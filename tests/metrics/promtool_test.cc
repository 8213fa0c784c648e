// The agent's exposition passes Prometheus' own checker when every family is populated,
// including label values that need escaping.
#include <gtest/gtest.h>

#include "agent/metrics/agent_gauges.h"
#include "agent/metrics/mesh_metrics.h"
#include "metrics_text.h"
#include "promtool.h"

namespace ferry::metrics {
namespace {

using namespace std::chrono_literals;

MeshMetrics& Populate(MeshMetrics& metrics) {
  TrafficLabels web_to_api{Reporter::kSource, Peer{"web", "shop", "web"}, Peer{"api", "shop", "api"}};
  TrafficLabels odd{Reporter::kDestination, Peer{}, Peer{"we\"ird\\name\nx", "shop", "api"}};
  for (auto security : {ConnectionSecurity::kNone, ConnectionSecurity::kMtls, ConnectionSecurity::kMtlsKtls,
                        ConnectionSecurity::kMtlsUserspace}) {
    metrics.ConnectionOpened(web_to_api, security);
    metrics.ConnectionClosed(web_to_api, security, 1000, 20000);
    metrics.ConnectionClosed(odd, security, 0, 0);
  }
  for (int status : {200, 200, 403, 503, 0}) metrics.RequestDone(web_to_api, status, 1500us);
  metrics.RequestDone(odd, 200, 12s);
  metrics.Denied("policy");
  metrics.Denied("http_route");
  metrics.PolicyApplied(1764000000123);
  metrics.SetGaugeSource([] {
    AgentGauges gauges;
    gauges.certificates.push_back({"shop/api", 1764086400});
    gauges.certificates.push_back({"shop/web", 1764086500});
    proxy::ProxyStats stats;
    stats.legs_ktls = 4;
    stats.legs_userspace = 1;
    std::vector<proxy::LiveConnection> live(3);
    live[0].tls_mode = "ktls";
    live[1].tls_mode = "ktls";
    AddProxyGauges(stats, live, gauges);
    return gauges;
  });
  return metrics;
}

TEST(Promtool, AcceptsThePopulatedAgentExposition) {
  FERRY_REQUIRE_PROMTOOL(promtool);
  MeshMetrics metrics;  // the real clock and this process's procfs
  std::string text = Populate(metrics).RenderPrometheusText();
  for (const char* family :
       {"ferry_tcp_connections_opened_total", "ferry_tcp_connections_closed_total", "ferry_tcp_sent_bytes_total",
        "ferry_tcp_received_bytes_total", "ferry_requests_total", "ferry_request_duration_seconds",
        "ferry_denied_total", "ferry_policy_snapshot_version", "ferry_policy_snapshot_age_seconds",
        "ferry_certificate_expiry_timestamp_seconds", "ferry_proxy_connections", "ferry_proxy_tls_legs_total",
        "ferry_agent_resident_memory_bytes", "ferry_agent_cpu_seconds_total", "ferry_agent_open_fds"})
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  EXPECT_EQ(testing::SampleValue(text, "ferry_proxy_connections{tls_mode=\"ktls\"}"), 2);
  auto result = testing::RunPromtool(promtool, text);
  EXPECT_EQ(result.exit_code, 0) << result.output << "\n--- exposition ---\n" << text;
  EXPECT_EQ(result.output, "");
}

TEST(Promtool, RejectsABrokenExposition) {
  FERRY_REQUIRE_PROMTOOL(promtool);
  // Proves the check above can fail: a counter without _total and an unescaped quote.
  auto result = testing::RunPromtool(promtool, "# TYPE bad counter\nbad{a=\"x\"y\"} 1\n");
  EXPECT_NE(result.exit_code, 0) << result.output;
}

}  // namespace
}  // namespace ferry::metrics
