#include "identity/csr.h"

#include <openssl/obj_mac.h>

#include "identity/pem.h"
#include "identity/x509_inspect.h"

namespace ferry::identity {

Result<UniqueEvpPkey> GenerateP256Key() {
  UniqueEvpPkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", SN_X9_62_prime256v1));
  if (!key) return OpenSslError("generating an ECDSA P-256 key");
  return key;
}

Result<UniqueGeneralNames> UriSubjectAltName(std::string_view uri) {
  if (uri.size() > static_cast<size_t>(INT32_MAX)) return IdentityError("URI too long");
  UniqueGeneralNames names(GENERAL_NAMES_new());
  UniqueGeneralName name(GENERAL_NAME_new());
  ASN1_IA5STRING* value = ASN1_IA5STRING_new();
  if (!names || !name || value == nullptr) {
    ASN1_IA5STRING_free(value);
    return OpenSslError("allocating subjectAltName");
  }
  if (ASN1_STRING_set(value, uri.data(), static_cast<int>(uri.size())) != 1) {
    ASN1_IA5STRING_free(value);
    return OpenSslError("ASN1_STRING_set");
  }
  GENERAL_NAME_set0_value(name.get(), GEN_URI, value);  // name now owns value
  if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) return OpenSslError("sk_push");
  name.release();  // names now owns name
  return names;
}

Result<WorkloadKey> WorkloadKey::Generate() {
  auto key = GenerateP256Key();
  if (!key.ok()) return key.error();
  return WorkloadKey(std::move(key).value());
}

Result<WorkloadKey> WorkloadKey::FromPem(std::string_view private_key_pem) {
  auto key = PrivateKeyFromPem(private_key_pem);
  if (!key.ok()) return key.error();
  FERRY_TRY(RequireP256Key(key->get()));
  return WorkloadKey(std::move(key).value());
}

Result<std::string> WorkloadKey::CreateCsrPem(const SpiffeId& id) const {
  UniqueX509Req csr(X509_REQ_new());
  if (!csr) return OpenSslError("X509_REQ_new");
  // The subject stays empty: the CA ignores it and issues from the URI SAN alone.
  if (X509_REQ_set_version(csr.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_pubkey(csr.get(), key_.get()) != 1) {
    return OpenSslError("building CSR");
  }
  auto san = UriSubjectAltName(id.ToString());
  if (!san.ok()) return san.error();
  UniqueX509ExtensionStack exts(sk_X509_EXTENSION_new_null());
  UniqueX509Extension ext(X509V3_EXT_i2d(NID_subject_alt_name, 0, san->get()));
  if (!exts || !ext || sk_X509_EXTENSION_push(exts.get(), ext.get()) <= 0) {
    return OpenSslError("building CSR subjectAltName");
  }
  ext.release();  // exts now owns ext
  if (X509_REQ_add_extensions(csr.get(), exts.get()) != 1) {
    return OpenSslError("X509_REQ_add_extensions");
  }
  if (X509_REQ_sign(csr.get(), key_.get(), EVP_sha256()) <= 0) {
    return OpenSslError("X509_REQ_sign");
  }
  return CsrToPem(csr.get());
}

Result<void> WorkloadKey::MatchesCertificate(X509* cert) const {
  if (cert == nullptr) return IdentityError("no certificate");
  if (X509_check_private_key(cert, key_.get()) != 1) {
    return OpenSslError("certificate does not match the workload key");
  }
  return Ok();
}

Result<std::string> WorkloadKey::PrivateKeyPem() const { return PrivateKeyToPem(key_.get()); }

}  // namespace ferry::identity
