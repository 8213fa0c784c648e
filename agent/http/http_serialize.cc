#include "agent/http/http_serialize.h"

#include <http_parser.h>

namespace ferry::http {
namespace {

std::string Version(const MessageHead& head) {
  return "HTTP/" + std::to_string(head.version_major) + "." + std::to_string(head.version_minor);
}

void AppendHeaders(const MessageHead& head, std::string& out) {
  for (const Header& h : head.headers) {
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  out += "\r\n";
}

// A header value must not carry CR, LF or NUL (response splitting); reasons come from policy
// and parser messages, so they are made safe here rather than trusted.
std::string HeaderSafe(std::string_view value) {
  std::string out(value);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

std::string TextResponse(int status, std::string_view reason, bool close, bool reason_header) {
  const std::string body = std::string(reason) + "\n";
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    http_status_str(static_cast<http_status>(status)) + "\r\n";
  out += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (reason_header) out += "x-ferry-reason: " + HeaderSafe(reason) + "\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  out += body;
  return out;
}

}  // namespace

std::string SerializeRequestHead(const MessageHead& head, std::string_view target) {
  std::string out = head.method + " " + std::string(target) + " " + Version(head) + "\r\n";
  AppendHeaders(head, out);
  return out;
}

std::string SerializeResponseHead(const MessageHead& head) {
  std::string out = Version(head) + " " + std::to_string(head.status) + " " + head.reason + "\r\n";
  AppendHeaders(head, out);
  return out;
}

std::string MakeErrorResponse(int status, std::string_view reason, bool close) {
  return TextResponse(status, reason, close, /*reason_header=*/false);
}

std::string MakeProxyResponse(int status, std::string_view reason, bool close) {
  return TextResponse(status, reason, close, /*reason_header=*/true);
}

}  // namespace ferry::http
