#include "agent/http/response_reader.h"

#include "agent/http/message_parser.h"

namespace ferry::http {

ResponseReader::ResponseReader(HttpLimits limits) {
  // Runs inside http_parser_execute as each head completes, so pipelined responses in one Feed
  // are each matched to their own request.
  auto body_rule = [this](const MessageHead& head) { return RuleFor(head); };
  parser_ = std::make_unique<MessageParser>(MessageType::kResponse, limits, body_rule);
}

// A final response (not an interim 1xx) answers, and retires, the oldest pending request. One with
// no request to answer (e.g. a 408 before closing) is read as if it answered GET.
BodyRule ResponseReader::RuleFor(const MessageHead& head) {
  // http_parser honours a Content-Length on 1xx/204/304 and would read a body that never comes.
  if (head.informational()) return BodyRule::kNoBody;
  std::string method = "GET";
  if (!pending_methods_.empty()) {
    method = std::move(pending_methods_.front());
    pending_methods_.pop_front();
  }
  if (head.status == 101) return BodyRule::kNoBodyUpgrade;
  if (method == "HEAD" || head.status == 204 || head.status == 304) return BodyRule::kNoBody;
  if (method == "CONNECT" && head.status / 100 == 2) return BodyRule::kNoBodyUpgrade;
  return BodyRule::kAsFramed;
}

ResponseReader::~ResponseReader() = default;

void ResponseReader::ExpectResponseTo(std::string_view method) {
  pending_methods_.emplace_back(method);
}

FeedResult ResponseReader::Feed(std::string_view bytes) { return parser_->Feed(bytes); }

FeedResult ResponseReader::FeedEof() { return parser_->FeedEof(); }

ReaderState ResponseReader::state() const { return parser_->state(); }

}  // namespace ferry::http
