#include "agent/tunnel/connect_preface.h"

#include <cerrno>

namespace ferry::tunnel {
namespace {

constexpr std::string_view kMethodPrefix = "CONNECT ";
constexpr std::string_view kVersion = "HTTP/1.1";
constexpr size_t kMaxReasonBytes = 128;

Error Malformed(std::string reason) { return MakeError(std::move(reason), EBADMSG); }
Error Forbidden(std::string reason) { return MakeError(std::move(reason), EACCES); }

// A wrong method is visible before the first CRLF: refuse "GET / HTTP/1.1..." without waiting
// for (up to 4 KiB of) the rest.
Result<void> CheckStartLinePrefix(std::string_view partial) {
  size_t n = std::min(partial.size(), kMethodPrefix.size());
  if (partial.substr(0, n) != kMethodPrefix.substr(0, n)) return Malformed("method must be CONNECT");
  return Ok();
}

Result<Ipv4Endpoint> ParseAuthority(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') return Malformed("IPv6 CONNECT targets are not supported");
  if (authority.find('/') != std::string_view::npos) {
    return Malformed("CONNECT target must be authority-form ip:port");
  }
  auto endpoint = ParseIpv4Endpoint(authority);
  // Only the canonical spelling is accepted (no leading zeros, no "+"), so the Host comparison and
  // logs see exactly one form of each target.
  if (!endpoint || endpoint->ToString() != authority) return Malformed("CONNECT target must be IPv4 ip:port");
  return *endpoint;
}

Result<Ipv4Endpoint> ParseRequestLine(std::string_view line) {
  auto first_space = line.find(' ');
  auto last_space = line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space) return Malformed("malformed request line");
  if (line.substr(0, first_space) != "CONNECT") return Malformed("method must be CONNECT");
  if (line.substr(last_space + 1) != kVersion) return Malformed("HTTP version must be HTTP/1.1");
  return ParseAuthority(line.substr(first_space + 1, last_space - first_space - 1));
}

Result<ConnectRequest> ParseRequestBlock(const std::vector<std::string>& lines) {
  auto target = ParseRequestLine(lines[0]);
  if (!target) return target.error();
  std::string authority = target->ToString();
  bool saw_host = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    auto field = SplitHeaderField(lines[i]);
    if (!field) return field.error();
    if (HeaderNameEquals(field->name, "host")) {
      if (saw_host) return Malformed("duplicate Host header");
      saw_host = true;
      if (field->value != authority) return Malformed("Host header does not match the CONNECT target");
    } else if (HeaderNameEquals(field->name, "content-length") ||
               HeaderNameEquals(field->name, "transfer-encoding")) {
      return Malformed("CONNECT request must not carry a body");
    }
  }
  return ConnectRequest{*target};
}

Result<ConnectResponse> ParseResponseBlock(const std::vector<std::string>& lines) {
  std::string_view line = lines[0];
  // "HTTP/1.1 " 3DIGIT " " reason-phrase
  if (line.size() < 13 || line.substr(0, 9) != "HTTP/1.1 " || line[12] != ' ') {
    return Malformed("malformed status line");
  }
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return Malformed("malformed status code");
    status = status * 10 + (line[i] - '0');
  }
  if (status < 200 || status > 599) return Malformed("unexpected status " + std::to_string(status));
  ConnectResponse response{status, {}};
  for (size_t i = 1; i < lines.size(); ++i) {
    auto field = SplitHeaderField(lines[i]);
    if (!field) return field.error();
    if (HeaderNameEquals(field->name, "x-ferry-reason")) response.reason = std::string(field->value);
  }
  return response;
}

std::string SanitiseReason(std::string_view reason) {
  std::string out;
  for (char c : reason) {
    if (out.size() == kMaxReasonBytes) break;
    auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

std::string_view StatusText(ConnectStatus status) {
  switch (status) {
    case ConnectStatus::kOk: return "OK";
    case ConnectStatus::kBadRequest: return "Bad Request";
    case ConnectStatus::kForbidden: return "Forbidden";
    case ConnectStatus::kServiceUnavailable: return "Service Unavailable";
  }
  return "Error";
}

}  // namespace

std::string BuildConnectRequest(const Ipv4Endpoint& target) {
  std::string authority = target.ToString();
  return "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
}

Result<std::optional<ConnectRequest>> ConnectRequestParser::Feed(std::string_view bytes) {
  auto used = reader_.Feed(bytes);
  if (!used) return used.error();
  payload_offset_ = *used;
  FERRY_TRY(CheckStartLinePrefix(reader_.lines().empty() ? reader_.partial_line() : reader_.lines()[0]));
  if (!reader_.complete()) return std::optional<ConnectRequest>();
  auto request = ParseRequestBlock(reader_.lines());
  if (!request) return request.error();
  return std::optional<ConnectRequest>(*request);
}

Result<void> ValidateConnectTarget(const Ipv4Endpoint& target, uint32_t listener_pod_ip) {
  if (IsLoopback(target.addr)) return Forbidden("CONNECT target is a loopback address");
  if (target.addr == 0) return Forbidden("CONNECT target is 0.0.0.0");
  if (target.port == 0) return Forbidden("CONNECT target port 0");
  if (target.port >= 15000 && target.port <= 15099) return Forbidden("CONNECT target is a mesh port (150xx)");
  if (target.addr != listener_pod_ip) {
    return Forbidden("CONNECT target " + FormatIpv4(target.addr) + " is not this pod (" +
                     FormatIpv4(listener_pod_ip) + ")");
  }
  return Ok();
}

std::string BuildConnectResponse(ConnectStatus status, std::string_view reason) {
  std::string head = "HTTP/1.1 " + std::to_string(static_cast<int>(status)) + " " + std::string(StatusText(status)) + "\r\n";
  if (status == ConnectStatus::kOk) return head + "\r\n";
  return head + "x-ferry-reason: " + SanitiseReason(reason) + "\r\ncontent-length: 0\r\n\r\n";
}

Result<std::optional<ConnectResponse>> ConnectResponseParser::Feed(std::string_view bytes) {
  auto used = reader_.Feed(bytes);
  if (!used) return used.error();
  payload_offset_ = *used;
  if (!reader_.complete()) return std::optional<ConnectResponse>();
  auto response = ParseResponseBlock(reader_.lines());
  if (!response) return response.error();
  return std::optional<ConnectResponse>(*response);
}

}  // namespace ferry::tunnel
