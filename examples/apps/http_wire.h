// HTTP/1.1 messages on a blocking socket: reading requests or responses with libhttp-parser
// (keep-alive, Content-Length and chunked bodies, pipelined bytes kept for the next message),
// and writing them with a Content-Length.
#pragma once

#include <http_parser.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace ferry::example {

struct HttpMessage {
  std::string method;  // requests: "GET"
  std::string target;  // requests: "/api/values?x=1"
  int status = 0;      // responses: 200
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;
  bool keep_alive = true;  // the connection may carry another message after this one

  // The first header with this (lower-case) name, or "" when absent.
  std::string Header(std::string_view lower_name) const;
  // The target without its query: "/api/values".
  std::string Path() const;
};

enum class MessageKind { kRequest, kResponse };

// Reads consecutive messages of one kind from one connection. Not movable: the parser points back
// at its reader.
class HttpReader {
 public:
  static constexpr size_t kMaxBodyBytes = 1 << 20;

  explicit HttpReader(MessageKind kind);
  HttpReader(const HttpReader&) = delete;
  HttpReader& operator=(const HttpReader&) = delete;

  // Fills `buffer` with up to `capacity` received bytes and returns how many; 0 = the peer closed.
  using ReceiveFn = std::function<Result<size_t>(char* buffer, size_t capacity)>;

  // The next message; nullopt when the peer closed (or reset) the connection before sending any
  // byte of it. `response_to_head`: the response has headers only (it answers a HEAD request).
  Result<std::optional<HttpMessage>> Read(const ReceiveFn& receive, bool response_to_head = false);
  // From a socket; a receive timeout set on it surfaces as an error (EAGAIN).
  Result<std::optional<HttpMessage>> Read(int fd, bool response_to_head = false);

 private:
  static int OnMessageBegin(http_parser* p);
  static int OnUrl(http_parser* p, const char* at, size_t len);
  static int OnHeaderField(http_parser* p, const char* at, size_t len);
  static int OnHeaderValue(http_parser* p, const char* at, size_t len);
  static int OnHeadersComplete(http_parser* p);
  static int OnBody(http_parser* p, const char* at, size_t len);
  static int OnMessageComplete(http_parser* p);

  void StartMessage(bool response_to_head);
  // Parses what is buffered; true when a message completed.
  Result<bool> ParseBuffered();
  // The peer closed: completes a body that runs to the end of the connection, if any.
  Result<std::optional<HttpMessage>> FinishAtEof();

  http_parser parser_;
  http_parser_settings settings_;
  std::string buffered_;  // received, not yet parsed
  HttpMessage current_;
  bool started_ = false;   // a byte of the current message has been parsed
  bool complete_ = false;  // the current message is whole
  bool in_header_value_ = false;
  bool response_to_head_ = false;
  std::string error_;  // set by a callback that refuses the message
};

// "HTTP/1.1 200 OK" with Content-Type, Content-Length, the extra headers and, when the
// connection is to be closed afterwards, "Connection: close".
std::string RenderResponse(int status, std::string_view content_type, std::string_view body,
                           const std::vector<std::pair<std::string, std::string>>& extra_headers,
                           bool keep_alive);

// A request with Host, a Content-Length when there is a body, and keep-alive (HTTP/1.1 default).
std::string RenderRequest(std::string_view method, std::string_view target, std::string_view host,
                          std::string_view body = {});

std::string ReasonPhrase(int status);

// Writes every byte (no SIGPIPE: a peer that went away is an EPIPE error).
Result<void> SendAll(int fd, std::string_view bytes);

}  // namespace ferry::example
