#include "examples/apps/keepalive_client.h"

#include <cerrno>

namespace ferry::example {

KeepAliveClient::KeepAliveClient(HttpTarget target, ConnectTimeouts timeouts)
    : target_(std::move(target)), timeouts_(timeouts) {}

Result<void> KeepAliveClient::Connect() {
  auto fd = ConnectTcp(target_.host, target_.port, timeouts_);
  if (!fd.ok()) return fd.error();
  fd_ = std::move(*fd);
  reader_ = std::make_unique<HttpReader>(MessageKind::kResponse);
  ++connections_opened_;
  return Ok();
}

void KeepAliveClient::Close() {
  fd_.Reset();
  reader_.reset();
}

Result<HttpMessage> KeepAliveClient::Exchange(const std::string& method, const std::string& path) {
  nothing_came_back_ = false;
  auto sent = SendAll(fd_.get(), RenderRequest(method, path.empty() ? target_.path : path, target_.HostHeader()));
  if (!sent.ok()) {
    nothing_came_back_ = sent.error().code == EPIPE || sent.error().code == ECONNRESET;
    return sent.error();
  }
  auto response = reader_->Read(fd_.get(), method == "HEAD");
  if (!response.ok()) return response.error();
  if (!response->has_value()) {
    nothing_came_back_ = true;
    return MakeError("the server closed the connection without answering", ECONNRESET);
  }
  return std::move(**response);
}

Result<HttpMessage> KeepAliveClient::Send(const std::string& method, const std::string& path) {
  for (int attempt = 0;; ++attempt) {
    bool reused = fd_.valid();
    if (!reused) FERRY_TRY(Connect());
    auto response = Exchange(method, path);
    if (response.ok()) {
      if (!response->keep_alive) Close();
      return response;
    }
    Close();
    // A keep-alive connection may be closed by the server at any idle moment; only a request
    // that got nothing back on a reused connection is safe to send again.
    if (!reused || !nothing_came_back_ || attempt > 0) return response.error();
  }
}

}  // namespace ferry::example
