#include "agent/tunnel/header_block.h"

#include <cerrno>

namespace ferry::tunnel {
namespace {

Error Malformed(std::string reason) { return MakeError(std::move(reason), EBADMSG); }

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

Result<size_t> HeaderBlockReader::Feed(std::string_view bytes) {
  if (failed_) return Malformed("header block already rejected");
  size_t used = 0;
  while (!complete_ && used < bytes.size()) {
    if (total_bytes_ >= limits_.max_bytes) {
      failed_ = true;
      return MakeError("header block exceeds " + std::to_string(limits_.max_bytes) + " bytes", EMSGSIZE);
    }
    ++total_bytes_;
    auto consumed = ConsumeByte(bytes[used++]);
    if (!consumed) {
      failed_ = true;
      return consumed.error();
    }
  }
  return used;
}

Result<void> HeaderBlockReader::ConsumeByte(char byte) {
  if (pending_cr_) {
    pending_cr_ = false;
    if (byte != '\n') return Malformed("bare CR in header");
    return FinishLine();
  }
  if (byte == '\r') {
    pending_cr_ = true;
    return Ok();
  }
  if (byte == '\n') return Malformed("bare LF in header (CRLF required)");
  if (byte == '\0') return Malformed("NUL byte in header");
  auto u = static_cast<unsigned char>(byte);
  if ((u < 0x20 && byte != '\t') || u == 0x7f) return Malformed("control character in header");
  current_.push_back(byte);
  return Ok();
}

Result<void> HeaderBlockReader::FinishLine() {
  if (current_.empty()) {
    if (lines_.empty()) return Malformed("empty start line");
    complete_ = true;
    return Ok();
  }
  if (!lines_.empty() && (current_[0] == ' ' || current_[0] == '\t')) {
    return Malformed("obs-fold continuation line in header");
  }
  if (lines_.size() >= limits_.max_lines) {
    return MakeError("header block has more than " + std::to_string(limits_.max_lines) + " lines", EMSGSIZE);
  }
  lines_.push_back(std::move(current_));
  current_.clear();
  return Ok();
}

Result<HeaderField> SplitHeaderField(std::string_view line) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return Malformed("header field without a name");
  std::string_view name = line.substr(0, colon);
  for (char c : name) {
    if (!IsTokenChar(c)) return Malformed("invalid character in header name");
  }
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return HeaderField{name, value};
}

bool HeaderNameEquals(std::string_view name, std::string_view lowercase_expected) {
  if (name.size() != lowercase_expected.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (ToLowerAscii(name[i]) != lowercase_expected[i]) return false;
  }
  return true;
}

}  // namespace ferry::tunnel
