// Read-only questions about certificates, requests and keys, shared by the CA and the verifier.
#pragma once

#include <string>

#include "common/result.h"
#include "identity/clock.h"
#include "identity/openssl_handles.h"

namespace ferry::identity {

// The one URI subjectAltName of a certificate: refuses no SAN, several SAN extensions, zero or
// several URI entries, and a URI whose encoded length disagrees with strlen (embedded NUL).
Result<std::string> CertificateUriSan(X509* cert);
// The same rules for the extensions requested in a CSR.
Result<std::string> CsrUriSan(X509_REQ* csr);

// Ferry keys are ECDSA on P-256 only; anything else (RSA, other curves) is refused.
Result<void> RequireP256Key(EVP_PKEY* key);

// Certificate says CA:TRUE (or is otherwise usable as an issuer by OpenSSL's rules).
bool IsCertificateAuthority(X509* cert);
// Self-issued and self-signed: a root.
bool IsSelfSigned(X509* cert);

Result<CertificateLifetime> LifetimeOf(X509* cert);
// Upper-case hex of the serial number, for logs.
std::string SerialHex(X509* cert);

}  // namespace ferry::identity
