#include "support/tls_test_context.h"

#include <sstream>

namespace ferry::testing {

std::shared_ptr<tunnel::TlsContext> AcceptAnyPeerTlsContext(tunnel::TlsRole role, const tunnel::testing::TestCa& ca,
                                                            const std::string& id, int session_tickets,
                                                            std::optional<std::vector<tunnel::TlsCipher>> ciphers) {
  tunnel::TlsContextOptions options;
  options.role = role;
  options.credentials = ca.IssueLeaf(id);
  options.trust_roots.push_back(ca.ShareRoot());
  if (ciphers) options.ciphers = std::move(*ciphers);
  options.session_tickets = session_tickets;
  options.verify_peer = [](X509*, STACK_OF(X509) *) -> Result<void> { return Ok(); };
  return tunnel::TlsContext::Create(std::move(options)).value();
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }

void Sha256::Update(const uint8_t* data, size_t size) { EVP_DigestUpdate(ctx_.get(), data, size); }

std::string Sha256::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx_.get(), digest, &size);
  std::ostringstream hex;
  for (unsigned i = 0; i < size; ++i) hex << std::hex << (digest[i] >> 4) << (digest[i] & 15);
  return hex.str();
}

}  // namespace ferry::testing
