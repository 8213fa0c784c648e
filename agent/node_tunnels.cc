#include "agent/node_tunnels.h"

#include "agent/tunnel/tunnel_leg.h"
#include "identity/spiffe_id.h"

namespace ferry::agent {

Result<std::shared_ptr<const certs::WorkloadCredentials>> NodeTunnels::CredentialsOf(const inpod::EnrolledPod& pod) const {
  auto credentials = identities_.Get(pod.spec.namespace_name, pod.spec.service_account);
  if (!credentials)
    return MakeError("no valid certificate for " + pod.spec.namespace_name + "/" + pod.spec.service_account + " yet");
  return credentials;
}

Result<std::unique_ptr<proxy::SecureLeg>> NodeTunnels::Client(const inpod::EnrolledPod& source,
                                                              const policy::Identity& destination, Ipv4Endpoint target) {
  auto credentials = CredentialsOf(source);
  if (!credentials.ok()) return credentials.error();
  auto expected = identity::SpiffeId::Make(policy_.Current()->TrustDomain(), destination.ns, destination.service_account);
  if (!expected.ok()) return MakeError("destination identity " + destination.ToString() + ": " + expected.error().Message());
  tunnel::ClientTunnelLegOptions options;
  options.context = (*credentials)->client_context;
  options.expected_peer_id = expected->ToString();
  options.target = target;
  options.allow_ktls = allow_ktls_;
  return tunnel::MakeClientTunnelLeg(std::move(options));
}

Result<std::unique_ptr<proxy::SecureLeg>> NodeTunnels::Server(const inpod::EnrolledPod& destination) {
  auto credentials = CredentialsOf(destination);
  if (!credentials.ok()) return credentials.error();
  tunnel::ServerTunnelLegOptions options;
  options.context = (*credentials)->server_context;
  options.listener_pod_ip = destination.spec.ip;
  options.allow_ktls = allow_ktls_;
  return tunnel::MakeServerTunnelLeg(std::move(options));
}

// The certificate was verified against the trust bundle by the leg; this maps it to the policy's
// notion of identity and refuses any other trust domain.
Result<policy::Identity> NodeTunnels::PeerIdentity(const std::string& peer_spiffe_id) const {
  auto id = identity::SpiffeId::Parse(peer_spiffe_id);
  if (!id.ok()) return id.error();
  const std::string& trust_domain = policy_.Current()->TrustDomain();
  if (id->trust_domain() != trust_domain)
    return MakeError("trust domain " + id->trust_domain() + " is not this mesh's (" + trust_domain + ")");
  return policy::Identity{id->ns(), id->service_account()};
}

}  // namespace ferry::agent
