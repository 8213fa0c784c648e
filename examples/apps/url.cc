#include "examples/apps/url.h"

#include <http_parser.h>

#include <charconv>

namespace ferry::example {

namespace {

std::string_view Field(std::string_view url, const http_parser_url& parsed, http_parser_url_fields field) {
  if (!(parsed.field_set & (1u << field))) return {};
  return url.substr(parsed.field_data[field].off, parsed.field_data[field].len);
}

Result<uint16_t> ParsePort(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535)
    return MakeError("bad port '" + std::string(text) + "'");
  return static_cast<uint16_t>(value);
}

}  // namespace

std::string HttpTarget::HostHeader() const { return port == 80 ? host : host + ":" + std::to_string(port); }

Result<HttpTarget> ParseHttpUrl(std::string_view url) {
  http_parser_url parsed;
  http_parser_url_init(&parsed);
  if (http_parser_parse_url(url.data(), url.size(), /*is_connect=*/0, &parsed) != 0)
    return MakeError("not a URL: '" + std::string(url) + "'");
  std::string_view schema = Field(url, parsed, UF_SCHEMA);
  if (schema != "http") return MakeError("only http:// URLs are supported: '" + std::string(url) + "'");
  HttpTarget target;
  target.host = std::string(Field(url, parsed, UF_HOST));
  if (target.host.empty()) return MakeError("URL without a host: '" + std::string(url) + "'");
  if (parsed.field_set & (1u << UF_PORT)) target.port = parsed.port;
  if (target.port == 0) return MakeError("URL with port 0: '" + std::string(url) + "'");
  std::string_view path = Field(url, parsed, UF_PATH);
  target.path = path.empty() ? "/" : std::string(path);
  std::string_view query = Field(url, parsed, UF_QUERY);
  if (!query.empty()) target.path += "?" + std::string(query);
  return target;
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  ListenAddress out;
  size_t colon = text.rfind(':');
  std::string_view port = colon == std::string_view::npos ? text : text.substr(colon + 1);
  out.host = colon == std::string_view::npos || colon == 0 ? "0.0.0.0" : std::string(text.substr(0, colon));
  auto parsed = ParsePort(port);
  if (!parsed.ok()) return MakeError("--listen " + std::string(text) + ": " + parsed.error().Message());
  out.port = *parsed;
  return out;
}

}  // namespace ferry::example
