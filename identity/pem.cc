#include "identity/pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstdint>
#include <fstream>
#include <sstream>

namespace ferry::identity {
namespace {

Result<UniqueBio> ReadBio(std::string_view pem) {
  if (pem.size() > static_cast<size_t>(INT32_MAX)) return IdentityError("PEM input is too large");
  UniqueBio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError("BIO_new_mem_buf");
  return bio;
}

// Drains a memory BIO into a string.
Result<std::string> BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len < 0 || (len > 0 && data == nullptr)) return OpenSslError("BIO_get_mem_data");
  return std::string(data, static_cast<size_t>(len));
}

// True when the last PEM read failed only because the input had no further PEM block.
bool ReachedEndOfPem() {
  unsigned long err = ERR_peek_last_error();
  bool end = ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
  if (end) ERR_clear_error();
  return end;
}

}  // namespace

Result<std::vector<UniqueX509>> CertificatesFromPem(std::string_view pem) {
  auto bio = ReadBio(pem);
  if (!bio.ok()) return bio.error();
  ERR_clear_error();
  std::vector<UniqueX509> certs;
  while (true) {
    UniqueX509 cert(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
    if (!cert) {
      if (!ReachedEndOfPem()) return OpenSslError("malformed PEM certificate");
      break;
    }
    certs.push_back(std::move(cert));
  }
  if (certs.empty()) return IdentityError("no PEM certificate found");
  return certs;
}

Result<UniqueX509> CertificateFromPem(std::string_view pem) {
  auto certs = CertificatesFromPem(pem);
  if (!certs.ok()) return certs.error();
  if (certs->size() != 1) return IdentityError("expected exactly one PEM certificate");
  return std::move(certs->front());
}

Result<std::string> CertificateToPem(X509* cert) {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return OpenSslError("PEM_write_bio_X509");
  return BioContents(bio.get());
}

Result<std::string> CertificatesToPem(std::span<const UniqueX509> certs) {
  std::string out;
  for (const auto& cert : certs) {
    auto pem = CertificateToPem(cert.get());
    if (!pem.ok()) return pem.error();
    out += pem.value();
  }
  return out;
}

Result<UniqueX509Req> CsrFromPem(std::string_view pem) {
  auto bio = ReadBio(pem);
  if (!bio.ok()) return bio.error();
  ERR_clear_error();
  UniqueX509Req csr(PEM_read_bio_X509_REQ(bio->get(), nullptr, nullptr, nullptr));
  if (!csr) return OpenSslError("malformed PEM certificate request");
  return csr;
}

Result<std::string> CsrToPem(X509_REQ* csr) {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), csr) != 1) {
    return OpenSslError("PEM_write_bio_X509_REQ");
  }
  return BioContents(bio.get());
}

Result<UniqueEvpPkey> PrivateKeyFromPem(std::string_view pem) {
  auto bio = ReadBio(pem);
  if (!bio.ok()) return bio.error();
  ERR_clear_error();
  // An empty passphrase callback: encrypted keys are refused instead of prompting on a tty.
  UniqueEvpPkey key(PEM_read_bio_PrivateKey(
      bio->get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (!key) return OpenSslError("malformed or encrypted PEM private key");
  return key;
}

Result<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError("PEM_write_bio_PrivateKey");
  }
  return BioContents(bio.get());
}

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("open " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return MakeError("read " + path, EIO);
  return contents.str();
}

}  // namespace ferry::identity
