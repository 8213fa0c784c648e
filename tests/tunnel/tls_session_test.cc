#include <gtest/gtest.h>

#include <openssl/err.h>

#include <cerrno>
#include <string>

#include "agent/tunnel/ktls.h"
#include "agent/tunnel/tls_session.h"
#include "test_result.h"
#include "tls_test_support.h"

namespace ferry::tunnel {
namespace {

using testing::kClientId;
using testing::kServerId;
using testing::MakeContext;
using testing::ReadAvailable;
using testing::RecordingVerifier;
using testing::RunHandshake;
using testing::TestCa;
using testing::Transfer;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::unique_ptr<TlsSession> NewSession(std::shared_ptr<TlsContext> context, std::string peer_key = {}) {
  auto session = TlsSession::Create(std::move(context), std::move(peer_key));
  if (!session) throw std::runtime_error(session.error().Message());
  return std::move(*session);
}

// Spans several 16 KiB records.
std::string BuildLargePayload() {
  std::string payload;
  for (int i = 0; payload.size() < 100 * 1024; ++i) payload += "chunk " + std::to_string(i) + ";";
  return payload;
}

PeerVerifier Rejecting(std::string why) {
  return [why](X509*, STACK_OF(X509) *) -> Result<void> { return MakeError(why, EACCES); };
}

class TlsSessionTest : public ::testing::Test {
 protected:
  TestCa ca_;
  RecordingVerifier client_verifier_;
  RecordingVerifier server_verifier_;
};

class TlsSessionCipherTest : public TlsSessionTest, public ::testing::WithParamInterface<TlsCipher> {};

TEST_P(TlsSessionCipherTest, MutualHandshakeCarriesDataBothWaysAndClosesCleanly) {
  auto client = NewSession(MakeContext(TlsRole::kClient, ca_, kClientId, client_verifier_.Make()));
  // The server offers only the suite under test, so that is what gets negotiated.
  auto server = NewSession(MakeContext(TlsRole::kServer, ca_, kServerId, server_verifier_.Make(), {GetParam()}));
  auto outcome = RunHandshake(*client, *server);
  ASSERT_OK(outcome.client);
  ASSERT_OK(outcome.server);
  ASSERT_EQ(client->state(), TlsState::kEstablished);
  ASSERT_EQ(server->state(), TlsState::kEstablished);
  EXPECT_EQ(client->cipher(), GetParam());
  EXPECT_EQ(server->cipher(), GetParam());
  EXPECT_FALSE(client->resumed());

  // Each side saw (and checked) the other's SPIFFE identity over a verified two-certificate chain.
  EXPECT_EQ(*client_verifier_.last_peer, kServerId);
  EXPECT_EQ(*server_verifier_.last_peer, kClientId);
  EXPECT_EQ(*server_verifier_.last_chain_length, 2);
  EXPECT_EQ(testing::UriSan(server->peer_certificate()), kClientId);

  std::string request = BuildLargePayload();
  ASSERT_OK(client->Write(Bytes(request)));
  Transfer(*client, *server);
  auto got = ReadAvailable(*server);
  ASSERT_OK(got);
  EXPECT_EQ(*got, request);

  ASSERT_OK(server->Write(Bytes("pong")));
  Transfer(*server, *client);
  auto reply = ReadAvailable(*client);
  ASSERT_OK(reply);
  EXPECT_EQ(*reply, "pong");

  // close_notify each way.
  ASSERT_OK(client->Shutdown());
  EXPECT_EQ(client->state(), TlsState::kShutdownSent);
  EXPECT_ERR(client->Write(Bytes("late")));
  Transfer(*client, *server);
  std::vector<uint8_t> buffer(64);
  auto closed = server->Read(buffer);
  ASSERT_OK(closed);
  EXPECT_TRUE(closed->peer_closed);
  EXPECT_EQ(server->state(), TlsState::kPeerClosed);
  ASSERT_OK(server->Write(Bytes("half-close still writes")));
  ASSERT_OK(server->Shutdown());
  EXPECT_EQ(server->state(), TlsState::kClosed);
  Transfer(*server, *client);
  auto last = ReadAvailable(*client);
  ASSERT_OK(last);
  EXPECT_EQ(*last, "half-close still writes");
  auto client_closed = client->Read(buffer);
  ASSERT_OK(client_closed);
  EXPECT_TRUE(client_closed->peer_closed);
  EXPECT_EQ(client->state(), TlsState::kClosed);
}

INSTANTIATE_TEST_SUITE_P(Suites, TlsSessionCipherTest,
                         ::testing::Values(TlsCipher::kAes128GcmSha256, TlsCipher::kAes256GcmSha384),
                         [](const auto& info) { return std::string(TlsCipherName(info.param)); });

TEST_F(TlsSessionTest, PeerWithoutCertificateIsRefused) {
  auto server = NewSession(MakeContext(TlsRole::kServer, ca_, kServerId, server_verifier_.Make()));
  // A plain OpenSSL client that trusts the CA but presents no certificate.
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca_.root());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SslPtr ssl(SSL_new(ctx.get()));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in, -1);
  SSL_set_bio(ssl.get(), in, out);
  SSL_set_connect_state(ssl.get());

