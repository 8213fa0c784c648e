// When an agent should ask the CA for a workload certificate: renew at half life with jitter,
// retry failures with jittered exponential backoff, and keep serving the current certificate
// until it expires while the CA is unreachable. A pure function of its inputs so it is testable
// with an injected clock and random source.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "identity/clock.h"

namespace ferry::identity {

struct RenewalPolicy {
  double renew_at_fraction = 0.5;  // of the certificate lifetime
  double jitter_fraction = 0.1;    // renewal moves by up to ± this fraction of the lifetime
  std::chrono::milliseconds initial_backoff = std::chrono::seconds(1);
  std::chrono::milliseconds max_backoff = std::chrono::minutes(5);
  // Retries are scheduled no later than this long before expiry, so one last attempt happens
  // while the current certificate still works.
  std::chrono::milliseconds expiry_margin = std::chrono::seconds(30);
};

// What the agent knows about one identity's certificate.
struct RenewalState {
  std::optional<CertificateLifetime> current;  // the certificate being served, if any
  int consecutive_failures = 0;                // failed requests since the last success
};

// What happened since the last decision.
struct LastAttempt {
  enum class Kind { kNone, kIssued, kFailed };
  Kind kind = Kind::kNone;       // kNone: start-up (maybe with a certificate loaded from disk)
  CertificateLifetime issued{};  // the new certificate, for kIssued
};

enum class RenewalAction {
  kRequestNow,  // no usable certificate yet (or its renewal time has passed): ask the CA now
  kRenewAt,     // healthy: ask again at `at`
  kRetryAt,     // the last request failed: ask again at `at`
};

struct RenewalDecision {
  RenewalAction action;
  SystemTime at;       // when to send the next request (== now for kRequestNow)
  bool serve_current;  // present state.current? false once expired or when there is none
  RenewalState state;  // the state after applying the attempt, to pass in next time
  std::string reason;  // for logs
};

// Returns uniformly distributed values in [0, 1).
using UniformRandom = std::function<double()>;

RenewalDecision PlanRenewal(const RenewalState& state, SystemTime now, const LastAttempt& last,
                            const RenewalPolicy& policy, const UniformRandom& random);

// A UniformRandom backed by a randomly seeded PRNG; one per thread (it is not synchronised).
UniformRandom MakeSystemUniformRandom();

}  // namespace ferry::identity
