// Incremental HTTP/1.1 request framing for the proxy's client side. Feed bytes as they arrive
// (any split, pipelined requests included) and act on the events:
//   kHead  -> authorize, then forward a re-serialised head (or answer 403 and drop the body)
//   kBody  -> forward `raw` verbatim (or drop it for a denied request)
//   kEnd   -> the request is complete; `keep_alive` says whether another may follow
//   kError -> answer error.status with error.reason and close
// Framing comes from http_parser (libhttp-parser); stricter rules are enforced in front of it.
#pragma once

#include <memory>
#include <string_view>

#include "agent/http/http_message.h"

namespace ferry::http {

class MessageParser;

class RequestReader {
 public:
  explicit RequestReader(HttpLimits limits = {});
  ~RequestReader();
  RequestReader(RequestReader&&) noexcept;
  RequestReader& operator=(RequestReader&&) noexcept;

  // Events point into `bytes` (body pieces); keep the buffer until they are handled.
  FeedResult Feed(std::string_view bytes);
  // The client closed its side. Reports kTruncated if that cut a request short.
  FeedResult FeedEof();

  ReaderState state() const;
  // After an upgrade request (websocket, CONNECT) the reader stops with kUpgradePending and
  // leaves the following bytes unconsumed: if the server switched protocols, relay them as a
  // stream; if it refused (any non-101 answer), call this and keep feeding HTTP.
  void ResumeAfterRefusedUpgrade();

 private:
  std::unique_ptr<MessageParser> parser_;
};

// First bytes of a connection: does it look like HTTP/1.x, HTTP/2, or neither? Lets a proxy
// recognise HTTP on ports that the policy does not label.
enum class ProtocolGuess { kNeedMore, kHttp1, kHttp2, kOther };
ProtocolGuess SniffProtocol(std::string_view first_bytes);

}  // namespace ferry::http