  Result<bool> server_result = false;
  char buffer[4096];
  for (int round = 0; round < 6; ++round) {
    SSL_do_handshake(ssl.get());
    int n;
    while ((n = BIO_read(out, buffer, sizeof(buffer))) > 0) ASSERT_OK(server->FeedCiphertext({reinterpret_cast<uint8_t*>(buffer), static_cast<size_t>(n)}));
    if (server->state() == TlsState::kHandshaking) server_result = server->Handshake();
    auto back = server->TakeCiphertext();
    BIO_write(in, back.data(), static_cast<int>(back.size()));
  }
  ERR_clear_error();
  ASSERT_FALSE(server_result.ok());
  EXPECT_EQ(server->state(), TlsState::kFailed);
  EXPECT_NE(server_result.error().Message().find("certificate"), std::string::npos) << server_result.error().Message();
  EXPECT_EQ(*server_verifier_.calls, 0);
  // The client learns it through an alert.
  EXPECT_LE(SSL_read(ssl.get(), buffer, sizeof(buffer)), 0);
  EXPECT_EQ(SSL_get_error(ssl.get(), -1), SSL_ERROR_SSL);
  ERR_clear_error();
}

TEST_F(TlsSessionTest, CertificateFromAnotherCaIsRefused) {
  TestCa other("some other root");
  // The client trusts the server's CA but holds a certificate from another one.
  TlsContextOptions options;
  options.role = TlsRole::kClient;
  options.credentials = other.IssueLeaf(kClientId);
  options.trust_roots.push_back(ca_.ShareRoot());
  options.verify_peer = client_verifier_.Make();
  auto client = NewSession(TlsContext::Create(std::move(options)).value());
  auto server = NewSession(MakeContext(TlsRole::kServer, ca_, kServerId, server_verifier_.Make()));
  auto outcome = RunHandshake(*client, *server);
  ASSERT_FALSE(outcome.server.ok());
  EXPECT_NE(outcome.server.error().Message().find("peer certificate chain"), std::string::npos)
      << outcome.server.error().Message();
  EXPECT_EQ(*server_verifier_.calls, 0);
  std::vector<uint8_t> buffer(64);
  EXPECT_ERR(client->Read(buffer));  // TLS 1.3: the client hears of it on its first read
}

TEST_F(TlsSessionTest, ServerVerifierRejectingFailsBothSides) {
  auto client = NewSession(MakeContext(TlsRole::kClient, ca_, kClientId, client_verifier_.Make()));
  auto server = NewSession(MakeContext(TlsRole::kServer, ca_, kServerId, Rejecting("sa frontend not allowed")));
  auto outcome = RunHandshake(*client, *server);
  ASSERT_FALSE(outcome.server.ok());
  EXPECT_EQ(outcome.server.error().code, EACCES);
  EXPECT_NE(outcome.server.error().context.find("sa frontend not allowed"), std::string::npos);
  EXPECT_EQ(server->peer_rejection(), "peer identity: sa frontend not allowed");
  std::vector<uint8_t> buffer(64);
  auto read = client->Read(buffer);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(client->state(), TlsState::kFailed);
}

TEST_F(TlsSessionTest, ClientVerifierRejectingFailsBothSides) {
  auto client = NewSession(MakeContext(TlsRole::kClient, ca_, kClientId, Rejecting("not the api")));
  auto server = NewSession(MakeContext(TlsRole::kServer, ca_, kServerId, server_verifier_.Make()));
  auto outcome = RunHandshake(*client, *server);
  ASSERT_FALSE(outcome.client.ok());
  EXPECT_EQ(outcome.client.error().code, EACCES);
  EXPECT_NE(outcome.client.error().context.find("not the api"), std::string::npos);
  ASSERT_FALSE(outcome.server.ok());
  EXPECT_EQ(server->state(), TlsState::kFailed);
}

