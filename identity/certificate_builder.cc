#include "identity/certificate_builder.h"

#include <openssl/rand.h>

#include <array>
#include <string>

namespace ferry::identity {

Result<UniqueAsn1Integer> RandomSerial() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return OpenSslError("RAND_bytes");
  }
  bytes[0] &= 0x7f;   // keep the DER INTEGER positive without a padding byte
  bytes[15] |= 0x01;  // and never zero, which RFC 5280 forbids
  UniqueBignum bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!bn) return OpenSslError("BN_bin2bn");
  UniqueAsn1Integer serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) return OpenSslError("BN_to_ASN1_INTEGER");
  return serial;
}

Result<UniqueX509Name> MakeName(
    const std::vector<std::pair<std::string_view, std::string_view>>& fields) {
  UniqueX509Name name(X509_NAME_new());
  if (!name) return OpenSslError("X509_NAME_new");
  for (const auto& [field, value] : fields) {
    std::string f(field);
    if (X509_NAME_add_entry_by_txt(name.get(), f.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      return OpenSslError("X509_NAME_add_entry_by_txt " + f);
    }
  }
  return name;
}

Result<UniqueX509> NewCertificate(const X509_NAME* subject, const X509_NAME* issuer,
                                  EVP_PKEY* public_key, const CertificateLifetime& lifetime) {
  UniqueX509 cert(X509_new());
  if (!cert) return OpenSslError("X509_new");
  auto serial = RandomSerial();
  if (!serial.ok()) return serial.error();
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serial->get()) != 1 ||
      X509_set_subject_name(cert.get(), subject) != 1 ||
      X509_set_issuer_name(cert.get(), issuer) != 1 ||
      X509_set_pubkey(cert.get(), public_key) != 1) {
    return OpenSslError("filling certificate fields");
  }
  using std::chrono::system_clock;
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()),
                    system_clock::to_time_t(lifetime.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), system_clock::to_time_t(lifetime.not_after)) ==
          nullptr) {
    return OpenSslError("setting certificate validity");
  }
  return cert;
}

Result<void> AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  UniqueX509Extension ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  if (!ext) return OpenSslError(std::string("building extension ") + OBJ_nid2sn(nid));
  if (X509_add_ext(cert, ext.get(), -1) != 1) return OpenSslError("X509_add_ext");
  return Ok();
}

Result<void> AddSubjectAltName(X509* cert, GENERAL_NAMES* names) {
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_APPEND) != 1) {
    return OpenSslError("adding subjectAltName");
  }
  return Ok();
}

Result<void> SignCertificate(X509* cert, EVP_PKEY* issuer_key) {
  if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) return OpenSslError("X509_sign");
  return Ok();
}

}  // namespace ferry::identity
