// What the dispatcher and its HTTP routers record: each relayed connection opened and closed
// once per reporting end, with workload labels and the TLS mode; denials by reason; requests.
#include <gtest/gtest.h>

#include "agent/dispatch/http_routes.h"
#include "agent/canary_snapshot.h"
#include "agent/dispatcher_fixture.h"
#include "agent/metrics/mesh_metrics.h"
#include "metrics_text.h"

namespace ferry::dispatch {
namespace {

using metrics::testing::SampleValue;

Result<metrics::ProcessStats> NoProcess() { return MakeError("not read in tests"); }

std::string Labels(const char* reporter, const char* src_workload, const char* src_sa, const char* dst_workload,
                   const char* dst_sa, const std::string& last) {
  auto ns = [](const char* sa) { return std::string(sa) == "unknown" ? "unknown" : "app"; };
  return std::string("{reporter=\"") + reporter + "\",source_workload=\"" + src_workload + "\",source_namespace=\"" +
         ns(src_sa) + "\",source_principal=\"" + src_sa + "\",destination_workload=\"" + dst_workload +
         "\",destination_namespace=\"" + ns(dst_sa) + "\",destination_principal=\"" + dst_sa + "\"," + last + "}";
}

// HTTP-declared ports (name "http"), split api-v1 / api-v2 by `v2_weight`.
v1::PolicySnapshot HttpSnapshot(uint32_t v2_weight) { return test_snapshots::CanarySnapshot(100 - v2_weight, v2_weight, "http"); }

http::MessageHead Get(const char* path) {
  http::MessageHead head;
  head.method = "GET";
  head.target = path;
  return head;
}

class DispatcherMetricsTest : public DispatcherTest {
 protected:
  void SetUp() override {
    DispatcherTest::SetUp();
    dispatcher_.SetMetrics(&metrics_);
  }
  std::string Text() const { return metrics_.RenderPrometheusText(); }
  // The value of `family` for a frontend -> `dst` series (identity labels as Labels() spells them).
  static std::optional<double> Value(const std::string& text, const std::string& family, const char* reporter,
                                     const char* dst, const std::string& last) {
    return SampleValue(text, family + Labels(reporter, "frontend", "frontend", dst, dst, last));
  }

