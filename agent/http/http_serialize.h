// Bytes a relay writes: re-serialised heads (so the normalised target is what gets forwarded) and
// the proxy's own short answers (100 Continue, 400/403/502 with a reason).
#pragma once

#include <string>
#include <string_view>

#include "agent/http/http_message.h"

namespace ferry::http {

// "METHOD target HTTP/x.y", then the headers in their received order and spelling. The head
// passed the readers' checks, so no value can carry CR, LF or NUL into the output.
std::string SerializeRequestHead(const MessageHead& head, std::string_view target);
std::string SerializeResponseHead(const MessageHead& head);

// A complete text/plain response carrying `reason`; with `close`, it says Connection: close.
std::string MakeErrorResponse(int status, std::string_view reason, bool close);
// The same answer with an `x-ferry-reason: <reason>` header too, so a client (and a test) can tell
// a response made by the proxy from one made by the application. Control characters in `reason`
// become spaces in the header.
std::string MakeProxyResponse(int status, std::string_view reason, bool close);

constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace ferry::http
