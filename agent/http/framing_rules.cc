#include "agent/http/framing_rules.h"

#include <string>
#include <vector>

namespace ferry::http {
namespace {

HttpError Malformed(std::string reason) {
  return HttpError{HttpErrorKind::kMalformed, 400, std::move(reason)};
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The framing-relevant fields of a head, taken straight from its lines.
struct FramingFields {
  std::vector<std::string_view> content_lengths;
  std::vector<std::string_view> transfer_encodings;
  std::vector<std::string_view> upgrades;
};

FramingFields CollectFields(std::string_view head) {
  FramingFields fields;
  bool start_line_seen = false;
  while (!head.empty()) {
    const std::size_t eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
    if (line.empty()) continue;  // leading empty lines and the terminating one
    if (!start_line_seen) {
      start_line_seen = true;
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // http_parser rejects it with its own reason
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = TrimOws(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "content-length")) fields.content_lengths.push_back(value);
    if (EqualsIgnoreCase(name, "transfer-encoding")) fields.transfer_encodings.push_back(value);
    if (EqualsIgnoreCase(name, "upgrade")) fields.upgrades.push_back(value);
  }
  return fields;
}

bool ListsToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = TrimOws(list.substr(0, comma));
    if (EqualsIgnoreCase(item, token)) return true;
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
  }
  return false;
}

}  // namespace

std::optional<HttpError> CheckFramingHeaders(std::string_view head, bool is_request) {
  const FramingFields f = CollectFields(head);
  if (!f.content_lengths.empty() && !f.transfer_encodings.empty()) {
    return Malformed("both Content-Length and Transfer-Encoding");
  }
  if (f.content_lengths.size() > 1) {
    for (std::string_view v : f.content_lengths) {
      if (v != f.content_lengths.front()) return Malformed("conflicting Content-Length headers");
    }
    return Malformed("duplicate Content-Length header");
  }
  // Only a single plain "chunked" is accepted: codings stacked under it, or a non-chunked final
  // coding (body until close), are where implementations diverge.
  if (!f.transfer_encodings.empty() &&
      (f.transfer_encodings.size() > 1 || !EqualsIgnoreCase(f.transfer_encodings[0], "chunked"))) {
    return Malformed("Transfer-Encoding other than chunked");
  }
  if (is_request) {
    for (std::string_view v : f.upgrades) {
      if (ListsToken(v, "h2c")) {
        return HttpError{HttpErrorKind::kHttp2, 400, "HTTP/2 (h2c upgrade) is not supported"};
      }
    }
  }
  return std::nullopt;
}

std::optional<HttpError> CheckParsedRequest(const MessageHead& head) {
  if (head.version_major == 2) {
    return HttpError{HttpErrorKind::kHttp2, 400, "HTTP/2 is not supported"};
  }
  if (head.version_major != 1) {
    return HttpError{HttpErrorKind::kMalformed, 505, "HTTP version not supported"};
  }
  int hosts = 0;
  for (const Header& h : head.headers) hosts += EqualsIgnoreCase(h.name, "host") ? 1 : 0;
  if (hosts > 1) return Malformed("multiple Host headers");
  // RFC 9112 3.2: a server must answer 400 to an HTTP/1.1 request without Host.
  if (hosts == 0 && head.version_minor >= 1) return Malformed("missing Host header");
  return std::nullopt;
}

}  // namespace ferry::http
