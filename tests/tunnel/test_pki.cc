#include "test_pki.h"

#include <openssl/ec.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace ferry::tunnel::testing {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what);
}

X509Ptr NewCertificate(const std::string& common_name, long serial) {
  X509Ptr cert(X509_new());
  Check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                             -1, -1, 0);
  return cert;
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  Check(ext != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

}  // namespace

EvpPkeyPtr GenerateP256Key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  Check(key != nullptr, "EVP_EC_gen");
  return key;
}

TestCa::TestCa(const std::string& common_name) : key_(GenerateP256Key()), root_(NewCertificate(common_name, 1)) {
  X509_set_issuer_name(root_.get(), X509_get_subject_name(root_.get()));
  X509_set_pubkey(root_.get(), key_.get());
  AddExtension(root_.get(), root_.get(), NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(root_.get(), root_.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(root_.get(), root_.get(), NID_subject_key_identifier, "hash");
  Check(X509_sign(root_.get(), key_.get(), EVP_sha256()) > 0, "sign root");
}

TlsCredentials TestCa::IssueLeaf(const std::string& spiffe_id) const {
  static long serial = 100;
  TlsCredentials creds;
  creds.private_key = GenerateP256Key();
  creds.certificate = NewCertificate("workload", ++serial);
  X509* cert = creds.certificate.get();
  X509_set_issuer_name(cert, X509_get_subject_name(root_.get()));
  X509_set_pubkey(cert, creds.private_key.get());
  AddExtension(cert, root_.get(), NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(cert, root_.get(), NID_key_usage, "critical,digitalSignature");
  AddExtension(cert, root_.get(), NID_ext_key_usage, "serverAuth,clientAuth");
  AddExtension(cert, root_.get(), NID_subject_alt_name, ("URI:" + spiffe_id).c_str());
  Check(X509_sign(cert, key_.get(), EVP_sha256()) > 0, "sign leaf");
  return creds;
}

std::string UriSan(X509* cert) {
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::string uri;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_URI) {
      uri.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.uniformResourceIdentifier)),
                 static_cast<size_t>(ASN1_STRING_length(name->d.uniformResourceIdentifier)));
      break;
    }
  }
  GENERAL_NAMES_free(names);
  return uri;
}

}  // namespace ferry::tunnel::testing
