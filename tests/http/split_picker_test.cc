// SplitPicker: exact shares from smooth weighted round-robin, a statistically sound random mode,
// zero weights, and weight changes mid-stream.
#include "agent/http/split_picker.h"

#include <gtest/gtest.h>

#include <random>

namespace ferry::http {
namespace {

SplitPicker MustCreate(std::vector<SplitBackend> backends) {
  auto picker = SplitPicker::Create(std::move(backends));
  EXPECT_TRUE(picker.ok()) << picker.error().Message();
  return std::move(picker).value();
}

std::vector<int> CountPicks(SplitPicker& picker, int n) {
  std::vector<int> counts(picker.backends().size(), 0);
  for (int i = 0; i < n; ++i) ++counts[picker.Pick()];
  return counts;
}

// Pearson's chi-square statistic of observed counts against the weights' expected shares.
double ChiSquare(const std::vector<int>& observed, const std::vector<double>& shares) {
  int n = 0;
  for (int o : observed) n += o;
  double chi2 = 0;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    const double expected = shares[i] * n;
    chi2 += (observed[i] - expected) * (observed[i] - expected) / expected;
  }
  return chi2;
}

class SeededRandom : public UniformRandom {
 public:
  explicit SeededRandom(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t Below(std::uint64_t bound) override {
    return std::uniform_int_distribution<std::uint64_t>(0, bound - 1)(engine_);
  }

 private:
  std::mt19937_64 engine_;
};

TEST(SplitPicker, SmoothRoundRobinGivesExactShares) {
  SplitPicker picker = MustCreate({{"v1", 50}, {"v2", 30}, {"v3", 20}});
  const std::vector<int> counts = CountPicks(picker, 10000);
  EXPECT_EQ(counts, (std::vector<int>{5000, 3000, 2000}));
  // Trivially a perfect fit; kept so the table reads the same as for the random mode.
  EXPECT_LT(ChiSquare(counts, {0.5, 0.3, 0.2}), 1e-9);
}

TEST(SplitPicker, RandomModePassesChiSquareGoodnessOfFit) {
  const SplitPicker picker = MustCreate({{"v1", 50}, {"v2", 30}, {"v3", 20}});
  // Deterministic seeds: the test cannot flake, yet each run is an honest sample.
  for (std::uint64_t seed : {1u, 2u, 3u, 42u, 1234u}) {
    SeededRandom random(seed);
    std::vector<int> counts(3, 0);
    for (int i = 0; i < 10000; ++i) ++counts[picker.PickRandom(random)];
    // 13.816 = chi-square critical value for 2 degrees of freedom at p = 0.001.
    EXPECT_LT(ChiSquare(counts, {0.5, 0.3, 0.2}), 13.816) << "seed " << seed;
  }
}

TEST(SplitPicker, ZeroWeightBackendIsNeverPicked) {
  SplitPicker picker = MustCreate({{"v1", 0}, {"v2", 100}});
  EXPECT_EQ(CountPicks(picker, 1000), (std::vector<int>{0, 1000}));
  SeededRandom random(7);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(picker.PickRandom(random), 1u);
}

TEST(SplitPicker, IssueWeightTables) {
  SplitPicker even = MustCreate({{"a", 1}, {"b", 1}});
  EXPECT_EQ(CountPicks(even, 10000), (std::vector<int>{5000, 5000}));
  SplitPicker scaled = MustCreate({{"a", 1000}, {"b", 500}});
  for (int window = 0; window < 100; ++window) {
    EXPECT_EQ(CountPicks(scaled, 3), (std::vector<int>{2, 1}));  // every 3 picks: 2 to a, 1 to b
  }
}

// "Refresh the page ten times": with 90/10, any ten consecutive requests see the canary once.
TEST(SplitPicker, NinetyTenShowsOneCanaryInEveryWindowOfTen) {
  SplitPicker picker = MustCreate({{"api-v1", 90}, {"api-v2", 10}});
  std::vector<std::size_t> picks;
  for (int i = 0; i < 1000; ++i) picks.push_back(picker.Pick());
  for (std::size_t start = 0; start + 10 <= picks.size(); ++start) {
    int canary = 0;
    for (std::size_t i = start; i < start + 10; ++i) canary += picks[i] == 1 ? 1 : 0;
    ASSERT_EQ(canary, 1) << "window starting at pick " << start;
  }
}

TEST(SplitPicker, WeightChangeMidStreamFollowsNewWeightsWithoutBurst) {
  SplitPicker picker = MustCreate({{"api-v1", 90}, {"api-v2", 10}});
  (void)CountPicks(picker, 37);  // somewhere inside a period
  ASSERT_TRUE(picker.SetWeights({{"api-v1", 50}, {"api-v2", 50}}).ok());
  std::size_t last = picker.backends().size();
  int run = 0;
  std::vector<int> counts(2, 0);
  for (int i = 0; i < 100; ++i) {
    const std::size_t pick = picker.Pick();
    run = pick == last ? run + 1 : 1;
    last = pick;
    ASSERT_LE(run, 1) << "burst to one backend at pick " << i;  // 50/50 alternates
    ++counts[pick];
  }
  EXPECT_EQ(counts, (std::vector<int>{50, 50}));
  ASSERT_TRUE(picker.SetWeights({{"api-v1", 0}, {"api-v2", 100}}).ok());
  EXPECT_EQ(CountPicks(picker, 100), (std::vector<int>{0, 100}));
}

TEST(SplitPicker, UnchangedWeightsKeepThePosition) {
  SplitPicker a = MustCreate({{"v1", 90}, {"v2", 10}});
  SplitPicker b = MustCreate({{"v1", 90}, {"v2", 10}});
  for (int i = 0; i < 45; ++i) {
    ASSERT_EQ(a.Pick(), b.Pick());
    ASSERT_TRUE(b.SetWeights({{"v1", 90}, {"v2", 10}}).ok());  // a snapshot that changed nothing
  }
}

TEST(SplitPicker, SplitsWithNowhereToGoAreRejected) {
  EXPECT_FALSE(SplitPicker::Create({}).ok());
  EXPECT_FALSE(SplitPicker::Create({{"v1", 0}, {"v2", 0}}).ok());
  SplitPicker picker = MustCreate({{"v1", 1}});
  EXPECT_FALSE(picker.SetWeights({{"v1", 0}}).ok());
  EXPECT_EQ(picker.Pick(), 0u);  // a rejected change leaves the old weights in force

  ferry::v1::TrafficSplit split;
  split.set_namespace_("canary-app");
  split.set_name("api-split");
  auto* b = split.add_backends();
  b->set_service("api-v1");
  auto r = SplitPicker::FromProto(split);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().context.find("canary-app/api-split"), std::string::npos);
  b->set_weight(3);
  auto ok = SplitPicker::FromProto(split);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->backends()[0].service, "api-v1");
}

}  // namespace
}  // namespace ferry::http
