// Reading a socket with kTLS receive keys installed. Plain read()/splice() fail (EIO) on any
// record that is not application data, close_notify included, so the tunnel reads with recvmsg
// and the TLS_GET_RECORD_TYPE control message and handles the other records itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/result.h"

namespace ferry::tunnel {

enum class KtlsRecordKind {
  kData,           // <bytes> of application data in the caller's buffer
  kCloseNotify,    // the peer finished sending (alert close_notify)
  kAlert,          // any other alert: the connection is over (see alert_description)
  kSessionTicket,  // NewSessionTicket: harmless, skip it (resumption needs it read by OpenSSL)
  kKeyUpdate,      // the kernel cannot follow a key change (6.1): close the connection
  kHandshake,      // another post-handshake message (handshake_type): unsupported, close
  kEndOfStream,    // TCP FIN without close_notify: possible truncation
};
std::string_view KtlsRecordKindName(KtlsRecordKind kind);

struct KtlsRecord {
  KtlsRecordKind kind = KtlsRecordKind::kData;
  size_t bytes = 0;  // kData only
  uint8_t alert_level = 0;
  uint8_t alert_description = 0;
  uint8_t handshake_type = 0;
};

inline constexpr size_t kMinKtlsReadBuffer = 64;

// Reads application data into <out> (at least kMinKtlsReadBuffer bytes), or consumes and reports
// the next non-data record whole. A non-blocking socket with nothing to read gives errno EAGAIN;
// EBADMSG means a record failed authentication (wrong keys or record sequence).
Result<KtlsRecord> ReadKtlsRecord(int fd, std::span<uint8_t> out);

}  // namespace ferry::tunnel
