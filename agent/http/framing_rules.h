// Framing rules enforced on a complete, line-checked head before http_parser sees it. They close
// request-smuggling gaps where two HTTP implementations could disagree on where a message ends,
// and spot HTTP/2 upgrade attempts. http_parser would refuse some of these too, but only with a
// generic reason; checking first gives the peer (and the logs) a precise one.
#pragma once

#include <optional>
#include <string_view>

#include "agent/http/http_message.h"

namespace ferry::http {

// `head` is what HeadScanner accepted: CRLF-terminated lines, no obs-fold.
std::optional<HttpError> CheckFramingHeaders(std::string_view head, bool is_request);

// Checks that need the parsed head (version, Host): run after http_parser.
std::optional<HttpError> CheckParsedRequest(const MessageHead& head);

}  // namespace ferry::http
