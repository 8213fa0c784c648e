// Owning handles for OpenSSL objects (RAII, move-only) and error-queue formatting.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "common/result.h"

namespace ferry::tunnel {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const { Free(p); }
};

using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509, X509_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpenSslDeleter<SSL, SSL_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, OpenSslDeleter<SSL_SESSION, SSL_SESSION_free>>;

// Takes a new reference (X509_up_ref) so the caller's object stays owned by the caller.
X509Ptr ShareX509(X509* cert);
EvpPkeyPtr ShareEvpPkey(EVP_PKEY* key);

// "<context>: <OpenSSL error queue>" and clears the queue (errors must not leak into the next
// connection handled on this thread).
Error OpenSslError(std::string context);
void ClearOpenSslErrors();

}  // namespace ferry::tunnel
