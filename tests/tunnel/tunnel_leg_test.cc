// The tunnel's client and server SecureLegs driven against each other in memory: a loop shuttles
// each side's `out` bytes to the other, as the io_uring engine would over a socket.
#include "agent/tunnel/tunnel_leg.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <functional>
#include <string>

#include "agent/tunnel/ktls.h"
#include "test_result.h"
#include "tls_test_support.h"

namespace ferry::tunnel {
namespace {

using proxy::LegProgress;
using proxy::LegRefusal;
using proxy::LegRequest;
using proxy::LegSetupState;
using proxy::SecureLeg;
using testing::kClientId;
using testing::kServerId;
using testing::MakeContext;
using testing::RecordingVerifier;
using testing::TestCa;

constexpr uint32_t kPodIp = 0xC6120105;  // 198.18.1.5
const Ipv4Endpoint kTarget{kPodIp, 8080};

std::span<const uint8_t> Bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
std::string Text(const std::vector<uint8_t>& v) { return {v.begin(), v.end()}; }

// Accepts only chains whose leaf is in <trust_domain> (the identity/ PeerVerifier's rule).
PeerVerifier TrustDomainVerifier(std::string trust_domain, RecordingVerifier recorder = {}) {
  auto inner = recorder.Make();
  return [trust_domain, inner](X509* leaf, STACK_OF(X509) * chain) -> Result<void> {
    FERRY_TRY(inner(leaf, chain));
    if (testing::UriSan(leaf).rfind("spiffe://" + trust_domain + "/", 0) != 0) {
      return MakeError("peer is not in trust domain " + trust_domain, EACCES);
    }
    return Ok();
  };
}

// Which answer the "engine" gives when the server leg asks.
using Decide = std::function<LegProgress(SecureLeg& server, std::vector<uint8_t>* out)>;
LegProgress AcceptAll(SecureLeg& server, std::vector<uint8_t>* out) { return server.Accept(out); }

struct SetupOutcome {
  LegProgress client;
  LegProgress server;
  bool asked = false;  // the server leg reached kNeedDecision
  LegRequest request;
};

bool Settled(const LegProgress& p) { return p.state == LegSetupState::kReady || p.state == LegSetupState::kFailed; }

// Runs both setups until neither has anything more to say. Bytes sent to a side that already
// failed are dropped (the engine would have closed that socket).
SetupOutcome RunSetup(SecureLeg& client, SecureLeg& server, const Decide& decide = AcceptAll) {
  SetupOutcome outcome;
  std::vector<uint8_t> to_server, to_client;
  outcome.client = client.Start(&to_server);
  outcome.server = server.Start(&to_client);
  for (int round = 0; round < 50 && (!to_server.empty() || !to_client.empty()); ++round) {
    auto bytes = std::exchange(to_server, {});
    if (!bytes.empty() && !Settled(outcome.server)) {
      outcome.server = server.OnSetupBytes(bytes, &to_client);
      if (outcome.server.state == LegSetupState::kNeedDecision) {
        outcome.asked = true;
        outcome.request = server.request();
        outcome.server = decide(server, &to_client);
      }
    }
    bytes = std::exchange(to_client, {});
    if (!bytes.empty() && !Settled(outcome.client)) outcome.client = client.OnSetupBytes(bytes, &to_server);
  }
  return outcome;
}

std::string Payload(size_t size, char seed) {
  std::string payload(size, '\0');
  uint32_t state = static_cast<unsigned char>(seed) * 2654435761u + 1;
  for (char& c : payload) {
    state = state * 1103515245u + 12345u;
    c = static_cast<char>(state >> 23);
  }
  return payload;
}

// Sends <payload> from <from> to <to> in user space, in 64 KiB writes; returns what <to> got.
Result<std::string> Relay(SecureLeg& from, SecureLeg& to, const std::string& payload, bool* peer_closed = nullptr) {
  std::string received;
  std::vector<uint8_t> wire, back, plaintext;
  for (size_t offset = 0; offset < payload.size(); offset += 65536) {
    FERRY_TRY(from.Protect(Bytes(std::string_view(payload).substr(offset, 65536)), &wire));
    plaintext.clear();
    auto result = to.Unprotect(wire, &plaintext, &back);
    if (!result) return result.error();
    wire.clear();
    received += Text(plaintext);
    if (peer_closed != nullptr) *peer_closed = result->peer_closed;
  }
  return received;
}

class TunnelLegTest : public ::testing::Test {
 protected:
  std::unique_ptr<SecureLeg> Client(std::string expected = kServerId, Ipv4Endpoint target = kTarget,
                                    std::shared_ptr<TlsContext> context = nullptr) {
    if (!context) context = client_ctx_;
    return MakeClientTunnelLeg({std::move(context), std::move(expected), target, true});
  }
  std::unique_ptr<SecureLeg> Server(std::shared_ptr<TlsContext> context = nullptr) {
    return MakeServerTunnelLeg({context ? context : server_ctx_, kPodIp, true});
  }

