#include "controlplane/server/certificate_service.h"

#include <spdlog/spdlog.h>


namespace ferry::controlplane {
namespace {

int64_t UnixSeconds(identity::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

CertificateSigningService::CertificateSigningService(const ControllerCa& ca,
                                                     std::shared_ptr<const NodeAuthenticator> authenticator,
                                                     PlacementFn placement, std::function<void()> on_change)
    : ca_(ca),
      authenticator_(std::move(authenticator)),
      placement_(std::move(placement)),
      on_change_(std::move(on_change)) {}

grpc::ServerUnaryReactor* CertificateSigningService::SignCertificate(grpc::CallbackServerContext* context,
                                                                     const v1::SignCertificateRequest* request,
                                                                     v1::SignCertificateResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::optional<std::string> node = authenticator_->NodeOfCall(*context);
  if (!node) {
    // TokenAuthProcessor rejects such calls first (unless the token file changed in between).
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no valid node token"));
    return reactor;
  }
  // ECDSA signing takes well under a millisecond: done inline on the gRPC callback thread.
  reactor->Finish(Sign(*node, *request, *response));
  return reactor;
}

grpc::Status CertificateSigningService::Sign(const std::string& node, const v1::SignCertificateRequest& request,
                                             v1::SignCertificateResponse& response) {
  if (request.ttl_seconds() < 0) {
    return Refuse(node, grpc::StatusCode::INVALID_ARGUMENT, "invalid-request", "ttl_seconds is negative");
  }
  identity::IssuanceRequest issuance{.node = node};
  if (request.ttl_seconds() > 0) issuance.ttl = std::chrono::seconds(request.ttl_seconds());
  std::shared_ptr<const WorkloadPlacement> placement = placement_();
  // Whether the CA got as far as asking tells a refused identity (PERMISSION_DENIED) apart from
  // a malformed request (INVALID_ARGUMENT); the CA's message says which rule it was either way.
  bool authorizer_refused = false;
  bool authorizer_asked = false;
  auto authorizer = [&](const std::string& asking_node, const identity::SpiffeId& id) -> Result<void> {
    authorizer_asked = true;
    Result<void> allowed = placement ? placement->Authorize(asking_node, id) : MakeError("no workload inventory yet");
    authorizer_refused = !allowed.ok();
    return allowed;
  };
  Result<identity::IssuedCertificate> issued = ca_.authority.Sign(request.csr_pem(), issuance, authorizer);
  if (!issued.ok()) {
    if (authorizer_refused) {
      return Refuse(node, grpc::StatusCode::PERMISSION_DENIED, "not-on-node", issued.error().Message());
    }
    if (!authorizer_asked) {
      return Refuse(node, grpc::StatusCode::INVALID_ARGUMENT, "invalid-request", issued.error().Message());
    }
    return Refuse(node, grpc::StatusCode::INTERNAL, "ca-failure", issued.error().Message());
  }
  response.set_spiffe_id(issued->id.ToString());
  response.set_certificate_pem(issued->certificate_pem);
  response.set_chain_pem(issued->chain_pem);
  response.set_trust_bundle_pem(ca_.trust_bundle_pem);
  response.set_not_before_unix(UnixSeconds(issued->lifetime.not_before));
  response.set_not_after_unix(UnixSeconds(issued->lifetime.not_after));
  response.set_serial_hex(issued->serial_hex);
  spdlog::info("signed {} for node \"{}\" (serial {}, until {})", response.spiffe_id(), node, response.serial_hex(),
               response.not_after_unix());
  {
    std::lock_guard lock(mu_);
    ++stats_.signed_count;
  }
  if (on_change_) on_change_();
  return grpc::Status::OK;
}

grpc::Status CertificateSigningService::Refuse(const std::string& node, grpc::StatusCode code,
                                               const std::string& reason_key, const std::string& message) {
  spdlog::warn("certificate for node \"{}\" refused: {}", node, message);
  {
    std::lock_guard lock(mu_);
    ++stats_.refused_count;
    ++stats_.refused_by_reason[reason_key];
    stats_.last_refusal = "node \"" + node + "\": " + message;
  }
  if (on_change_) on_change_();
  return grpc::Status(code, message);
}

IssuanceStats CertificateSigningService::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace ferry::controlplane
