// Asks the controller's CA to sign a workload CSR. An interface so the IdentityManager can be
// tested against an in-process CA; GrpcCertificateSigner is the real one.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"
#include "identity/clock.h"

namespace grpc {
class Channel;
}

namespace ferry::certs {

// The CA's answer, as sent (the IdentityManager checks it before use).
struct SignedCertificate {
  std::string spiffe_id;
  std::string certificate_pem;   // the leaf
  std::string chain_pem;         // intermediates after the leaf; empty under a root
  std::string trust_bundle_pem;  // roots to trust; two while a root rotates
  identity::CertificateLifetime lifetime{};
  std::string serial_hex;
};

class CertificateSigner {
 public:
  virtual ~CertificateSigner() = default;
  // `ttl` 0 = the CA's default. May block (a network round trip); called from one thread.
  virtual Result<SignedCertificate> Sign(const std::string& csr_pem, std::chrono::seconds ttl) = 0;
};

// CertificateService.SignCertificate over a channel from MakeControllerChannel.
class GrpcCertificateSigner final : public CertificateSigner {
 public:
  explicit GrpcCertificateSigner(std::shared_ptr<grpc::Channel> channel,
                                 std::chrono::milliseconds deadline = std::chrono::seconds(10));
  // Errors carry the gRPC status: "SignCertificate: UNAVAILABLE: ...", with an errno-style code
  // (ECONNREFUSED unavailable, ETIMEDOUT deadline, EACCES refused/unauthenticated, EPROTO other).
  Result<SignedCertificate> Sign(const std::string& csr_pem, std::chrono::seconds ttl) override;

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::chrono::milliseconds deadline_;
};

}  // namespace ferry::certs
