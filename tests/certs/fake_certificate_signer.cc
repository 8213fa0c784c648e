#include "fake_certificate_signer.h"

#include <cerrno>
#include <stdexcept>

namespace ferry::certs::testing {

identity::CertificateAuthority MakeTestCa(const std::string& trust_domain, std::chrono::seconds leaf_ttl) {
  identity::CaOptions options;
  options.trust_domain = trust_domain;
  options.leaf_ttl = leaf_ttl;
  options.clock_skew_allowance = std::chrono::seconds(0);
  auto ca = identity::CertificateAuthority::CreateSelfSigned(options);
  if (!ca.ok()) throw std::runtime_error(ca.error().Message());
  return std::move(ca).value();
}

namespace {
std::string OwnBundlePem(const identity::CertificateAuthority& ca) {
  auto pem = ca.trust_bundle().ToPem();
  if (!pem.ok()) throw std::runtime_error(pem.error().Message());
  return pem.value();
}
}  // namespace

FakeCertificateSigner::FakeCertificateSigner(identity::CertificateAuthority ca)
    : ca_(std::make_unique<identity::CertificateAuthority>(std::move(ca))), bundle_pem_(OwnBundlePem(*ca_)) {}

void FakeCertificateSigner::ReplaceCa(identity::CertificateAuthority ca, std::string bundle_pem) {
  std::lock_guard lock(mu_);
  ca_ = std::make_unique<identity::CertificateAuthority>(std::move(ca));
  bundle_pem_ = bundle_pem.empty() ? OwnBundlePem(*ca_) : std::move(bundle_pem);
}

std::string FakeCertificateSigner::BundlePem() const {
  std::lock_guard lock(mu_);
  return bundle_pem_;
}

Result<SignedCertificate> FakeCertificateSigner::Sign(const std::string& csr_pem, std::chrono::seconds ttl) {
  ++calls_;
  if (failing_) return MakeError("SignCertificate: UNAVAILABLE: fake controller is down", ECONNREFUSED);
  std::lock_guard lock(mu_);
  identity::IssuanceRequest request;
  request.node = "certs-test-node";
  if (ttl.count() > 0) request.ttl = ttl;
  auto issued = ca_->Sign(csr_pem, request, [](const std::string&, const identity::SpiffeId&) { return Ok(); });
  if (!issued.ok()) return issued.error();
  ++successes_;
  return SignedCertificate{issued->id.ToString(), issued->certificate_pem, issued->chain_pem, bundle_pem_,
                           issued->lifetime, issued->serial_hex};
}

}  // namespace ferry::certs::testing
