// The harness's statistics: percentiles, medians over repetitions, and ratios to the direct row
// of the same workload and layout (what the benchmark table and latest.json report).
#include "bench_stats.h"

#include <gtest/gtest.h>

namespace ferry::bench {
namespace {

TEST(BenchStats, PercentilesInterpolateBetweenClosestRanksWhateverTheInputOrder) {
  std::vector<double> values = {40, 10, 30, 20, 50};
  EXPECT_DOUBLE_EQ(*Percentile(values, 0), 10);
  EXPECT_DOUBLE_EQ(*Percentile(values, 50), 30);
  EXPECT_DOUBLE_EQ(*Percentile(values, 100), 50);
  EXPECT_DOUBLE_EQ(*Percentile(values, 25), 20);
  EXPECT_DOUBLE_EQ(*Percentile(values, 90), 46);  // rank 3.6: 40 + 0.6 * 10
  EXPECT_DOUBLE_EQ(*Percentile({7}, 99.9), 7);
  EXPECT_FALSE(Percentile({}, 50).has_value());
}

TEST(BenchStats, MedianOfAnEvenCountIsTheMeanOfTheMiddleTwo) {
  EXPECT_DOUBLE_EQ(*Median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(*Median({3, 1, 1000}), 3);  // one noisy repetition does not move it
}

TEST(BenchStats, RowsAreMediansOverRepetitionsWithTheirRatioToDirectOfTheSameLayout) {
  std::vector<Sample> samples = {
      {"rtt64_p50", "direct", "same-node", 20, "us"},
      {"rtt64_p50", "direct", "cross-node", 40, "us"},
      {"rtt64_p50", "ferry-same-node", "same-node", 30, "us"},
      {"rtt64_p50", "ferry-cross-node", "cross-node", 100, "us"},
      {"rtt64_p50", "direct", "same-node", 22, "us"},
      {"rtt64_p50", "ferry-same-node", "same-node", 33, "us"},
      {"rtt64_p50", "direct", "same-node", 500, "us"},  // one noisy repetition
      {"rtt64_p50", "ferry-same-node", "same-node", 31, "us"},
  };
  auto rows = Summarize(samples);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].path, "direct");
  EXPECT_EQ(rows[0].layout, "same-node");
  EXPECT_DOUBLE_EQ(rows[0].value, 22);
  EXPECT_EQ(rows[0].repetitions, 3u);
  EXPECT_DOUBLE_EQ(*rows[0].ratio_to_direct, 1.0);
  EXPECT_EQ(rows[2].path, "ferry-same-node");
  EXPECT_DOUBLE_EQ(rows[2].value, 31);
  EXPECT_DOUBLE_EQ(*rows[2].ratio_to_direct, 31.0 / 22.0);
  // Cross-node rows are compared with the cross-node direct row, not the same-node one.
  EXPECT_EQ(rows[3].path, "ferry-cross-node");
  EXPECT_DOUBLE_EQ(*rows[3].ratio_to_direct, 2.5);
}

TEST(BenchStats, RowsWithoutADirectCounterpartHaveNoRatio) {
  auto rows = Summarize({{"rss_idle", "ferry-cross-node", "per-agent", 9, "MB"},
                         {"rss_idle", "ferry-cross-node", "per-agent", 11, "MB"},
                         {"throughput", "direct", "same-node", 0, "Gbit/s"},
                         {"throughput", "ferry-same-node", "same-node", 5, "Gbit/s"}});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_DOUBLE_EQ(rows[0].value, 10);
  EXPECT_FALSE(rows[0].ratio_to_direct.has_value());
  EXPECT_FALSE(rows[2].ratio_to_direct.has_value()) << "a zero direct figure gives no ratio";
}

}  // namespace
}  // namespace ferry::bench
