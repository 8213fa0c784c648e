// A throwaway PKI for tunnel tests: an ECDSA P-256 root CA and leaf certificates with SPIFFE URI
// SANs, generated in memory with OpenSSL.
#pragma once

#include <string>

#include "agent/tunnel/tls_context.h"

namespace ferry::tunnel::testing {

class TestCa {
 public:
  explicit TestCa(const std::string& common_name = "ferry test root");
  X509* root() const { return root_.get(); }
  X509Ptr ShareRoot() const { return ShareX509(root_.get()); }
  // A leaf for <spiffe_id> (URI SAN), valid now, signed by this CA.
  TlsCredentials IssueLeaf(const std::string& spiffe_id) const;

 private:
  EvpPkeyPtr key_;
  X509Ptr root_;
};

EvpPkeyPtr GenerateP256Key();
// The first URI SAN of <cert>, or "".
std::string UriSan(X509* cert);

}  // namespace ferry::tunnel::testing
