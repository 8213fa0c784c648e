// SPIFFE IDs as Ferry uses them: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.
// Parsing is strict because the string comes from a peer's certificate or a CSR.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace ferry::identity {

inline constexpr size_t kMaxSpiffeIdLength = 2048;       // SPIFFE spec, whole URI
inline constexpr size_t kMaxTrustDomainLength = 255;     // SPIFFE spec, trust domain
inline constexpr size_t kMaxNamespaceLength = 63;        // Kubernetes namespace = DNS label
inline constexpr size_t kMaxServiceAccountLength = 253;  // Kubernetes SA = DNS subdomain

class SpiffeId {
 public:
  // Accepts exactly spiffe://<td>/ns/<ns>/sa/<sa>: lower-case scheme, trust domain from
  // [a-z0-9._-], no port/userinfo/query/fragment, no percent-encoding, no NUL, namespace a DNS
  // label and service account a DNS subdomain (dot-separated DNS labels), as Kubernetes requires.
  static Result<SpiffeId> Parse(std::string_view uri);
  // Builds and validates an ID from its parts (same rules as Parse).
  static Result<SpiffeId> Make(std::string_view trust_domain, std::string_view ns,
                               std::string_view service_account);

  const std::string& trust_domain() const { return trust_domain_; }
  const std::string& ns() const { return ns_; }
  const std::string& service_account() const { return service_account_; }
  std::string ToString() const;

  friend bool operator==(const SpiffeId&, const SpiffeId&) = default;

 private:
  SpiffeId(std::string td, std::string ns, std::string sa)
      : trust_domain_(std::move(td)), ns_(std::move(ns)), service_account_(std::move(sa)) {}

  std::string trust_domain_;
  std::string ns_;
  std::string service_account_;
};

// Validates a trust domain name on its own (e.g. from configuration).
Result<void> ValidateTrustDomain(std::string_view trust_domain);

}  // namespace ferry::identity
