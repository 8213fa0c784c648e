// The root certificates an agent trusts for its mesh: normally one, two while a root rotates.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "identity/openssl_handles.h"

namespace ferry::identity {

class TrustBundle {
 public:
  // Every certificate must be a self-signed CA; at least one is required.
  static Result<TrustBundle> FromPem(std::string_view pem);
  static Result<TrustBundle> FromCertificates(std::vector<UniqueX509> roots);

  TrustBundle(TrustBundle&&) = default;
  TrustBundle& operator=(TrustBundle&&) = default;
  TrustBundle Clone() const;

  const std::vector<UniqueX509>& roots() const { return roots_; }
  Result<std::string> ToPem() const;
  // A fresh X509_STORE holding the roots (for X509_verify_cert or an SSL_CTX).
  Result<UniqueX509Store> NewStore() const;

 private:
  explicit TrustBundle(std::vector<UniqueX509> roots) : roots_(std::move(roots)) {}
  std::vector<UniqueX509> roots_;
};

}  // namespace ferry::identity
