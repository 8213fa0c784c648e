// The engine shared by RequestReader and ResponseReader (internal; include only from .cc files):
// heads go through HeadScanner and the framing rules, then http_parser frames heads and bodies.
#pragma once

#include <http_parser.h>

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "agent/http/head_scanner.h"
#include "agent/http/http_message.h"

namespace ferry::http {

enum class MessageType { kRequest, kResponse };

// How a response body must be read, decided when its head is complete. Mirrors the return value
// of http_parser's on_headers_complete: the head alone cannot tell that an answer to HEAD has no
// body, or that a 2xx answer to CONNECT turns the connection into a tunnel.
enum class BodyRule { kAsFramed = 0, kNoBody = 1, kNoBodyUpgrade = 2 };
using BodyRuleFn = std::function<BodyRule(const MessageHead&)>;

class MessageParser {
 public:
  MessageParser(MessageType type, HttpLimits limits, BodyRuleFn body_rule);
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  FeedResult Feed(std::string_view in);
  FeedResult FeedEof();
  ReaderState state() const { return state_; }
  // Back to reading HTTP after a stop at an upgrade that did not happen.
  void ResumeAfterUpgrade();

 private:
  friend struct ParserCallbacks;

  std::size_t FeedHead(std::string_view in, FeedResult& out);
  std::size_t FeedBody(std::string_view in, FeedResult& out);
  bool ExecuteHead(FeedResult& out);
  void FinishMessage(FeedResult& out);
  void Fail(HttpError error, FeedResult& out);
  bool ParserFailed() const;
  HttpError ParserError() const;
  void FillHeadFromParser();

  MessageType type_;
  BodyRuleFn body_rule_;
  http_parser parser_{};
  HeadScanner scanner_;
  ReaderState state_ = ReaderState::kReading;
  bool in_body_ = false;

  // The message being read. Filled by the http_parser callbacks.
  MessageHead head_;
  bool in_head_ = false;         // header callbacks belong to the head, not to chunked trailers
  bool last_was_value_ = false;  // the next header-field callback starts a new header
  bool message_complete_ = false;
  bool end_keep_alive_ = false;
  bool end_upgrade_ = false;
  std::vector<std::string_view> payload_;
};

}  // namespace ferry::http
