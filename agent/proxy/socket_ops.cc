#include "agent/proxy/socket_ops.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace ferry::proxy {

void ArmResetOnClose(int fd) {
  linger lg{1, 0};
  // Best effort: on failure the close still ends the connection, with FIN.
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

void DisableNagle(int fd) {
  int on = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

Result<void> EnableKeepalive(int fd, std::chrono::seconds idle, std::chrono::seconds interval,
                             int count) {
  int on = 1;
  int idle_s = static_cast<int>(idle.count());
  int interval_s = static_cast<int>(interval.count());
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) < 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s)) < 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof(interval_s)) < 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count)) < 0) {
    return ErrnoError("enable TCP keepalive");
  }
  return Ok();
}

Result<Ipv4Endpoint> PeerEndpoint(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0) return ErrnoError("getpeername");
  if (sa.sin_family != AF_INET) return MakeError("getpeername: not an IPv4 socket");
  return Ipv4Endpoint::FromSockaddr(sa);
}

Result<Ipv4Endpoint> LocalEndpoint(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0) return ErrnoError("getsockname");
  if (sa.sin_family != AF_INET) return MakeError("getsockname: not an IPv4 socket");
  return Ipv4Endpoint::FromSockaddr(sa);
}

}  // namespace ferry::proxy
