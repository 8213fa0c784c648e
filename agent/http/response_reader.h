// Incremental HTTP/1.1 response framing for the proxy's upstream side, so the proxy knows where
// each response ends (keep-alive reuse, pipelining, pooling). A response's framing depends on
// the request it answers (HEAD has no body, a 2xx to CONNECT opens a tunnel), so the relay
// announces each forwarded request with ExpectResponseTo(), in order.
// Events are the same as RequestReader's; errors carry status 502 for the client.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "agent/http/http_message.h"

namespace ferry::http {

class MessageParser;
enum class BodyRule;

class ResponseReader {
 public:
  explicit ResponseReader(HttpLimits limits = {});
  ~ResponseReader();
  ResponseReader(const ResponseReader&) = delete;
  ResponseReader& operator=(const ResponseReader&) = delete;

  // Call once per request sent upstream, before its response can arrive.
  void ExpectResponseTo(std::string_view method);

  // Interim 1xx responses (100 Continue) come out as complete messages of their own; the final
  // response to the same request follows. Events point into `bytes`.
  FeedResult Feed(std::string_view bytes);
  // The server closed: ends a read-until-close body, or reports kTruncated.
  FeedResult FeedEof();

  ReaderState state() const;
  // After a 101 or a 2xx to CONNECT the reader stops with kUpgradePending; the rest of the input
  // is the upgraded stream.

 private:
  BodyRule RuleFor(const MessageHead& head);

  std::deque<std::string> pending_methods_;
  std::unique_ptr<MessageParser> parser_;
};

}  // namespace ferry::http
