// Owning wrappers for the OpenSSL objects the identity code touches, and the one way to turn
// OpenSSL's thread-local error queue into a ferry::Error.
#pragma once

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "common/result.h"

namespace ferry::identity {

template <auto FreeFn>
struct OpenSslFree {
  template <typename T>
  void operator()(T* p) const {
    FreeFn(p);
  }
};

using UniqueX509 = std::unique_ptr<X509, OpenSslFree<X509_free>>;
using UniqueX509Req = std::unique_ptr<X509_REQ, OpenSslFree<X509_REQ_free>>;
using UniqueX509Store = std::unique_ptr<X509_STORE, OpenSslFree<X509_STORE_free>>;
using UniqueX509StoreCtx = std::unique_ptr<X509_STORE_CTX, OpenSslFree<X509_STORE_CTX_free>>;
using UniqueX509Extension = std::unique_ptr<X509_EXTENSION, OpenSslFree<X509_EXTENSION_free>>;
using UniqueX509Name = std::unique_ptr<X509_NAME, OpenSslFree<X509_NAME_free>>;
using UniqueEvpPkey = std::unique_ptr<EVP_PKEY, OpenSslFree<EVP_PKEY_free>>;
using UniqueEvpPkeyCtx = std::unique_ptr<EVP_PKEY_CTX, OpenSslFree<EVP_PKEY_CTX_free>>;
using UniqueBio = std::unique_ptr<BIO, OpenSslFree<BIO_free_all>>;
using UniqueBignum = std::unique_ptr<BIGNUM, OpenSslFree<BN_free>>;
using UniqueAsn1Integer = std::unique_ptr<ASN1_INTEGER, OpenSslFree<ASN1_INTEGER_free>>;
using UniqueGeneralName = std::unique_ptr<GENERAL_NAME, OpenSslFree<GENERAL_NAME_free>>;
using UniqueGeneralNames = std::unique_ptr<GENERAL_NAMES, OpenSslFree<GENERAL_NAMES_free>>;
using UniqueBasicConstraints =
    std::unique_ptr<BASIC_CONSTRAINTS, OpenSslFree<BASIC_CONSTRAINTS_free>>;

// Plain names for OpenSSL's stack types (the STACK_OF macro confuses formatters and readers).
using X509Chain = STACK_OF(X509);
using X509ExtensionList = STACK_OF(X509_EXTENSION);

// Stacks own their elements: the deleter pops and frees each one.
struct X509StackFree {
  void operator()(X509Chain* s) const { sk_X509_pop_free(s, X509_free); }
};
using UniqueX509Stack = std::unique_ptr<X509Chain, X509StackFree>;

struct X509ExtensionStackFree {
  void operator()(X509ExtensionList* s) const {
    sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
  }
};
using UniqueX509ExtensionStack = std::unique_ptr<X509ExtensionList, X509ExtensionStackFree>;

// Another owning reference to a certificate (X509 objects are reference counted).
UniqueX509 ShareX509(X509* cert);

// Error carrying `context` plus every entry of OpenSSL's error queue (which it empties), so the
// queue never leaks a stale reason into an unrelated later call on this thread.
Error OpenSslError(std::string context);

// Plain error for a rule we enforce ourselves; also empties the OpenSSL queue for the same reason.
Error IdentityError(std::string context);

}  // namespace ferry::identity
