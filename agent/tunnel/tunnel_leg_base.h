// What the client and server tunnel legs share: the TlsSession, and the whole data phase (kTLS
// hand-off, user-space records, kernel control records, close_notify). Only the setup
// (handshake + CONNECT preface) differs between the two roles. Internal to agent/tunnel.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/proxy/secure_leg.h"
#include "agent/tunnel/tls_session.h"

namespace ferry::tunnel::internal {

// The URI SAN of a peer's verified certificate: exactly one, and a spiffe:// URI.
Result<std::string> PeerSpiffeId(X509* certificate);

class TunnelLegBase : public proxy::SecureLeg {
 public:
  std::vector<uint8_t> TakeEarlyPlaintext() override;
  Result<bool> OffloadToKernel(int fd) override;
  Result<void> Protect(std::span<const uint8_t> plaintext, std::vector<uint8_t>* out) override;
  Result<proxy::LegUnprotectResult> Unprotect(std::span<const uint8_t> in, std::vector<uint8_t>* plaintext,
                                       std::vector<uint8_t>* out) override;
  Result<proxy::KernelRecordResult> ReadKernelRecord(int fd, std::span<uint8_t> buffer) override;
  Result<void> Finish(int fd, std::vector<uint8_t>* out) override;
  std::string_view mode() const override;
  // Read from the session: OpenSSL knows once the handshake is done whether it resumed.
  bool resumed() const override;

 protected:
  TunnelLegBase(std::shared_ptr<TlsContext> context, std::string peer_key, bool allow_ktls);

  // Creates the session (once, at Start()).
  Result<void> CreateSession();
  TlsSession& session() { return *session_; }
  bool in_setup() const { return mode_ == Mode::kSetup && !failed_ && session_ != nullptr; }

  // Moves the session's pending ciphertext (records, alerts, tickets) to the end of *out.
  void AppendCiphertext(std::vector<uint8_t>* out);
  // Reads every plaintext byte OpenSSL can produce from what was fed; true once the peer's
  // close_notify was read.
  Result<bool> DrainPlaintext(std::vector<uint8_t>* plaintext);
  // Ends setup with a failure; pending ciphertext (an alert, an error response) goes to *out.
  proxy::LegProgress Fail(std::string reason, std::vector<uint8_t>* out);
  // Ends setup with a failure and sends nothing (the pending flight must not reach the peer).
  proxy::LegProgress Abandon(std::string reason);
  // Ends setup successfully: user space until OffloadToKernel() says otherwise.
  proxy::LegProgress Ready();
  void AddEarlyPlaintext(std::span<const uint8_t> bytes);

 private:
  enum class Mode { kSetup, kUserSpace, kKernel };
  Result<bool> InstallKernelKeys(int fd);

  std::shared_ptr<TlsContext> context_;
  std::string peer_key_;
  bool allow_ktls_;
  std::unique_ptr<TlsSession> session_;
  Mode mode_ = Mode::kSetup;
  bool failed_ = false;
  bool offload_tried_ = false;
  bool finished_ = false;
  std::vector<uint8_t> early_plaintext_;
};

}  // namespace ferry::tunnel::internal
