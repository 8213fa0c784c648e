// Buffers one message head (start line + header lines + empty line) byte by byte and enforces the
// line-level rules that http_parser is lenient about. It is a gate in front of the parser, not a
// parser: it only ever rejects, and the head it accepts is then framed by http_parser.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "agent/http/http_message.h"

namespace ferry::http {

class HeadScanner {
 public:
  HeadScanner(HttpLimits limits, bool is_request) : limits_(limits), is_request_(is_request) {}

  enum class Status { kNeedMore, kComplete, kError };
  struct Step {
    std::size_t consumed = 0;
    Status status = Status::kNeedMore;
    HttpError error;  // with kError
  };

  // Takes bytes until the head is complete (its final CRLF consumed) or a rule is broken.
  Step Consume(std::string_view in);

  // The complete head, leading empty lines included (http_parser skips those itself).
  std::string_view head() const { return buf_; }
  bool started() const { return !buf_.empty(); }
  void Reset();

 private:
  std::optional<HttpError> CheckByte(char c) const;
  std::optional<HttpError> EndLine();

  HttpLimits limits_;
  bool is_request_;
  std::string buf_;
  std::size_t line_start_ = 0;  // offset in buf_ where the current line begins
  bool start_line_seen_ = false;
  std::size_t header_lines_ = 0;
  bool complete_ = false;
};

}  // namespace ferry::http
