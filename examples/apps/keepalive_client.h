// One HTTP/1.1 keep-alive connection to one server, reused for every request: a mesh that
// splits traffic per request (TrafficSplit over HTTP) shows it on a single connection. The
// connection is re-opened only when the server closed it.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"
#include "examples/apps/http_wire.h"
#include "examples/apps/net.h"
#include "examples/apps/url.h"

namespace ferry::example {

class KeepAliveClient {
 public:
  KeepAliveClient(HttpTarget target, ConnectTimeouts timeouts);

  // Sends one request for `path` (empty: `target.path`) and reads its response. A reused
  // connection that turns out to have been closed by the server (nothing came back) is replaced
  // once, transparently.
  Result<HttpMessage> Send(const std::string& method, const std::string& path = {});

  int connections_opened() const { return connections_opened_; }
  const HttpTarget& target() const { return target_; }

 private:
  Result<void> Connect();
  // One request/response on the current connection; sets `nothing_came_back_` when the
  // connection was gone before a byte of the response arrived.
  Result<HttpMessage> Exchange(const std::string& method, const std::string& path);
  void Close();

  HttpTarget target_;
  ConnectTimeouts timeouts_;
  UniqueFd fd_;
  std::unique_ptr<HttpReader> reader_;  // one per connection: parser state does not carry over
  int connections_opened_ = 0;
  bool nothing_came_back_ = false;
};

}  // namespace ferry::example