  metrics::MeshMetrics metrics_{nullptr, NoProcess};
};

TEST_F(DispatcherMetricsTest, SameNodeConnectionIsReportedByBothEndsOnceEach) {
  policy_.Apply(AllowFrontendToApi({8080}));
  auto decision = Outbound({kApiIp, 8080});
  auto* plan = std::get_if<proxy::ForwardPlan>(&decision);
  ASSERT_NE(plan, nullptr) << DenyReasonOf(decision);
  proxy::ConnectionStats stats;
  stats.bytes_client_to_upstream = 300;
  stats.bytes_upstream_to_client = 4000;
  dispatcher_.OnClosed(*plan->info, stats);
  std::string text = Text();
  const std::string none = "connection_security=\"none\"";
  for (const char* reporter : {"source", "destination"}) {
    std::string labels = Labels(reporter, "frontend", "frontend", "api", "api", none);
    EXPECT_EQ(SampleValue(text, "ferry_tcp_connections_opened_total" + labels), 1) << reporter;
    EXPECT_EQ(SampleValue(text, "ferry_tcp_connections_closed_total" + labels), 1) << reporter;
    EXPECT_EQ(SampleValue(text, "ferry_tcp_received_bytes_total" + labels), 300) << reporter;
    EXPECT_EQ(SampleValue(text, "ferry_tcp_sent_bytes_total" + labels), 4000) << reporter;
  }
}

TEST_F(DispatcherMetricsTest, DenialsAreCountedByReason) {
  policy_.Apply(AllowFrontendToApi({8080}));
  auto policy = Outbound({kApiIp, 9090});
  auto reserved = Outbound({kApiIp, 15000}, 40001);
  auto plaintext = Inbound({kOutsideIp, 5555}, 8080);
  for (const auto* d : {&policy, &reserved, &plaintext}) EXPECT_NE(std::get_if<proxy::DenyPlan>(d), nullptr);
  std::string text = Text();
  EXPECT_EQ(SampleValue(text, "ferry_denied_total{reason=\"policy\"}"), 1);
  EXPECT_EQ(SampleValue(text, "ferry_denied_total{reason=\"reserved_port\"}"), 1);
  EXPECT_EQ(SampleValue(text, "ferry_denied_total{reason=\"unauthenticated\"}"), 1);
  EXPECT_EQ(Value(text, "ferry_tcp_connections_opened_total", "source", "api", "connection_security=\"none\""),
            std::nullopt);
}

TEST_F(DispatcherMetricsTest, EgressIsReportedByTheSourceWithAnUnknownDestination) {
  policy_.Apply(AllowFrontendToApi({8080}));
  auto decision = Outbound({kOutsideIp, 443});
  ASSERT_NE(std::get_if<proxy::ForwardPlan>(&decision), nullptr) << DenyReasonOf(decision);
  std::string text = Text();
  EXPECT_EQ(SampleValue(text, "ferry_tcp_connections_opened_total" +
                                  Labels("source", "frontend", "frontend", "unknown", "unknown",
                                         "connection_security=\"none\"")),
            1);
  EXPECT_EQ(text.find("reporter=\"destination\""), std::string::npos);
  EXPECT_EQ(text.find("198.19.9.9"), std::string::npos);  // addresses never become labels
}

TEST_F(DispatcherMetricsTest, TunnelClosesCountOnlyForAllowedRequestsAndCarryTheTlsMode) {
  proxy::ConnectionInfo refused;  // AcceptLegPlan's info: the request never got a plan
  refused.kind = kKindTunnel;
  refused.destination = "app/api";
  refused.destination_ns = "app";
  refused.destination_sa = "api";
  proxy::ConnectionStats stats;
  stats.tls_mode = "userspace";
  dispatcher_.OnClosed(refused, stats);

  proxy::ConnectionInfo http = refused;  // an HTTP session behind a tunnel leg
  http.kind = kKindHttp;
  http.source = "spiffe://cluster.local/ns/app/sa/frontend";
  http.source_ns = "app";
  http.source_sa = "frontend";
  stats.tls_mode = "none";  // the session's own close: not counted
  dispatcher_.OnClosed(http, stats);
  stats.tls_mode = "ktls";  // the leg's close
  stats.bytes_client_to_upstream = 7;
  dispatcher_.OnClosed(http, stats);

  std::string text = Text();
  EXPECT_EQ(text.find("ferry_tcp_connections_closed_total{"), text.rfind("ferry_tcp_connections_closed_total{"));
  EXPECT_EQ(SampleValue(text, "ferry_tcp_connections_closed_total" +
                                  Labels("destination", "unknown", "frontend", "api", "api",
                                         "connection_security=\"mtls_ktls\"")),
            1);
  EXPECT_EQ(SampleValue(text, "ferry_tcp_received_bytes_total" +
                                  Labels("destination", "unknown", "frontend", "api", "api",
                                         "connection_security=\"mtls_ktls\"")),
            7);
}

TEST_F(DispatcherMetricsTest, HttpConnectionsAreOpenedPerReportingEnd) {
  policy_.Apply(HttpSnapshot(10));
  auto to_pod = Outbound({kApiIp, 8080});
  auto to_split = Outbound({0xC613800A, 80}, 40001);  // the root service's VIP
  ASSERT_NE(std::get_if<proxy::L7Plan>(&to_pod), nullptr) << DenyReasonOf(to_pod);
  ASSERT_NE(std::get_if<proxy::L7Plan>(&to_split), nullptr) << DenyReasonOf(to_split);
  std::string text = Text();
  const std::string none = "connection_security=\"none\"";
  // To the pod on this node: both ends; to the split root: the source, naming the root service.
  EXPECT_EQ(Value(text, "ferry_tcp_connections_opened_total", "destination", "api", none), 1);
  EXPECT_EQ(Value(text, "ferry_tcp_connections_opened_total", "source", "api", none), 1);
  EXPECT_NE(text.find("reporter=\"source\",source_workload=\"frontend\",source_namespace=\"app\",source_principal="
                      "\"frontend\",destination_workload=\"api\",destination_namespace=\"app\",destination_principal="
                      "\"unknown\""),
            std::string::npos);
}

TEST_F(DispatcherMetricsTest, DestinationRouterReportsRequestsAndRouteDenials) {
  policy_.Apply(HttpSnapshot(10));
  RouterMetrics config{&metrics_, {"frontend", "app", "frontend"}, {"api", "app", "api"}, true};
  DestinationRouter router(policy_, {"app", "frontend"}, {"app", "api"}, 8080, "198.18.1.3:8080", config);
  EXPECT_TRUE(router.RouteRequest(Get("/api/values"), "/api/values").forward);
  auto denied = router.RouteRequest(Get("/admin"), "/admin");
  EXPECT_EQ(denied.status, 403);
  http::RequestRecord ok;
  ok.status = 200;
  ok.duration = std::chrono::milliseconds(3);
  router.OnRequestDone(ok);
  http::RequestRecord refused;
  refused.status = 403;
  refused.local_response = true;
  router.OnRequestDone(refused);
  std::string text = Text();
  EXPECT_EQ(SampleValue(text, "ferry_denied_total{reason=\"http_route\"}"), 1);
  for (const char* reporter : {"destination", "source"}) {
    EXPECT_EQ(Value(text, "ferry_requests_total", reporter, "api", "response_code=\"200\""), 1) << reporter;
    EXPECT_EQ(Value(text, "ferry_requests_total", reporter, "api", "response_code=\"403\""), 1) << reporter;
  }
}

TEST_F(DispatcherMetricsTest, SplitRouterNamesTheBackendEachRequestReached) {
  policy_.Apply(HttpSnapshot(50));
  SplitPickers pickers;
  RouterMetrics config{&metrics_, {"frontend", "app", "frontend"}, {}, false};
  SplitRouter router(policy_, pods_, pickers, {"app", "frontend"}, "app", "api", 80, config);
  for (int i = 0; i < 10; ++i) {
    auto verdict = router.RouteRequest(Get("/api/values"), "/api/values");
    ASSERT_TRUE(verdict.forward) << verdict.reason;
    http::RequestRecord record;
    record.status = 200;
    record.upstream_key = verdict.upstream_key;
    router.OnRequestDone(record);
  }
  std::string text = Text();
  // api-v1's pod is on this node (named from the registry); api-v2's on another (from the snapshot).
  EXPECT_EQ(Value(text, "ferry_requests_total", "source", "api", "response_code=\"200\""), 5);
  EXPECT_EQ(Value(text, "ferry_requests_total", "source", "api-v2", "response_code=\"200\""), 5);
}

TEST_F(DispatcherMetricsTest, WithoutMetricsNothingIsRecorded) {
  dispatcher_.SetMetrics(nullptr);
  policy_.Apply(AllowFrontendToApi({8080}));
  Outbound({kApiIp, 8080});
  Outbound({kApiIp, 9090}, 40001);
  EXPECT_EQ(metrics_.connections_opened().series_count(), 0u);
  EXPECT_EQ(metrics_.denied().series_count(), 0u);
  EXPECT_EQ(dispatcher_.counters().local_allowed.load(), 1u);
}

}  // namespace
}  // namespace ferry::dispatch
