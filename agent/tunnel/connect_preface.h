// The tunnel preface spoken inside TLS on port 15008: the source agent sends
//   CONNECT <ip>:<port> HTTP/1.1\r\nHost: <ip>:<port>\r\n\r\n
// and the destination agent answers 200 (then raw bytes flow) or 400/403/503 with a short
// x-ferry-reason header. Parsers are incremental (feed bytes as they arrive), bounded and strict:
// anything but the exact shape above is refused with a reason, never guessed at.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/tunnel/header_block.h"
#include "common/ipv4.h"
#include "common/result.h"

namespace ferry::tunnel {

inline constexpr HeaderBlockLimits kPrefaceLimits{4096, 32};

// ---- request (client writes, server parses) ----

std::string BuildConnectRequest(const Ipv4Endpoint& target);

struct ConnectRequest {
  Ipv4Endpoint target;
};

class ConnectRequestParser {
 public:
  // Feeds the next bytes from the stream. Returns the request once the header block is complete
  // (nullopt: need more bytes). Errors are final and carry a short reason (errno EMSGSIZE for an
  // oversized header, EBADMSG for anything malformed).
  Result<std::optional<ConnectRequest>> Feed(std::string_view bytes);
  // Bytes of the last Feed() call that came after the header block: early tunnel payload.
  size_t payload_offset() const { return payload_offset_; }

 private:
  HeaderBlockReader reader_{kPrefaceLimits};
  size_t payload_offset_ = 0;
};

// Whether a parsed target may be served by the 15008 listener of the pod with <listener_pod_ip>:
// only that pod's own IP, never loopback/0.0.0.0, never a mesh port (15000-15099). EACCES + reason.
Result<void> ValidateConnectTarget(const Ipv4Endpoint& target, uint32_t listener_pod_ip);

// ---- response (server writes, client parses) ----

enum class ConnectStatus : int {
  kOk = 200,
  kBadRequest = 400,          // the preface itself was malformed
  kForbidden = 403,           // policy or target validation refused it
  kServiceUnavailable = 503,  // the destination could not be reached
};

// "HTTP/1.1 200 OK\r\n\r\n" for kOk; otherwise the status line, "x-ferry-reason: <reason>" (sanitised
// to printable ASCII, at most 128 bytes) and "content-length: 0".
std::string BuildConnectResponse(ConnectStatus status, std::string_view reason = {});

struct ConnectResponse {
  int status = 0;
  std::string reason;  // x-ferry-reason, empty when absent
  bool ok() const { return status == 200; }
};

class ConnectResponseParser {
 public:
  Result<std::optional<ConnectResponse>> Feed(std::string_view bytes);
  size_t payload_offset() const { return payload_offset_; }

 private:
  HeaderBlockReader reader_{kPrefaceLimits};
  size_t payload_offset_ = 0;
};

}  // namespace ferry::tunnel
