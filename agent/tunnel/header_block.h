// A bounded, strict reader for one HTTP/1.1 header block (start line, fields, empty line) arriving
// in pieces from a byte stream. Both ends of the tunnel preface use it, so the rules that keep
// request smuggling and memory growth out live in one place: CRLF only (a bare LF or CR is an
// error), no NUL or other control bytes, no obs-fold continuation lines, at most max_bytes and
// max_lines before the block ends.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace ferry::tunnel {

struct HeaderBlockLimits {
  size_t max_bytes = 4096;  // the whole block, final CRLF included
  size_t max_lines = 32;    // start line + header fields
};

class HeaderBlockReader {
 public:
  explicit HeaderBlockReader(HeaderBlockLimits limits = {}) : limits_(limits) {}

  // Consumes bytes up to and including the empty line that ends the block and returns how many
  // it took; bytes after that belong to the stream behind the header (tunnel payload) and are
  // left to the caller. Errors are final: errno EMSGSIZE for limits, EBADMSG for malformed bytes.
  Result<size_t> Feed(std::string_view bytes);

  bool complete() const { return complete_; }
  // Complete lines so far, without their CRLF; lines()[0] is the start line.
  const std::vector<std::string>& lines() const { return lines_; }
  // The line being received (no CRLF yet): lets a caller reject a wrong start line early.
  const std::string& partial_line() const { return current_; }

 private:
  Result<void> ConsumeByte(char byte);
  Result<void> FinishLine();

  HeaderBlockLimits limits_;
  std::vector<std::string> lines_;
  std::string current_;
  size_t total_bytes_ = 0;
  bool pending_cr_ = false;
  bool complete_ = false;
  bool failed_ = false;
};

// One "name: value" header field, value with surrounding optional whitespace removed.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};
// Splits a field line strictly: the name must be a non-empty RFC 9110 token directly followed by
// ':' (no whitespace before the colon).
Result<HeaderField> SplitHeaderField(std::string_view line);
bool HeaderNameEquals(std::string_view name, std::string_view lowercase_expected);

}  // namespace ferry::tunnel
