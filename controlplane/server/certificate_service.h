// CertificateService: signs the CSRs of node agents for the workloads scheduled on their node.
// The node is the one TokenAuthProcessor authenticated for the call, never a request field.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "controlplane/server/controller_ca.h"
#include "controlplane/server/controller_status.h"
#include "controlplane/server/node_auth.h"
#include "controlplane/server/workload_placement.h"
#include "ferry/v1/certificate.grpc.pb.h"

namespace ferry::controlplane {

class CertificateSigningService final : public v1::CertificateService::CallbackService {
 public:
  using PlacementFn = std::function<std::shared_ptr<const WorkloadPlacement>()>;

  // `ca` must outlive the service. `placement` returns the current inventory's placement (any
  // thread). `on_change` runs after every signing or refusal (status file), without locks held.
  CertificateSigningService(const ControllerCa& ca, std::shared_ptr<const NodeAuthenticator> authenticator,
                            PlacementFn placement, std::function<void()> on_change);

  grpc::ServerUnaryReactor* SignCertificate(grpc::CallbackServerContext* context,
                                            const v1::SignCertificateRequest* request,
                                            v1::SignCertificateResponse* response) override;

  IssuanceStats Stats() const;

 private:
  grpc::Status Sign(const std::string& node, const v1::SignCertificateRequest& request,
                    v1::SignCertificateResponse& response);
  grpc::Status Refuse(const std::string& node, grpc::StatusCode code, const std::string& reason_key,
                      const std::string& message);

  const ControllerCa& ca_;
  std::shared_ptr<const NodeAuthenticator> authenticator_;
  PlacementFn placement_;
  std::function<void()> on_change_;
  mutable std::mutex mu_;
  IssuanceStats stats_;
};

}  // namespace ferry::controlplane
