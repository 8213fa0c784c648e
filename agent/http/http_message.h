// Plain data the HTTP/1.1 readers hand to a relay: message heads, body pieces, errors.
// Nothing here touches a socket; a relay feeds bytes in and acts on these values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::http {

struct Header {
  std::string name;   // as received (case preserved, so a forwarded head looks like the original)
  std::string value;  // surrounding whitespace removed
};

// ASCII case-insensitive comparison: header names and most tokens are case-insensitive.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Limits on one message head. Heads are buffered whole before they are parsed, so these bound
// the memory a slow or hostile peer can pin per connection.
struct HttpLimits {
  std::size_t max_head_bytes = 64 * 1024;
  std::size_t max_headers = 100;
};

enum class BodyFraming {
  kNone,           // no body (GET without length, HEAD/1xx/204/304 responses, ...)
  kContentLength,  // exactly content_length bytes
  kChunked,        // Transfer-Encoding: chunked (trailers included)
  kUntilClose,     // responses only: the body runs until the server closes
};

// One request or response head. Request fields are empty in responses and vice versa.
struct MessageHead {
  std::string method;  // requests
  std::string target;  // requests: the request-target exactly as received
  int status = 0;      // responses
  std::string reason;  // responses
  int version_major = 1;
  int version_minor = 1;
  std::vector<Header> headers;  // in wire order
  // The connection may carry another message after this one (Connection, HTTP version).
  bool keep_alive = true;
  // Requests: an Upgrade (e.g. websocket) or CONNECT request; if the server agrees, the
  // connection becomes an opaque byte stream. Responses: 101, or a 2xx answer to CONNECT.
  bool upgrade = false;
  bool expect_continue = false;  // requests: "Expect: 100-continue"
  BodyFraming framing = BodyFraming::kNone;
  std::uint64_t content_length = 0;  // with kContentLength

  // First header with this name (case-insensitive), or nullptr.
  const Header* Find(std::string_view name) const;
  bool informational() const { return status >= 100 && status < 200 && status != 101; }
};

enum class HttpErrorKind {
  kMalformed,  // framing or syntax the proxy refuses (ambiguous framing, bad bytes, parser error)
  kTooLarge,   // head over HttpLimits
  kHttp2,      // HTTP/2 prior-knowledge preface or an h2c upgrade: not supported (yet)
  kTruncated,  // the peer closed in the middle of a message
};

// Every error ends the connection: after it the byte stream can no longer be framed reliably.
struct HttpError {
  HttpErrorKind kind = HttpErrorKind::kMalformed;
  int status = 400;    // what a proxy should answer (400/431/505 for requests, 502 for responses)
  std::string reason;  // short, for the response body and logs
};

struct HttpEvent {
  enum class Kind {
    kHead,   // `head` is set
    kBody,   // `raw` and `payload` are set
    kEnd,    // the message is complete; `keep_alive` and `upgrade` say what comes next
    kError,  // `error` is set; nothing more will be read
  };
  Kind kind = Kind::kHead;
  MessageHead head;
  // Body bytes as they were on the wire (chunk sizes, extensions and trailers included), so a
  // relay can forward them verbatim. Points into the buffer passed to Feed().
  std::string_view raw;
  // The decoded payload pieces inside `raw` (chunk framing removed). Also point into that buffer.
  std::vector<std::string_view> payload;
  bool keep_alive = false;  // kEnd: another message may follow on this connection
  bool upgrade = false;     // kEnd: the reader stopped at an upgrade (see the readers)
  HttpError error;          // kError
};

struct FeedResult {
  // Bytes of the input that were used. Less than the input only when the reader stopped: after an
  // error, after a message that ends the connection, or at an upgrade (the rest of the input is
  // then the first bytes of the upgraded stream).
  std::size_t consumed = 0;
  std::vector<HttpEvent> events;
};

enum class ReaderState {
  kReading,         // ready for more bytes
  kUpgradePending,  // stopped after an upgrade request/response; see the readers
  kClosed,          // the last message ended the connection (Connection: close, HTTP/1.0, ...)
  kFailed,          // an error was reported
};

}  // namespace ferry::http
