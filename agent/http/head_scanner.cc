#include "agent/http/head_scanner.h"

namespace ferry::http {
namespace {

// The HTTP/2 connection preface starts with this line (RFC 9113 3.4).
constexpr std::string_view kHttp2PrefaceLine = "PRI * HTTP/2.0";

HttpError Malformed(std::string reason) {
  return HttpError{HttpErrorKind::kMalformed, 400, std::move(reason)};
}

}  // namespace

void HeadScanner::Reset() {
  buf_.clear();
  line_start_ = 0;
  start_line_seen_ = false;
  header_lines_ = 0;
  complete_ = false;
}

std::optional<HttpError> HeadScanner::CheckByte(char c) const {
  const bool at_line_start = buf_.size() == line_start_;
  const char prev = buf_.empty() ? '\0' : buf_.back();
  if (!buf_.empty() && prev == '\r' && c != '\n')
    return Malformed("CR not followed by LF in header");
  if (c == '\0') return Malformed("NUL byte in header");
  if (c == '\n' && (buf_.empty() || prev != '\r')) return Malformed("bare LF line ending");
  // A header line that begins with whitespace continues the previous one (obs-fold, RFC 9112 5.2):
  // proxies and servers disagree on how to unfold it, so it is refused.
  if (at_line_start && start_line_seen_ && (c == ' ' || c == '\t')) {
    return Malformed("obs-fold header continuation line");
  }
  if (buf_.size() >= limits_.max_head_bytes) {
    return HttpError{
        HttpErrorKind::kTooLarge, is_request_ ? 431 : 502,
        "header block larger than " + std::to_string(limits_.max_head_bytes) + " bytes"};
  }
  return std::nullopt;
}

// Called with the LF of a line already appended to buf_.
std::optional<HttpError> HeadScanner::EndLine() {
  const std::string_view line =
      std::string_view(buf_).substr(line_start_, buf_.size() - line_start_ - 2);
  line_start_ = buf_.size();
  if (line.empty()) {
    // Empty lines before the start line are tolerated (RFC 9112 2.2); after it, one ends the head.
    if (start_line_seen_) complete_ = true;
    return std::nullopt;
  }
  if (!start_line_seen_) {
    start_line_seen_ = true;
    if (is_request_ && line == kHttp2PrefaceLine) {
      return HttpError{HttpErrorKind::kHttp2, 400, "HTTP/2 (prior knowledge) is not supported"};
    }
    return std::nullopt;
  }
  if (++header_lines_ > limits_.max_headers) {
    return HttpError{HttpErrorKind::kTooLarge, is_request_ ? 431 : 502,
                     "more than " + std::to_string(limits_.max_headers) + " header fields"};
  }
  return std::nullopt;
}

HeadScanner::Step HeadScanner::Consume(std::string_view in) {
  Step step;
  while (step.consumed < in.size() && !complete_) {
    const char c = in[step.consumed];
    if (auto err = CheckByte(c)) {
      step.status = Status::kError;
      step.error = std::move(*err);
      return step;
    }
    buf_.push_back(c);
    ++step.consumed;
    if (c != '\n') continue;
    if (auto err = EndLine()) {
      step.status = Status::kError;
      step.error = std::move(*err);
      return step;
    }
  }
  step.status = complete_ ? Status::kComplete : Status::kNeedMore;
  return step;
}

}  // namespace ferry::http
