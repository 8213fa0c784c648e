#include "identity/trust_bundle.h"

#include "identity/pem.h"
#include "identity/x509_inspect.h"

namespace ferry::identity {

Result<TrustBundle> TrustBundle::FromPem(std::string_view pem) {
  auto certs = CertificatesFromPem(pem);
  if (!certs.ok()) return MakeError("trust bundle: " + certs.error().Message());
  return FromCertificates(std::move(certs).value());
}

Result<TrustBundle> TrustBundle::FromCertificates(std::vector<UniqueX509> roots) {
  if (roots.empty()) return IdentityError("trust bundle is empty");
  for (size_t i = 0; i < roots.size(); ++i) {
    if (!roots[i]) return IdentityError("trust bundle holds a null certificate");
    if (!IsCertificateAuthority(roots[i].get())) {
      return IdentityError("trust bundle certificate " + std::to_string(i) + " is not a CA");
    }
    // Chains are verified up to a self-signed anchor (no partial chains), so an intermediate
    // here would silently never match; refuse it up front.
    if (!IsSelfSigned(roots[i].get())) {
      return IdentityError("trust bundle certificate " + std::to_string(i) +
                           " is not a self-signed root");
    }
  }
  return TrustBundle(std::move(roots));
}

TrustBundle TrustBundle::Clone() const {
  std::vector<UniqueX509> copy;
  copy.reserve(roots_.size());
  for (const auto& root : roots_) copy.push_back(ShareX509(root.get()));
  return TrustBundle(std::move(copy));
}

Result<std::string> TrustBundle::ToPem() const { return CertificatesToPem(roots_); }

Result<UniqueX509Store> TrustBundle::NewStore() const {
  UniqueX509Store store(X509_STORE_new());
  if (!store) return OpenSslError("X509_STORE_new");
  for (const auto& root : roots_) {
    if (X509_STORE_add_cert(store.get(), root.get()) != 1) {
      return OpenSslError("X509_STORE_add_cert");
    }
  }
  return store;
}

}  // namespace ferry::identity
