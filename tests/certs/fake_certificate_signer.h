// A CertificateSigner backed by a real in-process identity::CertificateAuthority, so the
// IdentityManager is tested with real certificates; tests can make it fail or swap its CA.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "agent/certs/certificate_signer.h"
#include "identity/certificate_authority.h"

namespace ferry::certs::testing {

// A self-signed CA for `trust_domain` with no clock-skew backdating (short TTLs stay short).
identity::CertificateAuthority MakeTestCa(const std::string& trust_domain,
                                          std::chrono::seconds leaf_ttl = std::chrono::hours(1));

class FakeCertificateSigner final : public CertificateSigner {
 public:
  explicit FakeCertificateSigner(identity::CertificateAuthority ca);

  Result<SignedCertificate> Sign(const std::string& csr_pem, std::chrono::seconds ttl) override;

  // While set, every Sign() fails as an unreachable controller would.
  void SetFailing(bool failing) { failing_ = failing; }
  // Later answers come from `ca`; `bundle_pem` (e.g. old + new root) is sent as the bundle,
  // or the new CA's own bundle when empty.
  void ReplaceCa(identity::CertificateAuthority ca, std::string bundle_pem = {});
  int calls() const { return calls_; }
  int successes() const { return successes_; }
  std::string BundlePem() const;

 private:
  mutable std::mutex mu_;
  std::unique_ptr<identity::CertificateAuthority> ca_;
  std::string bundle_pem_;
  std::atomic<bool> failing_ = false;
  std::atomic<int> calls_ = 0;
  std::atomic<int> successes_ = 0;
};

}  // namespace ferry::certs::testing
