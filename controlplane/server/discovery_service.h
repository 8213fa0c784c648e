// The gRPC side of policy discovery: one PolicyStreamReactor per agent stream (callback API, no
// thread per stream). The first request names the node, which must be the node the call's token
// authenticated (see node_auth.h); the reactor subscribes to that node at
// the SnapshotPublisher, writes its snapshot, and writes again whenever the publisher pushes a
// newer one (only the newest is sent if several arrive while a write is in flight). ACKs and
// NACKs are matched to the response they answer by nonce and recorded at the publisher.
#pragma once

#include <grpcpp/grpcpp.h>

#include "controlplane/server/node_auth.h"
#include "controlplane/server/snapshot_publisher.h"
#include "ferry/v1/discovery.grpc.pb.h"

namespace ferry::controlplane {

class PolicyDiscoveryService final : public v1::PolicyDiscovery::CallbackService {
 public:
  PolicyDiscoveryService(SnapshotPublisher& publisher, std::shared_ptr<const NodeAuthenticator> authenticator)
      : publisher_(publisher), authenticator_(std::move(authenticator)) {}

  grpc::ServerBidiReactor<v1::PolicyRequest, v1::PolicyResponse>* StreamPolicy(
      grpc::CallbackServerContext* context) override;

 private:
  SnapshotPublisher& publisher_;
  std::shared_ptr<const NodeAuthenticator> authenticator_;
};

}  // namespace ferry::controlplane
