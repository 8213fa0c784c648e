#include "agent/tunnel/traffic_secrets.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <vector>

namespace ferry::tunnel {
namespace {

constexpr uint8_t kHandshakeFinished = 20;
constexpr uint8_t kHandshakeKeyUpdate = 24;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<SecretBytes> ParseHexSecret(std::string_view hex) {
  if (hex.empty() || hex.size() % 2 != 0 || hex.size() / 2 > 64) return std::nullopt;
  std::array<uint8_t, 64> bytes{};
  for (size_t i = 0; i < hex.size() / 2; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  SecretBytes secret(std::span<const uint8_t>(bytes.data(), hex.size() / 2));
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return secret;
}

}  // namespace

std::string_view TlsCipherName(TlsCipher cipher) {
  return cipher == TlsCipher::kAes128GcmSha256 ? "TLS_AES_128_GCM_SHA256" : "TLS_AES_256_GCM_SHA384";
}

std::optional<TlsCipher> TlsCipherFromName(std::string_view name) {
  if (name == "TLS_AES_128_GCM_SHA256") return TlsCipher::kAes128GcmSha256;
  if (name == "TLS_AES_256_GCM_SHA384") return TlsCipher::kAes256GcmSha384;
  return std::nullopt;
}

size_t TlsCipherKeySize(TlsCipher cipher) { return cipher == TlsCipher::kAes128GcmSha256 ? 16 : 32; }
size_t TlsCipherSecretSize(TlsCipher cipher) { return cipher == TlsCipher::kAes128GcmSha256 ? 32 : 48; }

SecretBytes::SecretBytes(std::span<const uint8_t> bytes) : size_(std::min(bytes.size(), bytes_.size())) {
  std::copy_n(bytes.begin(), size_, bytes_.begin());
}

SecretBytes& SecretBytes::operator=(const SecretBytes& other) {
  if (this != &other) {
    bytes_ = other.bytes_;
    size_ = other.size_;
  }
  return *this;
}

SecretBytes::~SecretBytes() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

std::optional<KeylogSecret> ParseKeylogLine(std::string_view line) {
  auto first = line.find(' ');
  if (first == std::string_view::npos) return std::nullopt;
  auto second = line.find(' ', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  std::string_view label = line.substr(0, first);
  KeylogSecret::Kind kind;
  if (label == "CLIENT_TRAFFIC_SECRET_0") {
    kind = KeylogSecret::Kind::kClientTraffic0;
  } else if (label == "SERVER_TRAFFIC_SECRET_0") {
    kind = KeylogSecret::Kind::kServerTraffic0;
  } else {
    return std::nullopt;
  }
  auto secret = ParseHexSecret(line.substr(second + 1));
  if (!secret) return std::nullopt;
  return KeylogSecret{kind, *secret};
}

void ApplicationRecordCounter::OnRecordHeader(bool sent) {
  // OpenSSL reports a record header before the handshake message it carries (both directions),
  // so the record holding Finished itself is not counted: it is protected by the handshake keys.
  if (sent && sent_finished_) ++sent_;
  if (!sent && received_finished_) ++received_;
}

void ApplicationRecordCounter::OnHandshakeMessage(bool sent, uint8_t message_type) {
  if (message_type == kHandshakeFinished) {
    (sent ? sent_finished_ : received_finished_) = true;
  } else if (message_type == kHandshakeKeyUpdate) {
    key_updated_ = true;
  }
}

}  // namespace ferry::tunnel
