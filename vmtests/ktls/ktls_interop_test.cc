// The kernel's records and OpenSSL's must be interchangeable: one end offloaded, the other still
// in OpenSSL (what happens when only one node has kTLS). Also: post-handshake messages reaching a
// kTLS receiver are reported, not misread as data.
#include <gtest/gtest.h>
#include <linux/tls.h>
#include <sys/socket.h>

#include <string>
#include <thread>

#include "agent/tunnel/ktls.h"
#include "agent/tunnel/ktls_reader.h"
#include "ktls_peers.h"
#include "support/tls_test_context.h"
#include "test_result.h"
#include "tunnel/test_pki.h"

namespace ferry::vmtest {
namespace {

using tunnel::KtlsRecordKind;
using tunnel::TlsCipher;
using tunnel::TlsRole;

std::shared_ptr<tunnel::TlsContext> Context(TlsRole role, const tunnel::testing::TestCa& ca, const std::string& id,
                                            TlsCipher cipher) {
  return testing::AcceptAnyPeerTlsContext(role, ca, id, 0, std::vector<TlsCipher>{cipher});
}

// Client offloaded both ways; server in OpenSSL.
Result<TunnelPair> HalfOffloadedPair(const tunnel::testing::TestCa& ca, TlsCipher cipher) {
  auto pair = ConnectTunnelPair(Context(TlsRole::kClient, ca, "spiffe://t/ns/a/sa/c", cipher),
                                Context(TlsRole::kServer, ca, "spiffe://t/ns/a/sa/s", cipher), "spiffe://t/ns/a/sa/s");
  if (!pair) return pair.error();
  FERRY_TRY(HandshakeOverSockets(*pair));
  FERRY_TRY(ExchangePreface(*pair));
  auto secrets = pair->client.tls->HandOffToKernel();
  if (!secrets) return secrets.error();
  FERRY_TRY(tunnel::InstallKtls(pair->client.fd.get(), *secrets));
  return pair;
}

std::string Pattern(size_t size, char salt) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + static_cast<size_t>(salt)) & 0xff);
  return s;
}

Result<void> SendRecord(int fd, uint8_t record_type, const std::string& content) {
  iovec iov{const_cast<char*>(content.data()), content.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint8_t))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_TLS;
  cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
  cmsg->cmsg_len = CMSG_LEN(sizeof(uint8_t));
  *CMSG_DATA(cmsg) = record_type;
  if (sendmsg(fd, &msg, 0) != static_cast<ssize_t>(content.size())) return ErrnoError("sendmsg record");
  return Ok();
}

class KtlsInterop : public ::testing::TestWithParam<TlsCipher> {};

TEST_P(KtlsInterop, KernelRecordsAndOpenSslRecordsInterchange) {
  tunnel::testing::TestCa ca;
  auto pair = HalfOffloadedPair(ca, GetParam());
  ASSERT_OK(pair);
  const std::string upstream = Pattern(1 << 20, 'u');
  const std::string downstream = Pattern(1 << 20, 'd');

  // Kernel TX -> OpenSSL RX.
  std::thread writer([&] { ASSERT_EQ(send(pair->client.fd.get(), upstream.data(), upstream.size(), 0), static_cast<ssize_t>(upstream.size())); });
  auto got = ReadThroughOpenSsl(pair->server, upstream.size());
  writer.join();
  ASSERT_OK(got);
  EXPECT_TRUE(*got == upstream) << "upstream bytes differ (" << got->size() << " bytes)";

  // OpenSSL TX -> kernel RX, then OpenSSL's close_notify arrives as a record the reader reports.
  std::string received;
  tunnel::KtlsRecord last;
  std::thread reader([&] {
    std::vector<uint8_t> buffer(64 * 1024);
    for (;;) {
      auto record = tunnel::ReadKtlsRecord(pair->client.fd.get(), buffer);
      ASSERT_OK(record);
      if (record->kind != KtlsRecordKind::kData) {
        last = *record;
        return;
      }
      received.append(reinterpret_cast<const char*>(buffer.data()), record->bytes);
    }
  });
  auto server_write = pair->server.tls->Write({reinterpret_cast<const uint8_t*>(downstream.data()), downstream.size()});
  auto server_shutdown = pair->server.tls->Shutdown();
  auto flushed = FlushCiphertext(pair->server);
  reader.join();
  ASSERT_OK(server_write);
  ASSERT_OK(server_shutdown);
  ASSERT_OK(flushed);
  EXPECT_TRUE(received == downstream) << "downstream bytes differ (" << received.size() << " bytes)";
  EXPECT_EQ(last.kind, KtlsRecordKind::kCloseNotify);

  // The kernel's close_notify is a proper TLS alert to OpenSSL.
  ASSERT_OK(tunnel::SendKtlsCloseNotify(pair->client.fd.get()));
  auto tail = ReadThroughOpenSsl(pair->server, 1);
  ASSERT_OK(tail);
  EXPECT_EQ(*tail, "");
  EXPECT_EQ(pair->server.tls->state(), tunnel::TlsState::kClosed);
}

