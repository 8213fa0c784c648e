#include "agent/tunnel/ktls_reader.h"

#include <linux/tls.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

namespace ferry::tunnel {
namespace {

constexpr uint8_t kRecordAlert = 21;
constexpr uint8_t kRecordHandshake = 22;
constexpr uint8_t kRecordApplicationData = 23;
constexpr uint8_t kHandshakeNewSessionTicket = 4;
constexpr uint8_t kHandshakeKeyUpdate = 24;
constexpr uint8_t kAlertCloseNotify = 0;

struct Received {
  size_t bytes = 0;
  uint8_t record_type = kRecordApplicationData;
  bool end_of_record = false;
};

Result<Received> ReceiveOnce(int fd, std::span<uint8_t> out) {
  iovec iov{out.data(), out.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint8_t))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EBADMSG) return Error{EBADMSG, "kTLS record failed authentication (keys or record sequence)"};
    return ErrnoError("recvmsg on kTLS socket");
  }
  Received received{static_cast<size_t>(n), kRecordApplicationData, (msg.msg_flags & MSG_EOR) != 0};
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level == SOL_TLS && cmsg->cmsg_type == TLS_GET_RECORD_TYPE) received.record_type = *CMSG_DATA(cmsg);
  }
  return received;
}

// A control record larger than the caller's buffer arrives in pieces: consume the rest so the
// next read starts at a record boundary (the kernel marks a record's last piece with MSG_EOR).
Result<void> DiscardRestOfRecord(int fd, Received first) {
  std::array<uint8_t, 4096> scratch;
  while (!first.end_of_record && first.bytes > 0) {
    auto more = ReceiveOnce(fd, scratch);
    if (!more) return more.error();
    first = *more;
  }
  return Ok();
}

KtlsRecord Classify(uint8_t record_type, std::span<const uint8_t> content) {
  KtlsRecord record;
  if (record_type == kRecordAlert && content.size() >= 2) {
    record.alert_level = content[0];
    record.alert_description = content[1];
    record.kind = content[1] == kAlertCloseNotify ? KtlsRecordKind::kCloseNotify : KtlsRecordKind::kAlert;
  } else if (record_type == kRecordHandshake && !content.empty()) {
    record.handshake_type = content[0];
    record.kind = content[0] == kHandshakeNewSessionTicket ? KtlsRecordKind::kSessionTicket
                  : content[0] == kHandshakeKeyUpdate      ? KtlsRecordKind::kKeyUpdate
                                                           : KtlsRecordKind::kHandshake;
  } else {
    // Malformed alert/handshake or an unknown record type: treat like a fatal alert.
    record.kind = KtlsRecordKind::kAlert;
  }
  return record;
}

}  // namespace

std::string_view KtlsRecordKindName(KtlsRecordKind kind) {
  switch (kind) {
    case KtlsRecordKind::kData: return "data";
    case KtlsRecordKind::kCloseNotify: return "close_notify";
    case KtlsRecordKind::kAlert: return "alert";
    case KtlsRecordKind::kSessionTicket: return "session_ticket";
    case KtlsRecordKind::kKeyUpdate: return "key_update";
    case KtlsRecordKind::kHandshake: return "handshake";
    case KtlsRecordKind::kEndOfStream: return "end_of_stream";
  }
  return "unknown";
}

Result<KtlsRecord> ReadKtlsRecord(int fd, std::span<uint8_t> out) {
  if (out.size() < kMinKtlsReadBuffer) return MakeError("kTLS read buffer too small", EINVAL);
  auto received = ReceiveOnce(fd, out);
  if (!received) return received.error();
  if (received->record_type == kRecordApplicationData) {
    KtlsRecord record;
    record.kind = received->bytes == 0 ? KtlsRecordKind::kEndOfStream : KtlsRecordKind::kData;
    record.bytes = received->bytes;
    return record;
  }
  KtlsRecord record = Classify(received->record_type, out.first(received->bytes));
  FERRY_TRY(DiscardRestOfRecord(fd, *received));
  return record;
}

}  // namespace ferry::tunnel
