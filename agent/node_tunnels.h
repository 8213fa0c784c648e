// The production TunnelLegs: tunnel legs (agent/tunnel) with the workload credentials the
// identity manager (agent/certs) holds for this node's pods. A pod without a valid certificate
// gets no leg: its tunnel connections are refused (fail closed).
#pragma once

#include <memory>
#include <string>

#include "agent/certs/identity_manager.h"
#include "agent/dispatch/tunnel_legs.h"
#include "agent/policy/policy_store.h"

namespace ferry::agent {

class NodeTunnels : public dispatch::TunnelLegs {
 public:
  NodeTunnels(certs::IdentityManager& identities, policy::PolicyStore& policy, bool allow_ktls)
      : identities_(identities), policy_(policy), allow_ktls_(allow_ktls) {}

  Result<std::unique_ptr<proxy::SecureLeg>> Client(const inpod::EnrolledPod& source, const policy::Identity& destination,
                                                   Ipv4Endpoint target) override;
  Result<std::unique_ptr<proxy::SecureLeg>> Server(const inpod::EnrolledPod& destination) override;
  Result<policy::Identity> PeerIdentity(const std::string& peer_spiffe_id) const override;

 private:
  Result<std::shared_ptr<const certs::WorkloadCredentials>> CredentialsOf(const inpod::EnrolledPod& pod) const;

  certs::IdentityManager& identities_;
  policy::PolicyStore& policy_;
  bool allow_ktls_;
};

}  // namespace ferry::agent
