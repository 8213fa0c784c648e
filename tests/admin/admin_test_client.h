// A blocking loopback HTTP client for the admin server tests: sends bytes, reads to EOF.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "common/ipv4.h"
#include "common/unique_fd.h"

namespace ferry::admin::testing {

inline UniqueFd ConnectTo(Ipv4Endpoint endpoint) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa = endpoint.ToSockaddr();
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return UniqueFd();
  timeval tv{10, 0};  // a hung server fails the test instead of hanging it
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

inline std::string ReadToEnd(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

inline void SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

// The whole response to `request` ("" if the connection failed).
inline std::string Exchange(Ipv4Endpoint endpoint, const std::string& request) {
  UniqueFd fd = ConnectTo(endpoint);
  if (!fd) return "";
  SendAll(fd.get(), request);
  return ReadToEnd(fd.get());
}

inline std::string Get(Ipv4Endpoint endpoint, const std::string& target) {
  return Exchange(endpoint, "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
}

inline std::string StatusLine(const std::string& response) { return response.substr(0, response.find("\r\n")); }
inline std::string Body(const std::string& response) {
  auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

}  // namespace ferry::admin::testing
