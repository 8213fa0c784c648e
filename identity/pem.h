// PEM encoding and decoding of certificates, certificate requests and private keys.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "identity/openssl_handles.h"

namespace ferry::identity {

// Every certificate in `pem`, in order; fails when there is none or one is malformed.
Result<std::vector<UniqueX509>> CertificatesFromPem(std::string_view pem);
// Exactly one certificate.
Result<UniqueX509> CertificateFromPem(std::string_view pem);
Result<std::string> CertificateToPem(X509* cert);
Result<std::string> CertificatesToPem(std::span<const UniqueX509> certs);

Result<UniqueX509Req> CsrFromPem(std::string_view pem);
Result<std::string> CsrToPem(X509_REQ* csr);

// Unencrypted PKCS#8: only for handing a key to the local process or a 0600 file.
Result<UniqueEvpPkey> PrivateKeyFromPem(std::string_view pem);
Result<std::string> PrivateKeyToPem(EVP_PKEY* key);

// Reads a whole (PEM) file; the error names the path.
Result<std::string> ReadTextFile(const std::string& path);

}  // namespace ferry::identity
