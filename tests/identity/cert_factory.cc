#include "cert_factory.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <chrono>
#include <cstdlib>
#include <functional>

namespace ferry::identity::testing {
namespace {

using namespace std::chrono_literals;

// Test fixtures cannot continue without their inputs; fail loudly with OpenSSL's reason.
void Require(bool ok, const char* what) {
  if (ok) return;
  char buf[256] = {};
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  ADD_FAILURE() << "test fixture step failed: " << what << ": " << buf;
  std::abort();
}

void AddConfExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  UniqueX509Extension ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  Require(ext != nullptr, "X509V3_EXT_nconf_nid");
  Require(X509_add_ext(cert, ext.get(), -1) == 1, "X509_add_ext");
}

UniqueGeneralNames Names(const std::vector<std::string>& uris,
                         const std::vector<std::string>& dns_names) {
  UniqueGeneralNames names(GENERAL_NAMES_new());
  auto add = [&](int type, const std::string& value) {
    ASN1_IA5STRING* str = ASN1_IA5STRING_new();
    Require(ASN1_STRING_set(str, value.data(), static_cast<int>(value.size())) == 1, "set");
    GENERAL_NAME* name = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(name, type, str);
    sk_GENERAL_NAME_push(names.get(), name);
  };
  for (const auto& u : uris) add(GEN_URI, u);
  for (const auto& d : dns_names) add(GEN_DNS, d);
  return names;
}

time_t ToTimeT(SystemTime t) { return std::chrono::system_clock::to_time_t(t); }

}  // namespace

UniqueEvpPkey MakeEcKey(const char* curve) {
  UniqueEvpPkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  Require(key != nullptr, "EC keygen");
  return key;
}

UniqueEvpPkey MakeRsaKey() {
  UniqueEvpPkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  Require(key != nullptr, "RSA keygen");
  return key;
}

UniqueX509 MakeCert(const CertSpec& spec, EVP_PKEY* subject_key, const KeyedCert* issuer) {
  static long next_serial = 1000;
  UniqueX509 cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), next_serial++);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509* issuer_cert = issuer ? issuer->cert.get() : cert.get();
  EVP_PKEY* issuer_key = issuer ? issuer->key.get() : subject_key;
  Require(X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert)) == 1, "issuer");
  Require(X509_set_pubkey(cert.get(), subject_key) == 1, "pubkey");
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), ToTimeT(spec.not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), ToTimeT(spec.not_after));
  if (spec.is_ca) {
    AddConfExt(cert.get(), issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    AddConfExt(cert.get(), issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddConfExt(cert.get(), issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
    AddConfExt(cert.get(), issuer_cert, NID_key_usage, "critical,digitalSignature");
    AddConfExt(cert.get(), issuer_cert, NID_ext_key_usage, spec.ext_key_usage.c_str());
  }
  AddConfExt(cert.get(), issuer_cert, NID_subject_key_identifier, "hash");
  AddConfExt(cert.get(), issuer_cert, NID_authority_key_identifier, "keyid:always");
  if (!spec.uris.empty() || !spec.dns_names.empty()) {
    UniqueGeneralNames names = Names(spec.uris, spec.dns_names);
    Require(
        X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_APPEND) == 1,
        "SAN");
  }
  Require(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

KeyedCert MakeCa(SystemTime now, const std::string& name, const KeyedCert* parent) {
  CertSpec spec;
  spec.common_name = name;
  spec.is_ca = true;
  spec.not_before = now - 1h;
  spec.not_after = now + 24h * 3650;
  UniqueEvpPkey key = MakeEcKey();
  UniqueX509 cert = MakeCert(spec, key.get(), parent);
  return KeyedCert{std::move(cert), std::move(key)};
}

KeyedCert MakeLeaf(SystemTime now, const KeyedCert& issuer, std::vector<std::string> uris) {
  CertSpec spec;
  spec.uris = std::move(uris);
  spec.not_before = now - 1h;
  spec.not_after = now + 1h;
  UniqueEvpPkey key = MakeEcKey();
  UniqueX509 cert = MakeCert(spec, key.get(), &issuer);
  return KeyedCert{std::move(cert), std::move(key)};
}

std::string MakeCsrPem(EVP_PKEY* key, const std::vector<std::string>& uris) {
  UniqueX509Req req(X509_REQ_new());
  X509_REQ_set_version(req.get(), X509_REQ_VERSION_1);
  Require(X509_REQ_set_pubkey(req.get(), key) == 1, "req pubkey");
  if (!uris.empty()) {
    UniqueGeneralNames names = Names(uris, {});
    UniqueX509ExtensionStack exts(sk_X509_EXTENSION_new_null());
    X509_EXTENSION* ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get());
    Require(ext != nullptr, "SAN ext");
    sk_X509_EXTENSION_push(exts.get(), ext);
    Require(X509_REQ_add_extensions(req.get(), exts.get()) == 1, "add extensions");
  }
  Require(X509_REQ_sign(req.get(), key, EVP_sha256()) > 0, "X509_REQ_sign");
  UniqueBio bio(BIO_new(BIO_s_mem()));
  Require(PEM_write_bio_X509_REQ(bio.get(), req.get()) == 1, "write req");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

namespace {

// Round-trips a CSR through DER so its bytes can be edited.
std::string EditCsrDer(const std::string& csr_pem, const std::function<void(std::string&)>& edit) {
  UniqueBio in(BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size())));
  UniqueX509Req req(PEM_read_bio_X509_REQ(in.get(), nullptr, nullptr, nullptr));
  Require(req != nullptr, "read req");
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req.get(), &der);
  Require(len > 0, "i2d_X509_REQ");
  std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  edit(bytes);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data());
  UniqueX509Req edited(d2i_X509_REQ(nullptr, &p, static_cast<long>(bytes.size())));
  Require(edited != nullptr, "d2i_X509_REQ");
  UniqueBio out(BIO_new(BIO_s_mem()));
  Require(PEM_write_bio_X509_REQ(out.get(), edited.get()) == 1, "write req");
  char* data = nullptr;
  long out_len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(out_len));
}

}  // namespace

std::string TamperCsrSignature(const std::string& csr_pem) {
  // The signature BIT STRING is the last element of the DER; its last byte is inside `s`.
  return EditCsrDer(csr_pem, [](std::string& der) { der.back() ^= 0x01; });
}

std::string TamperCsrBody(const std::string& csr_pem, const std::string& from,
                          const std::string& to) {
  return EditCsrDer(csr_pem, [&](std::string& der) {
    size_t at = der.find(from);
    Require(at != std::string::npos && from.size() == to.size(), "find text to tamper");
    der.replace(at, from.size(), to);
  });
}

std::string ToPem(X509* cert) {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  Require(PEM_write_bio_X509(bio.get(), cert) == 1, "write cert");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string ToPem(EVP_PKEY* key) {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  Require(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
          "write key");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

UniqueX509 FromPem(const std::string& pem) {
  UniqueBio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  UniqueX509 cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  Require(cert != nullptr, "read cert");
  return cert;
}

UniqueX509Stack StackOf(std::initializer_list<X509*> certs) {
  UniqueX509Stack stack(sk_X509_new_null());
  for (X509* c : certs) {
    X509_up_ref(c);
    sk_X509_push(stack.get(), c);
  }
  return stack;
}

}  // namespace ferry::identity::testing
