#include "identity/x509_inspect.h"

#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <ctime>

namespace ferry::identity {
namespace {

// `criticality` comes from X509_get_ext_d2i/X509V3_get_d2i: -1 absent, -2 repeated.
Result<std::string> SingleUri(const GENERAL_NAMES* names, int criticality) {
  if (criticality == -2) return IdentityError("several subjectAltName extensions");
  if (names == nullptr) return IdentityError("no subjectAltName");
  std::string uri;
  int uris = 0;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    ++uris;
    const ASN1_IA5STRING* value = name->d.uniformResourceIdentifier;
    const char* data = reinterpret_cast<const char*>(ASN1_STRING_get0_data(value));
    int length = ASN1_STRING_length(value);
    if (data == nullptr || length < 0) return IdentityError("malformed URI subjectAltName");
    // An embedded NUL would make C-string consumers see a different identity than we check.
    if (strnlen(data, static_cast<size_t>(length)) != static_cast<size_t>(length)) {
      return IdentityError("URI subjectAltName contains a NUL byte");
    }
    uri.assign(data, static_cast<size_t>(length));
  }
  if (uris == 0) return IdentityError("no URI subjectAltName");
  if (uris > 1) return IdentityError("several URI subjectAltNames (" + std::to_string(uris) + ")");
  return uri;
}

Result<SystemTime> ToSystemTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return OpenSslError("ASN1_TIME_to_tm");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

Result<std::string> CertificateUriSan(X509* cert) {
  int crit = -1;
  UniqueGeneralNames names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr)));
  return SingleUri(names.get(), crit);
}

Result<std::string> CsrUriSan(X509_REQ* csr) {
  UniqueX509ExtensionStack exts(X509_REQ_get_extensions(csr));
  if (!exts) return IdentityError("no subjectAltName (CSR requests no extensions)");
  int crit = -1;
  UniqueGeneralNames names(static_cast<GENERAL_NAMES*>(
      X509V3_get_d2i(exts.get(), NID_subject_alt_name, &crit, nullptr)));
  return SingleUri(names.get(), crit);
}

Result<void> RequireP256Key(EVP_PKEY* key) {
  if (key == nullptr) return IdentityError("no public key");
  if (!EVP_PKEY_is_a(key, "EC")) {
    return IdentityError(std::string("key type ") + EVP_PKEY_get0_type_name(key) +
                         " is not ECDSA P-256");
  }
  char group[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) !=
      1) {
    return OpenSslError("EC key without a named curve");
  }
  if (std::strcmp(group, SN_X9_62_prime256v1) != 0) {
    return IdentityError(std::string("EC curve ") + group + " is not P-256");
  }
  return Ok();
}

bool IsCertificateAuthority(X509* cert) { return X509_check_ca(cert) != 0; }

bool IsSelfSigned(X509* cert) { return X509_self_signed(cert, 1) == 1; }

Result<CertificateLifetime> LifetimeOf(X509* cert) {
  auto not_before = ToSystemTime(X509_get0_notBefore(cert));
  if (!not_before.ok()) return not_before.error();
  auto not_after = ToSystemTime(X509_get0_notAfter(cert));
  if (!not_after.ok()) return not_after.error();
  return CertificateLifetime{not_before.value(), not_after.value()};
}

std::string SerialHex(X509* cert) {
  UniqueBignum bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) return "?";
  char* hex = BN_bn2hex(bn.get());
  if (hex == nullptr) return "?";
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

}  // namespace ferry::identity
