// Verifies the certificate a tunnel peer presented and yields its workload identity.
// Identity comes only from a verified certificate, never from an address or a header.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"
#include "identity/clock.h"
#include "identity/openssl_handles.h"
#include "identity/spiffe_id.h"
#include "identity/trust_bundle.h"

namespace ferry::identity {

// Which side of the TLS handshake the peer played; selects the extendedKeyUsage required.
enum class PeerRole { kClient, kServer };

struct PeerExpectation {
  PeerRole role = PeerRole::kServer;
  // When set (a source dialling a known destination), the peer must be exactly this workload.
  std::optional<SpiffeId> identity;
};

struct PeerVerifierOptions {
  std::string trust_domain;     // peers from any other trust domain are refused
  WallClock clock = SystemNow;  // validity is judged at clock()
  bool require_p256 = true;     // the mesh issues only ECDSA P-256 leaves
  int max_intermediates = 2;    // untrusted CA certificates allowed between leaf and root
};

class PeerVerifier {
 public:
  static Result<PeerVerifier> Create(TrustBundle bundle, PeerVerifierOptions options);

  // `leaf` is the peer's certificate (null when it sent none); `chain` the untrusted certificates
  // it sent along (may be null; may also contain the leaf, as SSL_get_peer_cert_chain does on a
  // client). On success returns the peer's SPIFFE ID; otherwise an error naming the reason.
  // Safe to call from several threads at once (the trust store is only read).
  Result<SpiffeId> Verify(X509* leaf, X509Chain* chain, const PeerExpectation& expectation) const;

  const TrustBundle& bundle() const { return bundle_; }
  const std::string& trust_domain() const { return options_.trust_domain; }

 private:
  PeerVerifier(TrustBundle bundle, UniqueX509Store store, PeerVerifierOptions options)
      : bundle_(std::move(bundle)), store_(std::move(store)), options_(std::move(options)) {}

  Result<void> VerifyChain(X509* leaf, X509Chain* chain, PeerRole role) const;

  TrustBundle bundle_;
  UniqueX509Store store_;
  PeerVerifierOptions options_;
};

}  // namespace ferry::identity
