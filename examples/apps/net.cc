#include "examples/apps/net.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>

namespace ferry::example {

namespace {

struct AddrInfoDeleter {
  void operator()(addrinfo* ai) const { ::freeaddrinfo(ai); }
};
using AddrInfoList = std::unique_ptr<addrinfo, AddrInfoDeleter>;

Result<AddrInfoList> Resolve(const std::string& host, uint16_t port, int flags) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) return MakeError("resolve " + host + ": " + ::gai_strerror(rc), rc == EAI_SYSTEM ? errno : 0);
  return AddrInfoList(found);
}

void SetTimeout(int fd, int option, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

// Non-blocking connect bounded by `timeout`, then back to blocking mode.
Result<void> ConnectWithin(int fd, const sockaddr* addr, socklen_t len, std::chrono::milliseconds timeout) {
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  if (::connect(fd, addr, len) != 0) {
    if (errno != EINPROGRESS) return ErrnoError("connect");
    pollfd p{fd, POLLOUT, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) return MakeError("connect: no answer within " + std::to_string(timeout.count()) + " ms", ETIMEDOUT);
    int so_error = 0;
    socklen_t so_len = sizeof so_error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len);
    if (so_error != 0) return MakeError("connect", so_error);
  }
  ::fcntl(fd, F_SETFL, flags);
  return Ok();
}

}  // namespace

Result<UniqueFd> ConnectTcp(const std::string& host, uint16_t port, const ConnectTimeouts& timeouts) {
  auto list = Resolve(host, port, 0);
  if (!list.ok()) return list.error();
  Error last = MakeError("resolve " + host + ": no address");
  for (addrinfo* ai = list->get(); ai; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) return ErrnoError("socket");
    auto connected = ConnectWithin(fd.get(), ai->ai_addr, ai->ai_addrlen, timeouts.connect);
    if (!connected.ok()) {
      last = connected.error();
      last.context = "connect " + host + ":" + std::to_string(port) + ": " + last.context;
      continue;
    }
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SetIoTimeout(fd.get(), timeouts.io);
    return fd;
  }
  return last;
}

void SetIoTimeout(int fd, std::chrono::milliseconds timeout) {
  SetTimeout(fd, SO_RCVTIMEO, timeout);
  SetTimeout(fd, SO_SNDTIMEO, timeout);
}

Result<UniqueFd> ListenTcp(const ListenAddress& address) {
  auto list = Resolve(address.host, address.port, AI_PASSIVE);
  if (!list.ok()) return list.error();
  const addrinfo* ai = list->get();
  UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
  if (!fd) return ErrnoError("socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  std::string where = address.host + ":" + std::to_string(address.port);
  if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) return ErrnoError("bind " + where);
  if (::listen(fd.get(), 128) != 0) return ErrnoError("listen " + where);
  return fd;
}

Result<uint16_t> LocalPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return ErrnoError("getsockname");
  return ntohs(addr.sin_port);
}

}  // namespace ferry::example
