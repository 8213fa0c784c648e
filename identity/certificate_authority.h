// Controller side of issuance: signs workload certificates for CSRs from agents, but only for
// identities the injected authorizer says are scheduled on the asking node.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "identity/clock.h"
#include "identity/openssl_handles.h"
#include "identity/spiffe_id.h"
#include "identity/trust_bundle.h"

namespace ferry::identity {

struct CaOptions {
  std::string trust_domain;
  std::chrono::seconds leaf_ttl = std::chrono::hours(24);
  // notBefore is backdated by this much so peers with a slightly slow clock accept new leaves.
  std::chrono::seconds clock_skew_allowance = std::chrono::minutes(5);
  std::chrono::seconds root_ttl = std::chrono::hours(24 * 3650);  // self-generated root only
  WallClock clock = SystemNow;
};

struct IssuanceRequest {
  std::string node;  // the agent's node, as authenticated by the transport carrying the CSR
  // May shorten, never lengthen, CaOptions::leaf_ttl.
  std::optional<std::chrono::seconds> ttl = std::nullopt;
};

// Controller policy hook: Ok when a pod with this ns/sa is scheduled on `node`, else an Error
// saying why not.
using IssuanceAuthorizer = std::function<Result<void>(const std::string& node, const SpiffeId& id)>;

struct IssuedCertificate {
  SpiffeId id;
  std::string certificate_pem;  // the leaf
  std::string chain_pem;        // intermediates to present after the leaf (empty under a root)
  CertificateLifetime lifetime;
  std::string serial_hex;
};

class CertificateAuthority {
 public:
  // A fresh ECDSA P-256 root: CA:TRUE, pathlen 0, keyCertSign, valid root_ttl.
  static Result<CertificateAuthority> CreateSelfSigned(CaOptions options);
  // `cert_pem`: the signing CA first, then optionally its chain (intermediates and/or root).
  // `key_pem`: the signing CA's key. `extra_roots_pem`: further roots to trust (root rotation).
  // Self-signed certificates become the trust bundle, the rest the chain sent with each leaf;
  // the signing certificate must be a CA, match the key, and chain to the bundle.
  static Result<CertificateAuthority> FromPem(CaOptions options, std::string_view cert_pem,
                                              std::string_view key_pem,
                                              std::string_view extra_roots_pem = {});
  static Result<CertificateAuthority> FromFiles(CaOptions options, const std::string& cert_path,
                                                const std::string& key_path,
                                                const std::string& extra_roots_path = "");

  // Validates the CSR (PEM, signature, P-256 key, exactly one URI SAN that is a SPIFFE ID in our
  // trust domain), asks `authorizer`, and issues a leaf. Errors name the reason for refusal.
  // Safe to call from several threads at once; `authorizer` must be too.
  Result<IssuedCertificate> Sign(std::string_view csr_pem, const IssuanceRequest& request,
                                 const IssuanceAuthorizer& authorizer) const;

  const TrustBundle& trust_bundle() const { return bundle_; }
  X509* signing_certificate() const { return signing_cert_.get(); }
  const std::string& trust_domain() const { return options_.trust_domain; }
  // For persisting a self-generated CA (e.g. to a Secret) so a restart keeps the same root.
  Result<std::string> SigningCertificatePem() const;
  Result<std::string> SigningKeyPem() const;

 private:
  CertificateAuthority(CaOptions options, UniqueX509 cert, UniqueEvpPkey key,
                       std::vector<UniqueX509> intermediates, TrustBundle bundle)
      : options_(std::move(options)),
        signing_cert_(std::move(cert)),
        signing_key_(std::move(key)),
        intermediates_(std::move(intermediates)),
        bundle_(std::move(bundle)) {}

  Result<UniqueX509> BuildLeaf(EVP_PKEY* public_key, const SpiffeId& id,
                               const CertificateLifetime& lifetime) const;
  Result<CertificateLifetime> LeafLifetime(const IssuanceRequest& request) const;

  CaOptions options_;
  UniqueX509 signing_cert_;
  UniqueEvpPkey signing_key_;
  std::vector<UniqueX509> intermediates_;
  TrustBundle bundle_;
};

}  // namespace ferry::identity
