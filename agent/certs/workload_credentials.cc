#include "agent/certs/workload_credentials.h"

#include <cerrno>

#include "identity/pem.h"
#include "identity/x509_inspect.h"

namespace ferry::certs {
namespace {

Error Refused(const identity::SpiffeId& id, const std::string& why) {
  return MakeError("certificate issued for " + id.ToString() + " refused: " + why, EPROTO);
}

identity::UniqueX509Stack StackOf(const std::vector<identity::UniqueX509>& certs) {
  identity::UniqueX509Stack stack(sk_X509_new_null());
  if (!stack) return stack;
  for (const auto& cert : certs) {
    identity::UniqueX509 shared = identity::ShareX509(cert.get());
    if (sk_X509_push(stack.get(), shared.get()) == 0) return nullptr;
    (void)shared.release();  // now owned by the stack
  }
  return stack;
}

// Both roles: the same certificate is presented when dialling out and when accepting.
Result<void> VerifyAs(X509* leaf, const std::vector<identity::UniqueX509>& intermediates,
                      const identity::PeerVerifier& verifier, const identity::SpiffeId& id) {
  identity::UniqueX509Stack stack = StackOf(intermediates);
  if (!stack) return identity::OpenSslError("copy certificate chain");
  for (identity::PeerRole role : {identity::PeerRole::kClient, identity::PeerRole::kServer}) {
    auto verified = verifier.Verify(leaf, stack.get(), identity::PeerExpectation{role, id});
    if (!verified.ok()) return verified.error();
  }
  return Ok();
}

tunnel::PeerVerifier MakeTunnelVerifier(std::shared_ptr<const identity::PeerVerifier> verifier,
                                        identity::PeerRole peer_role) {
  return [verifier = std::move(verifier), peer_role](X509* leaf, STACK_OF(X509) * chain) -> Result<void> {
    Result<identity::SpiffeId> peer = verifier->Verify(leaf, chain, identity::PeerExpectation{peer_role, std::nullopt});
    if (!peer.ok()) return peer.error();
    return Ok();
  };
}

Result<std::shared_ptr<tunnel::TlsContext>> BuildContext(const IssuedIdentity& issued,
                                                         const std::shared_ptr<const identity::PeerVerifier>& verifier,
                                                         tunnel::TlsRole role, int session_tickets) {
  tunnel::TlsContextOptions options;
  options.role = role;
  options.credentials.certificate = tunnel::ShareX509(issued.certificate.get());
  for (const auto& intermediate : issued.intermediates) {
    options.credentials.intermediates.push_back(tunnel::ShareX509(intermediate.get()));
  }
  options.credentials.private_key = tunnel::ShareEvpPkey(issued.key.native_handle());
  for (const auto& root : verifier->bundle().roots()) options.trust_roots.push_back(tunnel::ShareX509(root.get()));
  options.session_tickets = role == tunnel::TlsRole::kServer ? session_tickets : 0;
  // Our client talks to servers; our server to clients.
  options.verify_peer = MakeTunnelVerifier(
      verifier, role == tunnel::TlsRole::kClient ? identity::PeerRole::kServer : identity::PeerRole::kClient);
  return tunnel::TlsContext::Create(std::move(options));
}

}  // namespace

Result<IssuedIdentity> AcceptSignedCertificate(identity::WorkloadKey key, const identity::SpiffeId& id,
                                               const SignedCertificate& answer,
                                               const identity::PeerVerifier& verifier) {
  auto leaf = identity::CertificateFromPem(answer.certificate_pem);
  if (!leaf.ok()) return Refused(id, "leaf: " + leaf.error().Message());
  std::vector<identity::UniqueX509> intermediates;
  if (answer.chain_pem.find_first_not_of(" \t\r\n") != std::string::npos) {
    auto chain = identity::CertificatesFromPem(answer.chain_pem);
    if (!chain.ok()) return Refused(id, "chain: " + chain.error().Message());
    intermediates = std::move(chain).value();
  }
  if (auto match = key.MatchesCertificate(leaf->get()); !match.ok()) {
    return Refused(id, "it does not certify our key: " + match.error().Message());
  }
  if (auto verified = VerifyAs(leaf->get(), intermediates, verifier, id); !verified.ok()) {
    return Refused(id, verified.error().Message());
  }
  auto lifetime = identity::LifetimeOf(leaf->get());
  if (!lifetime.ok()) return Refused(id, lifetime.error().Message());
  std::string serial = identity::SerialHex(leaf->get());
  return IssuedIdentity{std::move(key), std::move(leaf).value(), std::move(intermediates), id, lifetime.value(),
                        std::move(serial)};
}

Result<void> VerifyIssuedIdentity(const IssuedIdentity& issued, const identity::PeerVerifier& verifier) {
  return VerifyAs(issued.certificate.get(), issued.intermediates, verifier, issued.id);
}

Result<std::shared_ptr<const WorkloadCredentials>> BuildWorkloadCredentials(
    const IssuedIdentity& issued, std::shared_ptr<const identity::PeerVerifier> verifier,
    int server_session_tickets) {
  auto client = BuildContext(issued, verifier, tunnel::TlsRole::kClient, 0);
  if (!client.ok()) return client.error();
  auto server = BuildContext(issued, verifier, tunnel::TlsRole::kServer, server_session_tickets);
  if (!server.ok()) return server.error();
  return std::shared_ptr<const WorkloadCredentials>(new WorkloadCredentials{
      std::move(client).value(), std::move(server).value(), issued.id, issued.serial_hex,
      issued.lifetime.not_before, issued.lifetime.not_after});
}

}  // namespace ferry::certs
