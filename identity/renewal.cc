#include "identity/renewal.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace ferry::identity {
namespace {

using Duration = std::chrono::system_clock::duration;

Duration Scale(Duration d, double factor) {
  return std::chrono::duration_cast<Duration>(
      std::chrono::duration<double, Duration::period>(static_cast<double>(d.count()) * factor));
}

double Sample(const UniformRandom& random) { return std::clamp(random(), 0.0, 1.0); }

// Half life ± jitter, never before now and never later than the expiry margin.
SystemTime RenewalTime(const CertificateLifetime& cert, SystemTime now, const RenewalPolicy& policy,
                       const UniformRandom& random) {
  Duration life = cert.Length();
  double jitter = (2.0 * Sample(random) - 1.0) * policy.jitter_fraction;
  SystemTime at = cert.not_before + Scale(life, policy.renew_at_fraction + jitter);
  at = std::min(at, cert.not_after - Duration(policy.expiry_margin));
  return std::max(at, now);
}

// Exponential in the number of failures, capped, with "equal jitter": [backoff/2, backoff].
Duration Backoff(int failures, const RenewalPolicy& policy, const UniformRandom& random) {
  double exponent = std::min(failures - 1, 30);
  Duration cap = policy.max_backoff;
  Duration base = std::min(cap, Scale(Duration(policy.initial_backoff), std::pow(2.0, exponent)));
  return Scale(base, 0.5 + 0.5 * Sample(random));
}

RenewalDecision Decide(RenewalAction action, SystemTime at, const RenewalState& state,
                       SystemTime now, std::string reason) {
  bool serve = state.current.has_value() && state.current->Covers(now);
  return RenewalDecision{action, at, serve, state, std::move(reason)};
}

RenewalDecision AfterFailure(RenewalState state, SystemTime now, const RenewalPolicy& policy,
                             const UniformRandom& random) {
  ++state.consecutive_failures;
  SystemTime at = now + Backoff(state.consecutive_failures, policy, random);
  std::string reason = "retry " + std::to_string(state.consecutive_failures) + " after failure";
  if (state.current && now < state.current->not_after) {
    // Still holding a working certificate: make sure a retry lands before it expires.
    SystemTime deadline = state.current->not_after - Duration(policy.expiry_margin);
    if (deadline > now && at > deadline) {
      at = deadline;
      reason += ", pulled before expiry";
    }
    reason += "; keeping the current certificate until it expires";
  } else {
    state.current.reset();
    reason += "; no valid certificate";
  }
  return Decide(RenewalAction::kRetryAt, at, state, now, std::move(reason));
}

}  // namespace

RenewalDecision PlanRenewal(const RenewalState& in, SystemTime now, const LastAttempt& last,
                            const RenewalPolicy& policy, const UniformRandom& random) {
  RenewalState state = in;
  switch (last.kind) {
    case LastAttempt::Kind::kFailed:
      return AfterFailure(std::move(state), now, policy, random);
    case LastAttempt::Kind::kIssued:
      state.current = last.issued;
      // The CA backdates notBefore for clock skew (5 min by default): against a 2-minute
      // certificate, "half life" counted from notBefore would already be past and every answer
      // would trigger another request. The usable life starts when it arrived.
      state.current->not_before = std::max(state.current->not_before, now);
      state.consecutive_failures = 0;
      break;
    case LastAttempt::Kind::kNone:
      break;
  }
  if (state.current && now >= state.current->not_after) state.current.reset();
  if (!state.current) {
    return Decide(RenewalAction::kRequestNow, now, state, now, "no valid certificate");
  }
  SystemTime at = RenewalTime(*state.current, now, policy, random);
  if (at <= now) {
    return Decide(RenewalAction::kRequestNow, now, state, now, "renewal time has passed");
  }
  return Decide(RenewalAction::kRenewAt, at, state, now, "renew at half life");
}

UniformRandom MakeSystemUniformRandom() {
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

}  // namespace ferry::identity
