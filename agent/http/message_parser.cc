#include "agent/http/message_parser.h"

#include "agent/http/framing_rules.h"

namespace ferry::http {

// http_parser calls plain C functions; these forward to the MessageParser in parser->data.
struct ParserCallbacks {
  static MessageParser& Self(http_parser* p) { return *static_cast<MessageParser*>(p->data); }

  static int OnMessageBegin(http_parser* p) {
    MessageParser& self = Self(p);
    self.head_ = MessageHead{};
    self.in_head_ = true;
    self.last_was_value_ = false;
    self.message_complete_ = false;
    return 0;
  }
  static int OnUrl(http_parser* p, const char* at, size_t len) {
    Self(p).head_.target.append(at, len);
    return 0;
  }
  static int OnStatus(http_parser* p, const char* at, size_t len) {
    Self(p).head_.reason.append(at, len);
    return 0;
  }
  static int OnHeaderField(http_parser* p, const char* at, size_t len) {
    MessageParser& self = Self(p);
    if (!self.in_head_) return 0;  // chunked trailers: forwarded raw, not part of the head
    if (self.head_.headers.empty() || self.last_was_value_) self.head_.headers.emplace_back();
    self.head_.headers.back().name.append(at, len);
    self.last_was_value_ = false;
    return 0;
  }
  static int OnHeaderValue(http_parser* p, const char* at, size_t len) {
    MessageParser& self = Self(p);
    if (!self.in_head_) return 0;
    self.head_.headers.back().value.append(at, len);
    self.last_was_value_ = true;
    return 0;
  }
  static int OnHeadersComplete(http_parser* p) {
    MessageParser& self = Self(p);
    self.in_head_ = false;
    self.FillHeadFromParser();
    const BodyRule rule = self.body_rule_ ? self.body_rule_(self.head_) : BodyRule::kAsFramed;
    if (rule != BodyRule::kAsFramed) {
      self.head_.framing = BodyFraming::kNone;
      self.head_.upgrade = self.head_.upgrade || rule == BodyRule::kNoBodyUpgrade;
    }
    return static_cast<int>(rule);
  }
  static int OnBody(http_parser* p, const char* at, size_t len) {
    Self(p).payload_.emplace_back(at, len);
    return 0;
  }
  static int OnMessageComplete(http_parser* p) {
    MessageParser& self = Self(p);
    self.message_complete_ = true;
    self.end_keep_alive_ = http_should_keep_alive(p) != 0;
    self.end_upgrade_ = p->upgrade != 0;
    // Pausing makes http_parser_execute return right after this message, so the caller learns
    // exactly where it ended and pipelined bytes after it are framed from a clean state.
    http_parser_pause(p, 1);
    return 0;
  }

