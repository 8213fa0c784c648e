#include "agent/http/request_reader.h"

#include <algorithm>

#include "agent/http/message_parser.h"

namespace ferry::http {

RequestReader::RequestReader(HttpLimits limits)
    : parser_(std::make_unique<MessageParser>(MessageType::kRequest, limits, nullptr)) {}
RequestReader::~RequestReader() = default;
RequestReader::RequestReader(RequestReader&&) noexcept = default;
RequestReader& RequestReader::operator=(RequestReader&&) noexcept = default;

FeedResult RequestReader::Feed(std::string_view bytes) { return parser_->Feed(bytes); }
FeedResult RequestReader::FeedEof() { return parser_->FeedEof(); }
ReaderState RequestReader::state() const { return parser_->state(); }
void RequestReader::ResumeAfterRefusedUpgrade() { parser_->ResumeAfterUpgrade(); }

namespace {

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '!' || c == '~';
}

}  // namespace

// Decides from the request line only: "METHOD SP target SP HTTP/1.x". The line is bounded so
// that a non-HTTP protocol is recognised quickly rather than waiting for a CRLF that never comes.
ProtocolGuess SniffProtocol(std::string_view first_bytes) {
  constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n";
  constexpr std::size_t kMaxLine = 8192;
  const std::size_t common = std::min(first_bytes.size(), kPreface.size());
  if (first_bytes.substr(0, common) == kPreface.substr(0, common)) {
    return common == kPreface.size() ? ProtocolGuess::kHttp2 : ProtocolGuess::kNeedMore;
  }
  std::size_t i = 0;
  while (i < first_bytes.size() && IsTokenChar(first_bytes[i])) ++i;
  if (i == first_bytes.size()) return i > 32 ? ProtocolGuess::kOther : ProtocolGuess::kNeedMore;
  if (i == 0 || first_bytes[i] != ' ') return ProtocolGuess::kOther;
  const std::size_t eol = first_bytes.find("\r\n");
  if (eol == std::string_view::npos) {
    return first_bytes.size() > kMaxLine ? ProtocolGuess::kOther : ProtocolGuess::kNeedMore;
  }
  const std::string_view line = first_bytes.substr(0, eol);
  const std::size_t sp = line.rfind(' ');
  const std::string_view version = line.substr(sp + 1);
  if (sp <= i || version.size() != 8 || version.substr(0, 7) != "HTTP/1.")
    return ProtocolGuess::kOther;
  return ProtocolGuess::kHttp1;
}

}  // namespace ferry::http
