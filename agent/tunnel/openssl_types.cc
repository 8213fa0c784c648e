#include "agent/tunnel/openssl_types.h"

#include <openssl/err.h>

#include <cerrno>

namespace ferry::tunnel {

X509Ptr ShareX509(X509* cert) {
  if (cert != nullptr) X509_up_ref(cert);
  return X509Ptr(cert);
}

EvpPkeyPtr ShareEvpPkey(EVP_PKEY* key) {
  if (key != nullptr) EVP_PKEY_up_ref(key);
  return EvpPkeyPtr(key);
}

Error OpenSslError(std::string context) {
  std::string details;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    if (!details.empty()) details += "; ";
    details += text;
  }
  if (!details.empty()) context += ": " + details;
  return MakeError(std::move(context), EPROTO);
}

void ClearOpenSslErrors() { ERR_clear_error(); }

}  // namespace ferry::tunnel
