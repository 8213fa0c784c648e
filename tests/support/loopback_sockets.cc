#include "support/loopback_sockets.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

namespace ferry::testing {
namespace {

constexpr uint32_t kLoopback = 0x7f000001;  // 127.0.0.1

// Drops <fd> but keeps errno, so callers can still say why the call before failed.
UniqueFd FailKeepingErrno(UniqueFd fd) {
  int saved = errno;
  fd.Reset();
  errno = saved;
  return UniqueFd();
}

}  // namespace

UniqueFd BoundLoopbackSocket(int backlog) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  sockaddr_in sa = Ipv4Endpoint{kLoopback, 0}.ToSockaddr();
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) return FailKeepingErrno(std::move(fd));
  if (backlog >= 0 && ::listen(fd.get(), backlog) < 0) return FailKeepingErrno(std::move(fd));
  return fd;
}

Ipv4Endpoint LocalAddress(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return Ipv4Endpoint::FromSockaddr(sa);
}

UniqueFd ConnectTo(const Ipv4Endpoint& target) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  sockaddr_in sa = target.ToSockaddr();
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) return FailKeepingErrno(std::move(fd));
  return fd;
}

Result<ConnectedPair> ConnectLoopbackPair() {
  UniqueFd listener = BoundLoopbackSocket(1);
  if (!listener) return ErrnoError("listen on loopback");
  ConnectedPair pair;
  pair.client = ConnectTo(LocalAddress(listener.get()));
  if (!pair.client) return ErrnoError("connect");
  pair.server.Reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!pair.server) return ErrnoError("accept");
  return pair;
}

bool WriteAll(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace ferry::testing
