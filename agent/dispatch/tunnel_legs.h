// What the dispatcher needs to put a connection through the mTLS tunnel between nodes: a client
// leg speaking for a local source workload, and a server leg for a local destination's 15008
// listener. Production: agent/tunnel legs with credentials from agent/certs; tests: fakes.
#pragma once

#include <memory>

#include "agent/inpod/pod_registry.h"
#include "agent/policy/evaluator.h"
#include "agent/proxy/secure_leg.h"
#include "common/ipv4.h"
#include "common/result.h"

namespace ferry::dispatch {

class TunnelLegs {
 public:
  virtual ~TunnelLegs() = default;
  // A leg that dials for `source` and accepts only `destination`'s identity as the peer, asking
  // it for `target`. Error (the client is reset) when `source` has no valid certificate now.
  virtual Result<std::unique_ptr<proxy::SecureLeg>> Client(const inpod::EnrolledPod& source,
                                                           const policy::Identity& destination,
                                                           Ipv4Endpoint target) = 0;
  // The accepting leg of `destination`'s 15008 listener. Error when it has no valid certificate.
  virtual Result<std::unique_ptr<proxy::SecureLeg>> Server(const inpod::EnrolledPod& destination) = 0;
  // The workload identity in a verified peer's SPIFFE ID, if it is of this mesh's trust domain.
  virtual Result<policy::Identity> PeerIdentity(const std::string& peer_spiffe_id) const = 0;
};

}  // namespace ferry::dispatch
