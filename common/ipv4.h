// IPv4 endpoints as the datapath sees them: address and port in host byte order.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry {

struct Ipv4Endpoint {
  uint32_t addr = 0;  // host byte order
  uint16_t port = 0;  // host byte order

  bool operator==(const Ipv4Endpoint&) const = default;
  std::string ToString() const;
  sockaddr_in ToSockaddr() const;
  static Ipv4Endpoint FromSockaddr(const sockaddr_in& sa);
};

// "198.18.0.1" -> host-order address; nullopt on anything that is not a dotted quad.
std::optional<uint32_t> ParseIpv4(std::string_view text);
std::string FormatIpv4(uint32_t host_order_addr);
// "198.18.0.1:8080" -> endpoint.
std::optional<Ipv4Endpoint> ParseIpv4Endpoint(std::string_view text);

inline bool IsLoopback(uint32_t host_order_addr) { return (host_order_addr >> 24) == 127; }

}  // namespace ferry
