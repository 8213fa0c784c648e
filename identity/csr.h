// Agent side of issuance: a locally generated ECDSA P-256 key and the CSR that asks the
// controller's CA for one workload identity. The private key stays in this process.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "identity/openssl_handles.h"
#include "identity/spiffe_id.h"

namespace ferry::identity {

class WorkloadKey {
 public:
  static Result<WorkloadKey> Generate();
  // Reloads a key this process wrote earlier (e.g. kept across an agent restart); must be P-256.
  static Result<WorkloadKey> FromPem(std::string_view private_key_pem);

  // A CSR whose only requested extension is the URI SAN of `id`, signed with this key.
  Result<std::string> CreateCsrPem(const SpiffeId& id) const;

  // True when `cert` certifies this key (check a freshly issued certificate before using it).
  Result<void> MatchesCertificate(X509* cert) const;

  // For SSL_CTX_use_PrivateKey / persisting to a 0600 file; nothing else should need these.
  EVP_PKEY* native_handle() const { return key_.get(); }
  Result<std::string> PrivateKeyPem() const;

 private:
  explicit WorkloadKey(UniqueEvpPkey key) : key_(std::move(key)) {}
  UniqueEvpPkey key_;
};

// Generates a fresh ECDSA P-256 key pair.
Result<UniqueEvpPkey> GenerateP256Key();

// Builds a URI-only subjectAltName value (exported for the CA, which copies the validated URI).
Result<UniqueGeneralNames> UriSubjectAltName(std::string_view uri);

}  // namespace ferry::identity
