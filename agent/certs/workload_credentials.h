// One workload identity's certificate as the tunnel uses it: the checks a CA answer must pass
// before it is served, and the client/server TLS contexts built from it.
#pragma once

#include <compare>
#include <memory>
#include <string>
#include <vector>

#include "agent/certs/certificate_signer.h"
#include "agent/tunnel/tls_context.h"
#include "common/result.h"
#include "identity/clock.h"
#include "identity/csr.h"
#include "identity/openssl_handles.h"
#include "identity/peer_verifier.h"
#include "identity/spiffe_id.h"
#include "identity/trust_bundle.h"

namespace ferry::certs {

// A Kubernetes workload identity: the pod's namespace and service account.
struct WorkloadName {
  std::string ns;
  std::string service_account;
  auto operator<=>(const WorkloadName&) const = default;
  std::string ToString() const { return ns + "/" + service_account; }
};

// What the tunnel needs to speak as one workload. Immutable; replaced as a whole on renewal.
struct WorkloadCredentials {
  std::shared_ptr<tunnel::TlsContext> client_context;  // dialling out; expects a server peer
  std::shared_ptr<tunnel::TlsContext> server_context;  // port 15008; expects a client peer
  identity::SpiffeId spiffe_id;
  std::string serial_hex;
  identity::SystemTime not_before;
  identity::SystemTime not_after;
};

// A certificate that passed AcceptSignedCertificate, with the key it certifies.
struct IssuedIdentity {
  identity::WorkloadKey key;
  identity::UniqueX509 certificate;
  std::vector<identity::UniqueX509> intermediates;
  identity::SpiffeId id;
  identity::CertificateLifetime lifetime;  // read from the certificate itself
  std::string serial_hex;
};

// Refuses an answer whose leaf does not certify `key`, names another identity than `id`, does
// not chain to `verifier`'s bundle with both TLS purposes, or is not valid at verifier's clock.
Result<IssuedIdentity> AcceptSignedCertificate(identity::WorkloadKey key, const identity::SpiffeId& id,
                                               const SignedCertificate& answer,
                                               const identity::PeerVerifier& verifier);

// Checks a held certificate again (e.g. after the trust bundle changed), for both TLS roles.
Result<void> VerifyIssuedIdentity(const IssuedIdentity& issued, const identity::PeerVerifier& verifier);

// Client and server tunnel contexts for `issued`, trusting `verifier`'s bundle and accepting only
// peers it verifies (same trust domain; the client context wants a server certificate and the
// server context a client certificate). `server_session_tickets` > 0 enables resumption.
Result<std::shared_ptr<const WorkloadCredentials>> BuildWorkloadCredentials(
    const IssuedIdentity& issued, std::shared_ptr<const identity::PeerVerifier> verifier,
    int server_session_tickets);

}  // namespace ferry::certs
