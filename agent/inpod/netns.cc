#include "agent/inpod/netns.h"

#include <fcntl.h>
#include <linux/types.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "ferry_abi.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71  // Linux 5.14
#endif

namespace ferry::inpod {

Result<UniqueFd> OpenNetns(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open netns " + path);
  return UniqueFd(fd);
}

Result<void> RunInNetns(int netns_fd, const std::function<void()>& fn) {
  // The calling thread's own netns never changes (only this function switches it, and always
  // back), so each thread opens it once rather than once per upstream connection.
  thread_local UniqueFd self(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!self) return ErrnoError("open /proc/thread-self/ns/net");
  if (::setns(netns_fd, CLONE_NEWNET) != 0) return ErrnoError("setns into pod netns");
  fn();
  if (::setns(self.get(), CLONE_NEWNET) != 0) {
    std::perror("ferry: setns back to the agent's netns");
    std::abort();
  }
  return Ok();
}

Result<UniqueFd> CreateTcpSocketIn(int netns_fd) {
  int fd = -1;
  int saved_errno = 0;
  FERRY_TRY(RunInNetns(netns_fd, [&] {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    saved_errno = errno;
  }));
  if (fd < 0) return Error{saved_errno, "socket in pod netns"};
  UniqueFd sock(fd);
  unsigned mark = FERRY_AGENT_MARK;
  if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0)
    return ErrnoError("setsockopt SO_MARK");
  return sock;
}

Result<UniqueFd> CreateListenerIn(int netns_fd, Ipv4Endpoint local, int backlog) {
  auto sock = CreateTcpSocketIn(netns_fd);
  if (!sock.ok()) return sock.error();
  int fd = sock->get();
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    return ErrnoError("setsockopt SO_REUSEADDR");
  if (::setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) != 0)
    return ErrnoError("setsockopt IP_FREEBIND");
  sockaddr_in sa = local.ToSockaddr();
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    return ErrnoError("bind " + local.ToString());
  if (::listen(fd, backlog) != 0) return ErrnoError("listen " + local.ToString());
  return std::move(sock).value();
}

Result<uint64_t> NetnsCookie(int netns_fd) {
  auto sock = CreateTcpSocketIn(netns_fd);
  if (!sock.ok()) return sock.error();
  uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (::getsockopt(sock->get(), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0)
    return ErrnoError("getsockopt SO_NETNS_COOKIE (needs Linux 5.14)");
  return cookie;
}

}  // namespace ferry::inpod
