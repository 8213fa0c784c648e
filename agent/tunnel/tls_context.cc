#include "agent/tunnel/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cerrno>

namespace ferry::tunnel {
namespace {

constexpr unsigned char kSessionIdContext[] = "ferry-tunnel-v1";

TlsSessionEvents* EventsOf(const SSL* ssl) { return static_cast<TlsSessionEvents*>(SSL_get_app_data(ssl)); }

void KeylogCallback(const SSL* ssl, const char* line) {
  if (auto* events = EventsOf(ssl)) events->OnKeylogLine(line);
}

void MessageCallback(int write_p, int /*version*/, int content_type, const void* buf, size_t len, SSL* ssl,
                     void* /*arg*/) {
  if (auto* events = EventsOf(ssl)) {
    events->OnProtocolMessage(write_p != 0, content_type, static_cast<const uint8_t*>(buf), len);
  }
}

int NewSessionCallback(SSL* ssl, SSL_SESSION* session) {
  auto* events = EventsOf(ssl);
  return events != nullptr && events->OnNewTicket(session) ? 1 : 0;
}

// Replaces OpenSSL's certificate check: the chain must verify against the trust roots first, then
// the caller's PeerVerifier decides. Not called at all on a resumed handshake (no certificates).
int CertVerifyCallback(X509_STORE_CTX* store, void* arg) {
  auto* context = static_cast<TlsContext*>(arg);
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* events = ssl != nullptr ? EventsOf(ssl) : nullptr;
  if (X509_verify_cert(store) != 1) {
    if (events != nullptr) {
      events->OnPeerRejected(std::string("peer certificate chain: ") +
                             X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)));
    }
    return 0;
  }
  auto verdict = context->verify_peer()(X509_STORE_CTX_get0_cert(store), X509_STORE_CTX_get0_chain(store));
  if (!verdict.ok()) {
    if (events != nullptr) events->OnPeerRejected("peer identity: " + verdict.error().context);
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  return 1;
}

std::string CipherList(const std::vector<TlsCipher>& ciphers) {
  std::string list;
  for (TlsCipher cipher : ciphers) {
    if (!list.empty()) list += ":";
    list += TlsCipherName(cipher);
  }
  return list;
}

Result<void> InstallCredentials(SSL_CTX* ctx, const TlsContextOptions& options) {
  const auto& creds = options.credentials;
  if (!creds.certificate || !creds.private_key) return MakeError("TLS context needs a certificate and key", EINVAL);
  if (SSL_CTX_use_certificate(ctx, creds.certificate.get()) != 1) return OpenSslError("use certificate");
  for (const auto& intermediate : creds.intermediates) {
    if (SSL_CTX_add1_chain_cert(ctx, intermediate.get()) != 1) return OpenSslError("add chain certificate");
  }
  if (SSL_CTX_use_PrivateKey(ctx, creds.private_key.get()) != 1) return OpenSslError("use private key");
  if (SSL_CTX_check_private_key(ctx) != 1) return OpenSslError("private key does not match certificate");
  if (options.trust_roots.empty()) return MakeError("TLS context needs trust roots", EINVAL);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const auto& root : options.trust_roots) {
    if (X509_STORE_add_cert(store, root.get()) != 1) return OpenSslError("add trust root");
  }
  return Ok();
}

}  // namespace

Result<std::vector<X509Ptr>> LoadCertificatesPem(std::string_view pem) {
  std::unique_ptr<BIO, OpenSslDeleter<BIO, BIO_free_all>> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError("BIO_new_mem_buf");
  std::vector<X509Ptr> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(cert);
  // The loop ends with a "no start line" error at end of input: expected, not a failure.
  ClearOpenSslErrors();
  if (certs.empty()) return MakeError("no PEM certificate found", EINVAL);
  return certs;
}

Result<TlsCredentials> LoadCredentialsPem(std::string_view chain_pem, std::string_view key_pem) {
  auto certs = LoadCertificatesPem(chain_pem);
  if (!certs) return certs.error();
  std::unique_ptr<BIO, OpenSslDeleter<BIO, BIO_free_all>> bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  if (!bio) return OpenSslError("BIO_new_mem_buf");
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return OpenSslError("read PEM private key");
  TlsCredentials creds;
  creds.certificate = std::move(certs->front());
  for (size_t i = 1; i < certs->size(); ++i) creds.intermediates.push_back(std::move((*certs)[i]));
  creds.private_key = std::move(key);
  return creds;
}

Result<std::shared_ptr<TlsContext>> TlsContext::Create(TlsContextOptions options) {
  if (!options.verify_peer) return MakeError("TLS context needs a peer verifier", EINVAL);
  if (options.ciphers.empty()) return MakeError("TLS context needs at least one cipher suite", EINVAL);
  ClearOpenSslErrors();
  SslCtxPtr ctx(SSL_CTX_new(options.role == TlsRole::kClient ? TLS_client_method() : TLS_server_method()));
  if (!ctx) return OpenSslError("SSL_CTX_new");
  std::shared_ptr<TlsContext> context(new TlsContext(options.role, std::move(ctx), std::move(options.verify_peer)));
  FERRY_TRY(context->Configure(options));
  return context;
}

Result<void> TlsContext::Configure(const TlsContextOptions& options) {
  SSL_CTX* ctx = ctx_.get();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 || SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    return OpenSslError("restrict to TLS 1.3");
  }
  if (SSL_CTX_set_ciphersuites(ctx, CipherList(options.ciphers).c_str()) != 1) return OpenSslError("set cipher suites");
  FERRY_TRY(InstallCredentials(ctx, options));
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, CertVerifyCallback, this);
  SSL_CTX_set_keylog_callback(ctx, KeylogCallback);
  SSL_CTX_set_msg_callback(ctx, MessageCallback);
  // No middlebox-compatibility ChangeCipherSpec records: both ends are ours, and idle proxies
  // should not hold 2 x 16 KiB record buffers per connection.
  SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_timeout(ctx, static_cast<long>(options.ticket_lifetime.count()));
  if (role_ == TlsRole::kServer) {
    // Stateful tickets: a ticket names a session kept in this context's cache, so resuming is
    // a lookup. A stateless ticket is the whole session encrypted, client certificate included,
    // and OpenSSL 3.0 decodes that certificate's key through its decoder framework on every
    // resumption: over half of a resumed setup's CPU (docs/PERFORMANCE.md). OpenSSL drops a
    // TLS 1.3 session from the cache when it is resumed, so each ticket is good for one setup.
    // The id context is mandatory for resumption when client certificates are verified.
    SSL_CTX_set_num_tickets(ctx, static_cast<size_t>(std::max(options.session_tickets, 0)));
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, options.session_cache_size);
    if (SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1) != 1) {
      return OpenSslError("set session id context");
    }
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, NewSessionCallback);
  }
  return Ok();
}

}  // namespace ferry::tunnel
