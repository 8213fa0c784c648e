// TLS pieces shared by the kTLS tests: a context from the throwaway test PKI, and SHA-256 in hex
// for checking that streams arrive intact.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/tunnel/tls_context.h"
#include "tunnel/test_pki.h"

namespace ferry::testing {

// A context for <id> with a leaf from <ca>, trusting <ca> and accepting any peer identity (these
// tests are about the record layer, not authorization). Without <ciphers>, the default suites.
std::shared_ptr<tunnel::TlsContext> AcceptAnyPeerTlsContext(
    tunnel::TlsRole role, const tunnel::testing::TestCa& ca, const std::string& id, int session_tickets = 0,
    std::optional<std::vector<tunnel::TlsCipher>> ciphers = std::nullopt);

// Incremental SHA-256; HexDigest() ends it.
class Sha256 {
 public:
  Sha256();
  void Update(const uint8_t* data, size_t size);
  std::string HexDigest();

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

}  // namespace ferry::testing
