#include "agent/tunnel/tunnel_leg.h"

#include <cerrno>
#include <string_view>

#include "agent/tunnel/connect_preface.h"
#include "agent/tunnel/ktls.h"
#include "agent/tunnel/tunnel_leg_base.h"

namespace ferry::tunnel {
namespace {

using proxy::LegProgress;
using proxy::LegRefusal;
using proxy::LegRequest;
using proxy::LegSetupState;

std::string_view AsText(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::span<const uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string StatusReason(int status, std::string_view reason) {
  std::string text = std::to_string(status);
  if (!reason.empty()) text += " " + std::string(reason);
  return text;
}

// Source side: handshake, check the destination's identity, CONNECT, wait for 200.
class ClientTunnelLeg final : public internal::TunnelLegBase {
 public:
  explicit ClientTunnelLeg(ClientTunnelLegOptions options)
      : TunnelLegBase(options.context, options.expected_peer_id, options.allow_ktls),
        expected_peer_id_(std::move(options.expected_peer_id)),
        target_(options.target) {}

  LegProgress Start(std::vector<uint8_t>* out) override {
    if (auto created = CreateSession(); !created) return Fail("TLS session: " + created.error().Message(), nullptr);
    return Advance(out);
  }

  LegProgress OnSetupBytes(std::span<const uint8_t> in, std::vector<uint8_t>* out) override {
    if (!in_setup()) return Fail("setup bytes outside the setup phase", nullptr);
    if (auto fed = session().FeedCiphertext(in); !fed) return Fail(fed.error().Message(), out);
    return Advance(out);
  }

  const LegRequest& request() const override { return no_request_; }
  LegProgress Accept(std::vector<uint8_t>*) override { return Fail("a client leg takes no decision", nullptr); }
  LegProgress Refuse(LegRefusal, std::string_view, std::vector<uint8_t>*) override {
    return Fail("a client leg takes no decision", nullptr);
  }

 private:
  LegProgress Advance(std::vector<uint8_t>* out) {
    if (!handshake_done_) {
      auto done = session().Handshake();
      if (!done) return Fail(done.error().Message(), out);
      if (!*done) {
        AppendCiphertext(out);
        return {LegSetupState::kContinue, {}};
      }
      // Checked before our Finished leaves: a wrong peer never sees it nor the CONNECT target.
      auto identity = internal::PeerSpiffeId(session().peer_certificate());
      if (!identity) return Abandon("destination identity: " + identity.error().context);
      if (*identity != expected_peer_id_) {
        return Abandon("destination identity " + *identity + " is not the expected " + expected_peer_id_);
      }
      handshake_done_ = true;
      if (auto sent = session().Write(AsBytes(BuildConnectRequest(target_))); !sent) {
        return Fail(sent.error().Message(), out);
      }
    }
    return ReadResponse(out);
  }

  // Tickets and the response arrive here, through OpenSSL, so kTLS starts after them.
  LegProgress ReadResponse(std::vector<uint8_t>* out) {
    std::vector<uint8_t> plaintext;
    auto closed = DrainPlaintext(&plaintext);
    // A refusal of our certificate by the server shows up here, as an alert on the first read.
    if (!closed) return Fail(closed.error().Message(), out);
    AppendCiphertext(out);
    if (!plaintext.empty()) {
      auto response = parser_.Feed(AsText(plaintext));
      if (!response) return Fail("CONNECT response: " + response.error().context, out);
      if (*response) {
        if (!(*response)->ok()) return Fail(StatusReason((*response)->status, (*response)->reason), out);
        AddEarlyPlaintext(std::span<const uint8_t>(plaintext).subspan(parser_.payload_offset()));
        return Ready();
      }
    }
    if (*closed) return Fail("destination closed the tunnel before its CONNECT response", out);
    return {LegSetupState::kContinue, {}};
  }

  std::string expected_peer_id_;
  Ipv4Endpoint target_;
  bool handshake_done_ = false;
  ConnectResponseParser parser_;
  LegRequest no_request_;
};

// Destination side: handshake, identity from the verified certificate, CONNECT, target check,
// then the engine's decision.
class ServerTunnelLeg final : public internal::TunnelLegBase {
 public:
  explicit ServerTunnelLeg(ServerTunnelLegOptions options)
      : TunnelLegBase(options.context, {}, options.allow_ktls), listener_pod_ip_(options.listener_pod_ip) {}

  LegProgress Start(std::vector<uint8_t>*) override {
    if (auto created = CreateSession(); !created) return Fail("TLS session: " + created.error().Message(), nullptr);
    return {LegSetupState::kContinue, {}};
  }

  LegProgress OnSetupBytes(std::span<const uint8_t> in, std::vector<uint8_t>* out) override {
    if (!in_setup()) return Fail("setup bytes outside the setup phase", nullptr);
    if (auto fed = session().FeedCiphertext(in); !fed) return Fail(fed.error().Message(), out);
    if (phase_ == Phase::kHandshake) {
      auto done = session().Handshake();
      if (!done) return Fail(done.error().Message(), out);  // the alert goes out with it
      if (!*done) {
        AppendCiphertext(out);
        return {LegSetupState::kContinue, {}};
      }
      // From the certificate (the ticket's, when resumed), never from anything the peer says.
      auto identity = internal::PeerSpiffeId(session().peer_certificate());
      if (!identity) return Abandon("source identity: " + identity.error().context);
      request_.peer_identity = std::move(*identity);
      phase_ = Phase::kRequest;
    }
    return ReadRequest(out);
  }

  const LegRequest& request() const override { return request_; }

  LegProgress Accept(std::vector<uint8_t>* out) override {
    if (!in_setup() || phase_ != Phase::kDecision) return Fail("Accept without a pending request", nullptr);
    if (auto sent = session().Write(AsBytes(BuildConnectResponse(ConnectStatus::kOk))); !sent) {
      return Fail(sent.error().Message(), out);
    }
    AppendCiphertext(out);
    return Ready();
  }

  LegProgress Refuse(LegRefusal refusal, std::string_view reason, std::vector<uint8_t>* out) override {
    if (!in_setup() || phase_ == Phase::kHandshake) return Fail("Refuse without a request", nullptr);
    auto status = refusal == LegRefusal::kForbidden ? ConnectStatus::kForbidden : ConnectStatus::kServiceUnavailable;
    return RespondAndFail(status, reason, out);
  }

 private:
  enum class Phase { kHandshake, kRequest, kDecision };

  LegProgress ReadRequest(std::vector<uint8_t>* out) {
    std::vector<uint8_t> plaintext;
    auto closed = DrainPlaintext(&plaintext);
    if (!closed) return Fail(closed.error().Message(), out);
    if (phase_ == Phase::kDecision) {
      // Still waiting for the engine: what comes now is payload to relay after the response.
      AddEarlyPlaintext(plaintext);
      AppendCiphertext(out);
      return {LegSetupState::kContinue, {}};
    }
    if (!plaintext.empty()) {
      auto parsed = parser_.Feed(AsText(plaintext));
      if (!parsed) return RespondAndFail(ConnectStatus::kBadRequest, parsed.error().context, out);
      if (*parsed) {
        request_.target = (*parsed)->target;
        // Refused before the engine hears of it: the target rule needs no policy.
        auto valid = ValidateConnectTarget(request_.target, listener_pod_ip_);
        if (!valid) return RespondAndFail(ConnectStatus::kForbidden, valid.error().context, out);
        AddEarlyPlaintext(std::span<const uint8_t>(plaintext).subspan(parser_.payload_offset()));
        phase_ = Phase::kDecision;
        AppendCiphertext(out);
        return {LegSetupState::kNeedDecision, {}};
      }
    }
    if (*closed) return Fail("source closed the tunnel before its CONNECT request", out);
    AppendCiphertext(out);
    return {LegSetupState::kContinue, {}};
  }

  // The error response, then close_notify so the source reads it as a complete answer.
  LegProgress RespondAndFail(ConnectStatus status, std::string_view reason, std::vector<uint8_t>* out) {
    (void)session().Write(AsBytes(BuildConnectResponse(status, reason)));
    (void)session().Shutdown();
    return Fail(StatusReason(static_cast<int>(status), reason), out);
  }

  uint32_t listener_pod_ip_;
  Phase phase_ = Phase::kHandshake;
  ConnectRequestParser parser_;
  LegRequest request_;
};

}  // namespace

std::unique_ptr<proxy::SecureLeg> MakeClientTunnelLeg(ClientTunnelLegOptions options) {
  return std::make_unique<ClientTunnelLeg>(std::move(options));
}

std::unique_ptr<proxy::SecureLeg> MakeServerTunnelLeg(ServerTunnelLegOptions options) {
  return std::make_unique<ServerTunnelLeg>(std::move(options));
}

bool KernelTlsUsable() {
  static const bool usable = KtlsAvailable().available;
  return usable;
}

}  // namespace ferry::tunnel
