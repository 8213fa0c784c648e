#include "local/pki.h"

#include <openssl/rand.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "identity/certificate_authority.h"

namespace ferry::local {

namespace fs = std::filesystem;

namespace {

Result<std::string> RandomToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return MakeError("RAND_bytes failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes) {
    token += kHex[b >> 4];
    token += kHex[b & 0xf];
  }
  return token;
}

}  // namespace

LocalPki PkiPaths(const std::string& dir) {
  return LocalPki{dir, dir + "/ca.pem", dir + "/ca.key", dir + "/node-tokens.json"};
}

Result<LocalPki> CreateLocalPki(const std::string& dir, const std::string& trust_domain,
                                const std::vector<std::string>& nodes) {
  LocalPki pki = PkiPaths(dir);
  if (fs::exists(pki.ca_key)) return MakeError(pki.ca_key + " exists: refusing to replace a CA");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return MakeError("create " + dir + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) return MakeError("chmod " + dir);

  identity::CaOptions options;
  options.trust_domain = trust_domain;
  auto ca = identity::CertificateAuthority::CreateSelfSigned(options);
  if (!ca.ok()) return ca.error();
  auto cert_pem = ca->SigningCertificatePem();
  if (!cert_pem.ok()) return cert_pem.error();
  auto key_pem = ca->SigningKeyPem();
  if (!key_pem.ok()) return key_pem.error();
  FERRY_TRY(WriteFileAtomically(pki.ca_key, *key_pem, 0600));
  FERRY_TRY(WriteFileAtomically(pki.ca_cert, *cert_pem, 0644));

  nlohmann::json tokens = nlohmann::json::object();
  for (const auto& node : nodes) {
    auto token = RandomToken();
    if (!token.ok()) return token.error();
    tokens[node] = *token;
    FERRY_TRY(WriteFileAtomically(pki.NodeTokenFile(node), *token + "\n", 0600));
  }
  FERRY_TRY(WriteFileAtomically(pki.node_tokens, tokens.dump(2) + "\n", 0600));
  return pki;
}

}  // namespace ferry::local
