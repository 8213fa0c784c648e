// Per-identity TLS configuration for the tunnel: TLS 1.3 only, mutual certificates, AES-GCM suites
// the kernel can offload, a caller-supplied peer check (SPIFFE identity lives in identity/), and
// resumption tickets. One TlsContext per local workload identity and role; rotate certificates by
// building a new context (sessions keep the one they started with alive).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tunnel/openssl_types.h"
#include "agent/tunnel/session_cache.h"
#include "agent/tunnel/traffic_secrets.h"
#include "common/result.h"

namespace ferry::tunnel {

enum class TlsRole { kClient, kServer };

// Called once the peer's chain has verified against the trust roots; decides whether this peer
// is acceptable (e.g. its SPIFFE ID). <chain> is the verified chain, leaf first, root last.
// An error fails the handshake with an alert to the peer; its context becomes the reason.
using PeerVerifier = std::function<Result<void>(X509* leaf, STACK_OF(X509)* chain)>;

struct TlsCredentials {
  X509Ptr certificate;
  std::vector<X509Ptr> intermediates;  // sent after the leaf
  EvpPkeyPtr private_key;
};

Result<std::vector<X509Ptr>> LoadCertificatesPem(std::string_view pem);
// <chain_pem>: leaf first, then intermediates.
Result<TlsCredentials> LoadCredentialsPem(std::string_view chain_pem, std::string_view key_pem);

struct TlsContextOptions {
  TlsRole role = TlsRole::kClient;
  TlsCredentials credentials;
  std::vector<X509Ptr> trust_roots;
  // Preference order. AES-128 first: cheaper, and both are offloadable.
  std::vector<TlsCipher> ciphers = {TlsCipher::kAes128GcmSha256, TlsCipher::kAes256GcmSha384};
  // Server: NewSessionTicket messages sent after each handshake; 0 disables resumption. Off by
  // default: tickets are post-handshake records that shift the receive record sequence a kTLS
  // receiver must start from (this library counts them, but fewer moving parts is the default).
  int session_tickets = 0;
  std::chrono::seconds ticket_lifetime{3600};
  // Server: sessions its tickets stand for, kept in memory (the oldest go first when full; a
  // client whose ticket was dropped makes a full handshake).
  long session_cache_size = 4096;
  PeerVerifier verify_peer;  // required
};

// What the context's OpenSSL callbacks report to the TlsSession that owns an SSL (its app data).
class TlsSessionEvents {
 public:
  virtual void OnKeylogLine(std::string_view line) = 0;
  virtual void OnProtocolMessage(bool sent, int content_type, const uint8_t* bytes, size_t size) = 0;
  virtual void OnPeerRejected(std::string reason) = 0;
  // Client: a resumption ticket arrived. Returns true when it kept the reference.
  virtual bool OnNewTicket(SSL_SESSION* session) = 0;

 protected:
  ~TlsSessionEvents() = default;
};

class TlsContext {
 public:
  static Result<std::shared_ptr<TlsContext>> Create(TlsContextOptions options);

  TlsRole role() const { return role_; }
  SSL_CTX* native() const { return ctx_.get(); }
  const PeerVerifier& verify_peer() const { return verify_peer_; }
  // Client contexts: resumption tickets received, per peer key.
  TlsSessionCache& session_cache() { return session_cache_; }

 private:
  TlsContext(TlsRole role, SslCtxPtr ctx, PeerVerifier verify_peer)
      : role_(role), ctx_(std::move(ctx)), verify_peer_(std::move(verify_peer)) {}
  Result<void> Configure(const TlsContextOptions& options);

  TlsRole role_;
  SslCtxPtr ctx_;
  PeerVerifier verify_peer_;
  TlsSessionCache session_cache_;
};

}  // namespace ferry::tunnel
