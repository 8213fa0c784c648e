#include "identity/openssl_handles.h"

#include <openssl/err.h>

namespace ferry::identity {

UniqueX509 ShareX509(X509* cert) {
  if (cert == nullptr) return nullptr;
  X509_up_ref(cert);
  return UniqueX509(cert);
}

Error OpenSslError(std::string context) {
  std::string details;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!details.empty()) details += "; ";
    details += buf;
  }
  if (!details.empty()) context += " (" + details + ")";
  return MakeError(std::move(context));
}

Error IdentityError(std::string context) {
  ERR_clear_error();
  return MakeError(std::move(context));
}

}  // namespace ferry::identity
