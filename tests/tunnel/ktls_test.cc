#include "agent/tunnel/ktls.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <vector>

#include "agent/tunnel/ktls_reader.h"
#include "common/unique_fd.h"
#include "test_result.h"

namespace ferry::tunnel {
namespace {

std::vector<uint8_t> FromHex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

std::string ToHex(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

// RFC 8448 section 3 ("Simple 1-RTT Handshake"), TLS_AES_128_GCM_SHA256.
TEST(HkdfExpandLabel, MatchesRfc8448ServerApplicationKeys) {
  auto secret = FromHex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643");
  auto key = HkdfExpandLabel("SHA256", secret, "key", {}, 16);
  auto iv = HkdfExpandLabel("SHA256", secret, "iv", {}, 12);
  ASSERT_OK(key);
  ASSERT_OK(iv);
  EXPECT_EQ(ToHex(*key), "9f02283b6c9c07efc26bb9f2ac92e356");
  EXPECT_EQ(ToHex(*iv), "cf782b88dd83549aadf1e984");
}

TEST(HkdfExpandLabel, DeriveTrafficKeyMatchesRfc8448ClientApplicationKeys) {
  auto secret = FromHex("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5");
  auto key = DeriveTrafficKey(TlsCipher::kAes128GcmSha256, secret);
  ASSERT_OK(key);
  EXPECT_EQ(ToHex(key->key_span()), "17422dda596ed5d9acd890e3c63f5051");
  EXPECT_EQ(ToHex(key->iv), "5b78923dee08579033e523d9");
}

TEST(HkdfExpandLabel, Aes256UsesSha384AndA32ByteKey) {
  std::vector<uint8_t> secret(48, 0x5a);
  auto key = DeriveTrafficKey(TlsCipher::kAes256GcmSha384, secret);
  ASSERT_OK(key);
  EXPECT_EQ(key->key_size, 32u);
  auto expected = HkdfExpandLabel("SHA384", secret, "key", {}, 32);
  ASSERT_OK(expected);
  EXPECT_EQ(ToHex(key->key_span()), ToHex(*expected));
  // A SHA-256-sized secret is not a SHA-384 suite's secret.
  EXPECT_ERR(DeriveTrafficKey(TlsCipher::kAes256GcmSha384, std::vector<uint8_t>(32, 1)));
}

struct TcpPair {
  UniqueFd client;
  UniqueFd server;
};

TcpPair ConnectLoopback() {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  bind(listener.get(), reinterpret_cast<sockaddr*>(&address), length);
  listen(listener.get(), 1);
  getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length);
  TcpPair pair;
  pair.client.Reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  connect(pair.client.get(), reinterpret_cast<sockaddr*>(&address), length);
  pair.server.Reset(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  return pair;
}

// Runs everywhere: on a kernel without kTLS (this development host) the answer must be a clean
// "unavailable" and InstallKtls must say why; with kTLS, keys must install.
TEST(KtlsAvailability, ReportsTheKernelCleanly) {
  KtlsSupport support = KtlsAvailable();
  TcpPair pair = ConnectLoopback();
  ASSERT_TRUE(pair.client.valid() && pair.server.valid());
  std::vector<uint8_t> secret(32, 7);
  auto installed = InstallKtls(pair.client.get(), KtlsDirection::kTx, TlsCipher::kAes128GcmSha256, secret, 0);
  std::cout << "KtlsAvailable(): " << (support ? "yes" : "no") << " - " << support.detail << "\n";
  if (support) {
    EXPECT_OK(installed);
    return;
  }
  EXPECT_EQ(support.detail.rfind("kTLS unavailable: ", 0), 0u) << support.detail;
  ASSERT_FALSE(installed.ok());
  EXPECT_TRUE(IsKtlsUnsupportedError(installed.error().code)) << installed.error().Message();
  EXPECT_NE(installed.error().context.find("kernel has no kTLS"), std::string::npos);
  // The socket is untouched and still carries plain bytes (the OpenSSL fallback path).
  ASSERT_EQ(write(pair.client.get(), "plain", 5), 5);
  char buffer[8];
  EXPECT_EQ(read(pair.server.get(), buffer, sizeof(buffer)), 5);
}

TEST(KtlsAvailability, WrongSecretSizeIsRefusedBeforeTouchingTheSocket) {
  TcpPair pair = ConnectLoopback();
  auto installed = InstallKtls(pair.client.get(), KtlsDirection::kRx, TlsCipher::kAes256GcmSha384,
                               std::vector<uint8_t>(32, 1), 0);
  ASSERT_FALSE(installed.ok());
  EXPECT_EQ(installed.error().code, EINVAL);
}

TEST(KtlsReader, PlainSocketDataAndEndOfStreamAreReported) {
  // Without RX keys there is no record-type message: bytes read as data, FIN as end of stream.
  TcpPair pair = ConnectLoopback();
  ASSERT_EQ(write(pair.client.get(), "hello", 5), 5);
  pair.client.Reset();
  std::vector<uint8_t> buffer(kMinKtlsReadBuffer);
  auto data = ReadKtlsRecord(pair.server.get(), buffer);
  ASSERT_OK(data);
  EXPECT_EQ(data->kind, KtlsRecordKind::kData);
  EXPECT_EQ(std::string(buffer.begin(), buffer.begin() + static_cast<long>(data->bytes)), "hello");
  auto end = ReadKtlsRecord(pair.server.get(), buffer);
  ASSERT_OK(end);
  EXPECT_EQ(end->kind, KtlsRecordKind::kEndOfStream);
  std::vector<uint8_t> tiny(8);
  EXPECT_ERR(ReadKtlsRecord(pair.server.get(), tiny));
}

}  // namespace
}  // namespace ferry::tunnel
