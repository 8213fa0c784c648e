// Builds certificates, keys and CSRs for identity tests with raw OpenSSL calls, independent of
// the code under test, so deliberately broken inputs (NUL in a SAN, self-signed leaves, RSA keys,
// tampered signatures) can be produced.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "identity/clock.h"
#include "identity/openssl_handles.h"

namespace ferry::identity::testing {

struct CertSpec {
  std::string common_name = "test";
  std::vector<std::string> uris = {};  // raw bytes: may contain NUL
  std::vector<std::string> dns_names = {};
  bool is_ca = false;
  std::string ext_key_usage = "serverAuth,clientAuth";  // leaves only
  SystemTime not_before = {};
  SystemTime not_after = {};
};

struct KeyedCert {
  UniqueX509 cert;
  UniqueEvpPkey key;
};

UniqueEvpPkey MakeEcKey(const char* curve = "P-256");
UniqueEvpPkey MakeRsaKey();

// Signs `spec` for `subject_key`; self-signed when `issuer` is null.
UniqueX509 MakeCert(const CertSpec& spec, EVP_PKEY* subject_key, const KeyedCert* issuer);

// A CA valid from now-1h to now+10y.
KeyedCert MakeCa(SystemTime now, const std::string& name, const KeyedCert* parent = nullptr);

// A leaf for `uris` signed by `issuer`, valid from now-1h to now+1h unless overridden.
KeyedCert MakeLeaf(SystemTime now, const KeyedCert& issuer, std::vector<std::string> uris);

// CSR with the given URI SANs (none: no extension at all), signed by `key`.
std::string MakeCsrPem(EVP_PKEY* key, const std::vector<std::string>& uris);
// Flips one bit of the CSR's signature.
std::string TamperCsrSignature(const std::string& csr_pem);
// Replaces the first occurrence of `from` with the same-length `to` inside the signed body.
std::string TamperCsrBody(const std::string& csr_pem, const std::string& from,
                          const std::string& to);

std::string ToPem(X509* cert);
std::string ToPem(EVP_PKEY* key);
UniqueX509 FromPem(const std::string& pem);

// An owning stack holding extra references to `certs`.
UniqueX509Stack StackOf(std::initializer_list<X509*> certs);

}  // namespace ferry::identity::testing
