// Where one HTTP/1.1 message ends in a byte stream, for ferry-bench-http's client and server.
// Both ends of every benchmark exchange are ferry-bench-http, so framing by Content-Length is
// all that is needed (no chunked bodies, no trailers); anything else is reported as invalid
// rather than guessed at. Header-only and free of Ferry libraries (bench.sh builds the tool with
// a plain compiler call).
#pragma once

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

namespace ferry::bench {

struct HttpFrame {
  enum Kind { kIncomplete, kComplete, kInvalid } kind = kIncomplete;
  size_t length = 0;  // header + body bytes of the first message, when complete
  int status = 0;     // responses only
};

inline constexpr size_t kMaxHttpHeaderBytes = 64 * 1024;

namespace detail {

inline bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

// The value of the first header line starting with `name:` (case-insensitive), trimmed.
inline std::string_view HeaderValue(std::string_view head, std::string_view name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    std::string_view line = head.substr(pos + 2);
    size_t end = line.find("\r\n");
    line = line.substr(0, end);
    if (StartsWithIgnoreCase(line, name) && line.size() > name.size() && line[name.size()] == ':') {
      std::string_view value = line.substr(name.size() + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      return value;
    }
    pos = end == std::string_view::npos ? end : pos + 2 + end;
  }
  return {};
}

}  // namespace detail

// Frames the message at the start of `buf`. A response must carry Content-Length; a request
// without one has no body.
inline HttpFrame FrameHttpMessage(std::string_view buf, bool is_response) {
  HttpFrame frame;
  size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (buf.size() > kMaxHttpHeaderBytes) frame.kind = HttpFrame::kInvalid;
    return frame;
  }
  std::string_view head = buf.substr(0, head_end + 2);  // keeps the last header line's CRLF
  if (!detail::HeaderValue(head, "transfer-encoding").empty()) return HttpFrame{HttpFrame::kInvalid, 0, 0};
  if (is_response) {
    // "HTTP/1.1 200 OK": the status is the three digits after the first space.
    if (!head.starts_with("HTTP/1.") || head.size() < 12 || head[8] != ' ') return HttpFrame{HttpFrame::kInvalid, 0, 0};
    for (size_t i = 9; i < 12; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(head[i]))) return HttpFrame{HttpFrame::kInvalid, 0, 0};
      frame.status = frame.status * 10 + (head[i] - '0');
    }
  }
  std::string_view length_text = detail::HeaderValue(head, "content-length");
  size_t body = 0;
  if (length_text.empty()) {
    if (is_response) return HttpFrame{HttpFrame::kInvalid, 0, frame.status};
  } else {
    for (char c : length_text) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || body > (size_t{1} << 40)) return HttpFrame{HttpFrame::kInvalid, 0, 0};
      body = body * 10 + static_cast<size_t>(c - '0');
    }
  }
  size_t total = head_end + 4 + body;
  if (buf.size() < total) return frame;
  frame.kind = HttpFrame::kComplete;
  frame.length = total;
  return frame;
}

}  // namespace ferry::bench
