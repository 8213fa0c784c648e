// One TLS 1.3 connection of the tunnel, driven entirely through memory: the caller feeds the
// ciphertext it received and drains the ciphertext to send, so an io_uring loop (or a test) owns
// all I/O. After the handshake it can hand its application traffic secrets to the kernel (kTLS).
//
//   kHandshaking --Handshake()--> kEstablished --Shutdown()--> kShutdownSent --peer close--> kClosed
//        |                             |  peer close_notify --> kPeerClosed --Shutdown()--> kClosed
//        |                             '--HandOffToKernel()--> kOffloaded (OpenSSL no longer used)
//        '-- any protocol/verify error --> kFailed (an alert may still be pending: send it)
//
// After every call, send PendingCiphertext() bytes: handshake flights, records, alerts and the
// server's resumption tickets all come out that way. A TLS 1.3 client finishes its handshake
// before the server has checked the client's certificate: a refusal reaches the client as an
// error from its first Read().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "agent/tunnel/openssl_types.h"
#include "agent/tunnel/tls_context.h"
#include "agent/tunnel/traffic_secrets.h"
#include "common/result.h"

namespace ferry::tunnel {

enum class TlsState { kHandshaking, kEstablished, kShutdownSent, kPeerClosed, kClosed, kOffloaded, kFailed };
std::string_view TlsStateName(TlsState state);

struct TlsReadResult {
  size_t bytes = 0;          // plaintext copied to the caller's buffer
  bool need_more = false;    // no complete record buffered: feed more ciphertext
  bool peer_closed = false;  // close_notify received: no more plaintext will come
};

class TlsSession final : private TlsSessionEvents {
 public:
  // <peer_key> (client): who this connection is meant for, e.g. the expected SPIFFE ID; a cached
  // ticket for it is offered for resumption and tickets received are stored under it. Empty:
  // no resumption.
  static Result<std::unique_ptr<TlsSession>> Create(std::shared_ptr<TlsContext> context, std::string peer_key = {});
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  TlsState state() const { return state_; }

  // ---- ciphertext in/out ----
  Result<void> FeedCiphertext(std::span<const uint8_t> bytes);
  size_t PendingCiphertext() const;
  // All pending ciphertext, as a new vector.
  std::vector<uint8_t> TakeCiphertext();
  // Moves all pending ciphertext to the end of *out (one copy, nothing zero-filled first).
  void AppendCiphertext(std::vector<uint8_t>* out);

  // ---- plaintext API ----
  // Advances the handshake; Ok(true) once established, Ok(false) when more ciphertext is needed.
  Result<bool> Handshake();
  // Encrypts all of <plaintext> (split into records as needed) into the pending ciphertext.
  Result<void> Write(std::span<const uint8_t> plaintext);
  Result<TlsReadResult> Read(std::span<uint8_t> out);
  // Queues close_notify (once). Further Write()s fail; Read() still drains what the peer sends.
  Result<void> Shutdown();

  // ---- after the handshake ----
  std::optional<TlsCipher> cipher() const;
  bool resumed() const;
  X509* peer_certificate() const;  // also on resumed sessions (from the ticket); not owned
  // Why the last handshake failed on the peer check, when it did.
  const std::string& peer_rejection() const { return peer_rejection_; }
  // The application traffic secrets and record counts as they stand now. Fails when they would
  // not describe the connection: before the handshake, after a KeyUpdate, or while ciphertext
  // fed to OpenSSL has not been fully processed.
  Result<TrafficSecrets> ExportTrafficSecrets() const;
  // ExportTrafficSecrets() and move to kOffloaded: from now on the kernel owns the record layer
  // and every plaintext call here fails.
  Result<TrafficSecrets> HandOffToKernel();

 private:
  TlsSession(std::shared_ptr<TlsContext> context, std::string peer_key);
  Result<void> Init();
  Error Fail(const std::string& context);

  void OnKeylogLine(std::string_view line) override;
  void OnProtocolMessage(bool sent, int content_type, const uint8_t* bytes, size_t size) override;
  void OnPeerRejected(std::string reason) override;
  bool OnNewTicket(SSL_SESSION* session) override;

  std::shared_ptr<TlsContext> context_;
  std::string peer_key_;
  SslPtr ssl_;
  BIO* network_in_ = nullptr;   // owned by ssl_
  BIO* network_out_ = nullptr;  // owned by ssl_
  TlsState state_ = TlsState::kHandshaking;
  std::string peer_rejection_;
  SecretBytes client_traffic_secret_;
  SecretBytes server_traffic_secret_;
  ApplicationRecordCounter records_;
};

}  // namespace ferry::tunnel
