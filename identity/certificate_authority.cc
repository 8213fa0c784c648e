#include "identity/certificate_authority.h"

#include <algorithm>

#include "identity/certificate_builder.h"
#include "identity/csr.h"
#include "identity/pem.h"
#include "identity/x509_inspect.h"

namespace ferry::identity {
namespace {

struct ValidatedCsr {
  UniqueX509Req csr;
  SpiffeId id;
};

Error Refused(const std::string& reason) { return IdentityError("CSR refused: " + reason); }

// Everything the CA believes about a CSR is established here, before any signing.
Result<ValidatedCsr> ValidateCsr(std::string_view csr_pem, const std::string& trust_domain) {
  auto csr = CsrFromPem(csr_pem);
  if (!csr.ok()) return Refused(csr.error().Message());
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr->get());
  if (key == nullptr) return Refused("no public key");
  // Proves the requester holds the private key and that nobody altered the request.
  if (X509_REQ_verify(csr->get(), key) != 1) return Refused("bad CSR signature");
  auto key_ok = RequireP256Key(key);
  if (!key_ok.ok()) return Refused(key_ok.error().Message());
  auto uri = CsrUriSan(csr->get());
  if (!uri.ok()) return Refused(uri.error().Message());
  auto id = SpiffeId::Parse(uri.value());
  if (!id.ok()) return Refused("URI SAN is not a valid SPIFFE ID: " + id.error().Message());
  if (id->trust_domain() != trust_domain) {
    return Refused("foreign trust domain \"" + id->trust_domain() + "\" (CA serves \"" +
                   trust_domain + "\")");
  }
  return ValidatedCsr{std::move(csr).value(), std::move(id).value()};
}

}  // namespace

Result<CertificateLifetime> CertificateAuthority::LeafLifetime(
    const IssuanceRequest& request) const {
  std::chrono::seconds ttl = options_.leaf_ttl;
  if (request.ttl) {
    if (request.ttl->count() <= 0) return Refused("requested TTL is not positive");
    ttl = std::min(ttl, *request.ttl);
  }
  // Whole seconds, as X.509 stores them, so the reported lifetime is the certificate's.
  SystemTime now = std::chrono::floor<std::chrono::seconds>(options_.clock());
  auto ca_lifetime = LifetimeOf(signing_cert_.get());
  if (!ca_lifetime.ok()) return ca_lifetime.error();
  if (!ca_lifetime->Covers(now)) return Refused("the CA certificate is not valid now");
  // A leaf outliving its issuer would fail verification anyway; say so in the dates instead.
  SystemTime not_after = std::min(now + ttl, ca_lifetime->not_after);
  return CertificateLifetime{now - options_.clock_skew_allowance, not_after};
}

Result<UniqueX509> CertificateAuthority::BuildLeaf(EVP_PKEY* public_key, const SpiffeId& id,
                                                   const CertificateLifetime& lifetime) const {
  // The subject is fixed: nothing from the CSR except the validated URI and the key is copied.
  auto subject = MakeName({{"O", "ferry"}});
  if (!subject.ok()) return subject.error();
  auto cert = NewCertificate(subject->get(), X509_get_subject_name(signing_cert_.get()), public_key,
                             lifetime);
  if (!cert.ok()) return cert.error();
  X509* leaf = cert->get();
  X509* issuer = signing_cert_.get();
  FERRY_TRY(AddExtension(leaf, issuer, NID_basic_constraints, "critical,CA:FALSE"));
  FERRY_TRY(AddExtension(leaf, issuer, NID_key_usage, "critical,digitalSignature"));
  FERRY_TRY(AddExtension(leaf, issuer, NID_ext_key_usage, "serverAuth,clientAuth"));
  FERRY_TRY(AddExtension(leaf, issuer, NID_subject_key_identifier, "hash"));
  FERRY_TRY(AddExtension(leaf, issuer, NID_authority_key_identifier, "keyid,issuer"));
  auto san = UriSubjectAltName(id.ToString());
  if (!san.ok()) return san.error();
  FERRY_TRY(AddSubjectAltName(leaf, san->get()));
  FERRY_TRY(SignCertificate(leaf, signing_key_.get()));
  return cert;
}

Result<IssuedCertificate> CertificateAuthority::Sign(std::string_view csr_pem,
                                                     const IssuanceRequest& request,
                                                     const IssuanceAuthorizer& authorizer) const {
  if (request.node.empty()) return Refused("no node named in the request");
  auto validated = ValidateCsr(csr_pem, options_.trust_domain);
  if (!validated.ok()) return validated.error();
  const SpiffeId& id = validated->id;
  if (!authorizer) return Refused("no authorizer configured");
  auto allowed = authorizer(request.node, id);
  if (!allowed.ok()) {
    return Refused("node \"" + request.node + "\" may not obtain " + id.ToString() + ": " +
                   allowed.error().Message());
  }
  auto lifetime = LeafLifetime(request);
  if (!lifetime.ok()) return lifetime.error();
  auto leaf = BuildLeaf(X509_REQ_get0_pubkey(validated->csr.get()), id, lifetime.value());
  if (!leaf.ok()) return leaf.error();
  auto leaf_pem = CertificateToPem(leaf->get());
  if (!leaf_pem.ok()) return leaf_pem.error();
  auto chain_pem = CertificatesToPem(intermediates_);
  if (!chain_pem.ok()) return chain_pem.error();
  return IssuedCertificate{id, std::move(leaf_pem).value(), std::move(chain_pem).value(),
                           lifetime.value(), SerialHex(leaf->get())};
}

Result<std::string> CertificateAuthority::SigningCertificatePem() const {
  return CertificateToPem(signing_cert_.get());
}

Result<std::string> CertificateAuthority::SigningKeyPem() const {
  return PrivateKeyToPem(signing_key_.get());
}

}  // namespace ferry::identity