INSTANTIATE_TEST_SUITE_P(Suites, KtlsInterop,
                         ::testing::Values(TlsCipher::kAes128GcmSha256, TlsCipher::kAes256GcmSha384),
                         [](const auto& info) { return std::string(tunnel::TlsCipherName(info.param)); });

TEST(KtlsReader, PostHandshakeMessagesAreReportedNotMisreadAsData) {
  tunnel::testing::TestCa ca;
  auto pair = ConnectTunnelPair(Context(TlsRole::kClient, ca, "spiffe://t/ns/a/sa/c", TlsCipher::kAes128GcmSha256),
                                Context(TlsRole::kServer, ca, "spiffe://t/ns/a/sa/s", TlsCipher::kAes128GcmSha256), "");
  ASSERT_OK(pair);
  ASSERT_OK(HandshakeOverSockets(*pair));
  ASSERT_OK(ExchangePreface(*pair));
  auto client = pair->client.tls->HandOffToKernel();
  auto server = pair->server.tls->HandOffToKernel();
  ASSERT_OK(client);
  ASSERT_OK(server);
  ASSERT_OK(tunnel::InstallKtls(pair->client.fd.get(), *client));
  ASSERT_OK(tunnel::InstallKtls(pair->server.fd.get(), *server));

  // A NewSessionTicket bigger than the reader's buffer, then data, then a KeyUpdate, then an alert.
  std::string ticket = std::string("\x04\x00\x01\x00", 4) + std::string(256, 't');
  ASSERT_OK(SendRecord(pair->server.fd.get(), 22, ticket));
  ASSERT_EQ(send(pair->server.fd.get(), "after ticket", 12, 0), 12);
  ASSERT_OK(SendRecord(pair->server.fd.get(), 22, std::string("\x18\x00\x00\x01\x00", 5)));
  ASSERT_OK(tunnel::SendKtlsAlert(pair->server.fd.get(), 2, 40));

  std::vector<uint8_t> buffer(tunnel::kMinKtlsReadBuffer);
  auto first = tunnel::ReadKtlsRecord(pair->client.fd.get(), buffer);
  ASSERT_OK(first);
  EXPECT_EQ(first->kind, KtlsRecordKind::kSessionTicket);
  auto data = tunnel::ReadKtlsRecord(pair->client.fd.get(), buffer);
  ASSERT_OK(data);
  ASSERT_EQ(data->kind, KtlsRecordKind::kData);
  EXPECT_EQ(std::string(buffer.begin(), buffer.begin() + static_cast<long>(data->bytes)), "after ticket");
  auto key_update = tunnel::ReadKtlsRecord(pair->client.fd.get(), buffer);
  ASSERT_OK(key_update);
  EXPECT_EQ(key_update->kind, KtlsRecordKind::kKeyUpdate);
  auto alert = tunnel::ReadKtlsRecord(pair->client.fd.get(), buffer);
  ASSERT_OK(alert);
  EXPECT_EQ(alert->kind, KtlsRecordKind::kAlert);
  EXPECT_EQ(alert->alert_description, 40);  // handshake_failure
}

}  // namespace
}  // namespace ferry::vmtest
