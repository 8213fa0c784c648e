// Low-level steps for minting X.509 certificates; the CA decides what goes in them.
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "identity/clock.h"
#include "identity/openssl_handles.h"

namespace ferry::identity {

// A uniformly random, positive, non-zero 128-bit serial number.
Result<UniqueAsn1Integer> RandomSerial();

// X509_NAME from (field, value) pairs, e.g. {{"O", "ferry"}, {"CN", "ferry root CA"}}.
Result<UniqueX509Name> MakeName(
    const std::vector<std::pair<std::string_view, std::string_view>>& fields);

// A v3 certificate shell: random serial, names, public key and validity; no extensions yet.
Result<UniqueX509> NewCertificate(const X509_NAME* subject, const X509_NAME* issuer,
                                  EVP_PKEY* public_key, const CertificateLifetime& lifetime);

// Adds an extension written in OpenSSL's config syntax ("critical,CA:FALSE"). `issuer` is the
// certificate whose key identifier feeds authorityKeyIdentifier (the cert itself for a root).
Result<void> AddExtension(X509* cert, X509* issuer, int nid, const char* value);

// Adds subjectAltName carrying exactly `names`.
Result<void> AddSubjectAltName(X509* cert, GENERAL_NAMES* names);

Result<void> SignCertificate(X509* cert, EVP_PKEY* issuer_key);

}  // namespace ferry::identity
