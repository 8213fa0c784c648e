// TLS 1.3 application traffic secrets as the tunnel hands them to the kernel (kTLS): which suite,
// the secret of each direction, and how many records each direction already carried under it
// (the kernel's starting record sequence number).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ferry::tunnel {

// The two TLS 1.3 suites the kernel can offload (AES-GCM); the tunnel negotiates nothing else.
enum class TlsCipher { kAes128GcmSha256, kAes256GcmSha384 };

std::string_view TlsCipherName(TlsCipher cipher);  // IANA name, e.g. "TLS_AES_128_GCM_SHA256"
std::optional<TlsCipher> TlsCipherFromName(std::string_view name);
size_t TlsCipherKeySize(TlsCipher cipher);     // 16 or 32
size_t TlsCipherSecretSize(TlsCipher cipher);  // hash length: 32 or 48

// Secret bytes that are wiped when they go away.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::span<const uint8_t> bytes);
  SecretBytes(const SecretBytes& other) : SecretBytes(other.span()) {}
  SecretBytes& operator=(const SecretBytes& other);
  ~SecretBytes();

  std::span<const uint8_t> span() const { return {bytes_.data(), size_}; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  std::array<uint8_t, 64> bytes_{};
  size_t size_ = 0;
};

struct DirectionSecret {
  SecretBytes secret;
  uint64_t records = 0;  // records already protected under this secret = kTLS rec_seq
};

struct TrafficSecrets {
  TlsCipher cipher = TlsCipher::kAes128GcmSha256;
  DirectionSecret tx;  // what this side sends
  DirectionSecret rx;  // what this side receives
};

// One NSS key log line ("<LABEL> <client_random hex> <secret hex>"), as OpenSSL's keylog
// callback reports them. Only the first application traffic secrets matter to the tunnel.
struct KeylogSecret {
  enum class Kind { kClientTraffic0, kServerTraffic0 } kind;
  SecretBytes secret;
};
std::optional<KeylogSecret> ParseKeylogLine(std::string_view line);

// Counts records per direction once each side's Finished has gone by: TLS 1.3 switches to the
// application traffic keys right after Finished, so the records after it are exactly the ones
// protected by the application secrets. Fed from OpenSSL's message callback.
class ApplicationRecordCounter {
 public:
  void OnRecordHeader(bool sent);
  void OnHandshakeMessage(bool sent, uint8_t message_type);

  uint64_t sent() const { return sent_; }
  uint64_t received() const { return received_; }
  // A KeyUpdate replaced the secrets: what was captured no longer describes the connection.
  bool key_updated() const { return key_updated_; }

 private:
  bool sent_finished_ = false;
  bool received_finished_ = false;
  bool key_updated_ = false;
  uint64_t sent_ = 0;
  uint64_t received_ = 0;
};

}  // namespace ferry::tunnel
