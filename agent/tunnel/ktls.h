// Kernel TLS (kTLS) for the tunnel: derive TLS 1.3 record keys from the application traffic
// secrets a TlsSession captured, and install them on the TCP socket so the kernel encrypts and
// decrypts records (then bytes can move with splice, no user-space copy).
//
// The handshake runs through memory BIOs, where OpenSSL never enables kTLS itself, and OpenSSL 3.0
// would not offload TLS 1.3 receive anyway: both directions are installed here. Kernels without
// the "tls" ULP (like the development host) report that through KtlsAvailable(); the caller then
// keeps the record layer in OpenSSL.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "agent/tunnel/traffic_secrets.h"
#include "common/result.h"

namespace ferry::tunnel {

enum class KtlsDirection { kTx, kRx };

// RFC 8446 section 7.1 HKDF-Expand-Label. <label> without the "tls13 " prefix (e.g. "key");
// <digest> is an OpenSSL digest name: "SHA256" or "SHA384".
Result<std::vector<uint8_t>> HkdfExpandLabel(std::string_view digest, std::span<const uint8_t> secret,
                                             std::string_view label, std::span<const uint8_t> context,
                                             size_t length);

// Record protection key and IV of one direction (RFC 8446 section 7.3); wiped on destruction.
struct TrafficKey {
  std::array<uint8_t, 32> key{};
  size_t key_size = 0;  // 16 (AES-128-GCM) or 32 (AES-256-GCM)
  std::array<uint8_t, 12> iv{};
  ~TrafficKey();
  std::span<const uint8_t> key_span() const { return {key.data(), key_size}; }
};
Result<TrafficKey> DeriveTrafficKey(TlsCipher cipher, std::span<const uint8_t> secret);

// Attaches the "tls" ULP (already attached is fine) and installs one direction's keys, starting
// at record sequence number <record_seq>. Errors: ENOENT/ENOPROTOOPT when the kernel has no kTLS;
// after RX is installed, plain read() fails on non-data records: use ReadKtlsRecord().
Result<void> InstallKtls(int fd, KtlsDirection direction, TlsCipher cipher, std::span<const uint8_t> secret,
                         uint64_t record_seq);
// Both directions from a TlsSession's HandOffToKernel() (TX first).
Result<void> InstallKtls(int fd, const TrafficSecrets& secrets);

struct KtlsSupport {
  bool available = false;
  std::string detail;  // why not, or what was verified
  explicit operator bool() const { return available; }
};
// Tries TLS 1.3 AES-GCM-128/256 TX and RX keys on a loopback TCP pair. Never fails: a kernel
// without kTLS is an answer (available = false), not an error.
KtlsSupport KtlsAvailable();

// True for the errno values that mean "this kernel has no kTLS", as opposed to a bad argument.
bool IsKtlsUnsupportedError(int code);

// Sends a TLS alert record through a kTLS TX socket (the kernel encrypts it as record type 21).
Result<void> SendKtlsAlert(int fd, uint8_t level, uint8_t description);
inline Result<void> SendKtlsCloseNotify(int fd) { return SendKtlsAlert(fd, 1, 0); }

}  // namespace ferry::tunnel
