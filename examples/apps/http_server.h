// A small blocking HTTP/1.1 server: one thread per connection, keep-alive until the client
// closes, says `Connection: close`, or stays idle too long.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "examples/apps/http_wire.h"

namespace ferry::example {

struct Reply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Called concurrently from the connection threads.
using RequestHandler = std::function<Reply(const HttpMessage& request)>;

struct ServerOptions {
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
};

// Serves the connections of `listen_fd` until accept fails for good (the fd stays the caller's).
Result<void> ServeForever(int listen_fd, RequestHandler handler, ServerOptions options = {});

// The bytes written for `reply` to `request` (HEAD gets the headers only).
std::string RenderReply(const HttpMessage& request, const Reply& reply, bool keep_alive);

}  // namespace ferry::example