  TestCa ca_;
  RecordingVerifier client_seen_;
  RecordingVerifier server_seen_;
  std::shared_ptr<TlsContext> client_ctx_ =
      MakeContext(TlsRole::kClient, ca_, kClientId, TrustDomainVerifier("cluster.local", client_seen_));
  std::shared_ptr<TlsContext> server_ctx_ =
      MakeContext(TlsRole::kServer, ca_, kServerId, TrustDomainVerifier("cluster.local", server_seen_), {}, 2);
};

TEST_F(TunnelLegTest, AllowedTunnelCarriesAMebibyteEachWayAndClosesCleanly) {
  auto client = Client();
  auto server = Server();
  EXPECT_EQ(client->mode(), "setup");
  auto outcome = RunSetup(*client, *server);
  ASSERT_EQ(outcome.client.state, LegSetupState::kReady) << outcome.client.reason;
  ASSERT_EQ(outcome.server.state, LegSetupState::kReady) << outcome.server.reason;
  ASSERT_TRUE(outcome.asked);
  EXPECT_EQ(outcome.request.target, kTarget);
  EXPECT_EQ(outcome.request.peer_identity, kClientId);

  // No kTLS on this kernel (or no socket behind fd -1): both stay in user space.
  EXPECT_EQ(KernelTlsUsable(), KtlsAvailable().available);
  for (SecureLeg* leg : {client.get(), server.get()}) {
    auto offloaded = leg->OffloadToKernel(-1);
    ASSERT_OK(offloaded);
    EXPECT_FALSE(*offloaded);
    EXPECT_EQ(leg->mode(), "userspace");
  }

  std::string upstream = Payload(1 << 20, 'a');
  std::string downstream = Payload(1 << 20, 'b');
  auto at_server = Relay(*client, *server, upstream);
  ASSERT_OK(at_server);
  EXPECT_TRUE(*at_server == upstream);
  auto at_client = Relay(*server, *client, downstream);
  ASSERT_OK(at_client);
  EXPECT_TRUE(*at_client == downstream);

  std::vector<uint8_t> close_notify, plaintext, back;
  ASSERT_OK(client->Finish(-1, &close_notify));
  ASSERT_FALSE(close_notify.empty());
  auto end = server->Unprotect(close_notify, &plaintext, &back);
  ASSERT_OK(end);
  EXPECT_TRUE(end->peer_closed);
  EXPECT_TRUE(plaintext.empty());
  // Half-close: the server may still answer after the client finished.
  auto late = Relay(*server, *client, "late reply");
  ASSERT_OK(late);
  EXPECT_EQ(*late, "late reply");
}

TEST_F(TunnelLegTest, PayloadRightAfterTheResponseIsEarlyPlaintext) {
  auto client = Client();
  auto server = Server();
  auto outcome = RunSetup(*client, *server, [](SecureLeg& s, std::vector<uint8_t>* out) {
    auto progress = s.Accept(out);
    // The server's relay already had bytes from upstream: they leave with the 200.
    if (progress.state == LegSetupState::kReady && !s.Protect(Bytes("server speaks first"), out).ok()) {
      progress.state = LegSetupState::kFailed;
    }
    return progress;
  });
  ASSERT_EQ(outcome.client.state, LegSetupState::kReady) << outcome.client.reason;
  EXPECT_EQ(Text(client->TakeEarlyPlaintext()), "server speaks first");
  EXPECT_TRUE(client->TakeEarlyPlaintext().empty());
  EXPECT_TRUE(server->TakeEarlyPlaintext().empty());
}

TEST_F(TunnelLegTest, UserSpaceWhenKtlsIsNotAllowed) {
  auto client = MakeClientTunnelLeg({client_ctx_, kServerId, kTarget, false});
  auto server = Server();
  auto outcome = RunSetup(*client, *server);
  ASSERT_EQ(outcome.client.state, LegSetupState::kReady) << outcome.client.reason;
  auto offloaded = client->OffloadToKernel(-1);
  ASSERT_OK(offloaded);
  EXPECT_FALSE(*offloaded);
  EXPECT_EQ(client->mode(), "userspace");
  EXPECT_ERR(client->OffloadToKernel(-1));  // once only
}

TEST_F(TunnelLegTest, PolicyRefusalReachesTheClientAsForbiddenWithTheReason) {
  auto client = Client();
  auto server = Server();
  auto outcome = RunSetup(*client, *server, [](SecureLeg& s, std::vector<uint8_t>* out) {
    return s.Refuse(LegRefusal::kForbidden, "policy", out);
  });
  EXPECT_TRUE(outcome.asked);
  EXPECT_EQ(outcome.server.state, LegSetupState::kFailed);
  ASSERT_EQ(outcome.client.state, LegSetupState::kFailed);
  EXPECT_EQ(outcome.client.reason, "403 policy");
}

TEST_F(TunnelLegTest, UnreachableDestinationIsServiceUnavailable) {
  auto client = Client();
  auto server = Server();
  auto outcome = RunSetup(*client, *server, [](SecureLeg& s, std::vector<uint8_t>* out) {
    return s.Refuse(LegRefusal::kUnavailable, "connection refused", out);
  });
  ASSERT_EQ(outcome.client.state, LegSetupState::kFailed);
  EXPECT_EQ(outcome.client.reason, "503 connection refused");
}

TEST_F(TunnelLegTest, ClientRefusesADestinationWithAnotherIdentity) {
  auto client = Client("spiffe://cluster.local/ns/default/sa/billing");
  auto server = Server();
  auto outcome = RunSetup(*client, *server);
  ASSERT_EQ(outcome.client.state, LegSetupState::kFailed);
  EXPECT_NE(outcome.client.reason.find("is not the expected spiffe://cluster.local/ns/default/sa/billing"),
            std::string::npos)
      << outcome.client.reason;
  // The client never sent its Finished, let alone the CONNECT target.
  EXPECT_FALSE(outcome.asked);
  EXPECT_NE(outcome.server.state, LegSetupState::kReady);
}

struct TargetCase {
  const char* name;
  Ipv4Endpoint target;
  const char* reason_part;
};

class TunnelLegTargetTest : public TunnelLegTest, public ::testing::WithParamInterface<TargetCase> {};

TEST_P(TunnelLegTargetTest, InvalidTargetIsForbiddenBeforeAnyDecision) {
  auto client = Client(kServerId, GetParam().target);
  auto server = Server();
  bool decided = false;
  auto outcome = RunSetup(*client, *server, [&](SecureLeg& s, std::vector<uint8_t>* out) {
    decided = true;
    return s.Accept(out);
  });
  EXPECT_FALSE(decided);
  EXPECT_EQ(outcome.server.state, LegSetupState::kFailed);
  ASSERT_EQ(outcome.client.state, LegSetupState::kFailed);
  EXPECT_EQ(outcome.client.reason.rfind("403 ", 0), 0u) << outcome.client.reason;
  EXPECT_NE(outcome.client.reason.find(GetParam().reason_part), std::string::npos) << outcome.client.reason;
}

INSTANTIATE_TEST_SUITE_P(
    Targets, TunnelLegTargetTest,
    ::testing::Values(TargetCase{"AnotherPod", {0xC6120106, 8080}, "is not this pod"},
                      TargetCase{"Loopback", {0x7F000001, 8080}, "loopback"},
                      TargetCase{"MeshPort", {kPodIp, 15006}, "mesh port"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(TunnelLegTest, ServerRefusesAClientFromAnotherCa) {
  TestCa other_ca("another root");
  auto foreign = MakeContext(TlsRole::kClient, other_ca, kClientId, testing::RecordingVerifier{}.Make());
  // The foreign client trusts nothing of ours either; give it our root so only the server judges.
  ASSERT_EQ(X509_STORE_add_cert(SSL_CTX_get_cert_store(foreign->native()), ca_.root()), 1);
  auto client = Client(kServerId, kTarget, foreign);
  auto server = Server();
  auto outcome = RunSetup(*client, *server);
  EXPECT_FALSE(outcome.asked);
  ASSERT_EQ(outcome.server.state, LegSetupState::kFailed);
  EXPECT_NE(outcome.server.reason.find("peer certificate chain"), std::string::npos) << outcome.server.reason;
  // The alert reached the client: it fails instead of waiting for a response forever.
  EXPECT_EQ(outcome.client.state, LegSetupState::kFailed);
}

TEST_F(TunnelLegTest, ServerRefusesAClientFromAnotherTrustDomain) {
  auto outsider = MakeContext(TlsRole::kClient, ca_, "spiffe://evil.example/ns/default/sa/frontend",
                              testing::RecordingVerifier{}.Make());
  auto client = Client(kServerId, kTarget, outsider);
  auto server = Server();
  auto outcome = RunSetup(*client, *server);
  EXPECT_FALSE(outcome.asked);
  ASSERT_EQ(outcome.server.state, LegSetupState::kFailed);
  EXPECT_NE(outcome.server.reason.find("not in trust domain cluster.local"), std::string::npos) << outcome.server.reason;
  EXPECT_EQ(outcome.client.state, LegSetupState::kFailed);
}

// A bare OpenSSL TLS 1.3 client over memory BIOs, for peers the tunnel's own contexts cannot
// express (no certificate, a self-signed one) or that speak something other than CONNECT.
class RawTlsClient {
 public:
  RawTlsClient(X509* certificate, EVP_PKEY* key) : ctx_(SSL_CTX_new(TLS_client_method())) {
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_NONE, nullptr);
    if (certificate != nullptr) {
      SSL_CTX_use_certificate(ctx_.get(), certificate);
      SSL_CTX_use_PrivateKey(ctx_.get(), key);
    }
    ssl_.reset(SSL_new(ctx_.get()));
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);
    SSL_set_bio(ssl_.get(), in_, out_);
    SSL_set_connect_state(ssl_.get());
  }

  // Feeds what the server sent, advances the handshake (then writes <request> once) and reads
  // whatever plaintext arrived; returns the bytes to send.
  std::vector<uint8_t> Step(std::span<const uint8_t> in, const std::string& request) {
    if (!in.empty()) BIO_write(in_, in.data(), static_cast<int>(in.size()));
    if (SSL_do_handshake(ssl_.get()) == 1) {
      if (!wrote_) SSL_write(ssl_.get(), request.data(), static_cast<int>(request.size()));
      wrote_ = true;
      char buffer[4096];
      int n;
      while ((n = SSL_read(ssl_.get(), buffer, sizeof(buffer))) > 0) received_.append(buffer, static_cast<size_t>(n));
    }
    ERR_clear_error();
    std::vector<uint8_t> out(BIO_ctrl_pending(out_));
    if (!out.empty()) out.resize(static_cast<size_t>(BIO_read(out_, out.data(), static_cast<int>(out.size()))));
    return out;
  }
  const std::string& received() const { return received_; }

 private:
  SslCtxPtr ctx_;
  SslPtr ssl_;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
  bool wrote_ = false;
  std::string received_;
};

SetupOutcome RunRawClient(RawTlsClient& client, SecureLeg& server, const std::string& request) {
  SetupOutcome outcome;
  std::vector<uint8_t> to_client;
  outcome.server = server.Start(&to_client);
  std::vector<uint8_t> to_server = client.Step({}, request);
  for (int round = 0; round < 20 && !Settled(outcome.server) && !to_server.empty(); ++round) {
    outcome.server = server.OnSetupBytes(to_server, &to_client);
    if (outcome.server.state == LegSetupState::kNeedDecision) {
      outcome.asked = true;
      outcome.server = server.Accept(&to_client);
    }
    to_server = client.Step(std::exchange(to_client, {}), request);
  }
  (void)client.Step(to_client, request);
  return outcome;
}

TlsCredentials SelfSigned(const std::string& spiffe_id) {
  TlsCredentials creds;
  creds.private_key = testing::GenerateP256Key();
  creds.certificate.reset(X509_new());
  X509* cert = creds.certificate.get();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("self"), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_set_pubkey(cert, creds.private_key.get());
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, ("URI:" + spiffe_id).c_str());
  X509_add_ext(cert, san, -1);
  X509_EXTENSION_free(san);
  X509_sign(cert, creds.private_key.get(), EVP_sha256());
  return creds;
}

const std::string kConnectRequest = "CONNECT 198.18.1.5:8080 HTTP/1.1\r\nHost: 198.18.1.5:8080\r\n\r\n";

TEST_F(TunnelLegTest, RawClientWithOurCertificateIsAccepted) {
  // The control case for the two below: the raw client itself is fine.
  auto creds = ca_.IssueLeaf(kClientId);
  RawTlsClient raw(creds.certificate.get(), creds.private_key.get());
  auto server = Server();
  // This client does not wait for the 200: its first payload rides along with the CONNECT.
  auto outcome = RunRawClient(raw, *server, kConnectRequest + "pipelined");
  EXPECT_TRUE(outcome.asked);
  EXPECT_EQ(outcome.server.state, LegSetupState::kReady) << outcome.server.reason;
  EXPECT_EQ(raw.received(), "HTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(Text(server->TakeEarlyPlaintext()), "pipelined");
}

TEST_F(TunnelLegTest, ServerRefusesAClientWithoutCertificate) {
  RawTlsClient raw(nullptr, nullptr);
  auto server = Server();
  auto outcome = RunRawClient(raw, *server, kConnectRequest);
  EXPECT_FALSE(outcome.asked);
  ASSERT_EQ(outcome.server.state, LegSetupState::kFailed);
  EXPECT_NE(outcome.server.reason.find("certificate"), std::string::npos) << outcome.server.reason;
  EXPECT_EQ(raw.received(), "");
}

TEST_F(TunnelLegTest, ServerRefusesASelfSignedClient) {
  auto creds = SelfSigned(kClientId);
  RawTlsClient raw(creds.certificate.get(), creds.private_key.get());
  auto server = Server();
  auto outcome = RunRawClient(raw, *server, kConnectRequest);
  EXPECT_FALSE(outcome.asked);
  ASSERT_EQ(outcome.server.state, LegSetupState::kFailed);
  EXPECT_NE(outcome.server.reason.find("peer certificate chain"), std::string::npos) << outcome.server.reason;
  EXPECT_EQ(raw.received(), "");
}

TEST_F(TunnelLegTest, MalformedRequestInsideTlsIsBadRequest) {
  auto creds = ca_.IssueLeaf(kClientId);
  RawTlsClient raw(creds.certificate.get(), creds.private_key.get());
  auto server = Server();
  auto outcome = RunRawClient(raw, *server, "GET / HTTP/1.1\r\nHost: api\r\n\r\n");
  EXPECT_FALSE(outcome.asked);
  ASSERT_EQ(outcome.server.state, LegSetupState::kFailed);
  EXPECT_EQ(outcome.server.reason, "400 method must be CONNECT");
  EXPECT_EQ(raw.received().rfind("HTTP/1.1 400", 0), 0u) << raw.received();
  EXPECT_NE(raw.received().find("x-ferry-reason: method must be CONNECT"), std::string::npos);
}

TEST_F(TunnelLegTest, GarbageInsteadOfTlsFailsEitherSide) {
  const std::string garbage = "GET / HTTP/1.1\r\nHost: api\r\n\r\n";
  std::vector<uint8_t> out;
  auto server = Server();
  EXPECT_EQ(server->Start(&out).state, LegSetupState::kContinue);
  EXPECT_TRUE(out.empty());  // the server waits for the ClientHello
  auto progress = server->OnSetupBytes(Bytes(garbage), &out);
  EXPECT_EQ(progress.state, LegSetupState::kFailed);
  EXPECT_FALSE(progress.reason.empty());

  auto client = Client();
  out.clear();
  ASSERT_EQ(client->Start(&out).state, LegSetupState::kContinue);
  EXPECT_FALSE(out.empty());  // ClientHello
  progress = client->OnSetupBytes(Bytes(garbage), &out);
  EXPECT_EQ(progress.state, LegSetupState::kFailed);
  EXPECT_FALSE(progress.reason.empty());
  // A failed leg stays failed.
  EXPECT_EQ(client->OnSetupBytes(Bytes(garbage), &out).state, LegSetupState::kFailed);
  EXPECT_ERR(client->Protect(Bytes("x"), &out));
}

TEST_F(TunnelLegTest, SecondTunnelBetweenTheSameIdentitiesResumesAndKeepsThePeerIdentity) {
  {
    auto client = Client();
    auto server = Server();
    auto first = RunSetup(*client, *server);
    ASSERT_EQ(first.client.state, LegSetupState::kReady) << first.client.reason;
    EXPECT_FALSE(client->resumed());
    EXPECT_FALSE(server->resumed());
  }
  // The tickets came in while the client waited for the 200.
  EXPECT_EQ(client_ctx_->session_cache().Count(kServerId), 2u);
  int server_checks = *server_seen_.calls;
  int client_checks = *client_seen_.calls;

  auto client = Client();
  auto server = Server();
  auto second = RunSetup(*client, *server);
  ASSERT_EQ(second.client.state, LegSetupState::kReady) << second.client.reason;
  ASSERT_EQ(second.server.state, LegSetupState::kReady) << second.server.reason;
  EXPECT_TRUE(client->resumed());  // what the engine counts (ferry_proxy_tls_legs_resumed_total)
  EXPECT_TRUE(server->resumed());
  // Resumed: no certificate chain was sent or checked on either side ...
  EXPECT_EQ(*server_seen_.calls, server_checks);
  EXPECT_EQ(*client_seen_.calls, client_checks);
  // ... and the identity still comes from the (ticket's) certificate.
  EXPECT_EQ(second.request.peer_identity, kClientId);
  auto echoed = Relay(*client, *server, "after resumption");
  ASSERT_OK(echoed);
  EXPECT_EQ(*echoed, "after resumption");
}

TEST_F(TunnelLegTest, TicketsAreKeptPerExpectedPeer) {
  auto client = Client();
  auto server = Server();
  ASSERT_EQ(RunSetup(*client, *server).client.state, LegSetupState::kReady);
  EXPECT_EQ(client_ctx_->session_cache().Count("spiffe://cluster.local/ns/default/sa/other"), 0u);
  // A destination expected under another name gets a full handshake (and is then refused by name).
  auto other = Client("spiffe://cluster.local/ns/default/sa/other");
  auto server2 = Server();
  int client_checks = *client_seen_.calls;
  auto outcome = RunSetup(*other, *server2);
  EXPECT_EQ(outcome.client.state, LegSetupState::kFailed);
  EXPECT_EQ(*client_seen_.calls, client_checks + 1);  // the server's chain was checked again
  EXPECT_EQ(client_ctx_->session_cache().Count(kServerId), 2u);
}

}  // namespace
}  // namespace ferry::tunnel
