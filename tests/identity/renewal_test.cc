#include "identity/renewal.h"

#include <gtest/gtest.h>

namespace ferry::identity {
namespace {

using namespace std::chrono_literals;
using Kind = LastAttempt::Kind;

const SystemTime kT0 = SystemTime{} + 1000000h;
const CertificateLifetime kCert{kT0 - 5min, kT0 - 5min + 24h};  // as the CA issues: backdated
// What is left of kCert when it arrives at kT0: its half life is counted from here.
constexpr std::chrono::seconds kUsable = 24h - 5min;

UniformRandom Fixed(double value) {
  return [value] { return value; };
}

TEST(RenewalTest, FreshCertificateRenewsAtHalfLife) {
  RenewalPolicy policy;
  auto d = PlanRenewal({}, kT0, {Kind::kIssued, kCert}, policy, Fixed(0.5));
  EXPECT_EQ(d.action, RenewalAction::kRenewAt);
  EXPECT_EQ(d.at, kT0 + kUsable / 2);
  EXPECT_TRUE(d.serve_current);
  ASSERT_TRUE(d.state.current.has_value());
  EXPECT_EQ(d.state.current->not_after, kCert.not_after);
}

TEST(RenewalTest, JitterSpreadsRenewalByTenPercentOfTheLifetime) {
  RenewalPolicy policy;
  auto early = PlanRenewal({}, kT0, {Kind::kIssued, kCert}, policy, Fixed(0.0));
  auto late = PlanRenewal({}, kT0, {Kind::kIssued, kCert}, policy, Fixed(0.999999));
  EXPECT_EQ(early.at, kT0 + kUsable / 2 - kUsable / 10);
  EXPECT_NEAR(std::chrono::duration<double>(late.at - (kT0 + kUsable / 2 + kUsable / 10)).count(),
              0.0, 1.0);
  // Different random draws give different times (agents do not stampede the CA).
  EXPECT_NE(early.at, late.at);
}

TEST(RenewalTest, ShortCertificateBackdatedForClockSkewIsNotRenewedAtOnce) {
  // A 2-minute certificate backdated 5 minutes: counted from notBefore its half life would be
  // long past, and every issuance would be followed by another one at once.
  const CertificateLifetime short_cert{kT0 - 5min, kT0 + 2min};
  auto d = PlanRenewal({}, kT0, {Kind::kIssued, short_cert}, RenewalPolicy{}, Fixed(0.5));
  EXPECT_EQ(d.action, RenewalAction::kRenewAt);
  EXPECT_EQ(d.at, kT0 + 1min);
  // Later decisions keep counting from the arrival.
  auto later = PlanRenewal(d.state, kT0 + 10s, {}, RenewalPolicy{}, Fixed(0.5));
  EXPECT_EQ(later.action, RenewalAction::kRenewAt);
  EXPECT_EQ(later.at, kT0 + 1min);
}

TEST(RenewalTest, StartupWithoutCertificateRequestsNow) {
  auto d = PlanRenewal({}, kT0, {}, RenewalPolicy{}, Fixed(0.5));
  EXPECT_EQ(d.action, RenewalAction::kRequestNow);
  EXPECT_EQ(d.at, kT0);
  EXPECT_FALSE(d.serve_current);
}

TEST(RenewalTest, StartupWithLoadedCertificatePastHalfLifeRequestsNow) {
  RenewalState loaded{kCert, 0};
  auto d = PlanRenewal(loaded, kCert.not_before + 20h, {}, RenewalPolicy{}, Fixed(0.5));
  EXPECT_EQ(d.action, RenewalAction::kRequestNow);
  EXPECT_TRUE(d.serve_current);  // still valid, keep presenting it meanwhile
}

TEST(RenewalTest, StartupWithExpiredCertificateDropsIt) {
  RenewalState loaded{kCert, 0};
  auto d = PlanRenewal(loaded, kCert.not_after + 1s, {}, RenewalPolicy{}, Fixed(0.5));
  EXPECT_EQ(d.action, RenewalAction::kRequestNow);
  EXPECT_FALSE(d.serve_current);
  EXPECT_FALSE(d.state.current.has_value());
}

TEST(RenewalTest, FailuresBackOffExponentiallyUpToTheCap) {
  RenewalPolicy policy;  // 1 s doubling, capped at 5 min
  RenewalState state{kCert, 0};
  SystemTime now = kCert.not_before + 12h;
  std::vector<std::chrono::seconds> delays;
  for (int i = 0; i < 12; ++i) {
    auto d = PlanRenewal(state, now, {Kind::kFailed, {}}, policy, Fixed(1.0));
    EXPECT_EQ(d.action, RenewalAction::kRetryAt);
    EXPECT_TRUE(d.serve_current) << "CA outage must not drop a valid certificate";
    delays.push_back(std::chrono::duration_cast<std::chrono::seconds>(d.at - now));
    state = d.state;
    now = d.at;
  }
  EXPECT_EQ(state.consecutive_failures, 12);
  EXPECT_EQ(delays[0], 1s);
  EXPECT_EQ(delays[1], 2s);
  EXPECT_EQ(delays[4], 16s);
  EXPECT_EQ(delays[11], 300s);
}

TEST(RenewalTest, BackoffIsJitteredDownToHalf) {
  RenewalState state{kCert, 3};  // fourth failure: base 8 s
  SystemTime now = kCert.not_before + 13h;
  auto low = PlanRenewal(state, now, {Kind::kFailed, {}}, RenewalPolicy{}, Fixed(0.0));
  auto high = PlanRenewal(state, now, {Kind::kFailed, {}}, RenewalPolicy{}, Fixed(1.0));
  EXPECT_EQ(low.at - now, 4s);
  EXPECT_EQ(high.at - now, 8s);
}

TEST(RenewalTest, RetriesAreCappedBeforeExpiryAndTheCertIsKeptUntilThen) {
  RenewalPolicy policy;
  RenewalState state{kCert, 20};
  SystemTime now = kCert.not_after - 2min;  // backoff (5 min) would overshoot expiry
  auto d = PlanRenewal(state, now, {Kind::kFailed, {}}, policy, Fixed(1.0));
  EXPECT_EQ(d.action, RenewalAction::kRetryAt);
  EXPECT_EQ(d.at, kCert.not_after - 30s);
  EXPECT_TRUE(d.serve_current);

  // Past the deadline but not expired: retry on backoff, still serving the certificate.
  auto last = PlanRenewal(d.state, kCert.not_after - 10s, {Kind::kFailed, {}}, policy, Fixed(1.0));
  EXPECT_GT(last.at, kCert.not_after - 10s);
  EXPECT_TRUE(last.serve_current);

  // Once expired, the certificate is no longer served and retries continue on backoff.
  auto expired = PlanRenewal(last.state, kCert.not_after, {Kind::kFailed, {}}, policy, Fixed(1.0));
  EXPECT_EQ(expired.action, RenewalAction::kRetryAt);
  EXPECT_FALSE(expired.serve_current);
  EXPECT_FALSE(expired.state.current.has_value());
  EXPECT_EQ(expired.at - kCert.not_after, 300s);
}

TEST(RenewalTest, SuccessAfterFailuresResetsBackoff) {
  RenewalState state{kCert, 7};
  CertificateLifetime next{kT0 + 13h, kT0 + 37h};
  auto d = PlanRenewal(state, kT0 + 13h, {Kind::kIssued, next}, RenewalPolicy{}, Fixed(0.5));
  EXPECT_EQ(d.state.consecutive_failures, 0);
  EXPECT_EQ(d.action, RenewalAction::kRenewAt);
  EXPECT_EQ(d.at, next.not_before + 12h);
  auto fail = PlanRenewal(d.state, d.at, {Kind::kFailed, {}}, RenewalPolicy{}, Fixed(1.0));
  EXPECT_EQ(fail.at - d.at, 1s);
}

TEST(RenewalTest, ShortLivedCertificateNeverSchedulesPastItsMargin) {
  RenewalPolicy policy;
  CertificateLifetime tiny{kT0, kT0 + 40s};
  auto d = PlanRenewal({}, kT0, {Kind::kIssued, tiny}, policy, Fixed(1.0));
  EXPECT_LE(d.at, tiny.not_after - 30s);
  EXPECT_GE(d.at, kT0);
}

TEST(RenewalTest, SystemRandomStaysInRange) {
  UniformRandom random = MakeSystemUniformRandom();
  for (int i = 0; i < 1000; ++i) {
    double v = random();
    ASSERT_GE(v, 0.0);
    ASSERT_LT(v, 1.0);
  }
}

}  // namespace
}  // namespace ferry::identity
