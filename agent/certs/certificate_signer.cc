#include "agent/certs/certificate_signer.h"

#include <grpcpp/grpcpp.h>

#include <cerrno>

#include "ferry/v1/certificate.grpc.pb.h"

namespace ferry::certs {
namespace {

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    default: return "error";
  }
}

int ErrnoFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE: return ECONNREFUSED;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return ETIMEDOUT;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED: return EACCES;
    default: return EPROTO;
  }
}

identity::SystemTime FromUnix(int64_t seconds) {
  return identity::SystemTime(std::chrono::seconds(seconds));
}

}  // namespace

GrpcCertificateSigner::GrpcCertificateSigner(std::shared_ptr<grpc::Channel> channel,
                                             std::chrono::milliseconds deadline)
    : channel_(std::move(channel)), deadline_(deadline) {}

Result<SignedCertificate> GrpcCertificateSigner::Sign(const std::string& csr_pem, std::chrono::seconds ttl) {
  auto stub = v1::CertificateService::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline_);
  v1::SignCertificateRequest request;
  request.set_csr_pem(csr_pem);
  request.set_ttl_seconds(ttl.count());
  v1::SignCertificateResponse response;
  grpc::Status status = stub->SignCertificate(&context, request, &response);
  if (!status.ok()) {
    return MakeError(std::string("SignCertificate: ") + StatusCodeName(status.error_code()) + ": " +
                         status.error_message(),
                     ErrnoFor(status.error_code()));
  }
  SignedCertificate signed_cert;
  signed_cert.spiffe_id = response.spiffe_id();
  signed_cert.certificate_pem = response.certificate_pem();
  signed_cert.chain_pem = response.chain_pem();
  signed_cert.trust_bundle_pem = response.trust_bundle_pem();
  signed_cert.lifetime = {FromUnix(response.not_before_unix()), FromUnix(response.not_after_unix())};
  signed_cert.serial_hex = response.serial_hex();
  return signed_cert;
}

}  // namespace ferry::certs
