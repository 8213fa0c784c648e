// Where each request of an HTTP session goes: the policy side of HttpSession. The agent's
// dispatcher implements it (TrafficSplit at the source, HTTPRouteGroup rules at the destination);
// tests use fakes.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/http/http_message.h"
#include "agent/http/request_reader.h"  // ProtocolGuess

namespace ferry::http {

struct RequestVerdict {
  bool forward = false;
  std::string upstream_key;  // forward: the upstream (an opaque key for the engine's opener)
  int status = 403;          // refused: the status answered to the client
  std::string reason;        // refused: short, sent in the body and the x-ferry-reason header
};

// One finished exchange, for metrics and access logs.
struct RequestRecord {
  std::string method;
  std::string path;          // normalised, without the query
  std::string upstream_key;  // the upstream it went to (also when that failed: 502/503); empty if refused
  int status = 0;            // what the client got (0: no response, the connection broke)
  bool local_response = false;  // answered by the proxy (403, 400, 502, 503...)
  std::uint64_t request_body_bytes = 0;
  std::uint64_t response_body_bytes = 0;
  std::chrono::microseconds duration{0};  // head received -> response complete
};

class RequestRouter {
 public:
  virtual ~RequestRouter() = default;
  // A complete request head. `path` is its normalised path without the query.
  virtual RequestVerdict RouteRequest(const MessageHead& head, std::string_view path) = 0;
  // The connection does not start with an HTTP/1 request (`guess` is kHttp2 or kOther). Forward:
  // the whole connection becomes a byte stream to upstream_key. Refused: the client is reset
  // (it does not speak HTTP/1, so it gets no HTTP answer) and `reason` is logged.
  virtual RequestVerdict RouteStream(ProtocolGuess guess) = 0;
  virtual void OnRequestDone(const RequestRecord& /*record*/) {}
};

}  // namespace ferry::http
