// The text exposition format's details that a scraper rejects when wrong.
#include <gtest/gtest.h>

#include <limits>

#include "agent/metrics/exposition.h"

namespace ferry::metrics {
namespace {

TEST(Exposition, EscapesBackslashQuoteAndNewlineInLabelValues) {
  EXPECT_EQ(EscapeLabelValue(R"(a\b"c)" "\n" "d"), R"(a\\b\"c\nd)");
  EXPECT_EQ(EscapeLabelValue("plain-value_1"), "plain-value_1");
}

TEST(Exposition, FormatsValuesAsPrometheusParsesThem) {
  EXPECT_EQ(FormatSampleValue(0.005), "0.005");
  EXPECT_EQ(FormatSampleValue(2.5), "2.5");
  EXPECT_EQ(FormatSampleValue(10), "10");
  EXPECT_EQ(FormatSampleValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatSampleValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatSampleValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(Exposition, WritesHelpTypeAndSamples) {
  ExpositionWriter out;
  out.BeginFamily("ferry_x_total", MetricType::kCounter, "Help with a \\ and\na newline.");
  Label labels[] = {{"reason", "say \"no\""}, {"node", "n1"}};
  out.Sample("ferry_x_total", labels, uint64_t{18446744073709551615ull});
  out.BeginFamily("ferry_y", MetricType::kGauge, "Y.");
  out.Sample("ferry_y", {}, 1.5);
  EXPECT_EQ(out.text(),
            "# HELP ferry_x_total Help with a \\\\ and\\na newline.\n"
            "# TYPE ferry_x_total counter\n"
            "ferry_x_total{reason=\"say \\\"no\\\"\",node=\"n1\"} 18446744073709551615\n"
            "# HELP ferry_y Y.\n"
            "# TYPE ferry_y gauge\n"
            "ferry_y 1.5\n");
}

}  // namespace
}  // namespace ferry::metrics
