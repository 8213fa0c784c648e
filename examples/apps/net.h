// Blocking TCP sockets for the example app: names resolve with getaddrinfo (so a pod's
// /etc/hosts answers for `api`), IPv4 only (the mesh refuses native IPv6 connects).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"
#include "examples/apps/url.h"

namespace ferry::example {

struct ConnectTimeouts {
  std::chrono::milliseconds connect{3000};
  std::chrono::milliseconds io{5000};  // each send/receive on the connected socket
};

// Tries every address the name resolves to, in order; the error names the last failure.
Result<UniqueFd> ConnectTcp(const std::string& host, uint16_t port, const ConnectTimeouts& timeouts);

Result<UniqueFd> ListenTcp(const ListenAddress& address);

// SO_RCVTIMEO and SO_SNDTIMEO: a blocked receive or send fails with EAGAIN after `timeout`.
void SetIoTimeout(int fd, std::chrono::milliseconds timeout);

// The port a listening socket got (useful with port 0).
Result<uint16_t> LocalPort(int fd);

}  // namespace ferry::example
