// The controller's own TLS certificate. identity/ mints only workload identities
// (spiffe://<td>/ns/<ns>/sa/<sa>, from CSRs); the controller is not a workload, so its serving
// certificate is built here from identity's low-level builder steps.
#include <openssl/x509v3.h>

#include <algorithm>

#include "controlplane/server/controller_ca.h"
#include "identity/certificate_builder.h"
#include "identity/csr.h"
#include "identity/pem.h"
#include "identity/x509_inspect.h"

namespace ferry::controlplane {
namespace {

// DNS names go into OpenSSL's config syntax: allow only what a DNS name may hold.
bool IsPlainDnsName(const std::string& name) {
  return !name.empty() && name.size() <= 253 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

}  // namespace

Result<ServingCertificate> IssueServingCertificate(const ControllerCa& ca, const std::string& dns_name,
                                                   std::chrono::seconds ttl) {
  if (!IsPlainDnsName(dns_name)) return MakeError("serving DNS name \"" + dns_name + "\" is not a DNS name", EINVAL);
  X509* issuer = ca.authority.signing_certificate();
  Result<std::string> issuer_key_pem = ca.authority.SigningKeyPem();
  if (!issuer_key_pem.ok()) return issuer_key_pem.error();
  Result<identity::UniqueEvpPkey> issuer_key = identity::PrivateKeyFromPem(issuer_key_pem.value());
  if (!issuer_key.ok()) return issuer_key.error();
  Result<identity::UniqueEvpPkey> key = identity::GenerateP256Key();
  if (!key.ok()) return key.error();

  Result<identity::CertificateLifetime> ca_lifetime = identity::LifetimeOf(issuer);
  if (!ca_lifetime.ok()) return ca_lifetime.error();
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  // Backdated like workload leaves, for agents whose clock is a little slow.
  identity::CertificateLifetime lifetime{now - std::chrono::minutes(5),
                                         std::min<identity::SystemTime>(now + ttl, ca_lifetime->not_after)};
  Result<identity::UniqueX509Name> subject = identity::MakeName({{"O", "ferry"}, {"CN", dns_name}});
  if (!subject.ok()) return subject.error();
  Result<identity::UniqueX509> cert =
      identity::NewCertificate(subject->get(), X509_get_subject_name(issuer), key->get(), lifetime);
  if (!cert.ok()) return cert.error();
  X509* leaf = cert->get();
  const std::string spiffe_id = "spiffe://" + ca.authority.trust_domain() + "/ferry/controller";
  const std::string san = "DNS:" + dns_name + ",URI:" + spiffe_id;
  FERRY_TRY(identity::AddExtension(leaf, issuer, NID_basic_constraints, "critical,CA:FALSE"));
  FERRY_TRY(identity::AddExtension(leaf, issuer, NID_key_usage, "critical,digitalSignature"));
  FERRY_TRY(identity::AddExtension(leaf, issuer, NID_ext_key_usage, "serverAuth"));
  FERRY_TRY(identity::AddExtension(leaf, issuer, NID_subject_key_identifier, "hash"));
  FERRY_TRY(identity::AddExtension(leaf, issuer, NID_authority_key_identifier, "keyid,issuer"));
  FERRY_TRY(identity::AddExtension(leaf, issuer, NID_subject_alt_name, san.c_str()));
  FERRY_TRY(identity::SignCertificate(leaf, issuer_key->get()));

  Result<std::string> leaf_pem = identity::CertificateToPem(leaf);
  if (!leaf_pem.ok()) return leaf_pem.error();
  Result<std::string> key_pem = identity::PrivateKeyToPem(key->get());
  if (!key_pem.ok()) return key_pem.error();
  return ServingCertificate{leaf_pem.value() + ca.chain_pem, std::move(key_pem).value(), spiffe_id};
}

}  // namespace ferry::controlplane
