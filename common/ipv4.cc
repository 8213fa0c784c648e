#include "common/ipv4.h"

#include <arpa/inet.h>

#include <charconv>

namespace ferry {

std::optional<uint32_t> ParseIpv4(std::string_view text) {
  std::string s(text);
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string FormatIpv4(uint32_t host_order_addr) {
  in_addr a{htonl(host_order_addr)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

std::optional<Ipv4Endpoint> ParseIpv4Endpoint(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto addr = ParseIpv4(text.substr(0, colon));
  if (!addr) return std::nullopt;
  auto port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
    return std::nullopt;
  return Ipv4Endpoint{*addr, static_cast<uint16_t>(port)};
}

std::string Ipv4Endpoint::ToString() const { return FormatIpv4(addr) + ":" + std::to_string(port); }

sockaddr_in Ipv4Endpoint::ToSockaddr() const {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(addr);
  sa.sin_port = htons(port);
  return sa;
}

Ipv4Endpoint Ipv4Endpoint::FromSockaddr(const sockaddr_in& sa) {
  return Ipv4Endpoint{ntohl(sa.sin_addr.s_addr), ntohs(sa.sin_port)};
}

}  // namespace ferry
