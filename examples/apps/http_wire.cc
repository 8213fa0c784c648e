#include "examples/apps/http_wire.h"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

namespace ferry::example {

namespace {

HttpReader* ReaderOf(http_parser* p) { return static_cast<HttpReader*>(p->data); }

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

std::string HttpMessage::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return "";
}

std::string HttpMessage::Path() const { return target.substr(0, target.find('?')); }

HttpReader::HttpReader(MessageKind kind) {
  http_parser_init(&parser_, kind == MessageKind::kRequest ? HTTP_REQUEST : HTTP_RESPONSE);
  parser_.data = this;
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &HttpReader::OnMessageBegin;
  settings_.on_url = &HttpReader::OnUrl;
  settings_.on_header_field = &HttpReader::OnHeaderField;
  settings_.on_header_value = &HttpReader::OnHeaderValue;
  settings_.on_headers_complete = &HttpReader::OnHeadersComplete;
  settings_.on_body = &HttpReader::OnBody;
  settings_.on_message_complete = &HttpReader::OnMessageComplete;
}

int HttpReader::OnMessageBegin(http_parser* p) {
  ReaderOf(p)->started_ = true;
  return 0;
}

int HttpReader::OnUrl(http_parser* p, const char* at, size_t len) {
  ReaderOf(p)->current_.target.append(at, len);
  return 0;
}

int HttpReader::OnHeaderField(http_parser* p, const char* at, size_t len) {
  HttpReader* r = ReaderOf(p);
  // The parser may hand a name over in pieces: a new header starts after a value.
  if (r->in_header_value_ || r->current_.headers.empty()) r->current_.headers.emplace_back();
  r->in_header_value_ = false;
  r->current_.headers.back().first += Lower(std::string_view(at, len));
  return 0;
}

int HttpReader::OnHeaderValue(http_parser* p, const char* at, size_t len) {
  HttpReader* r = ReaderOf(p);
  r->in_header_value_ = true;
  r->current_.headers.back().second.append(at, len);
  return 0;
}

int HttpReader::OnHeadersComplete(http_parser* p) {
  HttpReader* r = ReaderOf(p);
  r->current_.keep_alive = http_should_keep_alive(p) != 0;
  if (p->type == HTTP_REQUEST) {
    r->current_.method = http_method_str(static_cast<http_method>(p->method));
  } else {
    r->current_.status = p->status_code;
  }
  return r->response_to_head_ ? 1 : 0;  // 1: this message has no body whatever its headers say
}

int HttpReader::OnBody(http_parser* p, const char* at, size_t len) {
  HttpReader* r = ReaderOf(p);
  if (r->current_.body.size() + len > kMaxBodyBytes) {
    r->error_ = "message body larger than " + std::to_string(kMaxBodyBytes) + " bytes";
    return -1;
  }
  r->current_.body.append(at, len);
  return 0;
}

int HttpReader::OnMessageComplete(http_parser* p) {
  ReaderOf(p)->complete_ = true;
  // Stop right after this message: bytes of a pipelined next one stay buffered for the next Read.
  http_parser_pause(p, 1);
  return 0;
}

void HttpReader::StartMessage(bool response_to_head) {
  current_ = HttpMessage{};
  started_ = complete_ = in_header_value_ = false;
  response_to_head_ = response_to_head;
  if (HTTP_PARSER_ERRNO(&parser_) == HPE_PAUSED) http_parser_pause(&parser_, 0);
}

Result<bool> HttpReader::ParseBuffered() {
  if (buffered_.empty()) return false;
  size_t used = http_parser_execute(&parser_, &settings_, buffered_.data(), buffered_.size());
  buffered_.erase(0, used);
  if (complete_) return true;
  auto err = static_cast<http_errno>(HTTP_PARSER_ERRNO(&parser_));
  if (err != HPE_OK) {
    return MakeError(error_.empty() ? std::string("bad HTTP message: ") + http_errno_description(err) : error_,
                     EPROTO);
  }
  if (parser_.upgrade) return MakeError("protocol upgrades are not supported", EPROTO);
  return false;
}

Result<std::optional<HttpMessage>> HttpReader::FinishAtEof() {
  if (!started_) return std::optional<HttpMessage>();
  http_parser_execute(&parser_, &settings_, nullptr, 0);
  if (complete_) return std::optional<HttpMessage>(std::move(current_));
  return MakeError("the peer closed the connection in the middle of a message", ECONNRESET);
}

Result<std::optional<HttpMessage>> HttpReader::Read(const ReceiveFn& receive, bool response_to_head) {
  StartMessage(response_to_head);
  char chunk[16384];
  while (true) {
    auto done = ParseBuffered();
    if (!done.ok()) return done.error();
    if (*done) return std::optional<HttpMessage>(std::move(current_));
    auto got = receive(chunk, sizeof chunk);
    if (!got.ok()) {
      // A reset before the first byte is the same news as a close: the connection is gone.
      if (got.error().code == ECONNRESET && !started_) return std::optional<HttpMessage>();
      return got.error();
    }
    if (*got == 0) return FinishAtEof();
    buffered_.append(chunk, *got);
  }
}

Result<std::optional<HttpMessage>> HttpReader::Read(int fd, bool response_to_head) {
  return Read(
      [fd](char* buffer, size_t capacity) -> Result<size_t> {
        while (true) {
          ssize_t n = ::recv(fd, buffer, capacity, 0);
          if (n >= 0) return static_cast<size_t>(n);
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) return MakeError("timed out waiting for HTTP data", EAGAIN);
          return ErrnoError("recv");
        }
      },
      response_to_head);
}

std::string ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status " + std::to_string(status);
  }
}

std::string RenderResponse(int status, std::string_view content_type, std::string_view body,
                           const std::vector<std::pair<std::string, std::string>>& extra_headers,
                           bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(status) + "\r\n";
  out += "content-type: " + std::string(content_type) + "\r\n";
  out += "content-length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [name, value] : extra_headers) out += name + ": " + value + "\r\n";
  if (!keep_alive) out += "connection: close\r\n";
  out += "\r\n";
  out += body;
  return out;
}

std::string RenderRequest(std::string_view method, std::string_view target, std::string_view host,
                          std::string_view body) {
  std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  out += "host: " + std::string(host) + "\r\n";
  out += "user-agent: ferry-example-app\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") out += "content-length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out += body;
  return out;
}

Result<void> SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return MakeError("timed out sending", EAGAIN);
      return ErrnoError("send");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Ok();
}

}  // namespace ferry::example
