// The secrets and record counts a TlsSession exports must be exactly what OpenSSL encrypts with:
// checked by opening OpenSSL's own records with an independent AES-GCM implementation of the
// TLS 1.3 record layer, which is what the kernel does once the keys are installed.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "agent/tunnel/ktls.h"
#include "agent/tunnel/tls_session.h"
#include "test_result.h"
#include "tls_test_support.h"

namespace ferry::tunnel {
namespace {

using testing::DecryptTls13Record;
using testing::kClientId;
using testing::kServerId;
using testing::MakeContext;
using testing::ReadAvailable;
using testing::RecordingVerifier;
using testing::RunHandshake;
using testing::SplitRecords;
using testing::TestCa;
using testing::Transfer;

constexpr uint8_t kApplicationData = 23;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

struct SecretsCase {
  TlsCipher cipher;
  int tickets;
};

class TrafficSecretsTest : public ::testing::TestWithParam<SecretsCase> {
 protected:
  void SetUp() override {
    auto client_ctx = MakeContext(TlsRole::kClient, ca_, kClientId, verifier_.Make());
    auto server_ctx =
        MakeContext(TlsRole::kServer, ca_, kServerId, verifier_.Make(), {GetParam().cipher}, GetParam().tickets);
    client_ = TlsSession::Create(client_ctx, kServerId).value();
    server_ = TlsSession::Create(server_ctx).value();
    auto outcome = RunHandshake(*client_, *server_);
    ASSERT_OK(outcome.client);
    ASSERT_OK(outcome.server);
  }

  // Sends <text> from <from> through OpenSSL and opens the resulting record with the exported keys.
  void ExpectOwnDecryptionMatches(TlsSession& from, const std::string& text) {
    auto secrets = from.ExportTrafficSecrets();
    ASSERT_OK(secrets);
    EXPECT_EQ(secrets->cipher, GetParam().cipher);
    EXPECT_EQ(secrets->tx.secret.size(), TlsCipherSecretSize(GetParam().cipher));
    auto key = DeriveTrafficKey(secrets->cipher, secrets->tx.secret.span());
    ASSERT_OK(key);
    ASSERT_OK(from.Write(Bytes(text)));
    auto records = SplitRecords(from.TakeCiphertext());
    ASSERT_EQ(records.size(), 1u);
    auto opened = DecryptTls13Record(secrets->cipher, *key, secrets->tx.records, records[0]);
    ASSERT_OK(opened);
    EXPECT_EQ(opened->inner_type, kApplicationData);
    EXPECT_EQ(opened->content, text);
  }

  TestCa ca_;
  RecordingVerifier verifier_;
  std::unique_ptr<TlsSession> client_;
  std::unique_ptr<TlsSession> server_;
};

TEST_P(TrafficSecretsTest, ExportedSecretsOpenOpenSslRecordsAtTheCountedSequence) {
  // Some traffic first, so record counts are not trivially zero (and tickets, when on, shift the
  // client's receive sequence).
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK(client_->Write(Bytes("request " + std::to_string(i))));
    Transfer(*client_, *server_);
    ASSERT_OK(ReadAvailable(*server_));
    ASSERT_OK(server_->Write(Bytes("response " + std::to_string(i))));
    Transfer(*server_, *client_);
    ASSERT_OK(ReadAvailable(*client_));
  }
  auto client_secrets = client_->ExportTrafficSecrets();
  auto server_secrets = server_->ExportTrafficSecrets();
  ASSERT_OK(client_secrets);
  ASSERT_OK(server_secrets);
  EXPECT_EQ(client_secrets->tx.records, 3u);
  EXPECT_EQ(server_secrets->tx.records, 3u + static_cast<uint64_t>(GetParam().tickets));
  // What one side sends is what the other receives, secret and sequence alike.
  EXPECT_TRUE(std::ranges::equal(client_secrets->tx.secret.span(), server_secrets->rx.secret.span()));
  EXPECT_TRUE(std::ranges::equal(server_secrets->tx.secret.span(), client_secrets->rx.secret.span()));
  EXPECT_EQ(client_secrets->tx.records, server_secrets->rx.records);
  EXPECT_EQ(server_secrets->tx.records, client_secrets->rx.records);

  ExpectOwnDecryptionMatches(*client_, "client record under kernel-style keys");
  ExpectOwnDecryptionMatches(*server_, "server record under kernel-style keys");
}

TEST_P(TrafficSecretsTest, CountsHoldWhenCiphertextTricklesInByteByByte) {
  ASSERT_OK(server_->Write(Bytes("one")));
  ASSERT_OK(server_->Write(Bytes("two")));
  auto wire = server_->TakeCiphertext();
  std::vector<uint8_t> buffer(64);
  for (uint8_t byte : wire) {
    ASSERT_OK(client_->FeedCiphertext({&byte, 1}));
    ASSERT_OK(client_->Read(buffer));
  }
  auto client_secrets = client_->ExportTrafficSecrets();
  ASSERT_OK(client_secrets);
  EXPECT_EQ(client_secrets->rx.records, 2u + static_cast<uint64_t>(GetParam().tickets));
  ExpectOwnDecryptionMatches(*server_, "after trickle");
}

TEST_P(TrafficSecretsTest, ExportRefusedWhileReceivedCiphertextIsUnread) {
  ASSERT_OK(server_->Write(Bytes("unread")));
  auto wire = server_->TakeCiphertext();
  ASSERT_OK(client_->FeedCiphertext(wire));
  auto secrets = client_->ExportTrafficSecrets();
  ASSERT_FALSE(secrets.ok());
  EXPECT_EQ(secrets.error().code, EAGAIN);
  auto got = ReadAvailable(*client_);
  ASSERT_OK(got);
  EXPECT_NE(got->find("unread"), std::string::npos);
  EXPECT_OK(client_->ExportTrafficSecrets());
}

TEST_P(TrafficSecretsTest, HandOffRequiresSentCiphertextAndEndsOpenSslUse) {
  ASSERT_OK(client_->Write(Bytes("queued")));
  auto refused = client_->HandOffToKernel();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, EAGAIN);
  Transfer(*client_, *server_);
  ASSERT_OK(ReadAvailable(*server_));
  Transfer(*server_, *client_);
  ASSERT_OK(ReadAvailable(*client_));
  auto secrets = client_->HandOffToKernel();
  ASSERT_OK(secrets);
  EXPECT_EQ(secrets->tx.records, 1u);
  EXPECT_EQ(client_->state(), TlsState::kOffloaded);
  EXPECT_ERR(client_->Write(Bytes("x")));
  std::vector<uint8_t> buffer(64);
  EXPECT_ERR(client_->Read(buffer));
}

INSTANTIATE_TEST_SUITE_P(Suites, TrafficSecretsTest,
                         ::testing::Values(SecretsCase{TlsCipher::kAes128GcmSha256, 0},
                                           SecretsCase{TlsCipher::kAes256GcmSha384, 0},
                                           SecretsCase{TlsCipher::kAes128GcmSha256, 2},
                                           SecretsCase{TlsCipher::kAes256GcmSha384, 1}),
                         [](const auto& info) {
                           return std::string(TlsCipherName(info.param.cipher)) + "_tickets" +
                                  std::to_string(info.param.tickets);
                         });

}  // namespace
}  // namespace ferry::tunnel
