#include "cli/prometheus_text.h"

#include <gtest/gtest.h>

#include <cmath>

#include "test_result.h"

namespace ferry::cli {
namespace {

TEST(PrometheusText, ReadsSamplesWithLabelsAndSkipsComments) {
  auto samples = ParsePrometheusText(
      "# HELP ferry_requests_total HTTP requests.\n"
      "# TYPE ferry_requests_total counter\n"
      "ferry_requests_total{reporter=\"source\",destination_workload=\"api-v1\",response_code=\"200\"} 42\n"
      "\n"
      "ferry_policy_snapshot_version 7\n"
      "ferry_request_duration_seconds_bucket{le=\"+Inf\"} 3 1700000000000\n");
  ASSERT_OK(samples);
  ASSERT_EQ(samples->size(), 3u);
  EXPECT_EQ((*samples)[0].name, "ferry_requests_total");
  EXPECT_EQ((*samples)[0].Label("destination_workload", "-"), "api-v1");
  EXPECT_EQ((*samples)[0].Label("response_code", "-"), "200");
  EXPECT_EQ((*samples)[0].Label("absent", "fallback"), "fallback");
  EXPECT_EQ((*samples)[0].value, 42);
  EXPECT_TRUE((*samples)[1].labels.empty());
  EXPECT_EQ((*samples)[1].value, 7);
  EXPECT_EQ((*samples)[2].Label("le", ""), "+Inf");  // a timestamp after the value is accepted
  EXPECT_EQ((*samples)[2].value, 3);
}

TEST(PrometheusText, UnescapesLabelValues) {
  auto samples = ParsePrometheusText(R"(m{a="quote \" here",b="back\\slash",c="line\nbreak",d=""} 1)" "\n");
  ASSERT_OK(samples);
  ASSERT_EQ(samples->size(), 1u);
  EXPECT_EQ((*samples)[0].Label("a", ""), "quote \" here");
  EXPECT_EQ((*samples)[0].Label("b", ""), "back\\slash");
  EXPECT_EQ((*samples)[0].Label("c", ""), "line\nbreak");
  EXPECT_EQ((*samples)[0].Label("d", "x"), "");
}

TEST(PrometheusText, ReadsSpecialValuesAndTrailingCommaAndCrLf) {
  auto samples = ParsePrometheusText("a{x=\"1\",} +Inf\r\nb -Inf\nc NaN\nd 1.5e3\n");
  ASSERT_OK(samples);
  ASSERT_EQ(samples->size(), 4u);
  EXPECT_TRUE(std::isinf((*samples)[0].value) && (*samples)[0].value > 0);
  EXPECT_TRUE(std::isinf((*samples)[1].value) && (*samples)[1].value < 0);
  EXPECT_TRUE(std::isnan((*samples)[2].value));
  EXPECT_EQ((*samples)[3].value, 1500);
}

TEST(PrometheusText, RefusesMalformedLinesNamingTheLine) {
  for (const char* bad : {"ok 1\nm{a=\"open} 1\n", "ok 1\nm{a=1} 1\n", "ok 1\nm{a=\"x\"} one\n", "ok 1\nm\n",
                          "ok 1\nm{a=\"\\q\"} 1\n", "ok 1\n{a=\"x\"} 1\n", "ok 1\nm 1 2 3\n"}) {
    auto samples = ParsePrometheusText(bad);
    ASSERT_FALSE(samples.ok()) << bad;
    EXPECT_NE(samples.error().Message().find("line 2"), std::string::npos) << samples.error().Message();
  }
}

}  // namespace
}  // namespace ferry::cli