  static const http_parser_settings kSettings;
};

namespace {
http_parser_settings MakeSettings() {
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_message_begin = ParserCallbacks::OnMessageBegin;
  s.on_url = ParserCallbacks::OnUrl;
  s.on_status = ParserCallbacks::OnStatus;
  s.on_header_field = ParserCallbacks::OnHeaderField;
  s.on_header_value = ParserCallbacks::OnHeaderValue;
  s.on_headers_complete = ParserCallbacks::OnHeadersComplete;
  s.on_body = ParserCallbacks::OnBody;
  s.on_message_complete = ParserCallbacks::OnMessageComplete;
  return s;
}

http_parser_type ParserType(MessageType t) {
  return t == MessageType::kRequest ? HTTP_REQUEST : HTTP_RESPONSE;
}

// Connection reuse from the version and Connection header alone, for heads whose body the
// BodyRule removed (http_should_keep_alive would still expect a read-until-close body then).
bool ConnectionAllowsReuse(const http_parser* p) {
  if (p->http_major > 0 && p->http_minor > 0) return (p->flags & F_CONNECTION_CLOSE) == 0;
  return (p->flags & F_CONNECTION_KEEP_ALIVE) != 0;
}
}  // namespace

const http_parser_settings ParserCallbacks::kSettings = MakeSettings();

MessageParser::MessageParser(MessageType type, HttpLimits limits, BodyRuleFn body_rule)
    : type_(type),
      body_rule_(std::move(body_rule)),
      scanner_(limits, type == MessageType::kRequest) {
  http_parser_init(&parser_, ParserType(type_));
  parser_.data = this;
}

void MessageParser::FillHeadFromParser() {
  const http_parser* p = &parser_;
  head_.version_major = p->http_major;
  head_.version_minor = p->http_minor;
  head_.upgrade = p->upgrade != 0;
  if (type_ == MessageType::kRequest) {
    head_.method = http_method_str(static_cast<http_method>(p->method));
    const Header* expect = head_.Find("expect");
    head_.expect_continue = expect != nullptr && EqualsIgnoreCase(expect->value, "100-continue");
  } else {
    head_.status = static_cast<int>(p->status_code);
  }
  const bool bodiless_status =
      type_ == MessageType::kResponse &&
      (head_.status / 100 == 1 || head_.status == 204 || head_.status == 304);
  if (bodiless_status) {
    head_.framing = BodyFraming::kNone;
  } else if (p->flags & F_CHUNKED) {
    head_.framing = BodyFraming::kChunked;
  } else if (p->flags & F_CONTENTLENGTH) {
    head_.framing = BodyFraming::kContentLength;
    head_.content_length = p->content_length;
  } else {
    head_.framing = type_ == MessageType::kResponse ? BodyFraming::kUntilClose : BodyFraming::kNone;
  }
  head_.keep_alive = head_.framing == BodyFraming::kUntilClose ? false : ConnectionAllowsReuse(p);
}

bool MessageParser::ParserFailed() const {
  const http_errno e = HTTP_PARSER_ERRNO(&parser_);
  return e != HPE_OK && e != HPE_PAUSED;
}

HttpError MessageParser::ParserError() const {
  const http_errno e = HTTP_PARSER_ERRNO(&parser_);
  return HttpError{HttpErrorKind::kMalformed, type_ == MessageType::kRequest ? 400 : 502,
                   http_errno_description(e)};
}

void MessageParser::Fail(HttpError error, FeedResult& out) {
  if (type_ == MessageType::kResponse) error.status = 502;  // the client sees a bad gateway
  HttpEvent ev;
  ev.kind = HttpEvent::Kind::kError;
  ev.error = std::move(error);
  out.events.push_back(std::move(ev));
  state_ = ReaderState::kFailed;
}

FeedResult MessageParser::Feed(std::string_view in) {
  FeedResult out;
  while (out.consumed < in.size() && state_ == ReaderState::kReading) {
    const std::string_view rest = in.substr(out.consumed);
    const std::size_t used = in_body_ ? FeedBody(rest, out) : FeedHead(rest, out);
    out.consumed += used;
    if (used == 0) break;  // nothing could be taken; never spin
  }
  return out;
}

std::size_t MessageParser::FeedHead(std::string_view in, FeedResult& out) {
  const HeadScanner::Step step = scanner_.Consume(in);
  if (step.status == HeadScanner::Status::kError) {
    Fail(step.error, out);
  } else if (step.status == HeadScanner::Status::kComplete) {
    if (auto err = CheckFramingHeaders(scanner_.head(), type_ == MessageType::kRequest)) {
      Fail(std::move(*err), out);
    } else if (ExecuteHead(out) && message_complete_) {
      FinishMessage(out);
    }
  }
  return step.consumed;
}

// Runs http_parser over the complete head; emits the head event. False after an error.
bool MessageParser::ExecuteHead(FeedResult& out) {
  const std::string_view head = scanner_.head();
  const std::size_t n =
      http_parser_execute(&parser_, &ParserCallbacks::kSettings, head.data(), head.size());
  if (ParserFailed()) {
    Fail(ParserError(), out);
    return false;
  }
  // The scanner ends a head exactly where http_parser does; anything else is a disagreement
  // between the two and the stream must not be trusted.
  if (n != head.size()) {
    Fail(HttpError{HttpErrorKind::kMalformed, 400, "head framing disagreement"}, out);
    return false;
  }
  if (type_ == MessageType::kRequest) {
    if (auto err = CheckParsedRequest(head_)) {
      Fail(std::move(*err), out);
      return false;
    }
  }
  HttpEvent ev;
  ev.kind = HttpEvent::Kind::kHead;
  ev.head = std::move(head_);
  out.events.push_back(std::move(ev));
  in_body_ = true;
  return true;
}

std::size_t MessageParser::FeedBody(std::string_view in, FeedResult& out) {
  payload_.clear();
  const std::size_t n =
      http_parser_execute(&parser_, &ParserCallbacks::kSettings, in.data(), in.size());
  if (ParserFailed()) {
    Fail(ParserError(), out);
    return n;
  }
  if (n > 0) {
    HttpEvent ev;
    ev.kind = HttpEvent::Kind::kBody;
    ev.raw = in.substr(0, n);
    ev.payload = std::move(payload_);
    out.events.push_back(std::move(ev));
  }
  if (message_complete_) FinishMessage(out);
  return n;
}

void MessageParser::FinishMessage(FeedResult& out) {
  HttpEvent ev;
  ev.kind = HttpEvent::Kind::kEnd;
  ev.keep_alive = end_keep_alive_;
  ev.upgrade = end_upgrade_;
  out.events.push_back(std::move(ev));
  http_parser_pause(&parser_, 0);
  message_complete_ = false;
  in_body_ = false;
  scanner_.Reset();
  if (end_upgrade_) {
    state_ = ReaderState::kUpgradePending;
  } else if (!end_keep_alive_) {
    state_ = ReaderState::kClosed;
  }
}

FeedResult MessageParser::FeedEof() {
  FeedResult out;
  if (state_ != ReaderState::kReading) return out;
  if (!in_body_) {
    if (scanner_.started()) {
      Fail(HttpError{HttpErrorKind::kTruncated, 400, "connection closed inside a message head"},
           out);
    } else {
      state_ = ReaderState::kClosed;
    }
    return out;
  }
  http_parser_execute(&parser_, &ParserCallbacks::kSettings, nullptr, 0);
  if (ParserFailed() || !message_complete_) {
    Fail(HttpError{HttpErrorKind::kTruncated, 400, "connection closed inside a message body"}, out);
    return out;
  }
  FinishMessage(out);
  state_ = ReaderState::kClosed;
  return out;
}

void MessageParser::ResumeAfterUpgrade() {
  if (state_ != ReaderState::kUpgradePending) return;
  // A fresh parser: http_parser keeps its upgrade state otherwise.
  http_parser_init(&parser_, ParserType(type_));
  parser_.data = this;
  state_ = end_keep_alive_ ? ReaderState::kReading : ReaderState::kClosed;
}

}  // namespace ferry::http
