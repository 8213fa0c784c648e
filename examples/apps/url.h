// Addresses the example app is given on its command line: `--url http://api/api/values`,
// `--listen 0.0.0.0:8080`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace ferry::example {

struct HttpTarget {
  std::string host;  // a name (resolved with getaddrinfo, so /etc/hosts applies) or an address
  uint16_t port = 80;
  std::string path = "/";  // path plus query, as sent on the request line

  // The Host header: "api", or "api:8080" when the port is not the default.
  std::string HostHeader() const;
};

// http://HOST[:PORT][/PATH][?QUERY]; only plain http (the mesh adds the TLS between nodes).
Result<HttpTarget> ParseHttpUrl(std::string_view url);

struct ListenAddress {
  std::string host;  // "0.0.0.0", "127.0.0.1", ...
  uint16_t port = 0;  // 0 = any free port (the bound port is printed at start-up)
};

// HOST:PORT, or :PORT / PORT for every address.
Result<ListenAddress> ParseListenAddress(std::string_view text);

}  // namespace ferry::example
