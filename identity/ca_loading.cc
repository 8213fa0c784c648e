// How a CertificateAuthority comes to exist: generated, or loaded from PEM.
#include <openssl/err.h>

#include "identity/certificate_authority.h"
#include "identity/certificate_builder.h"
#include "identity/csr.h"
#include "identity/pem.h"
#include "identity/x509_inspect.h"

namespace ferry::identity {
namespace {

Result<void> ValidateOptions(const CaOptions& options) {
  FERRY_TRY(ValidateTrustDomain(options.trust_domain));
  if (!options.clock) return IdentityError("CA needs a clock");
  if (options.leaf_ttl.count() <= 0) return IdentityError("leaf TTL must be positive");
  if (options.root_ttl.count() <= 0) return IdentityError("root TTL must be positive");
  if (options.clock_skew_allowance.count() < 0) {
    return IdentityError("clock skew allowance is negative");
  }
  return Ok();
}

Result<void> RequireSigningCa(X509* cert) {
  if (X509_check_ca(cert) != 1)
    return IdentityError("CA certificate lacks basicConstraints CA:TRUE");
  // X509_get_key_usage reports all bits set when the extension is absent.
  if ((X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) == 0) {
    return IdentityError("CA certificate keyUsage lacks keyCertSign");
  }
  return Ok();
}

// The signing certificate must chain, through the intermediates, to a root of the bundle now.
Result<void> RequireChainsToBundle(X509* cert, const std::vector<UniqueX509>& intermediates,
                                   const TrustBundle& bundle, SystemTime now) {
  auto store = bundle.NewStore();
  if (!store.ok()) return store.error();
  UniqueX509Stack untrusted(sk_X509_new_null());
  if (!untrusted) return OpenSslError("sk_X509_new_null");
  for (const auto& c : intermediates) {
    UniqueX509 ref = ShareX509(c.get());
    if (sk_X509_push(untrusted.get(), ref.get()) <= 0) return OpenSslError("sk_X509_push");
    ref.release();  // the stack owns it now
  }
  UniqueX509StoreCtx ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store->get(), cert, untrusted.get()) != 1) {
    return OpenSslError("X509_STORE_CTX_init");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    std::string reason = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
    return IdentityError("CA certificate does not chain to a trusted root: " + reason);
  }
  return Ok();
}

}  // namespace

Result<CertificateAuthority> CertificateAuthority::CreateSelfSigned(CaOptions options) {
  FERRY_TRY(ValidateOptions(options));
  auto key = GenerateP256Key();
  if (!key.ok()) return key.error();
  auto name = MakeName({{"O", "ferry"}, {"CN", "ferry mesh root CA"}});
  if (!name.ok()) return name.error();
  SystemTime now = options.clock();
  CertificateLifetime lifetime{now - options.clock_skew_allowance, now + options.root_ttl};
  auto cert = NewCertificate(name->get(), name->get(), key->get(), lifetime);
  if (!cert.ok()) return cert.error();
  X509* root = cert->get();
  FERRY_TRY(AddExtension(root, root, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  FERRY_TRY(AddExtension(root, root, NID_key_usage, "critical,keyCertSign,cRLSign"));
  FERRY_TRY(AddExtension(root, root, NID_subject_key_identifier, "hash"));
  FERRY_TRY(AddExtension(root, root, NID_authority_key_identifier, "keyid:always"));
  FERRY_TRY(SignCertificate(root, key->get()));

  std::vector<UniqueX509> roots;
  roots.push_back(ShareX509(root));
  auto bundle = TrustBundle::FromCertificates(std::move(roots));
  if (!bundle.ok()) return bundle.error();
  return CertificateAuthority(std::move(options), std::move(cert).value(), std::move(key).value(),
                              {}, std::move(bundle).value());
}

Result<CertificateAuthority> CertificateAuthority::FromPem(CaOptions options,
                                                           std::string_view cert_pem,
                                                           std::string_view key_pem,
                                                           std::string_view extra_roots_pem) {
  FERRY_TRY(ValidateOptions(options));
  auto certs = CertificatesFromPem(cert_pem);
  if (!certs.ok()) return MakeError("CA certificate: " + certs.error().Message());
  auto key = PrivateKeyFromPem(key_pem);
  if (!key.ok()) return MakeError("CA key: " + key.error().Message());
  UniqueX509 signing = std::move(certs->front());
  FERRY_TRY(RequireSigningCa(signing.get()));
  if (X509_check_private_key(signing.get(), key->get()) != 1) {
    return OpenSslError("CA key does not match the CA certificate");
  }
  std::vector<UniqueX509> roots;
  std::vector<UniqueX509> intermediates;
  if (IsSelfSigned(signing.get())) roots.push_back(ShareX509(signing.get()));
  for (size_t i = 1; i < certs->size(); ++i) {
    auto& c = (*certs)[i];
    (IsSelfSigned(c.get()) ? roots : intermediates).push_back(std::move(c));
  }
  if (!IsSelfSigned(signing.get()))
    intermediates.insert(intermediates.begin(), ShareX509(signing.get()));
  if (!extra_roots_pem.empty()) {
    auto extra = CertificatesFromPem(extra_roots_pem);
    if (!extra.ok()) return MakeError("extra roots: " + extra.error().Message());
    for (auto& c : extra.value()) roots.push_back(std::move(c));
  }
  if (roots.empty()) return IdentityError("no root certificate given for the CA certificate");
  auto bundle = TrustBundle::FromCertificates(std::move(roots));
  if (!bundle.ok()) return bundle.error();
  FERRY_TRY(RequireChainsToBundle(signing.get(), intermediates, bundle.value(), options.clock()));
  return CertificateAuthority(std::move(options), std::move(signing), std::move(key).value(),
                              std::move(intermediates), std::move(bundle).value());
}

Result<CertificateAuthority> CertificateAuthority::FromFiles(CaOptions options,
                                                             const std::string& cert_path,
                                                             const std::string& key_path,
                                                             const std::string& extra_roots_path) {
  auto cert_pem = ReadTextFile(cert_path);
  if (!cert_pem.ok()) return cert_pem.error();
  auto key_pem = ReadTextFile(key_path);
  if (!key_pem.ok()) return key_pem.error();
  std::string extra;
  if (!extra_roots_path.empty()) {
    auto extra_pem = ReadTextFile(extra_roots_path);
    if (!extra_pem.ok()) return extra_pem.error();
    extra = std::move(extra_pem).value();
  }
  return FromPem(std::move(options), cert_pem.value(), key_pem.value(), extra);
}

}  // namespace ferry::identity
