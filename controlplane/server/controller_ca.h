// The controller's certificate authority: an operator CA/intermediate loaded from files, or a
// root the controller generates on first start and keeps in a directory so that a restart
// keeps the root every agent already trusts. Also the TLS serving certificate the controller
// issues itself from that CA for its gRPC port.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"
#include "identity/certificate_authority.h"

namespace ferry::controlplane {

struct CaSettings {
  std::string trust_domain = "cluster.local";
  std::chrono::seconds leaf_ttl = std::chrono::hours(24);
  // Operator CA: the signing certificate first, then optionally its chain; its key; further
  // roots to trust (root rotation). When ca_cert is empty the generated root in ca_dir is used.
  std::filesystem::path ca_cert = {};
  std::filesystem::path ca_key = {};
  std::filesystem::path ca_extra_roots = {};
  std::filesystem::path ca_dir = {};  // holds ca.pem and ca.key (0600) of the generated root
};

struct ControllerCa {
  identity::CertificateAuthority authority;
  // Intermediates between the signing certificate and the roots (the signing certificate first
  // when it is not itself a root); sent after any leaf the controller presents itself.
  std::string chain_pem;
  std::string trust_bundle_pem;
};

// Checks the combination of flags, then loads or creates the CA.
Result<ControllerCa> LoadOrCreateCa(const CaSettings& settings);

// Accepts a whole number with a unit: "90s", "2m", "24h" (also "1d"); at least one second.
Result<std::chrono::seconds> ParseDuration(std::string_view text);

struct ServingCertificate {
  std::string certificate_chain_pem;  // leaf, then ControllerCa::chain_pem
  std::string private_key_pem;
  std::string spiffe_id;
};

inline constexpr const char kControllerDnsName[] = "ferry-controller";

// A fresh P-256 key and a server certificate for it, signed by the CA: subjectAltName
// DNS:<dns_name> and URI:spiffe://<trust-domain>/ferry/controller, EKU serverAuth, valid as long
// as workload leaves are (the controller issues a new one at every start).
Result<ServingCertificate> IssueServingCertificate(const ControllerCa& ca, const std::string& dns_name,
                                                   std::chrono::seconds ttl);

}  // namespace ferry::controlplane
