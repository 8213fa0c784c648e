// MeshMetrics as a scraper sees it: the families, their labels, bounded series, cumulative
// histograms, monotonic counters, and the scrape-time gauges.
#include "agent/metrics/mesh_metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "metrics_text.h"

namespace ferry::metrics {
namespace {

using testing::CountLines;
using testing::SampleValue;
using namespace std::chrono_literals;

TrafficLabels WebToApi(Reporter reporter = Reporter::kSource) {
  return TrafficLabels{reporter, Peer{"web", "shop", "web-sa"}, Peer{"api", "shop", "api-sa"}};
}

const std::string kWebToApiTcp =
    "{reporter=\"source\",source_workload=\"web\",source_namespace=\"shop\",source_principal=\"web-sa\","
    "destination_workload=\"api\",destination_namespace=\"shop\",destination_principal=\"api-sa\","
    "connection_security=\"mtls_ktls\"}";

Result<ProcessStats> FakeProcess() { return ProcessStats{123456, 7.25, 42}; }

class MeshMetricsTest : public ::testing::Test {
 protected:
  std::chrono::system_clock::time_point now_ = std::chrono::system_clock::time_point{} + 1000h;
  MeshMetrics metrics_{[this] { return now_; }, FakeProcess};
};

TEST_F(MeshMetricsTest, ThousandConnectionsBetweenTwoWorkloadsAreOneSeries) {
  for (int i = 0; i < 1000; ++i) {
    metrics_.ConnectionOpened(WebToApi(), ConnectionSecurity::kMtls);
    metrics_.ConnectionClosed(WebToApi(), ConnectionSecurity::kMtlsKtls, 100, 1000);
  }
  EXPECT_EQ(metrics_.connections_opened().series_count(), 1u);
  EXPECT_EQ(metrics_.connections_closed().series_count(), 1u);
  EXPECT_EQ(metrics_.received_bytes().series_count(), 1u);
  std::string text = metrics_.RenderPrometheusText();
  EXPECT_EQ(SampleValue(text, "ferry_tcp_connections_closed_total" + kWebToApiTcp), 1000);
  EXPECT_EQ(SampleValue(text, "ferry_tcp_received_bytes_total" + kWebToApiTcp), 100000);
  EXPECT_EQ(SampleValue(text, "ferry_tcp_sent_bytes_total" + kWebToApiTcp), 1000000);
  EXPECT_EQ(CountLines(text, "ferry_tcp_connections_opened_total{"), 1);
}

TEST_F(MeshMetricsTest, CountersOnlyGrowBetweenScrapes) {
  metrics_.ConnectionClosed(WebToApi(), ConnectionSecurity::kMtlsKtls, 10, 20);
  auto first = SampleValue(metrics_.RenderPrometheusText(), "ferry_tcp_sent_bytes_total" + kWebToApiTcp);
  metrics_.ConnectionClosed(WebToApi(), ConnectionSecurity::kMtlsKtls, 0, 0);
  auto same = SampleValue(metrics_.RenderPrometheusText(), "ferry_tcp_sent_bytes_total" + kWebToApiTcp);
  metrics_.ConnectionClosed(WebToApi(), ConnectionSecurity::kMtlsKtls, 5, 7);
  auto grown = SampleValue(metrics_.RenderPrometheusText(), "ferry_tcp_sent_bytes_total" + kWebToApiTcp);
  ASSERT_TRUE(first && same && grown);
  EXPECT_EQ(*first, 20);
  EXPECT_EQ(*same, 20);
  EXPECT_EQ(*grown, 27);
}

TEST_F(MeshMetricsTest, HistogramBucketsAreCumulativeAndEndWithInf) {
  for (auto d : {300us, 3000us, 200000us, 50000000us}) metrics_.RequestDone(WebToApi(), 200, d);
  metrics_.RequestDone(WebToApi(), 503, 1ms);
  std::string text = metrics_.RenderPrometheusText();
  std::string labels =
      "reporter=\"source\",source_workload=\"web\",source_namespace=\"shop\",source_principal=\"web-sa\","
      "destination_workload=\"api\",destination_namespace=\"shop\",destination_principal=\"api-sa\"";
  auto bucket = [&](const char* le) {
    return SampleValue(text, "ferry_request_duration_seconds_bucket{" + labels + ",le=\"" + le + "\"}");
  };
  EXPECT_EQ(bucket("0.001"), 2);  // 0.3 ms and exactly 1 ms (le is inclusive)
  EXPECT_EQ(bucket("0.0025"), 2);
  EXPECT_EQ(bucket("0.005"), 3);
  EXPECT_EQ(bucket("0.25"), 4);
  EXPECT_EQ(bucket("10"), 4);
  EXPECT_EQ(bucket("+Inf"), 5);
  EXPECT_EQ(SampleValue(text, "ferry_request_duration_seconds_count{" + labels + "}"), 5);
  EXPECT_NEAR(*SampleValue(text, "ferry_request_duration_seconds_sum{" + labels + "}"), 50.2043, 1e-9);
  EXPECT_EQ(SampleValue(text, "ferry_requests_total{" + labels + ",response_code=\"200\"}"), 4);
  EXPECT_EQ(SampleValue(text, "ferry_requests_total{" + labels + ",response_code=\"503\"}"), 1);
  // Bucket lines appear in ascending le order, ending with +Inf.
  size_t inf = text.find("le=\"+Inf\"");
  size_t ten = text.find("le=\"10\"");
  ASSERT_NE(inf, std::string::npos);
  EXPECT_LT(ten, inf);
}

TEST_F(MeshMetricsTest, MissingNamesAreUnknownAndDenialsCountByReason) {
  metrics_.ConnectionOpened(TrafficLabels{Reporter::kDestination, Peer{}, Peer{"api", "shop", "api-sa"}},
                            ConnectionSecurity::kNone);
  metrics_.Denied("policy");
  metrics_.Denied("policy");
  metrics_.Denied("http_route");
  std::string text = metrics_.RenderPrometheusText();
  EXPECT_NE(text.find("reporter=\"destination\",source_workload=\"unknown\",source_namespace=\"unknown\","
                      "source_principal=\"unknown\""),
            std::string::npos);
  EXPECT_EQ(SampleValue(text, "ferry_denied_total{reason=\"policy\"}"), 2);
  EXPECT_EQ(SampleValue(text, "ferry_denied_total{reason=\"http_route\"}"), 1);
}

TEST_F(MeshMetricsTest, PolicySnapshotVersionAndAge) {
  std::string before = metrics_.RenderPrometheusText();
  EXPECT_EQ(SampleValue(before, "ferry_policy_snapshot_version"), 0);
  EXPECT_FALSE(SampleValue(before, "ferry_policy_snapshot_age_seconds"));
  metrics_.PolicyApplied(17);
  now_ += 42s;
  std::string after = metrics_.RenderPrometheusText();
  EXPECT_EQ(SampleValue(after, "ferry_policy_snapshot_version"), 17);
  EXPECT_EQ(SampleValue(after, "ferry_policy_snapshot_age_seconds"), 42);
}

TEST_F(MeshMetricsTest, GaugesFromTheAgentAndTheProcess) {
  metrics_.SetGaugeSource([] {
    AgentGauges g;
    g.certificates.push_back({"shop/api-sa", 1900000000});
    g.live_connections_by_tls_mode["ktls"] = 3;
    g.legs_userspace_total = 9;
    g.legs_resumed_total = 7;
    return g;
  });
  std::string text = metrics_.RenderPrometheusText();
  EXPECT_EQ(SampleValue(text, "ferry_certificate_expiry_timestamp_seconds{identity=\"shop/api-sa\"}"), 1900000000);
  EXPECT_EQ(SampleValue(text, "ferry_proxy_connections{tls_mode=\"ktls\"}"), 3);
  EXPECT_EQ(SampleValue(text, "ferry_proxy_connections{tls_mode=\"userspace\"}"), 0);
  EXPECT_EQ(SampleValue(text, "ferry_proxy_tls_legs_total{tls_mode=\"userspace\"}"), 9);
  EXPECT_EQ(SampleValue(text, "ferry_proxy_tls_legs_resumed_total"), 7);
  EXPECT_EQ(SampleValue(text, "ferry_agent_resident_memory_bytes"), 123456);
  EXPECT_EQ(SampleValue(text, "ferry_agent_cpu_seconds_total"), 7.25);
  EXPECT_EQ(SampleValue(text, "ferry_agent_open_fds"), 42);
}

TEST(MeshMetrics, UnreadableProcfsLeavesTheProcessFamiliesOut) {
  MeshMetrics metrics(nullptr, [] { return Result<ProcessStats>(MakeError("no procfs")); });
  std::string text = metrics.RenderPrometheusText();
  EXPECT_EQ(text.find("ferry_agent_open_fds"), std::string::npos);
  EXPECT_NE(text.find("# TYPE ferry_tcp_connections_opened_total counter"), std::string::npos);
}

TEST(MeshMetrics, OrderIsStableWhateverTheRecordingOrder) {
  MeshMetrics a(nullptr, FakeProcess), b(nullptr, FakeProcess);
  TrafficLabels x{Reporter::kSource, Peer{"a", "n", "s"}, Peer{"b", "n", "s"}};
  TrafficLabels y{Reporter::kSource, Peer{"z", "n", "s"}, Peer{"b", "n", "s"}};
  a.ConnectionOpened(x, ConnectionSecurity::kNone);
  a.ConnectionOpened(y, ConnectionSecurity::kNone);
  a.Denied("policy");
  a.Denied("egress_denied");
  b.Denied("egress_denied");
  b.ConnectionOpened(y, ConnectionSecurity::kNone);
  b.Denied("policy");
  b.ConnectionOpened(x, ConnectionSecurity::kNone);
  EXPECT_EQ(a.RenderPrometheusText(), b.RenderPrometheusText());
}

TEST(MeshMetrics, ConcurrentRecordingLosesNothing) {
  MeshMetrics metrics(nullptr, FakeProcess);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        metrics.ConnectionClosed(WebToApi(), ConnectionSecurity::kMtlsKtls, 1, 2);
        metrics.RequestDone(WebToApi(Reporter::kDestination), 200, 1ms);
      }
    });
  for (auto& t : threads) t.join();
  std::string text = metrics.RenderPrometheusText();
  EXPECT_EQ(SampleValue(text, "ferry_tcp_connections_closed_total" + kWebToApiTcp), 20000);
  EXPECT_EQ(SampleValue(text, "ferry_tcp_sent_bytes_total" + kWebToApiTcp), 40000);
}

TEST(CounterFamily, SeriesBeyondTheCapLandInOneOverflowSeries) {
  CounterFamily family("ferry_test_total", "Test.", {"workload"}, 3);
  for (std::string_view w : {"a", "b", "c", "d", "e", "a"}) {
    std::string_view values[] = {w};
    family.Add(values);
  }
  EXPECT_EQ(family.series_count(), 4u);
  std::string_view overflow[] = {kOverflowLabelValue};
  std::string_view a[] = {"a"};
  EXPECT_EQ(family.Value(overflow), 2u);
  EXPECT_EQ(family.Value(a), 2u);
}

TEST(SecurityFromTlsMode, MapsTheEngineModes) {
  EXPECT_EQ(SecurityFromTlsMode("ktls"), ConnectionSecurity::kMtlsKtls);
  EXPECT_EQ(SecurityFromTlsMode("userspace"), ConnectionSecurity::kMtlsUserspace);
  EXPECT_EQ(SecurityFromTlsMode("setup"), ConnectionSecurity::kMtls);
  EXPECT_EQ(SecurityFromTlsMode("none"), ConnectionSecurity::kNone);
}

}  // namespace
}  // namespace ferry::metrics