TEST_F(TlsSessionTest, PlaintextCallsFollowTheStateMachine) {
  auto client = NewSession(MakeContext(TlsRole::kClient, ca_, kClientId, client_verifier_.Make()));
  EXPECT_ERR(client->Write(Bytes("too early")));
  EXPECT_ERR(client->ExportTrafficSecrets());
  EXPECT_ERR(client->Shutdown());
  auto first = client->Handshake();
  ASSERT_OK(first);
  EXPECT_FALSE(*first);  // ClientHello is out; waiting for the server
  EXPECT_GT(client->PendingCiphertext(), 0u);
}

class TlsResumptionTest : public TlsSessionTest {
 protected:
  // Full handshake, then the client reads so the server's tickets reach the cache.
  void FirstConnection(const std::shared_ptr<TlsContext>& client_ctx, const std::shared_ptr<TlsContext>& server_ctx,
                       const std::string& peer_key) {
    auto client = NewSession(client_ctx, peer_key);
    auto server = NewSession(server_ctx);
    auto outcome = RunHandshake(*client, *server);
    ASSERT_OK(outcome.client);
    ASSERT_OK(outcome.server);
    EXPECT_FALSE(client->resumed());
    ASSERT_OK(server->Write(Bytes("HTTP/1.1 200 OK\r\n\r\n")));
    Transfer(*server, *client);
    auto got = ReadAvailable(*client);
    ASSERT_OK(got);
    EXPECT_EQ(*got, "HTTP/1.1 200 OK\r\n\r\n");
  }
};

TEST_F(TlsResumptionTest, SecondHandshakeResumesWithoutCertificateChecks) {
  auto client_ctx = MakeContext(TlsRole::kClient, ca_, kClientId, client_verifier_.Make());
  auto server_ctx = MakeContext(TlsRole::kServer, ca_, kServerId, server_verifier_.Make(), {}, 2);
  FirstConnection(client_ctx, server_ctx, kServerId);
  EXPECT_EQ(client_ctx->session_cache().Count(kServerId), 2u);
  EXPECT_EQ(*client_verifier_.calls, 1);
  EXPECT_EQ(*server_verifier_.calls, 1);

  auto client = NewSession(client_ctx, kServerId);
  auto server = NewSession(server_ctx);
  auto outcome = RunHandshake(*client, *server);
  ASSERT_OK(outcome.client);
  ASSERT_OK(outcome.server);
  EXPECT_TRUE(client->resumed());
  EXPECT_TRUE(server->resumed());
  EXPECT_EQ(*client_verifier_.calls, 1);  // no certificates exchanged, no verify call
  EXPECT_EQ(*server_verifier_.calls, 1);
  // The server still knows who the client is (from the ticket), for authorization.
  EXPECT_EQ(testing::UriSan(server->peer_certificate()), kClientId);
  EXPECT_EQ(testing::UriSan(client->peer_certificate()), kServerId);
  EXPECT_EQ(client_ctx->session_cache().Count(kServerId), 1u);  // tickets are single use

  ASSERT_OK(client->Write(Bytes("resumed data")));
  Transfer(*client, *server);
  auto got = ReadAvailable(*server);
  ASSERT_OK(got);
  EXPECT_EQ(*got, "resumed data");
}

TEST_F(TlsResumptionTest, TicketsAreKeptPerPeer) {
  auto client_ctx = MakeContext(TlsRole::kClient, ca_, kClientId, client_verifier_.Make());
  auto server_ctx = MakeContext(TlsRole::kServer, ca_, kServerId, server_verifier_.Make(), {}, 1);
  FirstConnection(client_ctx, server_ctx, kServerId);
  auto client = NewSession(client_ctx, "spiffe://cluster.local/ns/default/sa/other");
  auto server = NewSession(server_ctx);
  auto outcome = RunHandshake(*client, *server);
  ASSERT_OK(outcome.client);
  EXPECT_FALSE(client->resumed());
  EXPECT_EQ(*server_verifier_.calls, 2);
}

TEST_F(TlsResumptionTest, NoTicketsByDefault) {
  auto client_ctx = MakeContext(TlsRole::kClient, ca_, kClientId, client_verifier_.Make());
  auto server_ctx = MakeContext(TlsRole::kServer, ca_, kServerId, server_verifier_.Make());
  FirstConnection(client_ctx, server_ctx, kServerId);
  EXPECT_EQ(client_ctx->session_cache().Count(kServerId), 0u);
  auto client = NewSession(client_ctx, kServerId);
  auto server = NewSession(server_ctx);
  ASSERT_OK(RunHandshake(*client, *server).server);
  EXPECT_FALSE(client->resumed());
}

}  // namespace
}  // namespace ferry::tunnel
