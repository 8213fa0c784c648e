#include "identity/peer_verifier.h"

#include <openssl/err.h>

#include "identity/x509_inspect.h"

namespace ferry::identity {
namespace {

Error Rejected(const std::string& reason) {
  return IdentityError("peer certificate rejected: " + reason);
}

}  // namespace

Result<PeerVerifier> PeerVerifier::Create(TrustBundle bundle, PeerVerifierOptions options) {
  FERRY_TRY(ValidateTrustDomain(options.trust_domain));
  if (!options.clock) return IdentityError("peer verifier needs a clock");
  if (options.max_intermediates < 0) return IdentityError("max_intermediates is negative");
  auto store = bundle.NewStore();
  if (!store.ok()) return store.error();
  return PeerVerifier(std::move(bundle), std::move(store).value(), std::move(options));
}

Result<void> PeerVerifier::VerifyChain(X509* leaf, X509Chain* chain, PeerRole role) const {
  UniqueX509StoreCtx ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store_.get(), leaf, chain) != 1) {
    return OpenSslError("X509_STORE_CTX_init");
  }
  X509_STORE_CTX_set_time(ctx.get(), 0, std::chrono::system_clock::to_time_t(options_.clock()));
  X509_STORE_CTX_set_depth(ctx.get(), options_.max_intermediates);
  int purpose = role == PeerRole::kClient ? X509_PURPOSE_SSL_CLIENT : X509_PURPOSE_SSL_SERVER;
  if (X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1) {
    return OpenSslError("X509_STORE_CTX_set_purpose");
  }
  if (X509_verify_cert(ctx.get()) == 1) return Ok();
  int err = X509_STORE_CTX_get_error(ctx.get());
  return Rejected("chain verification failed at depth " +
                  std::to_string(X509_STORE_CTX_get_error_depth(ctx.get())) + ": " +
                  X509_verify_cert_error_string(err));
}

Result<SpiffeId> PeerVerifier::Verify(X509* leaf, X509Chain* chain,
                                      const PeerExpectation& expectation) const {
  if (leaf == nullptr) return Rejected("no peer certificate");
  // A CA certificate from the bundle would otherwise verify as a chain of one.
  if (IsCertificateAuthority(leaf)) return Rejected("leaf certificate is a CA");
  if (options_.require_p256) {
    auto key = RequireP256Key(X509_get0_pubkey(leaf));
    if (!key.ok()) return Rejected(key.error().Message());
  }
  auto chain_ok = VerifyChain(leaf, chain, expectation.role);
  if (!chain_ok.ok()) return chain_ok.error();

  auto uri = CertificateUriSan(leaf);
  if (!uri.ok()) return Rejected(uri.error().Message());
  auto id = SpiffeId::Parse(uri.value());
  if (!id.ok()) return Rejected("URI SAN is not a Ferry SPIFFE ID: " + id.error().Message());
  if (id->trust_domain() != options_.trust_domain) {
    return Rejected("foreign trust domain \"" + id->trust_domain() + "\" (expected \"" +
                    options_.trust_domain + "\")");
  }
  if (expectation.identity && !(id.value() == *expectation.identity)) {
    return Rejected("identity " + id->ToString() + " is not the expected " +
                    expectation.identity->ToString());
  }
  return id;
}

}  // namespace ferry::identity
